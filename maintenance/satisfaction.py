"""回访率 and 满意度 of a month, per site and zone, beside the site file's `service_targets`.

Definitions, so the figures can be checked by hand (the rules of a revisit itself are in
`maintenance.work_orders.revisits`):

- *Closed that needed a revisit*: every 关闭 (the step verified → closed) in the month of an
  order that had a revisit due time (the time-limit table gives it a revisit limit). A closing
  the order was reopened from before any revisit is left out: the loop started again, and the
  next closing counts instead.
- 回访率 (revisit rate) = those closings revisited (at any time up to now) / those closings.
- 回访及时率 (revisit on time) = revisits made by their due time / revisits decided (made, or not
  made and already past due), over the same closings.
- 满意度 (satisfaction rate) = scored revisits made in the month with every score 4 or more /
  scored revisits made in the month. The means of 响应速度, 维修质量 and 服务态度 are over the same
  revisits; `unsatisfied` counts those with any score 2 or less.
- A zone's figures are its orders' (the order's zone); the site's count every order, zoned or
  not. Rates are shares from 0 to 1 (four places), means two places; None when nothing counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.work_orders.models import Status, WorkOrder, WorkOrderRevisit, WorkOrderTransition
from maintenance.work_orders.revisits import SATISFIED_FROM, SCORE_ITEMS, UNSATISFIED_UP_TO
from propwatch.site import SiteFile


class RevisitFigures(BaseModel):
    """回访与满意度 of one site or zone for one month, each rate beside its target."""

    closed: int  # closings in the month that needed a revisit
    revisited: int
    revisit_rate: float | None
    revisit_rate_target: float | None
    revisits_decided: int
    revisits_on_time: int
    revisit_on_time_rate: float | None
    revisit_on_time_target: float | None
    scored: int  # revisits made in the month with scores
    satisfied: int  # every score 4 or more
    unsatisfied: int  # any score 2 or less
    satisfaction_rate: float | None
    satisfaction_target: float | None
    mean_response: float | None  # 响应速度
    mean_quality: float | None  # 维修质量
    mean_attitude: float | None  # 服务态度


class ZoneRevisitFigures(RevisitFigures):
    zone: str
    name: str


class RevisitReport(BaseModel):
    """The month's revisits of the whole site (`site`) and of each zone."""

    site: RevisitFigures
    zones: list[ZoneRevisitFigures]


@dataclass(frozen=True)
class _Closing:
    zone: str | None
    revisited: bool
    decided: bool
    on_time: bool


@dataclass(frozen=True)
class _Scored:
    zone: str | None
    scores: tuple[int, int, int]


def revisit_report(
    session: Session, spec: SiteFile, start: datetime, end: datetime, now: datetime
) -> RevisitReport:
    """The month [start, end) of the site (its local calendar month, as the report's)."""
    closings = _closings(session, spec.site.id, start, end, now)
    scored = _scored(session, spec.site.id, start, end)
    return RevisitReport(
        site=_figures(spec, closings, scored),
        zones=[
            ZoneRevisitFigures(
                zone=z.id,
                name=z.name,
                **_figures(
                    spec,
                    [c for c in closings if c.zone == z.id],
                    [s for s in scored if s.zone == z.id],
                ).model_dump(),
            )
            for z in spec.zones
        ],
    )


def _closings(
    session: Session, site_id: str, start: datetime, end: datetime, now: datetime
) -> list[_Closing]:
    steps = session.execute(
        select(WorkOrderTransition.id, WorkOrderTransition.work_order_id)
        .join(WorkOrder, WorkOrder.id == WorkOrderTransition.work_order_id)
        .where(
            WorkOrder.site_id == site_id,
            WorkOrderTransition.to_status == Status.CLOSED.value,
            WorkOrderTransition.at >= start,
            WorkOrderTransition.at < end,
        )
    ).all()
    ids = sorted({order_id for _, order_id in steps})
    if not ids:
        return []
    orders = {wo.id: wo for wo in session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)))}
    reopenings: dict[int, list[int]] = defaultdict(list)
    for step_id, order_id in session.execute(
        select(WorkOrderTransition.id, WorkOrderTransition.work_order_id).where(
            WorkOrderTransition.work_order_id.in_(ids),
            WorkOrderTransition.to_status == Status.REOPENED.value,
        )
    ):
        reopenings[order_id].append(step_id)
    revisits = {
        (r.work_order_id, r.round): r
        for r in session.scalars(
            select(WorkOrderRevisit).where(WorkOrderRevisit.work_order_id.in_(ids))
        )
    }
    out = []
    for step_id, order_id in steps:
        wo = orders[order_id]
        # the round of a closing: how often the order had been reopened before it
        before = [r for r in reopenings[order_id] if r < step_id]
        row = revisits.get((order_id, len(before)))
        if row is not None:
            if row.due_at is not None:
                out.append(_Closing(wo.zone_code, True, True, row.at <= row.due_at))
            continue
        if len(before) < len(reopenings[order_id]) or wo.revisit_due is None:
            continue  # reopened before any revisit, or no revisit limit
        out.append(_Closing(wo.zone_code, False, now > wo.revisit_due, False))
    return out


def _scored(session: Session, site_id: str, start: datetime, end: datetime) -> list[_Scored]:
    rows = session.execute(
        select(
            WorkOrder.zone_code,
            WorkOrderRevisit.response,
            WorkOrderRevisit.quality,
            WorkOrderRevisit.attitude,
        )
        .join(WorkOrder, WorkOrder.id == WorkOrderRevisit.work_order_id)
        .where(
            WorkOrderRevisit.site_id == site_id,
            WorkOrderRevisit.at >= start,
            WorkOrderRevisit.at < end,
            WorkOrderRevisit.response.is_not(None),
        )
    ).all()
    # the three scores are given together or not at all
    return [
        _Scored(zone, (r, q, a))
        for zone, r, q, a in rows
        if r is not None and q is not None and a is not None
    ]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: Iterable[int]) -> float | None:
    got = list(values)
    return round(sum(got) / len(got), 2) if got else None


def _figures(spec: SiteFile, closings: list[_Closing], scored: list[_Scored]) -> RevisitFigures:
    targets = spec.service_targets
    revisited = sum(c.revisited for c in closings)
    decided = [c for c in closings if c.decided]
    on_time = sum(c.on_time for c in decided)
    satisfied = sum(all(v >= SATISFIED_FROM for v in s.scores) for s in scored)
    unsatisfied = sum(any(v <= UNSATISFIED_UP_TO for v in s.scores) for s in scored)
    response, quality, attitude = (
        _mean(s.scores[i] for s in scored) for i in range(len(SCORE_ITEMS))
    )
    return RevisitFigures(
        closed=len(closings),
        revisited=revisited,
        revisit_rate=_rate(revisited, len(closings)),
        revisit_rate_target=targets.revisit_rate,
        revisits_decided=len(decided),
        revisits_on_time=on_time,
        revisit_on_time_rate=_rate(on_time, len(decided)),
        revisit_on_time_target=targets.revisit_on_time,
        scored=len(scored),
        satisfied=satisfied,
        unsatisfied=unsatisfied,
        satisfaction_rate=_rate(satisfied, len(scored)),
        satisfaction_target=targets.satisfaction,
        mean_response=response,
        mean_quality=quality,
        mean_attitude=attitude,
    )
