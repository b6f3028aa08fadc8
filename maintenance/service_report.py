"""服务报告 (月度工作报告): a site's month in the residents' terms, each figure beside the plan's
target (`propwatch.service_targets`), for the notice board (公示栏).

Definitions, so the figures can be checked by hand. The month is the site's local calendar
month [start, end); an order counts in a zone by its own zone, in the site whatever its zone.

- 满意度 and 回访率: the revisit figures of `maintenance.satisfaction` (satisfaction rate; revisit
  rate of the closings that needed a revisit), unchanged.
- 投诉: orders of the category complaint reported in the month and not cancelled; 投诉率 = those
  per 100 households (the site file's `households`, by building; a zone has its buildings').
- 投诉复发率: of those complaints, the share that repeats one: another complaint, not
  cancelled, at the same place (the same asset, else the same `location` text) and of the same
  category, reported in the 30 days before it. A complaint without an asset or a location
  repeats nothing.
- 维修响应 8 h: repairs (neither complaints nor plan work) reported in the month and not
  cancelled; on time when accepted within 8 h of the report on the clock; decided when
  accepted, or when 8 h have passed. Rate = on time / decided.
- 紧急 1 h: the emergency ones among those repairs, on site (arrived, or resolved without an
  arrival) within 1 h of the report; decided likewise.

Rates are shares from 0 to 1 (four places); None when nothing counted. `met` compares a
figure with its target: at least (满意度, 响应, 到场, 回访率), at most (投诉率), below (复发率).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.reports import month_bounds
from maintenance.satisfaction import RevisitFigures, revisit_report
from maintenance.work_orders.models import Source, Status, WorkOrder
from propwatch.site import Category, Priority, SiteFile

REPEAT_WINDOW = timedelta(days=30)
RESPONSE_WITHIN = timedelta(hours=8)
EMERGENCY_WITHIN = timedelta(hours=1)


class Compare(StrEnum):
    AT_LEAST = "at_least"  # ≥
    AT_MOST = "at_most"  # ≤
    BELOW = "below"  # <


class ServiceFigure(BaseModel):
    """One line of the report: the figure, what it counts, and its target."""

    key: str
    name: str  # zh-CN, as printed
    value: float | None  # a share from 0 to 1, a count, or complaints per 100 households
    count: int | None  # what met the definition (the numerator)
    of: int | None  # what was counted (the denominator)
    target: float | None
    compare: Compare | None
    met: bool | None  # None: no figure or no target
    shown: str  # as printed: 95.0%, 3 件, 1.25, — (nothing counted)
    target_shown: str | None  # ≥ 90%, < 10%, ≤ 1.5


class ServiceFigures(BaseModel):
    households: int | None
    figures: list[ServiceFigure]


class ZoneServiceFigures(ServiceFigures):
    zone: str
    name: str


class ServiceReport(BaseModel):
    """服务报告 of one site and month, the site's figures and each zone's."""

    site_id: str
    site_name: str
    month: str
    start: datetime
    end: datetime
    site: ServiceFigures
    zones: list[ZoneServiceFigures]


def households(spec: SiteFile, zone_id: str | None = None) -> int | None:
    """户数 of the site, or of one zone's buildings; None when the site file gives none."""
    if zone_id is None:
        buildings = set(spec.households)
    else:
        buildings = set(spec.zone(zone_id).buildings) & set(spec.households)
    return sum(spec.households[b] for b in buildings) if buildings else None


def service_report(
    session: Session, spec: SiteFile, year: int, month: int, now: datetime
) -> ServiceReport:
    start, end = month_bounds(spec, year, month)
    site = spec.site.id
    orders = list(
        session.scalars(
            select(WorkOrder)
            .where(
                WorkOrder.site_id == site,
                WorkOrder.reported_at >= start - REPEAT_WINDOW,
                WorkOrder.reported_at < end,
                WorkOrder.status != Status.CANCELLED.value,
            )
            .order_by(WorkOrder.reported_at, WorkOrder.id)
        )
    )
    earlier_complaints = [wo for wo in orders if wo.category == Category.COMPLAINT]
    in_month = [wo for wo in orders if start <= wo.reported_at < end]
    revisits = revisit_report(session, spec, start, end, now)

    def figures(zone: str | None, revisit: RevisitFigures) -> ServiceFigures:
        mine = [wo for wo in in_month if zone is None or wo.zone_code == zone]
        count = households(spec, zone)
        return ServiceFigures(
            households=count,
            figures=_figures(spec, mine, earlier_complaints, revisit, count, now),
        )

    return ServiceReport(
        site_id=site,
        site_name=spec.site.name,
        month=f"{year:04d}-{month:02d}",
        start=start,
        end=end,
        site=figures(None, revisits.site),
        zones=[
            ZoneServiceFigures(zone=z.id, name=z.name, **figures(z.id, r).model_dump())
            for z, r in zip(spec.zones, revisits.zones, strict=True)
        ],
    )


