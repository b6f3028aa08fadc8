"""End-to-end telemetry throughput into the InfluxDB v2 write API, against the raw client.

    .venv/bin/python bench/sink_throughput.py [--points 1000000]

Starts its own victoria-metrics (`-retentionPeriod=100y -dedup.minScrapeInterval=1ms`) and
measures, in `--pairs` interleaved pairs (the side that goes first alternates):
1. raw: influxdb-client's synchronous write of pre-built line protocol, 5,000 lines a request,
   the lines built before the clock starts; default client settings (no gzip), then with the
   client's gzip (level 9);
2. end to end, from a poll's decoded values (the values dict is built in the timed loop, the
   poll times before the clock starts): `Sample`s built and offered to the gateway's
   `TelemetryWriter` (bounded queue, batching, f-string line protocol, `InfluxSink`, outbox
   standing by) until the store has taken them all.
Every path of every pair is read back through `/api/v1/export`, and a count short of what was
sent ends the run. Prints points/s of each side, the gateway's CPU per point, the load average
and each pair's ratio, then the medians of the per-pair ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
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
UNITS = {"value": "MPa"}  # a poller passes its profile's units, one dict for every sample


def sample(kind: str, i: int) -> Sample:
    n = i % SERIES
    return Sample("bench", ASSETS[n], DEVICES[n], kind, T0 + i * MS, {"value": i * 0.5})


def instants(points: int) -> list[datetime]:
    """The poll times, taken before the clock starts: a poller reads its clock once a poll
    (about 0.2 µs), where `T0 + i * MS` costs several times that and is the bench's, not ours."""
    return [T0 + i * MS for i in range(points)]


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


async def end_to_end(
    url: str, points: int, var: Path, kind: str = "e2e", at: list[datetime] | None = None
) -> float:
    """Seconds from a poll's decoded values (the first `Sample` built and offered) until the
    sink has acknowledged every sample."""
    at = at if at is not None else instants(points)
    writer = TelemetryWriter(
        InfluxSink(url, "t", "o", "b"), SystemClock(), Outbox(var / f"{kind}.db"), batch_size=BATCH
    )
    task = asyncio.create_task(writer.run())
    started = time.perf_counter()
    i = 0
    while i < points:
        while i < points and writer.queue_depth < writer.capacity:
            n = i % SERIES
            writer.offer(
                Sample("bench", ASSETS[n], DEVICES[n], kind, at[i], {"value": i * 0.5}, UNITS)
            )
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
    parser.add_argument("--pairs", type=int, default=3, help="raw/gateway pairs, interleaved")
    args = parser.parse_args()
    me = psutil.Process()
    print(f"points per run            {args.points:,} ({SERIES} series, {BATCH:,} per request)")
    print(f"load average at start     {os.getloadavg()[0]:.1f}")
    ratios: list[float] = []
    gz_ratios: list[float] = []
    cpu_per_point: list[float] = []
    at = instants(args.points)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_vm(Path(tmp) / "vm")
        try:
            for pair in range(args.pairs):
                # alternate which side goes first, so a machine slowing down moves both alike
                order = ("raw", "e2e") if pair % 2 == 0 else ("e2e", "raw")
                seconds: dict[str, float] = {}
                for side in order:
                    if side == "raw":
                        seconds["raw"] = raw_write(url, args.points, f"raw{pair}")
                        seconds["gz"] = raw_write(url, args.points, f"rawgz{pair}", gzip=True)
                    else:
                        cpu0 = me.cpu_times()
                        seconds["e2e"] = asyncio.run(
                            end_to_end(url, args.points, Path(tmp), f"e2e{pair}", at)
                        )
                        cpu1 = me.cpu_times()
                        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
                        cpu_per_point.append(cpu / args.points * 1e6)
                for name in (f"raw{pair}", f"rawgz{pair}", f"e2e{pair}"):
                    stored = stored_count(url, f"{name}_value")
                    if stored != args.points:
                        raise SystemExit(f"{name}: {stored:,} stored of {args.points:,} sent")
                rate = {k: args.points / v for k, v in seconds.items()}
                ratios.append(rate["e2e"] / rate["raw"])
                gz_ratios.append(rate["e2e"] / rate["gz"])
                print(
                    f"pair {pair + 1} ({' then '.join(order)}, load "
                    f"{os.getloadavg()[0]:.1f}): raw {rate['raw']:,.0f}/s, raw gzip "
                    f"{rate['gz']:,.0f}/s, gateway {rate['e2e']:,.0f}/s "
                    f"({cpu_per_point[-1]:.2f} µs CPU a point); ratio {ratios[-1]:.3f} "
                    f"(to gzip {gz_ratios[-1]:.3f}); every path read back whole"
                )
        finally:
            proc.terminate()
            proc.wait(30)
    print(
        f"median ratio gateway/raw  {statistics.median(ratios):.3f} (to raw with gzip "
        f"{statistics.median(gz_ratios):.3f}); gateway CPU {statistics.median(cpu_per_point):.2f}"
        " µs a point"
    )
    print(f"RSS after the run         {psutil.Process().memory_info().rss / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
