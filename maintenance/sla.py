"""维护时限表: due times from the site's time-limit table, on the Chinese working-day calendar.

A limit in hours runs on the calendar clock (24/7). A limit of N working days falls due at the
end (23:59:59 local) of the Nth working day after the day the item was reported, counting
statutory holidays as days off and 调休 make-up days as working days (`chinese-calendar`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from propwatch.durations import TimeLimit
from propwatch.site import DEFAULT_SLA, Category, Priority, SiteFile, SlaPolicy


def is_working_day(day: date) -> bool:
    """Statutory calendar; outside the years the package knows, Monday to Friday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(day: date, n: int) -> date:
    """The Nth working day after `day` (not counting `day` itself)."""
    d = day
    remaining = n
    while remaining > 0:
        d += timedelta(days=1)
        if is_working_day(d):
            remaining -= 1
    return d


def due_at(start: datetime, limit: TimeLimit, tz: ZoneInfo) -> datetime:
    """When a limit that starts at `start` falls due (UTC)."""
    if limit.unit == "hours":
        return start + timedelta(hours=limit.amount)
    local_day = start.astimezone(tz).date()
    last = add_working_days(local_day, int(limit.amount))
    return datetime.combine(last, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class DueTimes:
    respond: datetime | None
    arrive: datetime | None
    resolve: datetime | None


def policy_for(
    sla: list[SlaPolicy] | tuple[SlaPolicy, ...], category: Category | str, priority: Priority
) -> SlaPolicy:
    """The most specific row: exact category first, then `*`, then the built-in defaults."""
    for rows in (sla, DEFAULT_SLA):
        for row in rows:
            if row.priority == priority and row.category == category:
                return row
        for row in rows:
            if row.priority == priority and row.category == "*":
                return row
    raise LookupError(f"no time limit for {category}/{priority}")


def compute_due(
    spec: SiteFile, category: Category | str, priority: Priority, reported_at: datetime
) -> DueTimes:
    policy = policy_for(spec.sla, category, priority)
    tz = spec.site.tz

    def at(limit: TimeLimit | None) -> datetime | None:
        return due_at(reported_at, limit, tz) if limit else None

    return DueTimes(at(policy.respond), at(policy.arrive), at(policy.resolve))
