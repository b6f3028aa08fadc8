"""报表: the daily stocktake (投诉日盘点) and the monthly analysis (数据分析).

Definitions, so the figures can be checked by hand:
- A *failure* is a work order from an alarm, the front desk or the ticket system (not a plan,
  not a complaint) on an asset, reported in the month and not cancelled.
- MTBF (平均故障间隔) = hours the asset was in service during the month (from its install date,
  until it was retired or until now) / failures; MTTR (平均修复时间) = mean hours from report to
  resolution, less time on hold, over failures resolved.
- On-time rate per limit (respond / arrive / resolve) = limits met by their due time / limits
  decided (met, or already past due), over orders reported in the month.
- Rework (返修): an order resolved in the month that was reopened, or whose asset had the same
  fault (same alarm type, else same category) reported again within 30 days of its resolution.
  It counts against the technician who resolved it and the order's zone.
- The zone league (区与区之间的良性竞争) ranks zones by score = 100 x resolve on-time rate
  - 50 x rework rate, then by MTTR.
- The league across sites (项目排名, `league_report`) ranks the sites a duty centre watches, and
  every zone of those sites, by the same score; each site's month is its own local calendar
  month, and a site's figures count all its orders, zoned or not. Overdue = orders reported in
  the month that missed, or are past, a respond, arrive or resolve limit (the limits the on-time
  rates count; a revisit still owed is the stocktake's business).
- An asset with `tighten_after` failures or more in the month is proposed for a tighter
  maintenance plan.
- The alarm system (告警系统绩效: alarm rate per operator, floods, bad actors, chattering and
  standing alarms) is defined in `maintenance.alarms.kpi`.
- 回访率 and 满意度 (revisit rate, revisit on time, satisfaction and the mean of each score, per
  site and zone, beside the site file's `service_targets`) are defined in
  `maintenance.satisfaction`.
- 设备可用率 (availability, MTBF and MTTR per asset from its stops) is defined in
  `maintenance.downtime.report`.
- 维修费用 (labour, parts, extras per asset, zone and site; 有偿维修 quoted and paid) is defined
  in `maintenance.costs.report`.
- PM compliance (计划保养按时完成率), the planned-maintenance percentage and the backlog in
  technician-days (`pm`) are defined in `maintenance.plans.compliance`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from maintenance.alarms.kpi import AlarmSystemKpis, alarm_system_kpis
from maintenance.assignment import zone_supervisor
from maintenance.contracts import ExpiryNotice, expiring
from maintenance.costs.report import CostReport, cost_report
from maintenance.downtime.report import AvailabilityReport, availability_report
from maintenance.plans.compliance import PmCompliance, pm_compliance
from maintenance.registry.models import Asset, Zone
from maintenance.satisfaction import RevisitReport, revisit_report
from maintenance.work_orders.models import (
    STATUS_ZH,
    UNFINISHED_STATUSES,
    Source,
    Status,
    WorkOrder,
)
from maintenance.work_orders.service import LIMITS, MET_BY, overdue_limits
from propwatch.site import PRIORITY_ZH, Category, Priority, SiteFile

REWORK_WINDOW = timedelta(days=30)
T = TypeVar("T")
F = TypeVar("F")
FAILURE_SOURCES = (Source.ALARM, Source.MANUAL, Source.TICKET)


class StocktakeItem(BaseModel):
    id: int
    code: str | None
    title: str
    status: str
    status_zh: str
    priority: str
    priority_zh: str
    category: str
    zone: str | None
    responsible: str | None
    supervisor: str | None
    reported_at: datetime
    age_hours: float
    overdue: list[str]
    next_due: datetime | None
    on_hold: bool
    hold_reason: str | None


class Stocktake(BaseModel):
    """日盘点: every unfinished item with who answers for it, its age and overdue state."""

    site_id: str
    at: datetime
    total: int
    overdue: int
    items: list[StocktakeItem]
    contracts_expiring: list[ExpiryNotice] = []  # 维保合同 and 资质 ending soon


def daily_stocktake(session: Session, spec: SiteFile, now: datetime) -> Stocktake:
    orders = session.scalars(
        select(WorkOrder).where(
            WorkOrder.site_id == spec.site.id,
            WorkOrder.status.in_([s.value for s in UNFINISHED_STATUSES]),
        )
    )
    items = []
    for wo in orders:
        late = overdue_limits(wo, now)
        items.append(
            StocktakeItem(
                id=wo.id,
                code=wo.code,
                title=wo.title,
                status=wo.status,
                status_zh=STATUS_ZH[Status(wo.status)],
                priority=wo.priority,
                priority_zh=PRIORITY_ZH[Priority(wo.priority)],
                category=wo.category,
                zone=wo.zone_code,
                responsible=wo.assignee,
                supervisor=zone_supervisor(spec, wo.zone_code),
                reported_at=wo.reported_at,
                age_hours=round((now - wo.reported_at).total_seconds() / 3600, 2),
                overdue=late,
                next_due=_next_due(wo),
                on_hold=wo.status == Status.ON_HOLD,
                hold_reason=wo.hold_reason if wo.status == Status.ON_HOLD else None,
            )
        )
    items.sort(key=lambda i: (not i.overdue, -i.age_hours))
    return Stocktake(
        site_id=spec.site.id,
        at=now,
        total=len(items),
        overdue=sum(1 for i in items if i.overdue),
        items=items,
        contracts_expiring=expiring(spec, now.astimezone(spec.site.tz).date()),
    )


def _next_due(wo: WorkOrder) -> datetime | None:
    pending = [
        getattr(wo, f"{name}_due")
        for name in LIMITS
        if getattr(wo, f"{name}_due") is not None and getattr(wo, MET_BY[name]) is None
    ]
    if wo.revisit_due is not None and wo.revisited_at is None:
        pending.append(wo.revisit_due)
    return min(pending) if pending else None


class AssetFailures(BaseModel):
    asset: str
    name: str
    zone: str
    failures: int
    mtbf_hours: float | None
    mttr_hours: float | None


class OnTimeRate(BaseModel):
    limit: str
    decided: int
    on_time: int
    rate: float | None


class ReworkRate(BaseModel):
    key: str
    resolved: int
    reworked: int
    rate: float | None


class Standing(BaseModel):
    """One entry of a league (片区排名, 项目排名): the month's orders and how they were kept."""

    rank: int
    work_orders: int  # reported in the month
    resolved: int  # resolved in the month
    resolve_on_time_rate: float | None
    rework_rate: float | None
    mttr_hours: float | None
    overdue: int  # reported in the month, and a respond/arrive/resolve limit missed or past
    score: float


