"""One maintenance replica in its own process, for tests/maintenance/test_replicas.py:
`python -m tests.maintenance.replica_process DIR` with PROPWATCH_* settings.

It builds the site directory and `MaintenanceService` as `propwatch maintenance --sites DIR`
does, but on a clock every replica process shares (simulated time running `speed` times faster
from `origin` at wall-clock `epoch`), so that hourly and daily plans fall due within a test and
a pass interval is seconds of real time. SIGTERM stops it cleanly; the test also SIGKILLs it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

from maintenance.db import Database
from maintenance.service import MaintenanceService
from propwatch.settings import Settings
from propwatch.site_directory import SiteDirectory


class SharedClock:
    """Simulated time from the wall clock: the same in every process given the same figures."""

    def __init__(self, origin: datetime, epoch: float, speed: float) -> None:
        self.origin, self.epoch, self.speed = origin, epoch, speed

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=(time.time() - self.epoch) * self.speed)

    def monotonic(self) -> float:
        return time.monotonic() * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds / self.speed))


async def serve(args: argparse.Namespace) -> None:
    settings = Settings()
    assert settings.mqtt_url is not None
    clock = SharedClock(datetime.fromisoformat(args.origin), args.epoch, args.speed)
    directory = SiteDirectory(Path(args.sites), clock)
    await asyncio.to_thread(directory.rescan)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    db = Database.from_settings(settings)
    async with MaintenanceService(
        directory, settings, clock, settings.mqtt_url, db, pass_interval=args.pass_interval
    ):
        watch = asyncio.create_task(directory.watch(args.pass_interval))
        print("maintenance replica started", flush=True)
        await stop.wait()
        watch.cancel()
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sites")
    parser.add_argument("--origin", required=True)
    parser.add_argument("--epoch", type=float, required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--pass-interval", type=float, required=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
