"""End-to-end telemetry throughput into the InfluxDB v2 write API, against the raw client.

    .venv/bin/python bench/sink_throughput.py [--points 1000000]

Starts its own victoria-metrics (`-retentionPeriod=100y -dedup.minScrapeInterval=1ms`) and
measures, in one run:
1. raw: influxdb-client's synchronous write of pre-built line protocol, 5,000 lines a request,
   the lines built before the clock starts; default client settings (no gzip), then with the
   client's gzip (level 9);
2. end to end: `Sample`s offered to the gateway's `TelemetryWriter` (bounded queue, batching,
   f-string line protocol, `InfluxSink`, outbox standing by) until the store has taken them all.
Prints points/s for both, their ratio, CPU seconds and peak RSS, and checks the stored count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision

from gateway.outbox import Outbox
from gateway.readings import Sample, to_lines
from gateway.sinks.influx import InfluxSink
from gateway.writer import TelemetryWriter
from propwatch.clock import SystemClock

BATCH = 5000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SERIES = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            # As in every victoria-metrics we start: a replayed batch is kept once.
            "-dedup.minScrapeInterval=1ms",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=0.5):
                return proc, url
        except OSError:
            time.sleep(0.05)
    raise SystemExit("victoria-metrics did not start")


ASSETS = [f"asset-{n}" for n in range(SERIES)]  # a poller holds its ids; it does not format them
DEVICES = [f"dev-{n}" for n in range(SERIES)]
MS = timedelta(milliseconds=1)


def sample(kind: str, i: int) -> Sample:
    n = i % SERIES
    return Sample("bench", ASSETS[n], DEVICES[n], kind, T0 + i * MS, {"value": i * 0.5})


def stored_count(url: str, name: str) -> int:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=30).read()
    data = urllib.parse.urlencode({"match[]": f'{{__name__="{name}"}}', "start": "0"}).encode()
    with urllib.request.urlopen(f"{url}/api/v1/export", data=data, timeout=120) as r:
        return sum(len(json.loads(line)["values"]) for line in r.read().splitlines() if line)


def raw_write(url: str, points: int, kind: str = "raw", gzip: bool = False) -> float:
    """Seconds for influxdb-client to write pre-built lines (built before the clock starts)."""
    bodies = [
        to_lines([sample(kind, i) for i in range(first, min(first + BATCH, points))])
        for first in range(0, points, BATCH)
    ]
    client = InfluxDBClient(url=url, token="t", org="o", enable_gzip=gzip, retries=0)
    api = client.write_api(write_options=SYNCHRONOUS)
    started = time.perf_counter()
    for body in bodies:
        api.write("b", "o", body, write_precision=WritePrecision.NS)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


async def end_to_end(url: str, points: int, var: Path) -> float:
    """Seconds from the first `offer` until the sink has acknowledged every sample."""
    writer = TelemetryWriter(
        InfluxSink(url, "t", "o", "b"), SystemClock(), Outbox(var / "outbox.db"), batch_size=BATCH
    )
    task = asyncio.create_task(writer.run())
    started = time.perf_counter()
    i = 0
    while i < points:
        while i < points and writer.queue_depth < writer.capacity:
            writer.offer(sample("e2e", i))
            i += 1
            if i % BATCH == 0:
                await asyncio.sleep(0)  # a poller yields between polls
        await asyncio.sleep(0.001)
    while True:
        if writer.stats.written >= points:
            break
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert writer.stats.spilled == 0 and writer.stats.dropped == 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    me = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_vm(Path(tmp) / "vm")
        try:
            raw_s = raw_write(url, args.points)
            raw_gz_s = raw_write(url, args.points, "rawgz", gzip=True)
            cpu0 = me.cpu_times()
            e2e_s = asyncio.run(end_to_end(url, args.points, Path(tmp)))
            cpu1 = me.cpu_times()
            raw_n = stored_count(url, "raw_value")
            e2e_n = stored_count(url, "e2e_value")
        finally:
            proc.terminate()
            proc.wait(30)
    raw_rate, e2e_rate = args.points / raw_s, args.points / e2e_s
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    print(f"points per run            {args.points:,} ({SERIES} series, {BATCH:,} per request)")
    print(f"raw influxdb-client       {raw_rate:,.0f} points/s  ({raw_s:.2f} s, stored {raw_n:,})")
    print(f"gateway end to end        {e2e_rate:,.0f} points/s  ({e2e_s:.2f} s, stored {e2e_n:,})")
    raw_gz_rate = args.points / raw_gz_s
    print(f"raw, gzip (level 9)       {raw_gz_rate:,.0f} points/s  ({raw_gz_s:.2f} s)")
    print(
        f"ratio end-to-end / raw    {e2e_rate / raw_rate:.2f} (to raw with gzip: "
        f"{e2e_rate / raw_gz_rate:.2f})"
    )
    print(f"gateway CPU during e2e    {cpu:.2f} s ({cpu / e2e_s * 100:.0f}% of one core)")
    print(f"RSS after the run         {psutil.Process().memory_info().rss / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
