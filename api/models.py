"""Tables the API keeps for itself: tokens, audit, idempotency, ticket links, webhooks.

None of them holds a business rule; they record who called, what was answered, and where
events went. Registered in `maintenance.models` so the migrations see them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime
from maintenance.work_orders.models import WorkOrder


class ApiToken(Base):
    """访问令牌: only the SHA-256 of the token is stored; the token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)
    person: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Past this the token is refused (None: it does not expire).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """审计日志: every change made through the API, with the caller's identity."""

    __tablename__ = "api_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(String(100))
    status_code: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdempotencyRecord(Base):
    """An `Idempotency-Key` of a caller: claimed (the unique row inserted before the work) while
    its request runs, then the answer replayed for repeats until `expires_at`."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("actor", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    request_hash: Mapped[str] = mapped_column(String(64))
    # `claimed` while the first request runs (until `locked_until`), then `done`
    state: Mapped[str] = mapped_column(String(16), default="done")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class ExternalRef(Base):
    """外部工单号: the ticket system's id for a work order, unique per site, both ways."""

    __tablename__ = "work_order_external_ref"
    __table_args__ = (UniqueConstraint("site_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(100))
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), unique=True)


class WebhookSubscription(Base):
    """A receiver of events of the listed types for the listed sites."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    # 密钥轮换: the secret before the last rotation also signs until this time
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cursor: Mapped[int] = mapped_column(Integer, default=0)


class WebhookDelivery(Base):
    """投递记录: one event to one subscription, with its attempts and the last answer."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_delivery_pending", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id"), index=True)
    event_id: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# Indexes for the filtered work-order list (`GET /api/v1/work-orders`, newest first), measured by
# bench/api_work_orders.py: the list walks one of these backwards and stops after a page.
Index("ix_work_order_list_site", WorkOrder.site_id, WorkOrder.reported_at, WorkOrder.id)
Index(
    "ix_work_order_list_status",
    WorkOrder.site_id,
    WorkOrder.status,
    WorkOrder.reported_at,
    WorkOrder.id,
)
Index("ix_work_order_list_due", WorkOrder.site_id, WorkOrder.resolve_due, WorkOrder.id)
Index("ix_work_order_list_assignee", WorkOrder.assignee, WorkOrder.reported_at, WorkOrder.id)
# a token of every site lists without a site condition (migration 0005)
Index("ix_work_order_list_every_site", WorkOrder.reported_at, WorkOrder.id)
Index("ix_work_order_list_every_site_due", WorkOrder.resolve_due, WorkOrder.id)
# a filter on category, source or zone that matches few orders: one index per sort, so the list
# finds its rows at once instead of walking every order of the site past them (migration 0006)
for _name, _column in (
    ("category", WorkOrder.category),
    ("source", WorkOrder.source),
    ("zone", WorkOrder.zone_code),
):
    Index(
        f"ix_work_order_list_{_name}",
        WorkOrder.site_id,
        _column,
        WorkOrder.reported_at,
        WorkOrder.id,
    )
    Index(
        f"ix_work_order_list_{_name}_due",
        WorkOrder.site_id,
        _column,
        WorkOrder.resolve_due,
        WorkOrder.id,
    )
    Index(
        f"ix_work_order_list_{_name}_priority",
        WorkOrder.site_id,
        _column,
        WorkOrder.priority,
        WorkOrder.id,
    )
