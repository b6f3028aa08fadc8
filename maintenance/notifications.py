"""通知 outbox: events for people and integrations, written in the same transaction as the change.

The maintenance core never calls out; it appends rows to the `notification` table and whoever
delivers (webhooks, SMS, the duty-room stream) reads them in `id` order. The table:

| column | meaning |
| --- | --- |
| `id` | increasing; a deliverer keeps the last id it handled as its cursor |
| `site_id` | the property |
| `topic` | `work_order.created`, `…transition`, `…changed`, `…commented`, …; `alarm.raised`, … |
| `work_order_id`, `alarm_id` | the subject (either may be NULL) |
| `recipient` | a person id from the site file, or NULL for the duty room / integrations |
| `message` | zh-CN text ready to show or send |
| `payload` | JSON with the machine-readable facts (codes, statuses, due times in ISO 8601) |
| `created_at` | when the change happened (the injected clock) |
| `dedup_key` | unique when set (one escalation step per order), so a replica cannot double it |
| `delivered_at`, `attempts` | for one simple deliverer; webhook fan-out keeps its own cursors |

Because the row commits with the change it reports, a crash can never lose or invent one.
On PostgreSQL every transaction that adds a row also sends `NOTIFY propwatch_outbox`, which
the database delivers only when (and if) it commits: each API replica's outbox feed listens and
reads the new rows at once, whichever replica or service wrote them (`api.outbox_feed`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, ForeignKey, Integer, String, Text, event, select
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from maintenance.db import Base, UtcDateTime


class Notification(Base):
    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_order.id"), index=True)
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarm.id"))
    recipient: Mapped[str | None] = mapped_column(String(64), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


OUTBOX_CHANNEL = "propwatch_outbox"
"""The PostgreSQL channel told of every commit that added outbox rows (no payload: readers
read the table from their cursor, so a merged or lost notification loses nothing)."""


@event.listens_for(Session, "after_flush")
def _announce_outbox_rows(session: Session, _flush: UOWTransaction) -> None:
    # in after_flush `session.new` still lists what this flush inserted; NOTIFY is
    # transactional (sent at commit, dropped on rollback, duplicates in one transaction merged)
    if any(isinstance(o, Notification) for o in session.new):
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"NOTIFY {OUTBOX_CHANNEL}")


TOPIC_TO_EVENT = {
    "work_order.transition": "work_order.changed",
    "work_order.reassigned": "work_order.changed",
    "work_order.attachment_deleted": "work_order.changed",
}
"""Outbox topics as integrations see them (a reassignment is one more change)."""


def event_type(topic: str) -> str:
    return TOPIC_TO_EVENT.get(topic, topic)


def event_body(n: Notification, kind: str | None = None) -> str:
    """The JSON every integration receives for an outbox row (webhooks, the generic channel)."""
    doc: dict[str, Any] = {
        "id": n.id,
        "type": kind or event_type(n.topic),
        "site_id": n.site_id,
        "created_at": n.created_at.isoformat(),
        "work_order_id": n.work_order_id,
        "alarm_id": n.alarm_id,
        "message": n.message,
        "data": n.payload,
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class NotificationView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    site_id: str
    topic: str
    work_order_id: int | None
    alarm_id: int | None
    recipient: str | None
    message: str
    payload: dict[str, Any]
    created_at: datetime
    delivered_at: datetime | None


def notify(
    session: Session,
    *,
    site_id: str,
    topic: str,
    message: str,
    at: datetime,
    work_order_id: int | None = None,
    alarm_id: int | None = None,
    recipient: str | None = None,
    payload: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> Notification:
    row = Notification(
        site_id=site_id,
        topic=topic,
        work_order_id=work_order_id,
        alarm_id=alarm_id,
        recipient=recipient,
        message=message,
        payload=payload or {},
        created_at=at,
        dedup_key=dedup_key,
        attempts=0,
    )
    session.add(row)
    return row


def notifications_after(
    session: Session,
    after_id: int = 0,
    *,
    site_ids: list[str] | None = None,
    topic: str | None = None,
    recipient: str | None = None,
    limit: int = 100,
) -> list[NotificationView]:
    """The outbox from a cursor on, oldest first."""
    q = select(Notification).where(Notification.id > after_id).order_by(Notification.id)
    if site_ids is not None:
        q = q.where(Notification.site_id.in_(site_ids))
    if topic is not None:
        q = q.where(Notification.topic == topic)
    if recipient is not None:
        q = q.where(Notification.recipient == recipient)
    return [NotificationView.model_validate(n) for n in session.scalars(q.limit(limit))]


def mark_delivered(session: Session, notification_id: int, at: datetime) -> None:
    row = session.get(Notification, notification_id)
    if row is not None:
        row.attempts += 1
        row.delivered_at = row.delivered_at or at
