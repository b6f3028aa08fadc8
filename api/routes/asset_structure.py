"""资产层级与停机: an asset's place in the tree with its branch's open alarms and orders; its
downtime, availability and MTBF over a local month; the site's availability; an order's 停机
mark."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.asset_schemas import AssetHierarchyOut, AssetNodeOut, DowntimeIn, DowntimeMarkOut
from api.deps import Ctx, DbSession, Reader, RowId, Worker, audit, site_of, visible_work_order
from api.problems import PROBLEM_RESPONSES
from api.routes.reports import MONTH
from maintenance.alarms.models import Alarm
from maintenance.downtime.models import DOWN_SINCE_ZH, DownSince, DowntimeMark
from maintenance.downtime.report import AssetAvailability, AvailabilityReport, availability_report
from maintenance.downtime.service import clear_mark, mark_down, mark_of
from maintenance.registry.models import Asset
from maintenance.reports import month_bounds
from maintenance.work_orders.models import OPEN_STATUSES, WorkOrder
from propwatch.asset_tree import AssetTree
from propwatch.site import Asset as SiteAsset
from propwatch.site import SiteFile

router = APIRouter(tags=["assets"], responses=PROBLEM_RESPONSES)
MonthQuery = Annotated[
    str | None,
    Query(pattern=MONTH, description="YYYY-MM, the site's local month; unset: this month"),
]


def _open_counts(session: Session, site_id: str, codes: list[str]) -> tuple[dict[str, int], ...]:
    alarms = dict(
        session.execute(
            select(Alarm.asset_code, func.count())
            .where(
                Alarm.site_id == site_id,
                Alarm.asset_code.in_(codes),
                Alarm.cleared_at.is_(None),
            )
            .group_by(Alarm.asset_code)
        ).all()
    )
    orders = dict(
        session.execute(
            select(Asset.code, func.count())
            .join(WorkOrder, WorkOrder.asset_id == Asset.id)
            .where(
                Asset.site_id == site_id,
                Asset.code.in_(codes),
                WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
            )
            .group_by(Asset.code)
        ).all()
    )
    return alarms, orders


@router.get(
    "/api/v1/assets/{site_id}/{code}/hierarchy",
    response_model=AssetHierarchyOut,
    summary="资产层级: ancestors, children and the open alarms and orders of the whole branch",
)
def get_hierarchy(
    site_id: str, code: str, ctx: Ctx, session: DbSession, caller: Reader
) -> AssetHierarchyOut:
    site = site_of(ctx, caller, site_id)
    tree = AssetTree(site.spec.assets)
    if code not in tree.by_id:
        raise HTTPException(404, f"设备 {code} 不存在 (unknown asset)")
    ancestors = tree.ancestors(code)
    children = tree.children(code)
    below = tree.descendants(code)
    codes = [code, *(a.id for a in ancestors), *(a.id for a in below)]
    alarms, orders = _open_counts(session, site_id, codes)

    def node(a: SiteAsset) -> AssetNodeOut:
        return AssetNodeOut(
            id=a.id,
            name=a.name,
            kind=a.kind,
            zone=a.zone,
            building=a.building,
            open_alarms=alarms.get(a.id, 0),
            open_orders=orders.get(a.id, 0),
            children=len(tree.children(a.id)),
        )

    branch = [code, *(a.id for a in below)]
    return AssetHierarchyOut(
        site_id=site_id,
        asset=node(tree.by_id[code]),
        parent=tree.by_id[code].parent,
        ancestors=[node(a) for a in ancestors],
        children=[node(a) for a in children],
        descendants=len(below),
        branch_open_alarms=sum(alarms.get(c, 0) for c in branch),
        branch_open_orders=sum(orders.get(c, 0) for c in branch),
    )


def _period(spec: SiteFile, month: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The local month's [start, end), its end no later than now (a month to come is empty)."""
    if month is None:
        local = now.astimezone(spec.site.tz)
        year, number = local.year, local.month
    else:
        year, number = (int(part) for part in month.split("-"))
    start, end = month_bounds(spec, year, number)
    return start, max(start, min(end, now))


