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


def _calendar_visits(
    spec: SiteFile, plans: list[Plan], start: datetime, end: datetime
) -> list[ForecastVisit]:
    nest = nesting(plans)

    def times(plan: Plan, after: datetime, until: datetime) -> list[datetime]:
        return [o.due_at for o in occurrences(plan, spec, after, until) if o.due_at is not None]

    near = VisitTimes(times, start)
    out: list[ForecastVisit] = []
    for plan in plans:
        if not plan.enabled or plan.meter is not None or plan.floating:
            continue
        assets = plan_assets(plan, spec)
        if not assets:
            continue
        absorbed = [p.id for p in nest.absorbed.get(plan.id, ())]
        hours = nest.hours(plan)
        for due in times(plan, start, end):
            absorbers = [q for q in nest.absorbers.get(plan.id, ()) if near.near(q, due)]
            for asset in assets:
                if absorbers and any(q.targets.covers(asset) for q in absorbers):
                    continue
                out.append(
                    ForecastVisit(
                        plan_id=plan.id,
                        plan_name=plan.name,
                        asset=asset.id,
                        zone=asset.zone,
                        assignee=_assignee(spec, plan, asset.zone),
                        due_at=due,
                        hours=hours,
                        absorbs=absorbed,
                    )
                )
    return out


def _floating_visits(
    session: Session, spec: SiteFile, plans: list[Plan], start: datetime, end: datetime
) -> list[ForecastVisit]:
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
    out: list[ForecastVisit] = []
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
                    ForecastVisit(
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


def _statutory_visits(
    session: Session, site: Site, start: datetime, end: datetime
) -> list[ForecastVisit]:
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
                ForecastVisit(
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


def _groups(
    visits: list[ForecastVisit], key: str, names: dict[str, str], empty: str
) -> list[ForecastGroup]:
    orders: defaultdict[str | None, int] = defaultdict(int)
    hours: defaultdict[str | None, float] = defaultdict(float)
    for v in visits:
        k = getattr(v, key)
        orders[k] += 1
        hours[k] += v.hours
    rows = [
        ForecastGroup(
            id=k, name=names.get(k, k) if k else empty, orders=orders[k], hours=round(hours[k], 2)
        )
        for k in orders
    ]
    return sorted(rows, key=lambda g: (-g.hours, g.name))


def plan_forecast(
    session: Session, site: Site, now: datetime, *, days: int = 90, limit: int = 100
) -> Forecast:
    """The plan orders due in (now, now + days] and their labour hours."""
    spec = site.spec
    end = now + timedelta(days=days)
    plans = active_plans(session, site)
    visits = (
        _calendar_visits(spec, plans, now, end)
        + _floating_visits(session, spec, plans, now, end)
        + _statutory_visits(session, site, now, end)
    )
    visits.sort(key=lambda v: (v.due_at, v.plan_id, v.asset))
    week = timedelta(days=7)
    weeks = [ForecastWeek(start=now + k * week, orders=0, hours=0) for k in range(-(-days // 7))]
    for v in visits:
        w = weeks[min(int((v.due_at - now) / week), len(weeks) - 1)]
        w.orders += 1
        w.hours = round(w.hours + v.hours, 2)
    people = {p.id: p.name for p in spec.people}
    return Forecast(
        site_id=spec.site.id,
        start=now,
        end=end,
        orders=len(visits),
        hours=round(sum(v.hours for v in visits), 2),
        by_zone=_groups(visits, "zone", {z.id: z.name for z in spec.zones}, "—"),
        by_technician=_groups(visits, "assignee", people, "未分配"),
        by_week=weeks,
        visits=visits[:limit],
    )
