"""Exporting the whole work-order list: how long, how soon the first bytes come, and what it costs
the server's memory, as CSV and as XLSX.

    .venv/bin/python -m bench.api_exports                      # SQLite, 100,000 orders
    .venv/bin/python -m bench.api_exports --orders 20000
    .venv/bin/python -m bench.api_exports --postgres           # a throwaway PostgreSQL 15 cluster

Builds the database of `bench.api_work_orders` (the example site and `--orders` orders over a
year), starts `propwatch api` as deployed (its own process), warms it with one list request, and
then downloads `GET /api/v1/work-orders/export` unfiltered, `--repeat` times in each format,
streaming the body to nowhere. Prints per format the median wall time, the time to the first
byte, the size, the rows (counted in the CSV) and the server's peak resident memory (VmHWM of
/proc) before and after: the export is meant to stream, so the peak should not grow with the
list. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.api_work_orders import api_process, build
from tests.support.servers import free_port, wait_until


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def download(client: httpx.Client, fmt: str) -> tuple[float, float, int, int]:
    """Wall seconds, seconds to the first byte, bytes, and CSV lines."""
    start = time.perf_counter()
    first = None
    size = lines = 0
    with client.stream("GET", f"/api/v1/work-orders/export?format={fmt}") as r:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            if first is None:
                first = time.perf_counter() - start
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - start, first or 0.0, size, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="start a throwaway cluster")
    args = parser.parse_args()
    pg = None
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as tmp:
        if args.postgres:
            from tests.support.postgres import start_postgres

            pg = start_postgres()
            url = pg.create_database()
        else:
            url = f"sqlite:///{tmp}/bench.db"
        try:
            t0 = time.perf_counter()
            token = build(url, args.orders)
            print(
                f"database: {url.split(':')[0]}, {args.orders:,} orders built in "
                f"{time.perf_counter() - t0:.1f} s"
            )
            port = free_port()
            with api_process(url, port, Path(tmp)) as proc:
                base = f"http://127.0.0.1:{port}"
                wait_until(lambda: _answers(base), 60, "propwatch api to start")
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
                    client.get("/api/v1/work-orders?limit=50").raise_for_status()
                    print(
                        f"server peak RSS after start and one list page: "
                        f"{peak_rss_mib(proc.pid):.0f} MiB"
                    )
                    for fmt in ("csv", "xlsx"):
                        runs = [download(client, fmt) for _ in range(args.repeat)]
                        wall = statistics.median(r[0] for r in runs)
                        first = statistics.median(r[1] for r in runs)
                        size, lines = runs[-1][2], runs[-1][3]
                        rows = f", {lines - 1:,} rows" if fmt == "csv" else ""
                        print(
                            f"{fmt}: median {wall:.2f} s ({args.orders / wall:,.0f} orders/s), "
                            f"first byte {first * 1000:.0f} ms, {size / 2**20:.1f} MiB{rows}; "
                            f"server peak RSS now {peak_rss_mib(proc.pid):.0f} MiB"
                        )
        finally:
            if pg is not None:
                pg.stop()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
