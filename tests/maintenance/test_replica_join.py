"""A maintenance replica joining one that holds every site, on a real mosquitto and each
database backend: it has its fair share within two membership checks of the injected clock,
and no site is run by both replicas at any instant observed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from maintenance.db import Database
from maintenance.service import MaintenanceService, membership_check_period
from propwatch.clock import ManualClock
from propwatch.settings import Settings
from propwatch.site_directory import SiteDirectory
from tests.maintenance.conftest import MONDAY_10H
from tests.support.servers import Mosquitto
from tests.support.sites import copy_example_site

PASS_INTERVAL = 60.0
CHECK = membership_check_period(PASS_INTERVAL)
SITES = 6


class WatchedClock(ManualClock):
    """A manual clock that tells how many sleepers wait for a given instant."""

    def __init__(self) -> None:
        super().__init__(MONDAY_10H)
        self.waiting: Counter[float] = Counter()

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + seconds
        self.waiting[deadline] += 1
        try:
            await super().sleep(seconds)
        finally:
            self.waiting[deadline] -= 1


async def _until(check: Callable[[], bool], what: str) -> None:
    """Wait for the services' tasks to get there (a guard against a hang, not a timing)."""
    deadline = time.monotonic() + 30
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waiting for {what}")
        await asyncio.sleep(0.005)


def test_a_joining_replica_has_its_share_within_two_checks_and_no_site_runs_twice(
    tmp_path: Path, mosquitto: Mosquitto, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    folder = tmp_path / "sites"
    for n in range(SITES):
        copy_example_site(folder, f"join-{n}-{tag}", f"第{n}苑")
    clock = WatchedClock()
    dbs: list[Database] = []

    def replica(name: str) -> MaintenanceService:
        directory = SiteDirectory(folder, clock)
        directory.rescan()
        settings = Settings(
            database_url=database_url, instance_id=f"{name}-{tag}", var_dir=tmp_path / name
        )
        dbs.append(Database(database_url))
        return MaintenanceService(
            directory, settings, clock, mosquitto.url, dbs[-1], pass_interval=PASS_INTERVAL
        )

    overlaps: list[set[str]] = []

    async def watch(a: MaintenanceService, b: MaintenanceService) -> None:
        """Every turn of the event loop: no site run (work) or leased (held, or let go and not
        yet released) by both."""
        while True:
            both = (set(a.work) & set(b.work)) | (
                (a.leases.held | a.leases.letting_go) & (b.leases.held | b.leases.letting_go)
            )
            if both:
                overlaps.append(both)
            await asyncio.sleep(0)

    async def check_once(a: MaintenanceService, b: MaintenanceService) -> None:
        """Move the clock one check period on and wait for both lease loops' turn."""
        turns = (a.lease_checks, b.lease_checks)
        # both lease loops asleep until the next check, so the move wakes both
        await _until(lambda: clock.waiting[clock.monotonic() + CHECK] >= 2, "both loops asleep")
        clock.advance(CHECK)
        await _until(lambda: a.lease_checks > turns[0] and b.lease_checks > turns[1], "both checks")

    async def run() -> None:
        async with replica("a") as a:
            assert len(a.leases.held) == len(a.work) == SITES
            async with replica("b") as b:
                watcher = asyncio.create_task(watch(a, b))
                joined = clock.monotonic()
                assert b.leases.held == set() and b.leases.wants_more()
                steps = 0
                while len(b.leases.held) < SITES // 2:
                    await check_once(a, b)
                    steps += 1
                    assert clock.monotonic() - joined <= 2 * CHECK, "b short of its share"
                assert steps <= 2
                await _until(lambda: len(b.work) == SITES // 2, "b running its sites")
                assert set(a.work) == a.leases.held and set(b.work) == b.leases.held
                assert len(a.leases.held) == SITES // 2
                assert a.leases.held | b.leases.held == set(a.sites)
                assert (a.lease_errors, b.lease_errors) == (0, 0)
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)

    try:
        asyncio.run(run())
    finally:
        for db in dbs:
            db.dispose()
    assert overlaps == []