class ZoneStanding(Standing):
    zone: str
    name: str


class SiteStanding(Standing):
    site_id: str
    name: str
    region: str | None
    region_name: str | None


class SiteZoneStanding(ZoneStanding):
    site_id: str
    site_name: str


class PlanAdvice(BaseModel):
    asset: str
    name: str
    failures: int
    advice: str


class MonthlyReport(BaseModel):
    """月度分析: failures per asset, on-time rates, rework, the zone league, plan advice, how
    the alarm system served the duty room (告警系统绩效), and 回访与满意度 (`revisits`)."""

    site_id: str
    month: str
    start: datetime
    end: datetime
    assets: list[AssetFailures]
    on_time: list[OnTimeRate]
    rework_by_technician: list[ReworkRate]
    rework_by_zone: list[ReworkRate]
    league: list[ZoneStanding]
    tighten_plans: list[PlanAdvice]
    alarm_system: AlarmSystemKpis
    revisits: RevisitReport
    # 设备可用率: stops from down alarms and orders marked 停机, availability and MTBF per asset
    availability: AvailabilityReport
    costs: CostReport
    # 计划保养完成率, planned-maintenance share and backlog (maintenance.plans.compliance)
    pm: PmCompliance


def month_bounds(spec: SiteFile, year: int, month: int) -> tuple[datetime, datetime]:
    """The local calendar month as UTC instants [start, end)."""
    tz = spec.site.tz
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return (
        datetime.combine(first, time(), tzinfo=tz).astimezone(UTC),
        datetime.combine(following, time(), tzinfo=tz).astimezone(UTC),
    )


