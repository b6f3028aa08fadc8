"""A gateway's telemetry path as its own process, for the SIGKILL test and the outage soak.

    python -m tests.gateway.outbox_driver --var DIR --influx URL --points N [--rate R]
        [--hold-after-store K]

Offers N samples (measurement `soak`, field `seq` = 0..N-1) at R per second into a
`TelemetryWriter` with its durable outbox, printing `SAFE k` each time the first k are in the
sink or on disk. With N = 0 it only replays what an earlier life left in the outbox, prints
`DRAINED` and exits. Every batch the store acknowledges prints `STORED n points`; with
`--hold-after-store K` the K-th acknowledged write does not return to the writer, so the
process sits between the store's 204 and the outbox's delete until it is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.outbox import Outbox
from gateway.readings import Sample
from gateway.sinks.influx import InfluxSink
from gateway.writer import TelemetryWriter
from propwatch.clock import SystemClock

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class AnnouncingSink:
    """The real InfluxDB sink, announcing each stored batch (and holding on after the K-th)."""

    name = "influxdb"

    def __init__(self, sink: InfluxSink, hold_after: int) -> None:
        self.sink = sink
        self.hold_after = hold_after
        self.stored = 0

    async def write(self, samples: list[Sample]) -> None:
        await self.sink.write(samples)
        self.stored += 1
        print("STORED", self.stored, len(samples), flush=True)
        if self.stored == self.hold_after:
            await asyncio.Event().wait()

    async def close(self) -> None:
        await self.sink.close()


def soak_sample(seq: int) -> Sample:
    """Sample number `seq`: a distinct millisecond and a value that names it."""
    return Sample(
        "soak",
        f"asset-{seq % 50}",
        f"dev-{seq % 50}",
        "soak",
        T0 + timedelta(milliseconds=seq),
        {"seq": float(seq)},
    )


async def main(args: argparse.Namespace) -> int:
    outbox = Outbox(Path(args.var) / "outbox.db")
    sink = AnnouncingSink(
        InfluxSink(args.influx, "token", "org", "bucket", timeout_ms=2000), args.hold_after_store
    )
    writer = TelemetryWriter(
        sink, SystemClock(), outbox, flush_interval=0.1, retry_min=0.1, retry_max=0.5
    )
    task = asyncio.create_task(writer.run())
    if args.points == 0:
        while True:
            if writer.direct and outbox.stats().pending_batches == 0:
                break
            await asyncio.sleep(0.05)
        print("DRAINED", writer.stats.replayed, flush=True)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return 0
    chunk = max(1, args.rate // 20)
    started = time.monotonic()
    for first in range(0, args.points, chunk):
        last = min(first + chunk, args.points)
        for seq in range(first, last):
            writer.offer(soak_sample(seq))
        writer.when_safe(functools.partial(print, "SAFE", last, flush=True))
        await asyncio.sleep(max(0.0, started + last / args.rate - time.monotonic()))
    await asyncio.Event().wait()  # hold on until killed
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--var", required=True)
    parser.add_argument("--influx", required=True)
    parser.add_argument("--points", type=int, required=True)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--hold-after-store", type=int, default=0)
    sys.exit(asyncio.run(main(parser.parse_args())))
