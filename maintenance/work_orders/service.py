"""Creating and listing work orders; every creation is idempotent on its source key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance.assignment import choose_assignee
from maintenance.registry.models import Asset, Zone
from maintenance.sla import compute_due
from maintenance.work_orders.models import (
    OPEN_STATUSES,
    Source,
    Status,
    WorkOrder,
    WorkOrderTransition,
)
from propwatch.site import Category, Priority, SiteFile

SYSTEM = "system"


@dataclass(frozen=True)
class NewWorkOrder:
    site_id: str
    source: Source
    source_key: str
    category: Category | str
    priority: Priority
    title: str
    reported_at: datetime
    asset_code: str | None = None
    description: str = ""
    alarm_type: str | None = None


def create_work_order(
    session: Session, spec: SiteFile, new: NewWorkOrder, now: datetime, actor: str = SYSTEM
) -> tuple[WorkOrder, bool]:
    """Register a work order, or return the one that already has this source key.

    The unique constraint on `source_key` makes a duplicate impossible even for two replicas
    racing; the loser gets the winner's row.
    """
    existing = session.scalar(select(WorkOrder).where(WorkOrder.source_key == new.source_key))
    if existing is not None:
        return existing, False
    asset = None
    zone_code = None
    if new.asset_code:
        asset = session.scalar(
            select(Asset).where(Asset.site_id == new.site_id, Asset.code == new.asset_code)
        )
        if asset is not None:
            zone = session.get(Zone, asset.zone_id)
            zone_code = zone.code if zone else None
    due = compute_due(spec, new.category, new.priority, new.reported_at)
    wo = WorkOrder(
        site_id=new.site_id,
        source=new.source,
        source_key=new.source_key,
        asset_id=asset.id if asset else None,
        category=str(new.category),
        priority=new.priority.value,
        status=Status.REGISTERED,
        title=new.title,
        description=new.description,
        alarm_type=new.alarm_type,
        assignee=choose_assignee(spec, zone_code, new.reported_at),
        zone_code=zone_code,
        reported_at=new.reported_at,
        created_at=now,
        updated_at=now,
        respond_due=due.respond,
        arrive_due=due.arrive,
        resolve_due=due.resolve,
    )
    try:
        with session.begin_nested():
            session.add(wo)
            session.flush()
    except IntegrityError:
        winner = session.scalar(select(WorkOrder).where(WorkOrder.source_key == new.source_key))
        if winner is None:
            raise
        return winner, False
    wo.code = f"GD{new.reported_at.strftime('%Y%m%d')}-{wo.id:05d}"
    session.add(
        WorkOrderTransition(
            work_order_id=wo.id,
            at=now,
            actor=actor,
            from_status=None,
            to_status=Status.REGISTERED,
            note="登记",
        )
    )
    return wo, True


def open_work_order_for(session: Session, asset_id: int, alarm_type: str) -> WorkOrder | None:
    """The open work order for this asset and alarm type, if any (one at a time)."""
    return session.scalar(
        select(WorkOrder).where(
            WorkOrder.asset_id == asset_id,
            WorkOrder.alarm_type == alarm_type,
            WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
        )
    )


def list_work_orders(
    session: Session, site_ids: list[str] | None = None, status: str | None = None, limit: int = 100
) -> list[WorkOrder]:
    q = select(WorkOrder).order_by(WorkOrder.id.desc()).limit(limit)
    if site_ids is not None:
        q = q.where(WorkOrder.site_id.in_(site_ids))
    if status is not None:
        q = q.where(WorkOrder.status == status)
    return list(session.scalars(q))
