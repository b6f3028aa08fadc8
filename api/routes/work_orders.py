"""Work orders for the duty room, technicians and the ticket system."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import Caller, DbSession
from api.schemas import WorkOrderOut, WorkOrderPage
from maintenance.registry.models import Asset
from maintenance.work_orders.models import STATUS_ZH, Status, WorkOrder
from maintenance.work_orders.service import list_work_orders
from propwatch.site import PRIORITY_ZH, Priority

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])


def to_out(wo: WorkOrder, asset: Asset | None) -> WorkOrderOut:
    return WorkOrderOut(
        id=wo.id,
        code=wo.code,
        site_id=wo.site_id,
        source=wo.source,
        status=wo.status,
        status_zh=STATUS_ZH[Status(wo.status)],
        asset=asset.code if asset else None,
        asset_name=asset.name if asset else None,
        category=wo.category,
        priority=wo.priority,
        priority_zh=PRIORITY_ZH[Priority(wo.priority)],
        title=wo.title,
        description=wo.description,
        assignee=wo.assignee,
        zone=wo.zone_code,
        reported_at=wo.reported_at,
        respond_due=wo.respond_due,
        arrive_due=wo.arrive_due,
        resolve_due=wo.resolve_due,
        occurrences=wo.occurrences,
    )


@router.get("", response_model=WorkOrderPage)
def get_work_orders(
    session: DbSession,
    caller: Caller,
    status: Annotated[Status | None, Query(description="filter by status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> WorkOrderPage:
    sites = None if "*" in caller.sites else sorted(caller.sites)
    orders = list_work_orders(session, sites, status.value if status else None, limit)
    ids = {wo.asset_id for wo in orders if wo.asset_id is not None}
    assets = {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(ids)))}
    return WorkOrderPage(
        items=[to_out(wo, assets.get(wo.asset_id) if wo.asset_id else None) for wo in orders]
    )
