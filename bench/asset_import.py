"""导入设备台账 at scale: a register of N rows (a pump room per 20, holding its pumps) checked,
written, imported again and loaded into the registry.

Each step is timed once per round and the medians of `--rounds` printed: reading the CSV (and
the same as XLSX), the dry run (every check the loader makes, against the example site), the
apply that writes the register, a second apply that finds nothing to change, a load of the
site with its register, and the registry's first and second sync of the assets (SQLite). A
register with a few bad rows is checked too, and the problems it names are printed.

    python -m bench.asset_import [--rows 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from maintenance.db import Database
from maintenance.registry.service import sync_registry
from propwatch.asset_register import ASSETS
from propwatch.register_import import import_register
from propwatch.site import load_site
from tests.conftest import EXAMPLE_SITE
from tests.propwatch.test_asset_import import register_rows, write_csv

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def _timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = run()
    return (time.perf_counter() - start) * 1000, out


def _round(rows: int, folder: Path) -> dict[str, float]:
    site = folder / "hexie.yaml"
    site.write_text(EXAMPLE_SITE.read_text(encoding="utf-8"), "utf-8")
    source = write_csv(folder / "台账.csv", register_rows(rows))
    xlsx = folder / "台账.xlsx"
    xlsx.write_bytes(ASSETS.encode(ASSETS.read(source).items, xlsx, zh=True))
    out: dict[str, float] = {}
    out["read CSV"], register = _timed(lambda: ASSETS.read(source))
    assert not register.problems  # type: ignore[attr-defined]
    out["read XLSX"], _ = _timed(lambda: ASSETS.read(xlsx))
    out["dry run"], dry = _timed(lambda: import_register(ASSETS, site, source, apply=False))
    assert not dry.problems and len(dry.created) == rows  # type: ignore[attr-defined]
    out["apply"], first = _timed(lambda: import_register(ASSETS, site, source, apply=True))
    assert first.written  # type: ignore[attr-defined]
    out["apply again"], again = _timed(lambda: import_register(ASSETS, site, source, apply=True))
    assert not again.written  # type: ignore[attr-defined]
    out["load site"], loaded = _timed(lambda: load_site(site))
    db = Database(f"sqlite:///{folder}/bench.db")
    db.create_all()

    def sync() -> object:
        with db.session() as s:
            return sync_registry(s, loaded, NOW)  # type: ignore[arg-type]

    out["registry sync (new)"], made = _timed(sync)
    assert made.added >= rows  # type: ignore[attr-defined]
    out["registry sync (again)"], same = _timed(sync)
    assert same.added == same.updated == 0  # type: ignore[attr-defined]
    db.dispose()
    return out


def _bad(rows: int, folder: Path) -> list[str]:
    site = folder / "hexie.yaml"
    site.write_text(EXAMPLE_SITE.read_text(encoding="utf-8"), "utf-8")
    table = register_rows(rows)
    table[9][3] = "zone-c"
    table[99][0] = table[98][0]
    table[499][6] = "2021-13-40"
    table[999][10] = "room-999"
    source = write_csv(folder / "bad.csv", table)
    outcome = import_register(ASSETS, site, source, apply=True)
    assert not outcome.written
    return [p.split("bad.csv:", 1)[1] for p in outcome.problems]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            for step, ms in _round(args.rows, Path(tmp)).items():
                results.setdefault(step, []).append(ms)
    print(f"{args.rows} rows, median of {args.rounds} rounds")
    for step, times in results.items():
        print(f"  {step:<24} {statistics.median(times):9.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        for problem in _bad(args.rows, Path(tmp)):
            print(f"  bad row  {problem}")


if __name__ == "__main__":
    main()
