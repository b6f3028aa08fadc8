"""投递: the outbox fanned out to subscriptions, posted with retries and exponential backoff.

Each subscription keeps a cursor into the `notification` outbox; every row past it whose event
type the subscription wants, of a site its scopes cover (a site, `region:<id>`: the region's
sites when the event is fanned out, `*`: every site), becomes one `webhook_delivery` (unique
per subscription and event, so a second dispatcher cannot double it). A failed post is retried
after 10 s, 20 s, 40 s … up to an hour apart, `MAX_ATTEMPTS` times, then marked failed; any
delivery can be sent again on request.

Before each post the target is checked again (`targets`) and the post goes to the address that
was checked. The log keeps the status and a short reason of our own wording ("HTTP 500",
"timeout", "connection refused"), never the receiver's reply, which is not even read: a
subscription must not become a way to read what an internal service answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.models import WebhookDelivery, WebhookSubscription
from api.scopes import REGION_PREFIX
from api.webhooks.signing import signatures
from api.webhooks.targets import TargetRefused, WebhookTargets
from maintenance.db import Database
from maintenance.notifications import Notification, event_body, event_type
from maintenance.outbox_horizon import OutboxHorizon
from maintenance.retry import MAX_ATTEMPTS as MAX_ATTEMPTS  # re-exported: the documented limit
from maintenance.retry import backoff as backoff
from maintenance.retry import requeue, settle
from maintenance.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from propwatch.clock import Clock

log = logging.getLogger("propwatch.webhooks")

EVENT_TYPES = (
    "work_order.created",
    "work_order.changed",
    "work_order.commented",
    "work_order.attachment_added",
    "work_order.overdue",
    "work_order.escalated",
    "work_order.unsatisfied",
    "alarm.raised",
    "alarm.cleared",
    "alarm.acknowledged",
    "alarm.chattering",
    "parts.low_stock",
)
TIMEOUT_SECONDS = 10.0
LEASE = timedelta(seconds=TIMEOUT_SECONDS * 3)
FAN_OUT_BATCH = 500


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


RegionOf = Callable[[str], str | None]
"""A site id's region now (None: no region, or a site no longer served)."""


def _no_region(_: str) -> str | None:
    return None


def wanted(scopes: list[str], site_id: str, region_of: RegionOf) -> bool:
    """Whether a subscription's scopes cover an event of `site_id`."""
    if "*" in scopes or site_id in scopes:
        return True
    region = region_of(site_id)
    return region is not None and f"{REGION_PREFIX}{region}" in scopes


