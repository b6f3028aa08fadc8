"""报修人 rows: who reported an order through the scan page, and the 催单 reminders sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class ResidentReport(Base):
    """报修人: one resident behind an order (the first, or one who joined it as 报修人 +1).

    The tracking link's token is kept only as its SHA-256; the phone as Fernet ciphertext
    (`maintenance.residents.phones`) beside its masked form, both cleared by the retention pass
    (`erased_at`). `place_key` (`asset:P-1`, `building:3栋`, `place:lobby-1`) and `category`
    find the open order a duplicate joins."""

    __tablename__ = "resident_report"
    __table_args__ = (Index("ix_resident_report_place", "site_id", "place_key", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), index=True)
    site_id: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    place_key: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    phone_cipher: Mapped[str | None] = mapped_column(Text)
    phone_masked: Mapped[str | None] = mapped_column(String(32))
    room: Mapped[str | None] = mapped_column(String(32))
    joined: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ResidentReminder(Base):
    """催单: one reminder of an order by a resident; the latest decides when the next may go."""

    __tablename__ = "resident_reminder"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("resident_report.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
