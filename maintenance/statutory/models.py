"""What each statutory inspection found: one row per inspection result, the newest rules."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class StatutoryRecord(Base):
    """法定检验记录: an inspection of one asset (date, passed, 检验合格证 and its expiry, the next
    due date). Rows are kept, never edited: the newest by date says where the asset stands."""

    __tablename__ = "statutory_inspection_record"
    __table_args__ = (Index("ix_statutory_record_asset", "site_id", "asset_code", "type_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    asset_code: Mapped[str] = mapped_column(String(64))
    type_id: Mapped[str] = mapped_column(String(64))
    inspected_on: Mapped[date] = mapped_column(Date)
    passed: Mapped[bool] = mapped_column(Boolean)
    certificate_no: Mapped[str | None] = mapped_column(String(64))
    certificate_expiry: Mapped[date | None] = mapped_column(Date)
    next_due: Mapped[date] = mapped_column(Date)
    agency: Mapped[str] = mapped_column(String(120), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
