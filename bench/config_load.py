"""How long a site file takes to be read, checked or refused.

The 9-line alias bomb (59,049 strings at its last line, 9^9 if it were expanded), a file past the
2 MiB bound, the example site through `check_config`, and a large site (N lighting circuits each
merging their defaults) with libyaml and with the pure-Python parser. Medians of `--rounds`.

    python -m bench.config_load [--rounds 5] [--assets 3000]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from propwatch import config_file
from propwatch.check_config import check_config
from propwatch.config_file import MAX_DOCUMENT_BYTES, ConfigError, read_yaml
from tests.conftest import EXAMPLE_SITE
from tests.propwatch.test_config_errors import BOMB


def _median_ms(rounds: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        with contextlib.suppress(ConfigError):  # refusing is what is measured
            run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _large_site(path: Path, assets: int) -> None:
    defaults = "x-c: &c {kind: lighting_circuit, zone: zone-a, building: '1', location: 地库}\n"
    items = "".join(f"  - {{<<: *c, id: c{i}, name: {i}号照明回路}}\n" for i in range(assets))
    path.write_text(f"{defaults}assets:\n{items}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--assets", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bomb = folder / "bomb.yaml"
        bomb.write_text(BOMB, encoding="utf-8")
        huge = folder / "huge.yaml"
        huge.write_text("#" * (MAX_DOCUMENT_BYTES + 1), encoding="utf-8")
        large = folder / "large.yaml"
        _large_site(large, args.assets)
        size_kib = large.stat().st_size / 1024
        rows = [
            ("9-line alias bomb refused", _median_ms(args.rounds, lambda: read_yaml(bomb))),
            ("2 MiB + 1 byte refused", _median_ms(args.rounds, lambda: read_yaml(huge))),
            (
                "example site, check_config",
                _median_ms(args.rounds, lambda: check_config(EXAMPLE_SITE)),
            ),
            (
                f"{args.assets} merged assets ({size_kib:.0f} KiB), libyaml",
                _median_ms(args.rounds, lambda: read_yaml(large)),
            ),
        ]
        config_file._MarkedLoader = config_file._PyLoader
        rows.append(
            (
                f"{args.assets} merged assets ({size_kib:.0f} KiB), pure Python",
                _median_ms(args.rounds, lambda: read_yaml(large)),
            )
        )
    for name, ms in rows:
        print(f"{name:<48} {ms:9.1f} ms")


if __name__ == "__main__":
    main()