@router.get(
    "/api/v1/assets/{site_id}/{code}/downtime",
    response_model=AssetAvailability,
    summary="停机与可用率: an asset's stops over a local month (from down alarms and orders "
    "marked 停机, merged), availability, failures, MTBF and MTTR",
)
def get_downtime(
    site_id: str,
    code: str,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    month: MonthQuery = None,
) -> AssetAvailability:
    site = site_of(ctx, caller, site_id)
    asset = next((a for a in site.spec.assets if a.id == code), None)
    if asset is None:
        raise HTTPException(404, f"设备 {code} 不存在 (unknown asset)")
    start, end = _period(site.spec, month, ctx.clock.now())
    report = availability_report(session, site.spec, start, end, [code])
    if report.assets:
        return report.assets[0]
    hours = round((end - start).total_seconds() / 3600, 2)
    return AssetAvailability(
        asset=code,
        name=asset.name,
        kind=asset.kind,
        period_hours=hours,
        down_hours=0.0,
        availability=1.0 if hours else None,
        failures=0,
        mtbf_hours=None,
        mttr_hours=None,
        intervals=[],
    )


@router.get(
    "/api/v1/sites/{site_id}/availability",
    response_model=AvailabilityReport,
    summary="设备可用率: the site's assets that stopped in a local month, worst first",
)
def get_availability(
    site_id: str, ctx: Ctx, session: DbSession, caller: Reader, month: MonthQuery = None
) -> AvailabilityReport:
    site = site_of(ctx, caller, site_id)
    start, end = _period(site.spec, month, ctx.clock.now())
    return availability_report(session, site.spec, start, end)


def _mark_out(session: Session, wo: WorkOrder, mark: DowntimeMark) -> DowntimeMarkOut:
    since = DownSince(mark.since)
    return DowntimeMarkOut(
        work_order_id=wo.id,
        site_id=wo.site_id,
        asset=mark.asset_code,
        since=since,
        since_zh=DOWN_SINCE_ZH[since],
        reason=mark.reason,
        marked_by=mark.marked_by,
        marked_at=mark.marked_at,
        start=wo.reported_at if since is DownSince.REPORTED else wo.arrived_at,
        end=wo.resolved_at or wo.cancelled_at,
    )


@router.get(
    "/api/v1/work-orders/{work_order_id}/downtime",
    response_model=DowntimeMarkOut | None,
    summary="停机标记 of an order (null when it has none)",
)
def get_mark(work_order_id: RowId, session: DbSession, caller: Worker) -> DowntimeMarkOut | None:
    wo = visible_work_order(session, caller, work_order_id)
    mark = mark_of(session, wo)
    return None if mark is None else _mark_out(session, wo, mark)


@router.put(
    "/api/v1/work-orders/{work_order_id}/downtime",
    response_model=DowntimeMarkOut,
    summary="停机: the order's asset is down from its report or arrival until 完成",
)
def put_mark(
    work_order_id: RowId,
    body: DowntimeIn,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    caller: Worker,
) -> DowntimeMarkOut:
    wo = visible_work_order(session, caller, work_order_id)
    mark = mark_down(
        session,
        wo,
        since=body.since,
        reason=body.reason,
        actor=caller.name,
        now=ctx.clock.now().astimezone(UTC),
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return _mark_out(session, wo, mark)


@router.delete(
    "/api/v1/work-orders/{work_order_id}/downtime",
    status_code=204,
    summary="取消停机标记: the order did not stop its asset (204 also when it had none)",
)
def delete_mark(
    work_order_id: RowId, request: Request, ctx: Ctx, session: DbSession, caller: Worker
) -> Response:
    wo = visible_work_order(session, caller, work_order_id)
    if clear_mark(session, wo):  # none to take back: already as asked
        audit(session, ctx, caller, request, subject=f"work_order:{wo.id}", status_code=204)
    return Response(status_code=204)
