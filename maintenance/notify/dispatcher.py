"""通知投递: the outbox routed to channels, sent with retries, every try logged.

A planner reads the site's outbox past its cursor (`notification_cursor`), never past an id
another transaction may still commit (`maintenance.outbox_horizon`), and writes one
`notification_delivery` per row and channel that a route names (unique, so two replicas cannot
double a message). Each channel has its own worker: it claims its due deliveries with a lease,
sends up to `concurrency` at once, each within the channel's `timeout`, and records the try in
`notification_attempt`. A dead or hanging channel therefore only ever holds up its own queue.
Failures are retried on the outbox's shared schedule (`maintenance.retry`).

A site's cursor starts at the newest outbox row when the dispatcher first runs, so switching
notifications on does not replay history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance.db import Database
from maintenance.notifications import Notification
from maintenance.notify.message import Outgoing, compose
from maintenance.notify.models import NotificationAttempt, NotificationCursor, NotificationDelivery
from maintenance.notify.routing import resolve, subject_of
from maintenance.notify.senders import ChannelSetup, SendFailed, build_senders
from maintenance.notify.smtp import recipients
from maintenance.outbox_horizon import OutboxHorizon
from maintenance.retry import settle
from propwatch.clock import Clock
from propwatch.notification_channels import EmailChannel
from propwatch.site import Site

log = logging.getLogger("propwatch.notify")

PLAN_BATCH = 500


@dataclass
class NotifyStats:
    routed: int = 0
    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    errors: int = 0


def start_cursor(db: Database, site_id: str, now: datetime) -> None:
    """Create the site's cursor at the newest outbox row, once. Every replica does it for every
    site before it consumes events, whether or not it dispatches that site's notifications, so
    no notification is made before its site's cursor exists."""
    with db.session() as s:
        if s.get(NotificationCursor, site_id) is not None:
            return
    try:
        with db.session() as s:
            newest = s.scalar(select(func.max(Notification.id))) or 0
            s.add(NotificationCursor(site_id=site_id, last_id=newest, updated_at=now))
    except IntegrityError:
        pass  # another replica made it first


