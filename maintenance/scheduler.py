"""The plan scheduler: APScheduler 3 as the trigger, `materialize_due(now)` as the work.

Why not one APScheduler job per plan occurrence: a job store holds *state* (next run times) that
two replicas would each keep and both act on, that a restart loses or replays, and that runs on
the wall clock, so a test would have to wait a night to see a night. Instead the occurrences are
computed from the recurrence (`maintenance.plans.recurrence`) on the injected clock, and APScheduler
only calls one idempotent pass every `interval` seconds (plus once at start, which is the catch-up
after downtime). The database makes each occurrence exactly once: whichever replica runs first
creates it, the other finds it (unique `source_key`). Coalescing and `max_instances=1` keep a slow
pass from piling up behind itself; APScheduler's own misfire handling does not matter, since a
late pass still covers everything since the cursor. The misfire policy itself is in
`maintenance.plans.service`.

A plan that cannot run (a schedule that slipped past `check-config`, a template or database
error on its rows) never stops the others: its error goes on its health row
(`maintenance.plans.health`), shown on the plan in the API and counted in `/metrics`, and is
logged when it appears, changes or clears, not every pass. A site reload that fixes it clears it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from maintenance.db import Database
from maintenance.lighting import night_lighting_check
from maintenance.lighting_control import issue_due_switchings
from maintenance.plans.health import HealthChange, record_plan_health
from maintenance.plans.schedules import after_sunset_problem
from maintenance.plans.service import materialize_due
from maintenance.quality.inspection_plans import open_due_inspections
from propwatch.clock import Clock
from propwatch.site import Site

log = logging.getLogger(__name__)

PLAN_INTERVAL = 60.0
"""Seconds between passes; an occurrence is created at most this long after its time."""


@dataclass
class SchedulerStats:
    passes: int = 0
    created: int = 0
    late: int = 0
    skipped: int = 0
    patrols: int = 0
    lighting_faults: int = 0
    lighting_commands: int = 0  # 照明定时: commands issued by the lighting schedule
    lighting_missed: int = 0  # switchings recorded expired: the service was down past their ttl
    warranty_reminders: int = 0
    errors: int = 0
    plan_failures: int = 0


class PlanScheduler:
    """Runs the plan pass, the lighting schedule and the night-lighting check on a timer, on
    the injected clock."""

    def __init__(
        self, site: Site, db: Database, clock: Clock, interval: float = PLAN_INTERVAL
    ) -> None:
        self.site = site
        self.db = db
        self.clock = clock
        self.interval = interval
        self.stats = SchedulerStats()
        self._scheduler: AsyncIOScheduler | None = None
        self._lighting_refused: str | None = None

    def run_pass(self) -> SchedulerStats:
        """One pass of the three jobs (plans, lighting schedule, night check), each in its own
        transaction, so one failing keeps the others.

        Within the plan job each plan is isolated (`materialize_due`); the plans that failed
        are recorded on their health row in a transaction of their own, so the record survives
        whatever rolled the plan back, and each change is logged once.
        """
        now = self.clock.now()
        done = SchedulerStats(passes=1)
        try:
            with self.db.session() as s:
                result = materialize_due(s, self.site, now)
            done.created, done.late, done.skipped = result.total, result.late, result.skipped
            done.warranty_reminders = result.warranty_reminders
            done.errors += len(result.failed)
            done.plan_failures += len(result.failed)
            with self.db.session() as s:
                changes = record_plan_health(s, self.site.id, result.failed, now)
            self._log_changes(changes, result.crashed)
        except Exception:  # counted in stats.errors; the next pass retries
            done.errors += 1
            log.exception("plan pass failed at %s", now.isoformat())
        try:  # 月度品质检查: each plan's month opened once (maintenance.quality.inspection_plans)
            with self.db.session() as s:
                done.created += open_due_inspections(s, self.site, now)
        except Exception:  # counted; the next pass retries
            done.errors += 1
            log.exception("inspection plan pass failed at %s", now.isoformat())
        try:  # before the night check, which verifies what these switched
            with self.db.session() as s:
                switched = issue_due_switchings(s, self.site, now)
            done.lighting_commands, done.lighting_missed = (
                len(switched.issued),
                len(switched.missed),
            )
        except Exception:  # counted in stats.errors; the next pass retries
            done.errors += 1
            log.exception("lighting schedule failed at %s", now.isoformat())
        lighting = after_sunset_problem(self.site.spec.night_lighting.after_sunset)
        if lighting is not None:
            done.errors += 1
            if lighting.en != self._lighting_refused:
                log.error("night lighting check not run: %s", lighting.text())
            self._lighting_refused = lighting.en
        else:
            self._lighting_refused = None
            try:
                with self.db.session() as s:
                    night = night_lighting_check(s, self.site, now)
                done.patrols, done.lighting_faults = len(night.patrols), len(night.faults_opened)
            except Exception:  # counted in stats.errors; the next pass retries
                done.errors += 1
                log.exception("night lighting check failed at %s", now.isoformat())
        for name in vars(done):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(done, name))
        return done

    def _log_changes(self, changes: list[HealthChange], crashed: dict[str, Exception]) -> None:
        for c in changes:
            if c.error is None:
                log.info(
                    "plan %s of site %s runs again (was: %s)", c.plan_id, self.site.id, c.previous
                )
            elif c.plan_id in crashed:
                exc = crashed[c.plan_id]
                log.error(
                    "plan %s of site %s stopped: %s",
                    c.plan_id,
                    self.site.id,
                    c.error,
                    exc_info=(type(exc), exc, exc.__traceback__),
                )
            else:
                log.error("plan %s of site %s stopped: %s", c.plan_id, self.site.id, c.error)

    async def tick(self) -> None:
        await asyncio.to_thread(self.run_pass)

    async def start(self) -> None:
        """Catch up at once (missed occurrences, marked late), then pass every `interval`."""
        await self.tick()
        scheduler = AsyncIOScheduler(
            timezone=self.site.spec.site.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.add_job(
            self.tick, IntervalTrigger(seconds=self.interval), id="plans", name="保养计划与夜间照明"
        )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