def monthly_report(
    session: Session,
    spec: SiteFile,
    year: int,
    month: int,
    now: datetime,
    *,
    tighten_after: int = 3,
) -> MonthlyReport:
    [m] = _months(session, [spec], year, month)
    start, end, site = m.start, m.end, spec.site.id
    reported, resolved, reworked = m.reported, m.resolved, m.reworked
    failures = [wo for wo in reported if _is_failure(wo)]
    assets = {a.id: a for a in session.scalars(select(Asset).where(Asset.site_id == site))}
    zone_codes = {z.id: z.code for z in session.scalars(select(Zone).where(Zone.site_id == site))}
    zone_of_asset = {a.id: zone_codes.get(a.zone_id, "—") for a in assets.values()}
    per_asset = _asset_failures(assets, zone_of_asset, failures, start, min(end, now))
    by_tech = _rates(((wo.resolved_by or "—", wo.id) for wo in resolved), reworked)
    by_zone = _rates(((wo.zone_code or "—", wo.id) for wo in resolved), reworked)
    advice = [
        PlanAdvice(
            asset=a.asset,
            name=a.name,
            failures=a.failures,
            advice=f"本月故障 {a.failures} 次，建议缩短保养周期并排查原因",
        )
        for a in per_asset
        if a.failures >= tighten_after
    ]
    return MonthlyReport(
        site_id=site,
        month=f"{year:04d}-{month:02d}",
        start=start,
        end=end,
        assets=per_asset,
        on_time=[_on_time(reported, name, now) for name in LIMITS],
        rework_by_technician=by_tech,
        rework_by_zone=by_zone,
        league=_league(m, now),
        tighten_plans=advice,
        alarm_system=alarm_system_kpis(session, spec, start, end, now),
        revisits=revisit_report(session, spec, start, end, now),
        availability=availability_report(session, spec, start, max(start, min(end, now))),
        costs=cost_report(session, spec, start, end),
        pm=pm_compliance(session, spec, start, end, now),
    )


def _is_failure(wo: WorkOrder) -> bool:
    return (
        wo.asset_id is not None
        and wo.source in FAILURE_SOURCES
        and wo.category != Category.COMPLAINT
    )


def _repair_hours(wo: WorkOrder) -> float | None:
    if wo.resolved_at is None:
        return None
    return ((wo.resolved_at - wo.reported_at).total_seconds() - wo.paused_seconds) / 3600


def _asset_failures(
    assets: dict[int, Asset],
    zone_of_asset: dict[int, str],
    failures: list[WorkOrder],
    start: datetime,
    end: datetime,
) -> list[AssetFailures]:
    grouped: dict[int, list[WorkOrder]] = defaultdict(list)
    for wo in failures:
        assert wo.asset_id is not None
        grouped[wo.asset_id].append(wo)
    out = []
    for asset_id, orders in grouped.items():
        asset = assets[asset_id]
        zone = next((wo.zone_code for wo in orders if wo.zone_code), zone_of_asset[asset_id])
        in_service_from = start
        if asset.install_date is not None:
            installed = datetime.combine(asset.install_date, time(), tzinfo=UTC)
            in_service_from = max(start, installed)
        in_service_to = min(end, asset.retired_at) if asset.retired_at else end
        hours = max(0.0, (in_service_to - in_service_from).total_seconds() / 3600)
        repairs = [h for wo in orders if (h := _repair_hours(wo)) is not None]
        out.append(
            AssetFailures(
                asset=asset.code,
                name=asset.name,
                zone=zone,
                failures=len(orders),
                mtbf_hours=round(hours / len(orders), 2),
                mttr_hours=round(sum(repairs) / len(repairs), 2) if repairs else None,
            )
        )
    out.sort(key=lambda a: (-a.failures, a.asset))
    return out


def _on_time(orders: list[WorkOrder], name: str, now: datetime) -> OnTimeRate:
    decided = on_time = 0
    for wo in orders:
        due: datetime | None = getattr(wo, f"{name}_due")
        met: datetime | None = getattr(wo, MET_BY[name])
        if due is None:
            continue
        if met is not None:
            decided += 1
            on_time += met <= due
        elif now > due and wo.status != Status.ON_HOLD:
            decided += 1
    return OnTimeRate(
        limit=name,
        decided=decided,
        on_time=on_time,
        rate=round(on_time / decided, 4) if decided else None,
    )


def _later_failures(
    session: Session, sites: list[str], resolved: list[WorkOrder]
) -> dict[int, list[WorkOrder]]:
    asset_ids = {wo.asset_id for wo in resolved if wo.asset_id is not None}
    if not asset_ids:
        return {}
    earliest = min(wo.resolved_at for wo in resolved if wo.resolved_at is not None)
    rows = session.scalars(
        select(WorkOrder).where(
            WorkOrder.site_id.in_(sites),
            WorkOrder.asset_id.in_(asset_ids),
            WorkOrder.reported_at >= earliest,
            WorkOrder.status != Status.CANCELLED,
            or_(*(WorkOrder.source == s.value for s in FAILURE_SOURCES)),
        )
    )
    out: dict[int, list[WorkOrder]] = defaultdict(list)
    for wo in rows:
        assert wo.asset_id is not None
        out[wo.asset_id].append(wo)
    return out


