"""When a plan falls due: RFC 5545 RRULE (dateutil), five-field cron (APScheduler's CronTrigger),
or a fixed interval, on the site's local wall clock; then the working-day policy.

Times are enumerated here rather than left to APScheduler's job store, so that every replica
computes the same occurrences and a test can ask for a year of them without waiting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from dateutil.rrule import rrule, rrulestr

from maintenance.sla import is_working_day

NonWorkingDay = Literal["keep", "skip", "next", "previous"]

DEFAULT_START = datetime(2026, 1, 1, 0, 0)
"""Local time every plan counts from unless it says otherwise (fixes INTERVAL phases)."""

SHIFT_SLACK = timedelta(days=15)
"""Widest shift the working-day policy can make (the longest Chinese holiday run is 8 days)."""


class RecurrenceError(ValueError):
    """A recurrence that cannot be parsed; the message names the expression."""


@lru_cache(maxsize=4096)
def _rrule(expr: str, start: datetime) -> rrule:
    try:
        rule = rrulestr(expr, dtstart=start, cache=True, ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"bad RRULE {expr!r}: {exc}") from exc
    if not isinstance(rule, rrule):
        raise RecurrenceError(f"RRULE {expr!r} must be a single rule, not a set")
    return rule


_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _crontab_dow(expr: str) -> str:
    """Cron numbers days from Sunday = 0; APScheduler 3's CronTrigger from Monday = 0, and
    `from_crontab` passes the field through, so numbers become day names first."""
    fields = expr.split()
    if len(fields) != 5:
        raise RecurrenceError(f"bad cron {expr!r}: expected five fields")
    fields[4] = re.sub(
        r"(?<![/\d])(\d+)",
        lambda m: _DOW_NAMES[int(m.group(1))] if int(m.group(1)) < 8 else "x",
        fields[4],
    )
    return " ".join(fields)


@lru_cache(maxsize=1024)
def _cron(expr: str, tz: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(_crontab_dow(expr), timezone=ZoneInfo(tz))
    except ValueError as exc:
        raise RecurrenceError(f"bad cron {expr!r}: {exc}") from exc


def check_recurrence(rrule_expr: str | None, cron: str | None, tz: str) -> None:
    """Raise `RecurrenceError` for an expression that would never parse at run time."""
    if rrule_expr is not None:
        _rrule(rrule_expr, DEFAULT_START)
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
        raise RecurrenceError("no calendar recurrence (rrule, cron or every)")


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