def fan_out(
    session: Session,
    now: datetime,
    region_of: RegionOf = _no_region,
    horizon: OutboxHorizon | None = None,
) -> int:
    """Turn outbox rows past each subscription's cursor into deliveries; returns how many. With
    a `horizon` (PostgreSQL) no cursor moves past an id another transaction may still commit."""
    made = 0
    for sub in session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)
        .with_for_update()  # one dispatcher advances a cursor at a time
    ):
        top = session.scalar(select(func.max(Notification.id)).where(Notification.id > sub.cursor))
        if top is None:
            continue
        final = top if horizon is None else horizon.advance(session, sub.cursor, top)
        rows = list(
            session.scalars(
                select(Notification)
                .where(Notification.id > sub.cursor, Notification.id <= final)
                .order_by(Notification.id)
                .limit(FAN_OUT_BATCH)
            )
        )
        for n in rows:
            kind = event_type(n.topic)
            if kind in sub.event_types and wanted(sub.sites, n.site_id, region_of):
                session.add(
                    WebhookDelivery(
                        subscription_id=sub.id,
                        event_id=n.id,
                        event_type=kind,
                        body=event_body(n, kind),
                        state="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                made += 1
        if rows:
            sub.cursor = rows[-1].id
    return made


def redeliver(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    """Queue a delivery again now, whatever its state (the receiver lost it, or was fixed)."""
    requeue(delivery, now)


def signing_secrets(sub: WebhookSubscription, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and during the overlap
    window of a rotation the previous one too."""
    keys = [sub.secret]
    if sub.previous_secret and sub.previous_secret_until and now < sub.previous_secret_until:
        keys.append(sub.previous_secret)
    return keys


@dataclass(frozen=True)
class Due:
    """A claimed delivery, with what posting it needs."""

    id: int
    url: str
    secrets: list[str]
    event_type: str
    body: str


def failure_reason(exc: httpx.HTTPError) -> str:
    """A short reason in our own words; the exception's text may quote the peer."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            if isinstance(cause, ssl.SSLError):
                return "TLS error"
            cause = cause.__cause__ or cause.__context__
        return "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "protocol error"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "connection lost"
    return "HTTP error"


class WebhookDispatcher:
    """Fans out and posts due deliveries every `interval` seconds while entered."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        interval: float = 1.0,
        targets: WebhookTargets | None = None,
        timeout: float = TIMEOUT_SECONDS,
        region_of: RegionOf = _no_region,
    ) -> None:
        self.db, self.clock, self.interval = db, clock, interval
        self.region_of = region_of
        # PostgreSQL commits out of id order; SQLite's single writer commits in order
        self.horizon = OutboxHorizon() if db.url.startswith("postgresql") else None
        self.targets = targets or WebhookTargets()
        # no redirects: a 3xx to an internal address would step around the target check
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.refused = 0  # deliveries not posted: the target failed its check

    async def __aenter__(self) -> WebhookDispatcher:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # counted and logged; the next pass tries again
                self.failures += 1
                log.exception("webhook pass failed")
            await asyncio.sleep(self.interval)

    async def run_once(self) -> int:
        """One pass: fan out, then post every due delivery. Returns how many were posted."""
        now = self.clock.now()
        due = await asyncio.to_thread(self._claim_due, now)
        for delivery in due:
            status, error = await self._post(delivery)
            await asyncio.to_thread(self._record, delivery.id, status, error)
        return len(due)

    def _claim_due(self, now: datetime) -> list[Due]:
        with self.db.session() as s:
            fan_out(s, now, self.region_of, self.horizon)
            s.flush()
            rows = s.execute(
                select(WebhookDelivery, WebhookSubscription)
                .join(
                    WebhookSubscription, WebhookDelivery.subscription_id == WebhookSubscription.id
                )
                .where(
                    WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookSubscription.active.is_(True),
                )
                .order_by(WebhookDelivery.id)
                .limit(100)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            ).all()
            claimed = []
            for d, sub in rows:
                # a lease: another dispatcher (replica) skips it while this one posts
                d.next_attempt_at = now + LEASE
                keys = signing_secrets(sub, now)
                claimed.append(Due(d.id, sub.url, keys, d.event_type, d.body))
            return claimed

    async def _post(self, delivery: Due) -> tuple[int | None, str | None]:
        try:
            # DNS may answer differently than when the subscription was made
            target = await asyncio.to_thread(self.targets.check, delivery.url)
        except TargetRefused as refused:
            self.refused += 1
            log.warning("webhook delivery %d not sent: %s", delivery.id, refused.reason)
            return None, refused.reason
        raw = delivery.body.encode()
        ts = int(self.clock.now().timestamp())
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: signatures(delivery.secrets, ts, raw),
            EVENT_HEADER: delivery.event_type,
            DELIVERY_HEADER: str(delivery.id),
        }
        request = self._client.build_request(
            "POST",
            target.pinned_url,
            content=raw,
            headers=headers,
            extensions={"sni_hostname": target.host},
        )
        try:
            # the reply body is never read: only its status is kept
            response = await self._client.send(request, stream=True)
            await response.aclose()
        except httpx.HTTPError as exc:
            return None, failure_reason(exc)
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    def _record(self, delivery_id: int, status: int | None, error: str | None) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None:
                return
            d.last_status = status
            settle(d, ok=status is not None and 200 <= status < 300, error=error, now=now)
