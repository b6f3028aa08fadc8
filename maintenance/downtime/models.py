"""An order's mark that its asset was down (停机) while it was being repaired."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class DownSince(StrEnum):
    """Where the order's downtime begins; it ends at 完成 (or the cancel)."""

    REPORTED = "reported"  # 报修: the asset stopped when the fault was reported
    ARRIVED = "arrived"  # 到场: the technician took it out of service to repair it


DOWN_SINCE_ZH = {DownSince.REPORTED: "报修起", DownSince.ARRIVED: "到场起"}


class DowntimeMark(Base):
    """停机标记: one per order; the interval itself is read from the order's own times."""

    __tablename__ = "asset_downtime"
    __table_args__ = (Index("ix_asset_downtime_asset", "site_id", "asset_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), unique=True)
    site_id: Mapped[str] = mapped_column(String(64))
    asset_code: Mapped[str] = mapped_column(String(64))
    since: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(300))
    marked_by: Mapped[str] = mapped_column(String(200))
    marked_at: Mapped[datetime] = mapped_column(UtcDateTime)
