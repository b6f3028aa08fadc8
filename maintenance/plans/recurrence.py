"""When a plan falls due: RFC 5545 RRULE (dateutil), five-field cron (APScheduler's CronTrigger),
or a fixed interval, on the site's local wall clock; then the working-day policy.

Times are enumerated here rather than left to APScheduler's job store, so that every replica
computes the same occurrences and a test can ask for a year of them without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from dateutil.rrule import rrule

from maintenance.plans.schedules import (
    DEFAULT_START,
    cron_for_apscheduler,
    parse_rrule,
    recurrence_problem,
    rrule_problem,
)
from maintenance.sla import is_working_day

NonWorkingDay = Literal["keep", "skip", "next", "previous"]

SHIFT_SLACK = timedelta(days=15)
"""Widest shift the working-day policy can make (the longest Chinese holiday run is 8 days)."""


class RecurrenceError(ValueError):
    """A recurrence the scheduler refuses; `zh` and `en` say why, in the user's terms."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@lru_cache(maxsize=4096)
def _rrule(expr: str, start: datetime) -> rrule:
    problem = rrule_problem(expr, start)  # never enumerate a rule the check refuses
    if problem is not None:
        raise RecurrenceError(problem.zh, problem.en)
    try:
        return parse_rrule(expr, start)
    except ValueError as exc:
        raise RecurrenceError(
            f"rrule “{expr}” 无法解析：{exc}", f"bad RRULE {expr!r}: {exc}"
        ) from exc


@lru_cache(maxsize=1024)
def _cron(expr: str, tz: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(cron_for_apscheduler(expr), timezone=ZoneInfo(tz))
    except ValueError as exc:
        raise RecurrenceError(
            f"cron “{expr}” 无法解析：{exc}", f"bad cron {expr!r}: {exc}"
        ) from exc


def check_recurrence(
    rrule_expr: str | None,
    cron: str | None,
    tz: str,
    every: float | None = None,
    start: datetime | None = None,
) -> None:
    """Raise `RecurrenceError` for a recurrence `check-config` refuses too (the same check,
    `maintenance.plans.schedules`), then for one the enumerators below could not read."""
    problem = recurrence_problem(rrule_expr, cron, every, start)
    if problem is not None:
        raise RecurrenceError(problem.zh, problem.en)
    if rrule_expr is not None:
        _rrule(rrule_expr, start or DEFAULT_START)
    if cron is not None:
        _cron(cron, tz)


def _local(t: datetime, tz: ZoneInfo) -> datetime:
    return t.astimezone(tz).replace(tzinfo=None)


def _utc(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def nominal_times(
    *,
    tz: ZoneInfo,
    after: datetime,
    until: datetime,
    start: datetime | None = None,
    rrule_expr: str | None = None,
    cron: str | None = None,
    every: float | None = None,
) -> Iterator[datetime]:
    """Scheduled times t (aware UTC) with `after` < t <= `until`, in order."""
    anchor = start or DEFAULT_START
    if rrule_expr is not None:
        rule = _rrule(rrule_expr, anchor)
        for local in rule.between(_local(after, tz), _local(until, tz), inc=True):
            t = _utc(local, tz)
            if after < t <= until:
                yield t
    elif cron is not None:
        trigger = _cron(cron, str(tz))
        floor = max(after, _utc(anchor, tz) - timedelta(microseconds=1))
        prev: datetime | None = None
        cursor = floor + timedelta(seconds=1)
        while True:
            nxt = trigger.get_next_fire_time(prev, cursor)
            if nxt is None or nxt > until:
                return
            if nxt > after:
                yield nxt.astimezone(UTC)
            prev, cursor = nxt, nxt + timedelta(seconds=1)
    elif every is not None:
        origin = _utc(anchor, tz)
        step = timedelta(seconds=every)
        k = max(0, int((after - origin) / step))
        t = origin + k * step
        while t <= until:
            if t > after:
                yield t
            t += step
    else:
        raise RecurrenceError(
            "没有日历周期（rrule、cron 或 every）", "no calendar recurrence (rrule, cron or every)"
        )


def effective_time(nominal: datetime, policy: NonWorkingDay, tz: ZoneInfo) -> datetime | None:
    """Where an occurrence lands on the working-day calendar (None: skipped).

    `next` and `previous` keep the local time of day and move to the nearest working day
    (调休 make-up days count as working days, statutory holidays do not).
    """
    if policy == "keep":
        return nominal
    local = nominal.astimezone(tz)
    if is_working_day(local.date()):
        return nominal
    if policy == "skip":
        return None
    step = timedelta(days=1 if policy == "next" else -1)
    day = local.date()
    while True:
        day += step
        if is_working_day(day):
            return _utc(datetime.combine(day, local.time().replace(tzinfo=None)), tz)
