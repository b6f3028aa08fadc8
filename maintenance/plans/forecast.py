"""工作量预测: the plan orders of the coming days, and the labour hours they take, per zone and
per technician, so a supervisor can see a heavy week before it comes.

What is counted: every calendar occurrence of each enabled plan for each asset it covers, less
those a nesting plan absorbs (`maintenance.plans.nesting`; the absorbing visit counts its own
hours plus the absorbed plans'); floating plans from their baseline (an asset with an order
still open counts again `every` after that order's due time); and the orders to prepare and
accompany statutory inspections (法定检验, `STATUTORY_HOURS` each). A visit's hours are the
plan's `estimated_hours` (or its template's, else one hour). Meter plans are not forecast: when
a counter reaches its next threshold depends on use. Who does it is the zone's staff of the
plan's role, as when the order is made.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.plans.models import PlanCursor
from maintenance.plans.nesting import VisitTimes, nesting
from maintenance.plans.service import (
    Plan,
    _assignee,
    active_plans,
    floating_key,
    occurrences,
    plan_assets,
)
from maintenance.statutory.service import inspection_statuses
from maintenance.work_orders.models import WorkOrder
from propwatch.site import Site, SiteFile

STATUTORY_HOURS = 2.0
"""Labour hours of preparing for and accompanying one statutory inspection."""


@dataclass(slots=True)
class _Visit:
    """One visit while counting (the API model is built only for the visits listed)."""

    plan_id: str
    plan_name: str
    asset: str
    zone: str
    assignee: str | None
    due_at: datetime
    hours: float
    absorbs: list[str]


class ForecastVisit(BaseModel):
    plan_id: str
    plan_name: str
    asset: str
    zone: str
    assignee: str | None
    due_at: datetime
    hours: float
    absorbs: list[str] = Field(description="plans whose visits this one replaces (套保)")


class ForecastGroup(BaseModel):
    """One zone's or one person's share (`id` None: no one of the plan's role in the zone)."""

    id: str | None
    name: str
    orders: int
    hours: float


class ForecastWeek(BaseModel):
    start: datetime
    orders: int
    hours: float


class Forecast(BaseModel):
    site_id: str
    start: datetime
    end: datetime
    orders: int
    hours: float
    by_zone: list[ForecastGroup]
    by_technician: list[ForecastGroup] = Field(description="by assignee, whatever the role")
    by_week: list[ForecastWeek]
    visits: list[ForecastVisit] = Field(description="the first `limit` visits by due time")


class _Tally:
    """Orders and hours per zone, person and week, and the first `limit` visits of each source
    (enough to list the first `limit` of all): a visit is counted, not kept."""

    def __init__(self, start: datetime, days: int, limit: int) -> None:
        self.start, self.limit = start, limit
        self.week = timedelta(days=7)
        self.weeks = -(-days // 7)
        self.orders: defaultdict[tuple[str, str | None, int], int] = defaultdict(int)
        self.hours: defaultdict[tuple[str, str | None, int], float] = defaultdict(float)
        self.listed: list[_Visit] = []

    def add(self, zone: str, person: str | None, due: datetime, hours: float, n: int = 1) -> None:
        key = (zone, person, min(int((due - self.start) / self.week), self.weeks - 1))
        self.orders[key] += n
        self.hours[key] += hours * n

    def groups(self, part: int, names: dict[str, str], empty: str) -> list[ForecastGroup]:
        orders: defaultdict[str | None, int] = defaultdict(int)
        hours: defaultdict[str | None, float] = defaultdict(float)
        for key, n in self.orders.items():
            k = key[0] if part == 0 else key[1]
            orders[k] += n
            hours[k] += self.hours[key]
        rows = [
            ForecastGroup(
                id=k, name=names.get(k, k) if k else empty, orders=n, hours=round(hours[k], 2)
            )
            for k, n in orders.items()
        ]
        return sorted(rows, key=lambda g: (-g.hours, g.name))

    def by_week(self) -> list[ForecastWeek]:
        orders = [0] * self.weeks
        hours = [0.0] * self.weeks
        for key, n in self.orders.items():
            orders[key[2]] += n
            hours[key[2]] += self.hours[key]
        return [
            ForecastWeek(
                start=self.start + k * self.week, orders=orders[k], hours=round(hours[k], 2)
            )
            for k in range(self.weeks)
        ]


def _calendar_visits(
    spec: SiteFile, plans: list[Plan], start: datetime, end: datetime, tally: _Tally
) -> None:
    nest = nesting(plans)

    def times(plan: Plan, after: datetime, until: datetime) -> list[datetime]:
        return [o.due_at for o in occurrences(plan, spec, after, until) if o.due_at is not None]

    near = VisitTimes(times, start)
    for plan in plans:
        if not plan.enabled or plan.meter is not None or plan.floating:
            continue
        assets = plan_assets(plan, spec)
        if not assets:
            continue
        absorbed = [p.id for p in nest.absorbed.get(plan.id, ())]
        hours = nest.hours(plan)
        staff = {z.id: _assignee(spec, plan, z.id) for z in spec.zones}
        zones: defaultdict[str, int] = defaultdict(int)
        for a in assets:
            zones[a.zone] += 1
        listed = 0
        for due in times(plan, start, end):
            absorbers = [q for q in nest.absorbers.get(plan.id, ()) if near.near(q, due)]
            kept = assets
            if absorbers:
                kept = [a for a in assets if not any(q.targets.covers(a) for q in absorbers)]
                counts: dict[str, int] = defaultdict(int)
                for a in kept:
                    counts[a.zone] += 1
            else:
                counts = zones
            for zone, n in counts.items():
                tally.add(zone, staff.get(zone), due, hours, n)
            for asset in kept[: max(0, tally.limit - listed)]:
                tally.listed.append(
                    _Visit(
                        plan_id=plan.id,
                        plan_name=plan.name,
                        asset=asset.id,
                        zone=asset.zone,
                        assignee=staff.get(asset.zone),
                        due_at=due,
                        hours=hours,
                        absorbs=absorbed,
                    )
                )
                listed += 1


def _floating_visits(
    session: Session, spec: SiteFile, plans: list[Plan], start: datetime, end: datetime
) -> list[_Visit]:
    floating = [p for p in plans if p.enabled and p.floating and p.every]
    if not floating:
        return []
    cursors = {
        (c.plan_code, c.asset_code): c
        for c in session.scalars(
            select(PlanCursor).where(
                PlanCursor.site_id == spec.site.id,
                PlanCursor.plan_code.in_([p.id for p in floating]),
            )
        )
    }
    made = {
        key: (resolved if resolved is not None else reported)
        for key, reported, resolved in session.execute(
            select(WorkOrder.source_key, WorkOrder.reported_at, WorkOrder.resolved_at).where(
                WorkOrder.site_id == spec.site.id, WorkOrder.source_key.contains(":float:")
            )
        )
    }
    out: list[_Visit] = []
    for plan in floating:
        assert plan.every is not None
        every = timedelta(seconds=plan.every)
        for asset in plan_assets(plan, spec):
            cursor = cursors.get((plan.id, asset.id))
            baseline = cursor.through if cursor and cursor.through else start
            # the order counted from the baseline may be out already: the next counts from its
            # completion, or from its due time if it is still open (taken as done on time)
            last = made.get(floating_key(spec.site.id, plan.id, asset.id, baseline))
            due = max((last or baseline) + every, start)
            while due <= end:
                out.append(
                    _Visit(
                        plan_id=plan.id,
                        plan_name=plan.name,
                        asset=asset.id,
                        zone=asset.zone,
                        assignee=_assignee(spec, plan, asset.zone),
                        due_at=due,
                        hours=plan.estimated_hours,
                        absorbs=[],
                    )
                )
                due += every
    return out


def _statutory_visits(session: Session, site: Site, start: datetime, end: datetime) -> list[_Visit]:
    spec = site.spec
    tz = spec.site.tz
    types = {t.id: t for t in spec.statutory_inspections.effective()}
    zone_staff = {z.id: (z.technicians[0] if z.technicians else None) for z in spec.zones}
    out = []
    for s in inspection_statuses(session, site, start.astimezone(tz).date()):
        if s.next_due is None or s.work_order_id is not None:
            continue
        opens = s.next_due - timedelta(days=types[s.type].prepare_days)
        at = datetime.combine(opens, datetime.min.time(), tzinfo=tz)
        if start < at <= end:
            out.append(
                _Visit(
                    plan_id=f"statutory:{s.type}",
                    plan_name=s.type_name,
                    asset=s.asset,
                    zone=s.zone,
                    assignee=zone_staff.get(s.zone),
                    due_at=at,
                    hours=STATUTORY_HOURS,
                    absorbs=[],
                )
            )
    return out


def plan_forecast(
    session: Session, site: Site, now: datetime, *, days: int = 90, limit: int = 100
) -> Forecast:
    """The plan orders due in (now, now + days] and their labour hours."""
    spec = site.spec
    end = now + timedelta(days=days)
    plans = active_plans(session, site)
    tally = _Tally(now, days, limit)
    _calendar_visits(spec, plans, now, end, tally)
    for v in _floating_visits(session, spec, plans, now, end) + _statutory_visits(
        session, site, now, end
    ):
        tally.add(v.zone, v.assignee, v.due_at, v.hours)
        tally.listed.append(v)
    listed = sorted(tally.listed, key=lambda v: (v.due_at, v.plan_id, v.asset))[:limit]
    people = {p.id: p.name for p in spec.people}
    return Forecast(
        site_id=spec.site.id,
        start=now,
        end=end,
        orders=sum(tally.orders.values()),
        hours=round(sum(tally.hours.values()), 2),
        by_zone=tally.groups(0, {z.id: z.name for z in spec.zones}, "—"),
        by_technician=tally.groups(1, people, "未分配"),
        by_week=tally.by_week(),
        visits=[ForecastVisit.model_validate(v, from_attributes=True) for v in listed],
    )