def _repeated(wo: WorkOrder, later: dict[int, list[WorkOrder]]) -> bool:
    if wo.asset_id is None or wo.resolved_at is None:
        return False
    for other in later.get(wo.asset_id, []):
        if other.id == wo.id or not (
            wo.resolved_at <= other.reported_at <= wo.resolved_at + REWORK_WINDOW
        ):
            continue
        if wo.alarm_type and other.alarm_type:
            if wo.alarm_type == other.alarm_type:
                return True
        elif wo.category == other.category:
            return True
    return False


def _rates(pairs: Iterable[tuple[str, int]], reworked: set[int]) -> list[ReworkRate]:
    resolved: dict[str, set[int]] = defaultdict(set)
    for key, wo_id in pairs:
        resolved[key].add(wo_id)
    out = [
        ReworkRate(
            key=key,
            resolved=len(ids),
            reworked=len(ids & reworked),
            rate=round(len(ids & reworked) / len(ids), 4),
        )
        for key, ids in resolved.items()
    ]
    out.sort(key=lambda r: r.key)
    return out


@dataclass
class _Month:
    """One site's orders of one month of its own calendar, and which of those resolved were
    reworked (返修)."""

    spec: SiteFile
    start: datetime
    end: datetime
    reported: list[WorkOrder]  # reported in the month, not cancelled
    resolved: list[WorkOrder]  # resolved in the month
    reworked: set[int]


def _months(session: Session, specs: list[SiteFile], year: int, month: int) -> list[_Month]:
    """The month of each site, each in its own time zone, in three queries for all of them."""
    bounds = {spec.site.id: month_bounds(spec, year, month) for spec in specs}
    ids = sorted(bounds)
    lo = min(start for start, _ in bounds.values())
    hi = max(end for _, end in bounds.values())
    reported: dict[str, list[WorkOrder]] = defaultdict(list)
    for wo in session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.site_id.in_(ids),
            WorkOrder.reported_at >= lo,
            WorkOrder.reported_at < hi,
            WorkOrder.status != Status.CANCELLED,
        )
        .order_by(WorkOrder.id)
    ):
        start, end = bounds[wo.site_id]
        if start <= wo.reported_at < end:
            reported[wo.site_id].append(wo)
    resolved: dict[str, list[WorkOrder]] = defaultdict(list)
    for wo in session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.site_id.in_(ids),
            WorkOrder.resolved_at >= lo,
            WorkOrder.resolved_at < hi,
        )
        .order_by(WorkOrder.id)
    ):
        start, end = bounds[wo.site_id]
        if wo.resolved_at is not None and start <= wo.resolved_at < end:
            resolved[wo.site_id].append(wo)
    every_resolved = [wo for site in resolved.values() for wo in site]
    later = _later_failures(session, ids, every_resolved)
    reworked = {wo.id for wo in every_resolved if wo.reopen_count > 0 or _repeated(wo, later)}
    return [
        _Month(
            spec,
            *bounds[spec.site.id],
            reported.get(spec.site.id, []),
            resolved.get(spec.site.id, []),
            {wo.id for wo in resolved.get(spec.site.id, []) if wo.id in reworked},
        )
        for spec in specs
    ]


@dataclass(frozen=True)
class _Figures:
    work_orders: int
    resolved: int
    resolve_on_time_rate: float | None
    rework_rate: float | None
    mttr_hours: float | None
    overdue: int
    score: float


def _figures(
    reported: list[WorkOrder], resolved: list[WorkOrder], reworked: set[int], now: datetime
) -> _Figures:
    """What a league ranks by: score = 100 x resolve on-time rate - 50 x rework rate (a zone or
    site with nothing decided yet counts as on time), then MTTR."""
    on_time = _on_time(reported, "resolve", now).rate
    rework = (
        round(sum(wo.id in reworked for wo in resolved) / len(resolved), 4) if resolved else None
    )
    repairs = [h for wo in resolved if (h := _repair_hours(wo)) is not None]
    mttr = round(sum(repairs) / len(repairs), 2) if repairs else None
    score = round(100 * (on_time if on_time is not None else 1.0) - 50 * (rework or 0.0), 1)
    overdue = sum(1 for wo in reported if set(overdue_limits(wo, now)) & set(LIMITS))
    return _Figures(len(reported), len(resolved), on_time, rework, mttr, overdue, score)


