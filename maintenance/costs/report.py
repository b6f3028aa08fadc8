"""维修费用 in the monthly report: what the month's completed work cost, per asset, per zone and
for the site, and the 有偿维修 quoted to residents.

An order counts in the month it was completed (完成, `resolved_at`, local month), with all its
labour, issued parts and extras as they stand when the report is made; an order completed,
reopened and completed again counts in the month of its last completion. Cancelled orders are
left out (their parts went back to the store).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.costs.service import OrderCost, order_costs
from maintenance.registry.models import Asset
from maintenance.work_orders.models import WorkOrder
from propwatch.site import SiteFile


def yuan(fen: int) -> str:
    """分 as 元 with two decimals: 4678 → "46.78"."""
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


class CostRow(BaseModel):
    key: str
    name: str
    orders: int
    labour_hours: float
    labour: str
    parts: str
    extras: str
    total: str


class PaidRepairTotals(BaseModel):
    """有偿维修 completed in the month: how many, quoted, paid and still owed (元)."""

    orders: int
    quoted: str
    paid: str
    unpaid: str


class CostReport(BaseModel):
    currency: str
    site: CostRow
    by_asset: list[CostRow]
    by_zone: list[CostRow]
    paid_repairs: PaidRepairTotals


class _Sum:
    def __init__(self) -> None:
        self.orders = 0
        self.seconds = 0.0
        self.labour = self.parts = self.extras = 0

    def add(self, c: OrderCost) -> None:
        self.orders += 1
        self.seconds += c.labour_seconds
        self.labour += c.labour_fen
        self.parts += c.parts_fen
        self.extras += c.extras_fen

    def row(self, key: str, name: str) -> CostRow:
        return CostRow(
            key=key,
            name=name,
            orders=self.orders,
            labour_hours=round(self.seconds / 3600, 2),
            labour=yuan(self.labour),
            parts=yuan(self.parts),
            extras=yuan(self.extras),
            total=yuan(self.labour + self.parts + self.extras),
        )

    @property
    def total(self) -> int:
        return self.labour + self.parts + self.extras


def cost_report(session: Session, spec: SiteFile, start: datetime, end: datetime) -> CostReport:
    site = spec.site.id
    orders = list(
        session.scalars(
            select(WorkOrder).where(
                WorkOrder.site_id == site,
                WorkOrder.resolved_at >= start,
                WorkOrder.resolved_at < end,
                WorkOrder.cancelled_at.is_(None),
            )
        )
    )
    costs = order_costs(session, spec, orders)
    assets = {a.id: a for a in session.scalars(select(Asset).where(Asset.site_id == site))}
    zones = {z.id: z.name for z in spec.zones}
    whole = _Sum()
    per_asset: dict[int, _Sum] = defaultdict(_Sum)
    per_zone: dict[str, _Sum] = defaultdict(_Sum)
    quoted = paid = count = 0
    for wo in orders:
        c = costs[wo.id]
        whole.add(c)
        if wo.asset_id is not None:
            per_asset[wo.asset_id].add(c)
        per_zone[wo.zone_code or "—"].add(c)
        if c.paid_repair is not None:
            count += 1
            quoted += c.paid_repair.quoted_fen
            paid += c.paid_repair.quoted_fen if c.paid_repair.paid else 0
    return CostReport(
        currency=spec.costs.currency,
        site=whole.row(site, spec.site.name),
        by_asset=_ranked(
            (assets[i].code, assets[i].name, s) for i, s in per_asset.items() if i in assets
        ),
        by_zone=_ranked((z, zones.get(z, "未分区"), s) for z, s in per_zone.items()),
        paid_repairs=PaidRepairTotals(
            orders=count, quoted=yuan(quoted), paid=yuan(paid), unpaid=yuan(quoted - paid)
        ),
    )


def _ranked(rows: Iterable[tuple[str, str, _Sum]]) -> list[CostRow]:
    """Dearest first, then by key."""
    return [s.row(k, n) for k, n, s in sorted(rows, key=lambda r: (-r[2].total, r[0]))]
