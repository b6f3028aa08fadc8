"""A gateway's telemetry path as its own process, for the SIGKILL test and the outage soak.

    python -m tests.gateway.outbox_driver --var DIR --influx URL --points N [--rate R]

Offers N samples (measurement `soak`, field `seq` = 0..N-1) at R per second into a
`TelemetryWriter` with its durable outbox, printing `SAFE k` each time the first k are in the
sink or on disk. With N = 0 it only replays what an earlier life left in the outbox, prints
`DRAINED` and exits.
"""

from __future__ import annotations

import argparse
import asyncio
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
    sink = InfluxSink(args.influx, "token", "org", "bucket", timeout_ms=2000)
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
        writer.when_safe(lambda k=last: print("SAFE", k, flush=True))
        await asyncio.sleep(max(0.0, started + last / args.rate - time.monotonic()))
    await asyncio.Event().wait()  # hold on until killed
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--var", required=True)
    parser.add_argument("--influx", required=True)
    parser.add_argument("--points", type=int, required=True)
    parser.add_argument("--rate", type=int, default=5000)
    sys.exit(asyncio.run(main(parser.parse_args())))
