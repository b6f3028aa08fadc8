"""备品备件 tables: stores (仓库), parts, stock per store, parts on work orders, movements, counts.

Quantities are kept in thousandths of the unit (`*_milli`, so 2.5 米 is 2500) and prices in 分:
integers add, compare and lock the same on SQLite and PostgreSQL, where a float would drift and
SQLite has no decimal type. The API speaks `Decimal` (`maintenance.parts.quantities`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class Unit(StrEnum):
    PIECE = "个"
    METRE = "米"
    SET = "套"


class Store(Base):
    """仓库 of a site; one of them is the default, where a line or receipt without a store goes."""

    __tablename__ = "parts_store"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Part(Base):
    """备件 of a site's catalogue: what it is and what one unit costs now."""

    __tablename__ = "part"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[str] = mapped_column(String(200), default="")
    unit: Mapped[str] = mapped_column(String(8))
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Stock(Base):
    """One part in one store: on hand, reserved for open orders, and the reorder level.

    The database refuses a reservation beyond what is on hand and any negative figure, whatever
    the code above it does; the service locks the row before it reads it.
    """

    __tablename__ = "part_stock"
    __table_args__ = (
        UniqueConstraint("part_id", "store_id"),
        CheckConstraint(
            "reserved_milli >= 0 AND on_hand_milli >= reserved_milli AND minimum_milli >= 0",
            name="covered",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("part.id"))
    store_id: Mapped[int] = mapped_column(ForeignKey("parts_store.id"), index=True)
    on_hand_milli: Mapped[int] = mapped_column(Integer, default=0)
    reserved_milli: Mapped[int] = mapped_column(Integer, default=0)
    minimum_milli: Mapped[int] = mapped_column(Integer, default=0)
    # the 补货 alert went out and available has not been back at the minimum since
    low_alerted: Mapped[bool] = mapped_column(Boolean, default=False)


class LineState(StrEnum):
    RESERVED = "reserved"  # 已预留
    ISSUED = "issued"  # 已领用 (the order was completed; the store's movement is 出库)
    RETURNED = "returned"  # 已退回 (the order was cancelled)
    REMOVED = "removed"  # 已移除 (taken off before completion)


LINE_STATE_ZH = {
    LineState.RESERVED: "已预留",
    LineState.ISSUED: "已领用",
    LineState.RETURNED: "已退回",
    LineState.REMOVED: "已移除",
}


class PartLine(Base):
    """A part used on a work order: reserved when added, issued at 完成 at that day's price."""

    __tablename__ = "work_order_part"
    __table_args__ = (CheckConstraint("quantity_milli > 0", name="positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), index=True)
    stock_id: Mapped[int] = mapped_column(ForeignKey("part_stock.id"))
    quantity_milli: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=LineState.RESERVED)
    unit_price_fen: Mapped[int | None] = mapped_column(Integer)  # set at issue
    note: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MovementKind(StrEnum):
    RECEIPT = "receipt"  # 入库
    RESERVE = "reserve"  # 预留
    ISSUE = "issue"  # 出库
    RETURN = "return"  # 退回 (a reservation given back)
    ADJUSTMENT = "adjustment"  # 调整
    COUNT = "count"  # 盘点差异


MOVEMENT_ZH = {
    MovementKind.RECEIPT: "入库",
    MovementKind.RESERVE: "预留",
    MovementKind.ISSUE: "出库",
    MovementKind.RETURN: "退回",
    MovementKind.ADJUSTMENT: "调整",
    MovementKind.COUNT: "盘点差异",
}


class Movement(Base):
    """库存流水: every change of on hand or reserved, with who, when, why and the balance after.

    `quantity_milli` is signed: what this movement did to on hand (receipt, issue, adjustment,
    count) or to reserved (reserve, return).
    """

    __tablename__ = "part_movement"
    __table_args__ = (Index("ix_part_movement_stock", "stock_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    stock_id: Mapped[int] = mapped_column(ForeignKey("part_stock.id"))
    kind: Mapped[str] = mapped_column(String(16))
    quantity_milli: Mapped[int] = mapped_column(Integer)
    on_hand_after_milli: Mapped[int] = mapped_column(Integer)
    reserved_after_milli: Mapped[int] = mapped_column(Integer)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_order.id"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("work_order_part.id"))
    count_id: Mapped[int | None] = mapped_column(ForeignKey("stock_count.id"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(Text, default="")


class StockCount(Base):
    """盘点 of one store: what was counted, and the differences from the books at that moment."""

    __tablename__ = "stock_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("parts_store.id"))
    counted_by: Mapped[str] = mapped_column(String(64))
    counted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    # [{part, book_milli, counted_milli}], in the order counted
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