def ranked(
    rows: list[tuple[str, F, T]], order: Callable[[F], tuple[float, ...]]
) -> list[tuple[int, F, T]]:
    """Rank 1 first: by `order` of the figures (smaller first), then by the key, so ties rank
    the same way every time. Every league (work orders, quality) ranks through this."""
    rows.sort(key=lambda r: (order(r[1]), r[0]))
    return [(i + 1, figures, item) for i, (_, figures, item) in enumerate(rows)]


def _ranked(rows: list[tuple[str, _Figures, T]]) -> list[tuple[int, _Figures, T]]:
    """Best first: by score, then the shorter MTTR, then the key (stable for ties)."""
    return ranked(
        rows,
        lambda f: (-f.score, f.mttr_hours if f.mttr_hours is not None else float("inf")),
    )


def _zone_figures(m: _Month, zone_id: str, now: datetime) -> _Figures:
    return _figures(
        [wo for wo in m.reported if wo.zone_code == zone_id],
        [wo for wo in m.resolved if wo.zone_code == zone_id],
        m.reworked,
        now,
    )


def _league(m: _Month, now: datetime) -> list[ZoneStanding]:
    """片区排名 of one site (区与区之间的良性竞争)."""
    rows = [(zone.id, _zone_figures(m, zone.id, now), zone) for zone in m.spec.zones]
    return [
        ZoneStanding(rank=rank, zone=zone.id, name=zone.name, **vars(figures))
        for rank, figures, zone in _ranked(rows)
    ]


class League(BaseModel):
    """项目排名 and 片区排名 across sites for one month, each site on its own calendar."""

    month: str
    region: str | None
    sites: list[SiteStanding]
    zones: list[SiteZoneStanding]


def league_report(
    session: Session,
    specs: list[SiteFile],
    year: int,
    month: int,
    now: datetime,
    *,
    region: str | None = None,
    region_names: Mapping[str, str] | None = None,
) -> League:
    """The league of sites and the league of every zone of those sites, by the zone league's
    score (`_figures`); a site is measured over all its orders, zoned or not."""
    names = region_names or {}
    months = _months(session, specs, year, month) if specs else []
    site_rows = []
    zone_rows = []
    for m in months:
        info = m.spec.site
        site_rows.append((info.id, _figures(m.reported, m.resolved, m.reworked, now), m.spec))
        for zone in m.spec.zones:
            zone_rows.append(
                (f"{info.id}/{zone.id}", _zone_figures(m, zone.id, now), (m.spec, zone))
            )
    return League(
        month=f"{year:04d}-{month:02d}",
        region=region,
        sites=[
            SiteStanding(
                rank=rank,
                site_id=spec.site.id,
                name=spec.site.name,
                region=spec.site.region,
                region_name=names.get(spec.site.region, spec.site.region)
                if spec.site.region
                else None,
                **vars(figures),
            )
            for rank, figures, spec in _ranked(site_rows)
        ],
        zones=[
            SiteZoneStanding(
                rank=rank,
                site_id=spec.site.id,
                site_name=spec.site.name,
                zone=zone.id,
                name=zone.name,
                **vars(figures),
            )
            for rank, figures, (spec, zone) in _ranked(zone_rows)
        ],
    )


class WarrantyNotice(BaseModel):
    asset: str
    name: str
    warranty_end: date
    days_left: int


def warranty_expiring(
    session: Session, spec: SiteFile, now: datetime, *, within_days: int = 30
) -> list[WarrantyNotice]:
    """保修到期提醒: assets in service whose warranty ends within `within_days` (a month ahead
    by default, so a claim can still be made), soonest first."""
    today = now.astimezone(spec.site.tz).date()
    rows = session.scalars(
        select(Asset).where(
            Asset.site_id == spec.site.id,
            Asset.retired_at.is_(None),
            Asset.warranty_end >= today,
            Asset.warranty_end <= today + timedelta(days=within_days),
        )
    )
    out = [
        WarrantyNotice(
            asset=a.code,
            name=a.name,
            warranty_end=a.warranty_end,
            days_left=(a.warranty_end - today).days,
        )
        for a in rows
        if a.warranty_end is not None
    ]
    return sorted(out, key=lambda n: (n.days_left, n.asset))
