"""维护时限表: due times from the site's time-limit table, on the Chinese working-day calendar.

A limit in hours runs on the calendar clock (24/7). A limit of N working days falls due at the
end (23:59:59 local) of the Nth working day after the day the item was reported, counting
statutory holidays as days off and 调休 make-up days as working days (`chinese-calendar`).

The clock starts at `reported_at` and pauses while the order is on hold (挂起):
- an hour limit moves back by exactly the time on hold;
- a working-day limit moves back by the working days on which the hold ended after the day it
  began: a hold from Tuesday 10:00 to Thursday 15:00 adds two working days (Wednesday and
  Thursday), a hold that begins and ends on the same day adds none, and a hold over a weekend or
  a holiday adds only the working days it swallowed. Whole days keep the due time at 23:59:59
  local, where people expect it.

An asset under a 维保合同 in force on the day an order was reported takes the contract's
response terms instead (`propwatch.contractors`): each limit a contract row gives replaces the
site's, the others stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from propwatch.contractors import contract_of
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
    """The most specific row: the exact category (the site's, then the built-in one, so
    complaints keep their working-day tiers), then the site's `*`, then the built-in `*`."""
    for rows in (sla, DEFAULT_SLA):
        for row in rows:
            if row.priority == priority and row.category == category:
                return row
    for rows in (sla, DEFAULT_SLA):
        for row in rows:
            if row.priority == priority and row.category == "*":
                return row
    raise LookupError(f"no time limit for {category}/{priority}")


def working_days_between(first: date, last: date) -> int:
    """Working days d with first < d <= last."""
    count, d = 0, first
    while d < last:
        d += timedelta(days=1)
        if is_working_day(d):
            count += 1
    return count


def shift_for_hold(
    due: datetime, limit: TimeLimit, held_at: datetime, resumed_at: datetime, tz: ZoneInfo
) -> datetime:
    """A due time moved back for a hold from `held_at` to `resumed_at` (rule in the module doc)."""
    if limit.unit == "hours":
        return due + (resumed_at - held_at)
    days = working_days_between(held_at.astimezone(tz).date(), resumed_at.astimezone(tz).date())
    if days == 0:
        return due
    last = add_working_days(due.astimezone(tz).date(), days)
    return datetime.combine(last, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def revisit_due(
    spec: SiteFile, category: Category | str, priority: Priority, resolved_at: datetime
) -> datetime | None:
    """回访: due from the moment the work was resolved."""
    limit = policy_for(spec.sla, category, priority).revisit
    return due_at(resolved_at, limit, spec.site.tz) if limit else None


def compute_due(
    spec: SiteFile,
    category: Category | str,
    priority: Priority,
    reported_at: datetime,
    asset: str | None = None,
) -> DueTimes:
    policy = limits_for(spec, category, priority, asset, reported_at)
    tz = spec.site.tz

    def at(limit: TimeLimit | None) -> datetime | None:
        return due_at(reported_at, limit, tz) if limit else None

    return DueTimes(at(policy.respond), at(policy.arrive), at(policy.resolve))


def limits_for(
    spec: SiteFile,
    category: Category | str,
    priority: Priority,
    asset: str | None = None,
    reported_at: datetime | None = None,
) -> SlaPolicy:
    """The site's row for the order, or the contract's terms over it for an asset under contract
    on the local day the order was reported."""
    base = policy_for(spec.sla, category, priority)
    if asset is None or reported_at is None:
        return base
    contract = contract_of(spec, asset, reported_at.astimezone(spec.site.tz).date())
    if contract is None:
        return base
    rows = [t for t in contract.response if t.priority == priority]
    term = next((t for t in rows if t.category == category), None) or next(
        (t for t in rows if t.category == "*"), None
    )
    if term is None:
        return base
    given = {n: getattr(term, n) for n in ("respond", "arrive", "resolve")}
    return base.model_copy(update={n: v for n, v in given.items() if v is not None})
