"""The plan scheduler: APScheduler triggers idempotent passes on the injected clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from maintenance.db import Database
from maintenance.plans.models import PlanRecord
from maintenance.registry.service import sync_registry
from maintenance.scheduler import PlanScheduler
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 5, 4, 8, tzinfo=TZ).astimezone(UTC)


def _site(tmp_path: Path, db: Database) -> Site:
    site = plan_site(
        tmp_path,
        fleet("elevator", 2, "zone-a", "1栋", "lift"),
        [{"id": "patrol", "template": "elevator-daily-patrol"}],
    )
    with db.session() as s:
        sync_registry(s, site, START)
    return site


def _count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(WorkOrder)) or 0)


async def _until(cond: Callable[[], bool], what: str, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_the_trigger_runs_passes_that_follow_the_injected_clock(
    tmp_path: Path, db: Database
) -> None:
    clock = ManualClock(START)
    site = _site(tmp_path, db)

    async def run() -> None:
        sched = PlanScheduler(site, db, clock, interval=0.05)
        await sched.start()
        try:
            clock.set(datetime(2026, 5, 4, 9, 1, tzinfo=TZ).astimezone(UTC))
            await _until(lambda: _count(db) == 2, "the 09:00 patrols")
            passes = sched.stats.passes
            await _until(lambda: sched.stats.passes >= passes + 3, "more passes")
        finally:
            sched.stop()
        assert (_count(db), sched.stats.errors) == (2, 0)

    asyncio.run(run())


def test_starting_after_downtime_catches_up_before_the_first_tick(
    tmp_path: Path, db: Database
) -> None:
    clock = ManualClock(START)
    site = _site(tmp_path, db)
    PlanScheduler(site, db, clock).run_pass()
    clock.set(datetime(2026, 5, 6, 12, tzinfo=TZ).astimezone(UTC))  # down two days

    async def run() -> None:
        sched = PlanScheduler(site, db, clock, interval=3600)
        await sched.start()
        sched.stop()
        assert (sched.stats.created, sched.stats.late) == (10, 10)

    asyncio.run(run())


def test_a_failing_pass_is_counted_and_the_night_check_still_runs(
    tmp_path: Path, db: Database
) -> None:
    clock = ManualClock(START)
    site = _site(tmp_path, db)
    with db.session() as s:  # a row no release of the plan schema would accept
        s.add(
            PlanRecord(
                site_id=site.id, code="bad", spec={"id": "bad"}, created_at=START, updated_at=START
            )
        )
    stats = PlanScheduler(site, db, clock).run_pass()
    assert (stats.errors, stats.passes) == (1, 1)
