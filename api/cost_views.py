"""The cost of a work order as the API shows it, in its cost routes and its detail."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.cost_schemas import CostSummary, PaidRepairOut
from maintenance.costs import service
from maintenance.costs.models import PaidRepair
from maintenance.costs.report import yuan
from maintenance.costs.service import OrderCost
from maintenance.work_orders.models import WorkOrder
from propwatch.site import SiteFile


def paid_repair_view(row: PaidRepair | None) -> PaidRepairOut | None:
    if row is None:
        return None
    return PaidRepairOut(
        quoted=yuan(row.quoted_fen),
        paid=row.paid,
        paid_at=row.paid_at,
        note=row.note,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def summary(spec: SiteFile, cost: OrderCost) -> CostSummary:
    """The order's cost as its detail shows it."""
    return CostSummary(
        currency=spec.costs.currency,
        labour_hours=round(cost.labour_seconds / 3600, 2),
        labour_cost=yuan(cost.labour_fen),
        parts_cost=yuan(cost.parts_fen),
        extras_cost=yuan(cost.extras_fen),
        total=yuan(cost.total_fen),
        paid_repair=paid_repair_view(cost.paid_repair),
    )


def order_summary(session: Session, spec: SiteFile, wo: WorkOrder) -> CostSummary:
    return summary(spec, service.order_cost(session, spec, wo))
