"""Victoria-metrics stopped for a minute under 5,000 points/s: memory, outbox and recovery.

    .venv/bin/python -m bench.sink_outage_soak [--outage 60] [--rate 5000]

The gateway's telemetry path (`TelemetryWriter` + durable outbox + `InfluxSink`) runs in this
process against its own victoria-metrics. After 5 s of load the store is stopped for `--outage`
seconds, then started again while the load goes on. Prints this process's RSS through the outage
(it should stay flat while the outbox grows on disk), the outbox size, the time to drain it, and
checks through `/api/v1/export` that every accepted point is stored once with its value.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from gateway.outbox import Outbox
from gateway.sinks.influx import InfluxSink
from gateway.writer import TelemetryWriter
from propwatch.clock import SystemClock
from tests.gateway.outbox_driver import soak_sample
from tests.support.servers import VictoriaMetrics, start_victoria_metrics


async def _until(condition: Callable[[], bool]) -> None:
    while True:
        if condition():
            return
        await asyncio.sleep(0.05)


async def soak(vm: VictoriaMetrics, var: Path, outage: float, rate: int) -> None:
    me = psutil.Process()
    outbox = Outbox(var / "outbox.db")
    writer = TelemetryWriter(
        InfluxSink(vm.url, "t", "o", "b", timeout_ms=2000),
        SystemClock(),
        outbox,
        flush_interval=0.2,
        retry_min=0.2,
        retry_max=2.0,
    )
    task = asyncio.create_task(writer.run())
    accepted = 0
    rss: list[float] = []

    async def load(seconds: float, sample_rss: bool = False) -> None:
        nonlocal accepted
        started = time.monotonic()
        next_rss = started
        offered = 0
        while time.monotonic() - started < seconds:
            for _ in range(rate // 50):
                accepted += writer.offer(soak_sample(accepted))
                offered += 1
            if sample_rss and time.monotonic() >= next_rss:
                rss.append(me.memory_info().rss / 2**20)
                next_rss += 1
            await asyncio.sleep(max(0.0, started + offered / rate - time.monotonic()))

    await load(5)
    before = me.memory_info().rss / 2**20
    await asyncio.to_thread(vm.stop)
    await load(outage, sample_rss=True)
    peak_outbox = outbox.stats().pending_points
    file_mib = outbox.file_bytes() / 2**20
    restarted = time.monotonic()
    recovery = asyncio.gather(load(10), asyncio.to_thread(vm.start))
    await _until(lambda: writer.direct)
    drained_s = time.monotonic() - restarted
    await recovery
    await _until(lambda: writer.queue_depth == 0)
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    vm.flush()
    values = sorted(v for s in vm.export('{__name__="soak_seq"}') for v in s["values"])
    print(f"load                       {rate:,} points/s, outage {outage:.0f} s")
    print(f"accepted / stored          {accepted:,} / {len(values):,}")
    print(f"every point, once, exact   {values == [float(i) for i in range(accepted)]}")
    print(f"dropped (queue, outbox)    {writer.stats.dropped}, {outbox.stats().dropped_points}")
    print(f"outbox at end of outage    {peak_outbox:,} points, {file_mib:.1f} MiB on disk")
    print(f"RSS before the outage      {before:.0f} MiB")
    print(
        f"RSS during the outage      min {min(rss):.0f} / max {max(rss):.0f} MiB "
        f"(first {rss[0]:.0f}, last {rss[-1]:.0f})"
    )
    print("RSS every 10 s (MiB)       " + " ".join(f"{r:.0f}" for r in rss[::10]))
    print(
        f"replayed                   {writer.stats.replayed:,} points, outbox empty "
        f"{drained_s:.1f} s after the restart began"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outage", type=float, default=60)
    parser.add_argument("--rate", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vm = start_victoria_metrics(Path(tmp))
        try:
            asyncio.run(soak(vm, Path(tmp), args.outage, args.rate))
        finally:
            vm.stop()


if __name__ == "__main__":
    main()