SIGN = {Compare.AT_LEAST: "≥", Compare.AT_MOST: "≤", Compare.BELOW: "<"}


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _shown(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key == "complaints":
        return f"{int(value)} 件"
    if key == "complaint_rate":
        return f"{value:.2f}"
    return _percent(value)


def _target_shown(key: str, target: float | None, compare: Compare | None) -> str | None:
    if target is None or compare is None:
        return None
    figure = f"{target:g}" if key == "complaint_rate" else f"{target * 100:g}%"
    return f"{SIGN[compare]} {figure}"


def _figure(
    key: str,
    name: str,
    value: float | None,
    count: int | None,
    of: int | None,
    target: float | None,
    compare: Compare | None,
) -> ServiceFigure:
    return ServiceFigure(
        key=key,
        name=name,
        value=value,
        count=count,
        of=of,
        target=target,
        compare=compare,
        met=_met(value, target, compare) if compare is not None else None,
        shown=_shown(key, value),
        target_shown=_target_shown(key, target, compare),
    )


def _rate(count: int, of: int) -> float | None:
    return round(count / of, 4) if of else None


def _met(value: float | None, target: float | None, compare: Compare) -> bool | None:
    if value is None or target is None:
        return None
    if compare is Compare.AT_LEAST:
        return value >= target
    if compare is Compare.AT_MOST:
        return value <= target
    return value < target


def _line(
    key: str, name: str, count: int, of: int, target: float | None, compare: Compare
) -> ServiceFigure:
    return _figure(key, name, _rate(count, of), count, of, target, compare)


def _place(wo: WorkOrder) -> tuple[str, object] | None:
    if wo.asset_id is not None:
        return ("asset", wo.asset_id)
    text = (wo.location or "").strip()
    return ("location", text) if text else None


def _repeats(wo: WorkOrder, complaints: Iterable[WorkOrder]) -> bool:
    place = _place(wo)
    if place is None:
        return False
    return any(
        other.id != wo.id
        and _place(other) == place
        and other.category == wo.category
        and wo.reported_at - REPEAT_WINDOW <= other.reported_at <= wo.reported_at
        and (other.reported_at, other.id) < (wo.reported_at, wo.id)
        for other in complaints
    )


def _within(
    orders: list[WorkOrder],
    limit: timedelta,
    met_at: Callable[[WorkOrder], datetime | None],
    now: datetime,
) -> tuple[int, int]:
    """(on time, decided): met within `limit` of the report, or `limit` already past."""
    on_time = decided = 0
    for wo in orders:
        at = met_at(wo)
        if at is not None:
            decided += 1
            on_time += at - wo.reported_at <= limit
        elif now - wo.reported_at > limit:
            decided += 1
    return on_time, decided


def _figures(
    spec: SiteFile,
    orders: list[WorkOrder],
    earlier_complaints: list[WorkOrder],
    revisit: RevisitFigures,
    household_count: int | None,
    now: datetime,
) -> list[ServiceFigure]:
    targets = spec.service_targets
    complaints = [wo for wo in orders if wo.category == Category.COMPLAINT]
    repairs = [
        wo for wo in orders if wo.category != Category.COMPLAINT and wo.source != Source.PLAN
    ]
    emergencies = [wo for wo in repairs if wo.priority == Priority.EMERGENCY]
    repeated = sum(_repeats(wo, earlier_complaints) for wo in complaints)
    per_100 = round(len(complaints) * 100 / household_count, 2) if household_count else None
    responded, response_decided = _within(repairs, RESPONSE_WITHIN, lambda wo: wo.accepted_at, now)
    on_site, on_site_decided = _within(
        emergencies, EMERGENCY_WITHIN, lambda wo: wo.arrived_at or wo.resolved_at, now
    )
    return [
        _figure(
            "satisfaction",
            "满意度",
            revisit.satisfaction_rate,
            revisit.satisfied,
            revisit.scored,
            targets.satisfaction,
            Compare.AT_LEAST,
        ),
        _figure("complaints", "投诉件数", len(complaints), len(complaints), None, None, None),
        _figure(
            "complaint_rate",
            "投诉率（每百户）",
            per_100,
            len(complaints),
            household_count,
            targets.complaints_per_100_households,
            Compare.AT_MOST,
        ),
        _line(
            "repeat_complaints",
            "投诉复发率",
            repeated,
            len(complaints),
            targets.repeat_complaints,
            Compare.BELOW,
        ),
        _line(
            "response_8h",
            "维修 8 小时内响应率",
            responded,
            response_decided,
            targets.response_8h,
            Compare.AT_LEAST,
        ),
        _line(
            "emergency_1h",
            "紧急维修 1 小时内到场率",
            on_site,
            on_site_decided,
            targets.emergency_1h,
            Compare.AT_LEAST,
        ),
        _figure(
            "revisit_rate",
            "回访率",
            revisit.revisit_rate,
            revisit.revisited,
            revisit.closed,
            targets.revisit_rate,
            Compare.AT_LEAST,
        ),
    ]
