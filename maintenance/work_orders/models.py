"""Work orders and their audited transitions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from maintenance.db import Base, UtcDateTime
from maintenance.work_orders import search


class Status(StrEnum):
    REGISTERED = "registered"  # 登记
    DISPATCHED = "dispatched"  # 派单
    ACCEPTED = "accepted"  # 接单
    ON_SITE = "on_site"  # 到场
    ON_HOLD = "on_hold"  # 挂起
    RESOLVED = "resolved"  # 完成
    VERIFIED = "verified"  # 验收
    CLOSED = "closed"  # 关闭
    REVISITED = "revisited"  # 回访
    CANCELLED = "cancelled"  # 取消
    REOPENED = "reopened"  # 重新打开 (返修)


STATUS_ZH = {
    Status.REGISTERED: "已登记",
    Status.DISPATCHED: "已派单",
    Status.ACCEPTED: "已接单",
    Status.ON_SITE: "已到场",
    Status.ON_HOLD: "挂起",
    Status.RESOLVED: "已完成",
    Status.VERIFIED: "已验收",
    Status.CLOSED: "已关闭",
    Status.REVISITED: "已回访",
    Status.CANCELLED: "已取消",
    Status.REOPENED: "已重开",
}

OPEN_STATUSES = (
    Status.REGISTERED,
    Status.DISPATCHED,
    Status.ACCEPTED,
    Status.ON_SITE,
    Status.ON_HOLD,
    Status.REOPENED,
)
"""Still in the technicians' hands: the 日盘点 lists these, and alarms attach to them."""

UNFINISHED_STATUSES = (*OPEN_STATUSES, Status.RESOLVED, Status.VERIFIED, Status.CLOSED)
"""Not yet through the whole 登记 → 回访 loop (cancelled and revisited orders are done)."""


class Source(StrEnum):
    ALARM = "alarm"
    PLAN = "plan"
    MANUAL = "manual"
    TICKET = "ticket"
    RESIDENT = "resident"  # 扫码报修: a resident's own report from a QR code


SOURCE_ZH = {
    Source.ALARM: "告警",
    Source.PLAN: "保养计划",
    Source.MANUAL: "人工登记",
    Source.TICKET: "工单系统",
    Source.RESIDENT: "住户报修",
}


TAGS_TYPE = JSON().with_variant(JSONB(), "postgresql")
"""A list of strings; JSONB on PostgreSQL so a tag filter is one containment test (`@>`)."""


class WorkOrder(Base):
    """工单. Every due time is stored; the clock pauses while on hold (see `maintenance.sla`)."""

    __tablename__ = "work_order"
    __table_args__ = (
        # `updated_since` and `sort=updated_at`: a ticket system's sync walks these in order
        Index("ix_work_order_list_updated", "site_id", "updated_at", "id"),
        Index("ix_work_order_list_every_site_updated", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    # The idempotency key: one per alarm episode or plan occurrence; the database refuses a second.
    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("asset.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True, default=Status.REGISTERED)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    alarm_type: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    zone_code: Mapped[str | None] = mapped_column(String(64))
    # 位置: where exactly, in the reporter's words (a flat, a stairwell), beside the asset's own
    location: Mapped[str | None] = mapped_column(String(300))
    # 标签 and 自定义字段, as the site file's `work_orders` section declares them
    tags: Mapped[list[str]] = mapped_column(TAGS_TYPE, default=list)
    custom_fields: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    respond_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    arrive_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolve_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revisit_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # `asset:alarm_type` while the order is open, NULL after: the database allows one open
    # alarm work order per asset and alarm type, whichever replica tries to make a second.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    chattering: Mapped[bool] = mapped_column(Boolean, default=False)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revisited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    held_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hold_reason: Mapped[str | None] = mapped_column(String(300))
    held_from: Mapped[str | None] = mapped_column(String(16))
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    priority_raised_from: Mapped[str | None] = mapped_column(String(16))

    transitions: Mapped[list[WorkOrderTransition]] = relationship(
        back_populates="work_order", order_by="WorkOrderTransition.id"
    )


class Step(StrEnum):
    """Audited steps that are not a status (a transition's `to_status` holds one or a status)."""

    NOTE = "note"  # 跟进记录: a comment, or an uploaded attachment with its note
    REASSIGNED = "reassigned"  # 改派
    CHANGED = "changed"  # 修改: fields edited (PATCH); the note lists each change
    # 删除附件 (16 characters at most, the column's width): `attachments` holds the deleted ref
    ATTACHMENT_DELETED = "file_deleted"


class WorkOrderTransition(Base):
    """One audited step: who, when, from what to what, with a note and attachments."""

    __tablename__ = "work_order_transition"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)

    work_order: Mapped[WorkOrder] = relationship(back_populates="transitions")


class Escalation(Base):
    """One rung of the 升级 ladder fired for one work order; the unique key makes it once only."""

    __tablename__ = "work_order_escalation"
    __table_args__ = (UniqueConstraint("work_order_id", "step_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), index=True)
    step_id: Mapped[str] = mapped_column(String(64))
    limit_name: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recipient: Mapped[str | None] = mapped_column(String(64))


class Via(StrEnum):
    """How a revisit (回访) was made."""

    PHONE = "phone"  # 电话回访, by customer service
    IN_PERSON = "in_person"  # 上门回访 (重大投诉: within 72 h)
    RESIDENT_LINK = "resident_link"  # the resident scored it through the tracking link


VIA_ZH = {Via.PHONE: "电话回访", Via.IN_PERSON: "上门回访", Via.RESIDENT_LINK: "住户在线评价"}


class RevisitOutcome(StrEnum):
    """What the revisit led to."""

    CLOSED = "closed"  # 闭环: no score unsatisfied
    REOPENED = "reopened"  # 返修: the order went back to work
    FOLLOW_UP = "follow_up"  # 跟进: a linked order was opened


REVISIT_OUTCOME_ZH = {
    RevisitOutcome.CLOSED: "已闭环",
    RevisitOutcome.REOPENED: "不满意，已重新打开",
    RevisitOutcome.FOLLOW_UP: "不满意，已开跟进工单",
}


class WorkOrderRevisit(Base):
    """回访评价: one per revisit of an order, the three scores when given (1–5, all or none).

    `round` is the order's `reopen_count` at the revisit: one revisit per round, which the
    unique key holds whoever sends it twice; an unsatisfied revisit reopens the order, so its
    next revisit is the next round. `due_at` keeps the revisit's due time of that round for the
    reports (the order's own is cleared by the reopening)."""

    __tablename__ = "work_order_revisit"
    __table_args__ = (
        UniqueConstraint("work_order_id", "round"),
        CheckConstraint("response BETWEEN 1 AND 5", name="response_1_to_5"),
        CheckConstraint("quality BETWEEN 1 AND 5", name="quality_1_to_5"),
        CheckConstraint("attitude BETWEEN 1 AND 5", name="attitude_1_to_5"),
        Index("ix_work_order_revisit_site_at", "site_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), index=True)
    site_id: Mapped[str] = mapped_column(String(64))
    round: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    via: Mapped[str | None] = mapped_column(String(16))
    response: Mapped[int | None] = mapped_column(Integer)  # 响应速度
    quality: Mapped[int | None] = mapped_column(Integer)  # 维修质量
    attitude: Mapped[int | None] = mapped_column(Integer)  # 服务态度
    comment: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(16))
    follow_up_id: Mapped[int | None] = mapped_column(ForeignKey("work_order.id"))


search.register(Base.metadata)
