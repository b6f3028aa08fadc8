"""日报: one local day of a site, as the duty room prints it for the morning meeting and the
notice board (公示栏): orders opened, finished, closed and cancelled, limits missed, alarms,
maintenance-plan work done, per zone (片区) and in all.

What counts, so the figures can be checked by hand (the day is the site's local calendar day,
[00:00, 24:00), and while it runs it ends at `at`, now):
- 新增 (opened): orders reported in the day, cancelled ones included;
- 完成 (resolved): orders resolved in the day; 关闭 (closed) and 取消 (cancelled) likewise;
- 超时 (overdue): orders with a respond, arrive or resolve limit due in the day and not met by
  it (met later, or not at all), unless cancelled or put on hold before it fell due (a held
  order's clock is stopped);
- 告警 (alarms): alarm episodes raised in the day and annunciated (raised at least once, not
  suppressed by an out-of-service asset or planned work), with 紧急 (critical) apart; an alarm's
  zone is its asset's;
- 保养完成 (plan work done): orders of a maintenance plan resolved in the day.
An order counts in the zone it has now; one with none counts under 未分片区.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm
from maintenance.plans.service import local_day_bounds
from maintenance.registry.models import Asset, Zone
from maintenance.work_orders.models import STATUS_ZH, Source, Status, WorkOrder
from maintenance.work_orders.service import LIMITS, MET_BY
from propwatch.site import PRIORITY_ZH, Priority, SiteFile

NO_ZONE = "未分片区"


class DayOrder(BaseModel):
    id: int
    code: str | None
    title: str
    status: str
    status_zh: str
    priority: str
    priority_zh: str
    category: str
    source: str
    zone: str | None
    zone_name: str
    assignee: str | None
    assignee_name: str | None
    reported_at: datetime
    resolved_at: datetime | None
    missed: list[str]  # the limits due in the day and missed (超时 only)
    missed_due: datetime | None  # the first of them


class DayAlarm(BaseModel):
    id: int
    asset: str
    asset_name: str
    zone: str | None
    zone_name: str
    severity: str
    message: str
    raised_at: datetime
    cleared_at: datetime | None
    work_order_id: int | None


class DayFigures(BaseModel):
    opened: int = 0
    resolved: int = 0
    closed: int = 0
    cancelled: int = 0
    overdue: int = 0
    alarms: int = 0
    critical_alarms: int = 0
    plan_done: int = 0


class ZoneDay(DayFigures):
    zone: str | None
    name: str


class DailyReport(BaseModel):
    """日报 of one site and day; the lists hold what the figures count."""

    site_id: str
    site_name: str
    date: date
    start: datetime
    end: datetime
    at: datetime  # the end, or now while the day runs
    complete: bool  # the day is over
    totals: DayFigures
    zones: list[ZoneDay]  # every zone of the site file, then 未分片区 when something has none
    opened: list[DayOrder]
    resolved: list[DayOrder]
    overdue: list[DayOrder]
    plan_done: list[DayOrder]
    alarms: list[DayAlarm]


def _in(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _missed(wo: WorkOrder, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    out = []
    for name in LIMITS:
        due: datetime | None = getattr(wo, f"{name}_due")
        if due is None or not start <= due < end:
            continue
        met: datetime | None = getattr(wo, MET_BY[name])
        if met is not None and met <= due:
            continue
        if wo.cancelled_at is not None and wo.cancelled_at <= due:
            continue
        if wo.status == Status.ON_HOLD and wo.held_at is not None and wo.held_at <= due:
            continue
        out.append((name, due))
    return out


def daily_report(session: Session, spec: SiteFile, day: date, now: datetime) -> DailyReport:
    site = spec.site.id
    start, end = local_day_bounds(day, spec)
    at = max(start, min(end, now))
    people = {p.id: p.name for p in spec.people}
    zone_names = {z.id: z.name for z in spec.zones}

    def zone_name(code: str | None) -> str:
        return NO_ZONE if code is None else zone_names.get(code, code)

    w = WorkOrder
    orders = session.scalars(
        select(w)
        .where(
            w.site_id == site,
            or_(
                _in(w.reported_at, start, at),
                _in(w.resolved_at, start, at),
                _in(w.closed_at, start, at),
                _in(w.cancelled_at, start, at),
                *(_in(getattr(w, f"{n}_due"), start, at) for n in LIMITS),
            ),
        )
        .order_by(w.reported_at, w.id)
    ).all()

    def row(wo: WorkOrder, missed: list[tuple[str, datetime]] | None = None) -> DayOrder:
        return DayOrder(
            id=wo.id,
            code=wo.code,
            title=wo.title,
            status=wo.status,
            status_zh=STATUS_ZH[Status(wo.status)],
            priority=wo.priority,
            priority_zh=PRIORITY_ZH[Priority(wo.priority)],
            category=wo.category,
            source=wo.source,
            zone=wo.zone_code,
            zone_name=zone_name(wo.zone_code),
            assignee=wo.assignee,
            assignee_name=people.get(wo.assignee, wo.assignee) if wo.assignee else None,
            reported_at=wo.reported_at,
            resolved_at=wo.resolved_at,
            missed=[name for name, _ in missed or []],
            missed_due=min((due for _, due in missed), default=None) if missed else None,
        )

    def within(t: datetime | None) -> bool:
        return t is not None and start <= t < at

    opened = [row(wo) for wo in orders if within(wo.reported_at)]
    resolved = [row(wo) for wo in orders if within(wo.resolved_at)]
    overdue = [row(wo, m) for wo in orders if (m := _missed(wo, start, at))]
    plan_done = [r for r in resolved if r.source == Source.PLAN]
    closed = [wo.zone_code for wo in orders if within(wo.closed_at)]
    cancelled = [wo.zone_code for wo in orders if within(wo.cancelled_at)]
    alarms = _alarms(session, site, start, at, zone_name)

    def count(zones: Iterable[str | None]) -> Counter[str | None]:
        return Counter(zones)

    figures = {
        "opened": count(r.zone for r in opened),
        "resolved": count(r.zone for r in resolved),
        "closed": count(closed),
        "cancelled": count(cancelled),
        "overdue": count(r.zone for r in overdue),
        "alarms": count(a.zone for a in alarms),
        "critical_alarms": count(a.zone for a in alarms if a.severity == "critical"),
        "plan_done": count(r.zone for r in plan_done),
    }
    codes: list[str | None] = [z.id for z in spec.zones]
    extra = {z for c in figures.values() for z in c if z not in zone_names}
    codes += sorted(z for z in extra if z is not None)
    if None in extra:
        codes.append(None)
    return DailyReport(
        site_id=site,
        site_name=spec.site.name,
        date=day,
        start=start,
        end=end,
        at=at,
        complete=now >= end,
        totals=DayFigures(**{k: sum(c.values()) for k, c in figures.items()}),
        zones=[
            ZoneDay(zone=code, name=zone_name(code), **{k: c[code] for k, c in figures.items()})
            for code in codes
        ],
        opened=opened,
        resolved=resolved,
        overdue=overdue,
        plan_done=plan_done,
        alarms=alarms,
    )


def _alarms(
    session: Session,
    site: str,
    start: datetime,
    at: datetime,
    zone_name: Callable[[str | None], str],
) -> list[DayAlarm]:
    rows = session.execute(
        select(Alarm, Asset.name, Zone.code)
        .outerjoin(Asset, and_(Asset.site_id == Alarm.site_id, Asset.code == Alarm.asset_code))
        .outerjoin(Zone, Zone.id == Asset.zone_id)
        .where(
            Alarm.site_id == site,
            Alarm.raised_at >= start,
            Alarm.raised_at < at,
            Alarm.raise_count > 0,
            Alarm.suppressed_reason.is_(None),
        )
        .order_by(Alarm.raised_at, Alarm.id)
    ).all()
    return [
        DayAlarm(
            id=alarm.id,
            asset=alarm.asset_code,
            asset_name=name or alarm.asset_code,
            zone=zone,
            zone_name=zone_name(zone),
            severity=alarm.severity,
            message=alarm.message or alarm.alarm_type,
            raised_at=alarm.raised_at,
            cleared_at=alarm.cleared_at,
            work_order_id=alarm.work_order_id,
        )
        for alarm, name, zone in rows
    ]
