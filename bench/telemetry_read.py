"""The trend read: 24 h of a 1 s series from victoria-metrics, downsampled to ~1,000 points.

    .venv/bin/python bench/telemetry_read.py [--reads 500] [--step 87] [--store local]

Starts its own victoria-metrics, writes 86,400 readings of one pump's `outlet_pressure` (one a
second over a past day) through the gateway's `InfluxSink` (the InfluxDB v2 write API), then
`propwatch api` as deployed (`PROPWATCH_TELEMETRY_READER=victoriametrics`) in a process of its
own, and reads `GET /api/v1/assets/hexie/pump-1/telemetry` over real HTTP (one keep-alive
connection, one read after another) `--reads` times: 87 s windows give 994 points. Prints
p50/p90/p99/max of the HTTP read, the same for victoria-metrics' `query_range` alone (what the
store costs), and checks that every window of the answer is the mean of what was written.
`--store local`: the same day in the embedded local store instead (written by `LocalStore`, read
by `LocalStoreReader` from the file, `PROPWATCH_TELEMETRY_READER=local`).
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from gateway.readings import Sample
from gateway.sinks.influx import InfluxSink
from gateway.sinks.local_store import LocalStore, LocalStoreReader
from gateway.sinks.reads import SeriesQuery, TelemetryReader
from gateway.sinks.victoria import VictoriaReader

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "examples" / "hexie-garden" / "site.yaml"
DAY = datetime(2026, 11, 20, tzinfo=UTC)  # a past day: victoria-metrics drops future points
SECONDS = 86_400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


def start_vm(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("victoria-metrics")
    if binary is None:
        raise SystemExit("victoria-metrics is not installed (apt-get install victoria-metrics)")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={data}",
            "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
            "-dedup.minScrapeInterval=1ms",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health", "victoria-metrics")
    return proc, url


def pressure(i: int) -> float:
    return 0.3 + 0.05 * math.sin(i / 600) + 0.01 * math.sin(i * 7.3)


def day_samples(first: int, last: int) -> list[Sample]:
    return [
        Sample(
            "hexie",
            "pump-1",
            "pump-1",
            "water_pump",
            DAY + timedelta(seconds=i),
            {"outlet_pressure": pressure(i)},
            {"outlet_pressure": "MPa"},
        )
        for i in range(first, last)
    ]


def write_day(url: str) -> None:
    sink = InfluxSink(url, "token", "org", "propwatch")
    for first in range(0, SECONDS, 5000):
        sink.write_samples(day_samples(first, min(first + 5000, SECONDS)))
    sink.client.close()
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=30).read()


def write_day_locally(path: Path) -> None:
    store = LocalStore(path)
    for first in range(0, SECONDS, 5000):
        store.write_sync(day_samples(first, min(first + 5000, SECONDS)))
    store._db.close()


def expected(step: int) -> dict[datetime, float]:
    """The window means computed here from what was written."""
    sums: dict[int, list[float]] = {}
    day0 = int(DAY.timestamp())
    for i in range(SECONDS):
        t = (day0 + i) // step * step
        sums.setdefault(t, []).append(pressure(i))
    return {datetime.fromtimestamp(t, UTC): sum(v) / len(v) for t, v in sums.items()}


def percentiles(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} ms, p90 {q[89]:.1f} ms, p99 {q[98]:.1f} ms, max {max(ms):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--step", type=int, default=87, help="seconds (87: 994 points)")
    parser.add_argument("--store", choices=["victoriametrics", "local"], default="victoriametrics")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as tmp:
        vm, vm_url = start_vm(Path(tmp) / "vm")
        api: subprocess.Popen[bytes] | None = None
        try:
            started = time.perf_counter()
            var = Path(tmp) / "var"
            if args.store == "local":
                write_day_locally(var / "telemetry.db")
            else:
                write_day(vm_url)
            print(f"wrote {SECONDS:,} points in {time.perf_counter() - started:.1f} s")
            port, token = free_port(), secrets.token_urlsafe(32)
            env = {
                **os.environ,
                "PROPWATCH_API_HOST": "127.0.0.1",
                "PROPWATCH_API_PORT": str(port),
                "PROPWATCH_VAR_DIR": str(var),
                "PROPWATCH_ADMIN_TOKEN": token,
                "PROPWATCH_API_RATE_LIMIT": "0",
                "PROPWATCH_INFLUX_URL": vm_url,
                "PROPWATCH_TELEMETRY_READER": args.store,
            }
            api = subprocess.Popen(
                [sys.executable, "-m", "propwatch.cli", "api", "--site", str(SITE)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/healthz", "propwatch api", 60)
            params = {
                "points": "outlet_pressure",
                "from": DAY.isoformat(),
                "to": (DAY + timedelta(seconds=SECONDS)).isoformat(),
                "step": str(args.step),
            }
            want = expected(args.step)
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
                # until every point written is searchable, then a check of every window
                deadline = time.monotonic() + 60
                while True:
                    answer = http.get("/api/v1/assets/hexie/pump-1/telemetry", params=params)
                    answer.raise_for_status()
                    got = answer.json()["series"][0]["points"]
                    if len(got) >= len(want) or time.monotonic() > deadline:
                        break
                assert len(got) == len(want), (len(got), len(want))
                for t, v in got:
                    w = want[datetime.fromisoformat(t)]
                    assert math.isclose(v, w, rel_tol=1e-9), (t, v, w)
                print(f"answer: {len(got)} points of {args.step} s, every window checked")
                http_ms = []
                for _ in range(args.reads):
                    t0 = time.perf_counter()
                    r = http.get("/api/v1/assets/hexie/pump-1/telemetry", params=params)
                    http_ms.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200
            reader: TelemetryReader = (
                LocalStoreReader(var / "telemetry.db")
                if args.store == "local"
                else VictoriaReader(vm_url)
            )
            query = SeriesQuery(
                "hexie",
                "pump-1",
                "water_pump",
                ("outlet_pressure",),
                DAY,
                DAY + timedelta(seconds=SECONDS),
                args.step,
            )
            store_ms = []
            for _ in range(args.reads):
                t0 = time.perf_counter()
                reader.read(query)
                store_ms.append((time.perf_counter() - t0) * 1000)
            reader.close()
            print(f"{args.reads} reads through the API over HTTP: {percentiles(http_ms)}")
            print(f"{args.reads} reads of the store alone ({reader.name}): {percentiles(store_ms)}")
            print(f"answer body {len(r.content):,} bytes")
        finally:
            if api is not None:
                api.terminate()
                api.wait(20)
            vm.terminate()
            vm.wait(20)


if __name__ == "__main__":
    main()
