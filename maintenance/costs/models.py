"""Tables of the cost of a work order: manual labour entries, extra costs and 有偿维修.

Amounts are kept in 分 and time in whole minutes, as the parts tables keep theirs: integers add
and compare the same on SQLite and PostgreSQL. Time on site from 到场 to 完成 is not stored; it
is read from the order's transitions, which are already the audited record of it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class LabourEntry(Base):
    """人工登记: minutes a person worked on an order on a day, beyond the time on site."""

    __tablename__ = "work_order_labour"
    __table_args__ = (CheckConstraint("minutes > 0 AND minutes <= 1440", name="minutes"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), index=True)
    person: Mapped[str] = mapped_column(String(64))
    minutes: Mapped[int] = mapped_column(Integer)
    work_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ExtraCost(Base):
    """其他费用 on an order: a crane, a hired part, a disposal fee."""

    __tablename__ = "work_order_extra_cost"
    __table_args__ = (CheckConstraint("amount_fen >= 0", name="amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), index=True)
    description: Mapped[str] = mapped_column(String(200))
    amount_fen: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaidRepair(Base):
    """有偿维修: the amount quoted to the resident for this order, and whether it was paid."""

    __tablename__ = "work_order_paid_repair"
    __table_args__ = (CheckConstraint("quoted_fen >= 0", name="quoted"),)

    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), primary_key=True)
    quoted_fen: Mapped[int] = mapped_column(Integer)
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
