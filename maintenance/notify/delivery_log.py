"""投递记录: the notification delivery log as the duty room reads it, and 重发 (sending again)
a delivery that was given up.

The log is `notification_delivery` (one row per outbox event and channel) with its tries in
`notification_attempt`; the running dispatcher claims every `pending` row that is due, so
sending again is only a state change here: back to `pending`, due now, with the full attempt
budget of the shared retry schedule (`maintenance.retry`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.errors import Conflict, NotFound
from maintenance.notifications import Notification
from maintenance.notify.models import NotificationAttempt, NotificationDelivery
from maintenance.retry import requeue
from propwatch.site import SiteFile

State = Literal["pending", "delivered", "failed"]
"""`pending` (due or waiting for its next try), `delivered`, `failed` (given up after the last
try, until someone sends it again)."""

EXCERPT_CHARS = 80
_HTTP_STATUS = re.compile(r"^HTTP (\d{3})\b")


class DeliveryNotFound(NotFound):
    code = "notification_delivery_not_found"


class NotResendable(Conflict):
    code = "notification_delivery_not_failed"


class AttemptView(BaseModel):
    """One try: what the far side answered, or why it failed."""

    at: datetime
    outcome: Literal["sent", "failed"]
    http_status: int | None = Field(
        description="the HTTP status, when the channel speaks HTTP and the answer gave one"
    )
    reply: str | None = Field(
        description="the far side's answer to a try that went through: `errcode 0: ok`, "
        "`HTTP 204`, the SMTP server's `accepted by 2 of 2`"
    )
    error: str | None = Field(description="why a failed try failed, as the channel reported it")
    elapsed_ms: float


class DeliveryView(BaseModel):
    """One outbox event on one channel, as the delivery log lists it."""

    id: int
    notification_id: int
    site_id: str
    channel_id: str
    channel_kind: str | None = Field(
        description="wecom, dingtalk, email or webhook; null when the site file no longer has "
        "the channel"
    )
    topic: str
    work_order_id: int | None
    alarm_id: int | None
    people: list[str] = Field(description="the people told (ids from the site file)")
    duty_room: bool = Field(description="whether the duty room (值班室) was told too")
    message_excerpt: str
    state: State
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="when the next try is due, if pending")
    delivered_at: datetime | None
    created_at: datetime


class DeliveryDetail(DeliveryView):
    message: str
    attempt_log: list[AttemptView] = Field(description="every try, oldest first")


@dataclass(frozen=True)
class DeliveryFilter:
    """What the caller asked for and may see; None leaves a field unfiltered."""

    sites: tuple[str, ...] | None = None
    channel_id: str | None = None
    state: State | None = None
    topic: str | None = None
    work_order_id: int | None = None


def _excerpt(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= EXCERPT_CHARS else line[: EXCERPT_CHARS - 1] + "…"


def _kind(specs: Mapping[str, SiteFile], site_id: str, channel_id: str) -> str | None:
    spec = specs.get(site_id)
    if spec is None:
        return None
    return next((c.kind for c in spec.notifications.channels if c.id == channel_id), None)


def _view(d: NotificationDelivery, n: Notification, specs: Mapping[str, SiteFile]) -> DeliveryView:
    return DeliveryView(
        id=d.id,
        notification_id=d.notification_id,
        site_id=d.site_id,
        channel_id=d.channel_id,
        channel_kind=_kind(specs, d.site_id, d.channel_id),
        topic=n.topic,
        work_order_id=n.work_order_id,
        alarm_id=n.alarm_id,
        people=list(d.people),
        duty_room=d.duty_room,
        message_excerpt=_excerpt(n.message),
        state=d.state,
        attempts=d.attempts,
        last_error=d.last_error,
        next_attempt_at=d.next_attempt_at if d.state == "pending" else None,
        delivered_at=d.delivered_at,
        created_at=d.created_at,
    )


def list_deliveries(
    session: Session,
    f: DeliveryFilter,
    specs: Mapping[str, SiteFile],
    *,
    before_id: int | None = None,
    limit: int = 100,
) -> tuple[list[DeliveryView], bool]:
    """The newest deliveries first, from below `before_id`; and whether more follow."""
    conditions: list[Any] = []
    if f.sites is not None:
        conditions.append(NotificationDelivery.site_id.in_(f.sites))
    if f.channel_id is not None:
        conditions.append(NotificationDelivery.channel_id == f.channel_id)
    if f.state is not None:
        conditions.append(NotificationDelivery.state == f.state)
    if f.topic is not None:
        conditions.append(Notification.topic == f.topic)
    if f.work_order_id is not None:
        conditions.append(Notification.work_order_id == f.work_order_id)
    if before_id is not None:
        conditions.append(NotificationDelivery.id < before_id)
    rows = session.execute(
        select(NotificationDelivery, Notification)
        .join(Notification, NotificationDelivery.notification_id == Notification.id)
        .where(*conditions)
        .order_by(NotificationDelivery.id.desc())
        .limit(limit + 1)
    ).all()
    return [_view(d, n, specs) for d, n in rows[:limit]], len(rows) > limit


def get_delivery(
    session: Session, delivery_id: int, *, for_update: bool = False
) -> NotificationDelivery:
    # locked and read afresh, so the state checked is the state changed
    d = session.get(
        NotificationDelivery,
        delivery_id,
        with_for_update=for_update or None,
        populate_existing=for_update,
    )
    if d is None:
        raise DeliveryNotFound(
            f"通知投递 {delivery_id} 不存在", f"notification delivery {delivery_id} not found"
        )
    return d


def _attempt(a: NotificationAttempt) -> AttemptView:
    status = _HTTP_STATUS.match(a.detail)
    return AttemptView(
        at=a.at,
        outcome="sent" if a.ok else "failed",
        http_status=int(status.group(1)) if status else None,
        reply=a.detail if a.ok else None,
        error=None if a.ok else a.detail,
        elapsed_ms=a.elapsed_ms,
    )


def delivery_detail(
    session: Session, d: NotificationDelivery, specs: Mapping[str, SiteFile]
) -> DeliveryDetail:
    """The delivery with its full message and every try."""
    n = session.get_one(Notification, d.notification_id)
    tries = session.scalars(
        select(NotificationAttempt)
        .where(NotificationAttempt.delivery_id == d.id)
        .order_by(NotificationAttempt.id)
    )
    return DeliveryDetail(
        **_view(d, n, specs).model_dump(),
        message=n.message,
        attempt_log=[_attempt(a) for a in tries],
    )


def resend(session: Session, delivery_id: int, now: datetime) -> NotificationDelivery:
    """重发: a delivery given up after its last try goes back to `pending`, due now, with its
    attempts starting over, so the running dispatcher sends it at its next pass. One that was
    delivered, or is still being retried, is refused: sending it again would double a message
    or only jump the retry schedule."""
    d = get_delivery(session, delivery_id, for_update=True)
    if d.state == "delivered":
        raise NotResendable(
            f"通知投递 {delivery_id} 已发送成功，无需重发",
            f"notification delivery {delivery_id} was already delivered",
        )
    if d.state != "failed":
        raise NotResendable(
            f"通知投递 {delivery_id} 仍在发送队列中（已尝试 {d.attempts} 次），"
            "会按计划自动重试，无需重发",
            f"notification delivery {delivery_id} is still pending and will be retried",
        )
    requeue(d, now)
    return d
