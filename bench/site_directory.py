"""How long loading a folder of site files takes: `SiteDirectory.rescan` over N generated files.

Every start-up of a maintenance or API replica over `--sites DIR` begins with the cold scan, so
it is what the start-up waits for; the warm rescan runs every `PROPWATCH_SITES_RESCAN` seconds.

    .venv/bin/python -m bench.site_directory                      # 200 sites x 50 assets
    .venv/bin/python -m bench.site_directory --sites 20 --assets 50

Rows: cold (the first scan of the process, every file checked in full), warm (a rescan with
nothing changed), one file changed (a comment appended to one site file), organisation.yaml
touched (the same content rewritten: every file checked again), each as CPU seconds of this
process and wall seconds. The files are written by `bench.many_sites` into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.many_sites import write_sites
from propwatch.clock import SystemClock
from propwatch.organisation import ORGANISATION_FILE
from propwatch.site_directory import SiteChanges, SiteDirectory


def _timed(run: Callable[[], SiteChanges]) -> tuple[float, float, SiteChanges]:
    cpu, wall = time.process_time(), time.perf_counter()
    changes = run()
    return time.process_time() - cpu, time.perf_counter() - wall, changes


def _bump(path: Path, text: str) -> None:
    """Write `text` and move the mtime on, so the change is seen even within one clock tick."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generated = write_sites(folder, args.sites, args.assets)
        directory = SiteDirectory(folder, SystemClock())
        rows: list[tuple[str, float, float, str]] = []

        cpu, wall, changes = _timed(directory.rescan)
        rows.append(("cold: first scan", cpu, wall, f"{len(changes.added)} added"))
        assert len(directory.sites) == args.sites and not changes.refused, changes.refused

        cpu, wall, changes = _timed(directory.rescan)
        rows.append(("warm: nothing changed", cpu, wall, f"{len(changes.changed)} changed"))

        one = generated[0].path
        _bump(one, one.read_text(encoding="utf-8") + "# edited\n")
        cpu, wall, changes = _timed(directory.rescan)
        rows.append(("one file changed", cpu, wall, f"{len(changes.changed)} changed"))

        organisation = folder / ORGANISATION_FILE
        _bump(organisation, organisation.read_text(encoding="utf-8"))
        cpu, wall, changes = _timed(directory.rescan)
        rows.append(("organisation.yaml touched", cpu, wall, f"{len(changes.changed)} changed"))
        assert not changes.refused, changes.refused

    print(f"{args.sites} site files x {args.assets} assets")
    print(f"{'rescan':<28}{'CPU s':>8}{'wall s':>8}  result")
    for name, cpu, wall, result in rows:
        print(f"{name:<28}{cpu:>8.2f}{wall:>8.2f}  {result}")


if __name__ == "__main__":
    main()