class NotificationDispatcher:
    """Routes and sends the site's notifications while entered (`run_once` for one pass)."""

    def __init__(
        self,
        site: Site,
        db: Database,
        clock: Clock,
        secrets: Mapping[str, str],
        *,
        interval: float = 1.0,
    ) -> None:
        self.site, self.db, self.clock, self.interval = site, db, clock, interval
        self.channels, self.off = build_senders(site.spec.notifications.channels, secrets, clock)
        self.stats = NotifyStats()
        self._wake = {cid: asyncio.Event() for cid in self.channels}
        self._woken: set[str] = set()  # channels with new deliveries, filled by `plan`
        self._tasks: list[asyncio.Task[None]] = []
        # PostgreSQL commits out of id order; SQLite's single writer commits in order
        self.horizon = OutboxHorizon() if db.url.startswith("postgresql") else None

    async def __aenter__(self) -> NotificationDispatcher:
        for cid, reason in self.off.items():
            log.info("notification channel %s is off: %s", cid, reason)
        await asyncio.to_thread(self.start_cursor)
        self._tasks.append(asyncio.create_task(self._plan_loop(), name="notify-plan"))
        for cid in self.channels:
            self._tasks.append(asyncio.create_task(self._channel_loop(cid), name=f"notify-{cid}"))
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.aclose()

    async def aclose(self) -> None:
        for setup in self.channels.values():
            await setup.sender.aclose()

    # --- planning -----------------------------------------------------------------------------

    def start_cursor(self) -> None:
        """Create the site's cursor at the newest outbox row, once."""
        start_cursor(self.db, self.site.id, self.clock.now())

    def plan(self) -> int:
        """Route outbox rows past the cursor to deliveries; returns how many were made."""
        now = self.clock.now()
        made = 0
        with self.db.session() as s:
            cursor = s.get(NotificationCursor, self.site.id, with_for_update=True)
            if cursor is None:
                cursor = NotificationCursor(site_id=self.site.id, last_id=0, updated_at=now)
                s.add(cursor)
            mine = Notification.site_id == self.site.id
            top = s.scalar(
                select(func.max(Notification.id)).where(Notification.id > cursor.last_id, mine)
            )
            rows = []
            if top is not None:
                # never past an id another transaction may still commit (`outbox_horizon`)
                final = (
                    top if self.horizon is None else self.horizon.advance(s, cursor.last_id, top)
                )
                rows = list(
                    s.scalars(
                        select(Notification)
                        .where(Notification.id > cursor.last_id, Notification.id <= final, mine)
                        .order_by(Notification.id)
                        .limit(PLAN_BATCH)
                    )
                )
            for n in rows:
                made += self._route(s, n, now)
            if rows:
                cursor.last_id, cursor.updated_at = rows[-1].id, now
        self.stats.routed += made
        return made

    def _route(self, s: Session, n: Notification, now: datetime) -> int:
        subject = subject_of(s, self.site.spec, n)
        made = 0
        for cid, reach in resolve(self.site.spec, n, subject).items():
            setup = self.channels.get(cid)
            if setup is None:
                continue  # off: no secret yet, or disabled
            if isinstance(setup.channel, EmailChannel):
                msg = compose(n, self.site.spec, reach.people, duty_room=reach.duty_room)
                if not recipients(setup.channel, msg):
                    continue  # nobody here has a mailbox
            s.add(
                NotificationDelivery(
                    notification_id=n.id,
                    site_id=n.site_id,
                    channel_id=cid,
                    people=reach.people,
                    duty_room=reach.duty_room,
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            made += 1
            self._woken.add(cid)
        return made

    # --- sending ------------------------------------------------------------------------------

    def _claim(
        self, cid: str, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[int, Outgoing]]:
        spec = self.site.spec
        with self.db.session() as s:
            rows = s.execute(
                select(NotificationDelivery, Notification)
                .join(Notification, NotificationDelivery.notification_id == Notification.id)
                .where(
                    NotificationDelivery.site_id == self.site.id,
                    NotificationDelivery.channel_id == cid,
                    NotificationDelivery.state == "pending",
                    NotificationDelivery.next_attempt_at <= now,
                )
                .order_by(NotificationDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=NotificationDelivery)
            ).all()
            claimed = []
            for d, n in rows:
                d.next_attempt_at = now + lease  # another replica skips it while this one sends
                zone = subject_of(s, spec, n).zone
                msg = compose(n, spec, list(d.people), duty_room=d.duty_room, zone=zone)
                claimed.append((d.id, msg))
            return claimed

    async def deliver(self, cid: str) -> int:
        """Send the channel's due deliveries; returns how many went through.

        It claims only as many as it sends at once, so a lease (three timeouts) always covers
        the sends in flight and another replica never takes over one still being sent.
        """
        setup = self.channels[cid]
        lease = timedelta(seconds=setup.channel.timeout * 3)
        limit = setup.channel.concurrency
        sent = 0
        while True:
            now = self.clock.now()
            claimed = await asyncio.to_thread(self._claim, cid, now, lease, limit)
            results = await asyncio.gather(*(self._attempt(setup, d, m) for d, m in claimed))
            sent += sum(results)
            if len(claimed) < limit:
                return sent

    async def _attempt(self, setup: ChannelSetup, delivery_id: int, msg: Outgoing) -> bool:
        ok, detail, elapsed = await self._send(setup, msg)
        await asyncio.to_thread(self._record, delivery_id, ok, detail, elapsed)
        return ok

    async def _send(self, setup: ChannelSetup, msg: Outgoing) -> tuple[bool, str, float]:
        """Try once; the sender's own timeout applies, and this guard on top of it."""
        timeout = setup.channel.timeout
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(timeout + 1):
                detail = await setup.sender.send(msg)
            ok = True
        except SendFailed as exc:
            ok, detail = False, str(exc)
        except TimeoutError:
            ok, detail = False, f"no answer within {timeout:g} s"
        except Exception as exc:  # a sender's own bug: in the attempt log, retried like the rest
            log.exception("notification channel %s raised", setup.channel.id)
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        return ok, detail[:1000], (asyncio.get_running_loop().time() - started) * 1000

    def _record(self, delivery_id: int, ok: bool, detail: str, elapsed_ms: float) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            d = s.get(NotificationDelivery, delivery_id)
            if d is None:
                return
            s.add(
                NotificationAttempt(
                    delivery_id=d.id, at=now, ok=ok, detail=detail, elapsed_ms=elapsed_ms
                )
            )
            settle(d, ok=ok, error=None if ok else detail, now=now)
            if ok:
                self.stats.sent += 1
            else:
                self.stats.failed_attempts += 1
                if d.state == "failed":
                    self.stats.given_up += 1
                    log.warning(
                        "notification %s to channel %s failed %d times, giving up: %s",
                        d.notification_id,
                        d.channel_id,
                        d.attempts,
                        detail,
                    )

    async def route_new(self) -> int:
        """`plan` off the event loop, then wake the channels that got work."""
        made = await asyncio.to_thread(self.plan)
        woken, self._woken = self._woken, set()
        for cid in woken:
            self._wake[cid].set()
        return made

    async def run_once(self) -> int:
        """One pass: route, then send every channel's due deliveries side by side."""
        await self.route_new()
        sent = await asyncio.gather(*(self.deliver(cid) for cid in self.channels))
        return sum(sent)

    # --- loops --------------------------------------------------------------------------------

    async def _plan_loop(self) -> None:
        while True:
            try:
                await self.route_new()
            except Exception:  # counted and logged; the next pass tries again
                self.stats.errors += 1
                log.exception("notification routing pass failed")
            await asyncio.sleep(self.interval)

    async def _channel_loop(self, cid: str) -> None:
        wake = self._wake[cid]
        while True:
            wake.clear()
            try:
                await self.deliver(cid)
            except Exception:  # counted and logged; the next pass tries again
                self.stats.errors += 1
                log.exception("notification channel %s pass failed", cid)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancellation
            # that stops this loop when it races with the timeout
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await wake.wait()

    def health(self) -> dict[str, int]:
        return {
            "notifications_routed": self.stats.routed,
            "notifications_sent": self.stats.sent,
            "notification_failed_attempts": self.stats.failed_attempts,
            "notifications_given_up": self.stats.given_up,
            "notification_errors": self.stats.errors,
            "notification_channels_off": len(self.off),
        }
