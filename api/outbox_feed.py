"""One reader of the `notification` outbox per API process, fanned out to every live stream.

Each `GET /api/v1/stream` used to poll the outbox on its own; with hundreds of duty rooms that is
hundreds of queries a second doing the same read. The feed reads each new row once and hands it
to every subscriber whose scope admits it; a subscriber catches up from the database first (its
`Last-Event-ID` up to the feed's position) and then takes the feed, so the seam neither loses
nor repeats a row.

Woken on PostgreSQL by `LISTEN propwatch_outbox` (the writers NOTIFY in their transaction,
`maintenance.notifications`), whichever replica or service wrote the row; polling stays as the
fallback, and is the only path on SQLite.

Gap-free in id order. On PostgreSQL ids come from a sequence and transactions commit in any
order, so row 101 may be visible while 100 is still being written by another replica. The feed
never moves past a missing id until it is settled: filled by its commit, or known never to come
(every transaction that was running when the hole was seen has ended, `pg_xact_status`, as after
a rollback). A hole held longer than `MAX_HOLD_SECONDS` is given up and counted, so one stuck
transaction cannot stop every duty room's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from maintenance.db import Database
from maintenance.notifications import (
    OUTBOX_CHANNEL,
    Notification,
    NotificationView,
    notifications_after,
)
from maintenance.outbox_horizon import in_progress, running_xids

log = logging.getLogger(__name__)

BATCH = 500
QUEUE_LIMIT = 1000
"""Events one subscriber may have waiting; past it the client is too slow and is dropped (it
resumes with Last-Event-ID, from the database)."""
LISTENING_POLL_SECONDS = 5.0
"""While LISTEN works the poll is only a safety net."""
HOLE_RECHECK_SECONDS = 0.1
MIN_HOLE_AGE_SECONDS = 0.05
"""A hole is never settled sooner: covers an INSERT whose id is drawn an instant before its
transaction id exists."""
MAX_HOLD_SECONDS = 10.0
LINGER_SECONDS = 30.0
"""The feed stops this long after its last subscriber left (and starts again on the next)."""

Accepts = Callable[[NotificationView], bool]


class Subscription:
    """One stream's place on the feed: a bounded queue of rows its scope admits."""

    def __init__(self, feed: OutboxFeed, accepts: Accepts, start: int) -> None:
        self.feed = feed
        self.accepts = accepts
        self.start = start
        """The feed's position when this subscription began: every row after it is queued."""
        self.queue: deque[NotificationView] = deque()
        self.overflowed = False
        self._ready = asyncio.Event()

    def offer(self, row: NotificationView) -> bool:
        """Queue `row` if this scope admits it; a full queue ends the subscription instead."""
        if self.overflowed or not self.accepts(row):
            return False
        if len(self.queue) >= QUEUE_LIMIT:
            self.feed.counts["subscribers_dropped"] += 1
            self.end()
            return False
        self.queue.append(row)
        self._ready.set()
        return True

    def end(self) -> None:
        """No more rows will come (too slow, or the feed stopped): the stream ends cleanly and
        the client resumes from the database with Last-Event-ID."""
        self.overflowed = True
        self.queue.clear()
        self._ready.set()

    async def next(self, seconds: float) -> NotificationView | None:
        """The next queued row, or None after `seconds` with none or once ended."""
        if not self.queue and not self.overflowed:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):  # not wait_for: see `_sleep`
                    await self._ready.wait()
        if self.overflowed or not self.queue:
            return None
        return self.queue.popleft()

    def close(self) -> None:
        self.feed._leave(self)


@dataclass
class _Hole:
    """Ids from `start` that were missing while a later row was visible."""

    start: int
    seen: float
    xids: list[str]
    finished: bool = False


@dataclass
class OutboxFeed:
    db: Database
    poll_seconds: float = 0.5
    listen: bool = True
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "reads",
                "rows",
                "delivered",
                "wakeups",
                "subscribers_dropped",
                "holes_waited",
                "holes_given_up",
                "listen_failures",
            ),
            0,
        )
    )
    position: int = 0
    """Every row with an id up to here has been handed out (or will never exist)."""
    _subscribers: set[Subscription] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event | None = None
    _wake: asyncio.Event | None = None
    _hole: _Hole | None = None
    _listening: bool = False
    _sessions: sessionmaker[Session] | None = None

    @property
    def postgres(self) -> bool:
        return self.db.url.startswith("postgresql")

    @property
    def listening(self) -> bool:
        """Whether LISTEN is up (else the feed polls every `poll_seconds`)."""
        return self._listening

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def subscribe(self, accepts: Accepts) -> Subscription:
        """Join the feed (starting it if it sleeps); rows after `.start` arrive in the queue."""
        if self._task is None or self._task.done():
            self._ready, self._wake = asyncio.Event(), asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="outbox-feed")
        assert self._ready is not None
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            self._task.result()  # the feed failed to start: raise its error here
        sub = Subscription(self, accepts, self.position)
        self._subscribers.add(sub)
        return sub

    def _leave(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- the reader ---------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._ready is not None and self._wake is not None
        listener = asyncio.create_task(self._listen()) if self.postgres and self.listen else None
        try:
            self.position = await asyncio.to_thread(self._start_position)
            self._hole = None
            self._ready.set()
            idle_since: float | None = None
            while True:
                rows, more = await asyncio.to_thread(self._read)
                self._fan_out(rows)
                if more:
                    continue
                if self._subscribers:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > LINGER_SECONDS:
                    return
                await self._sleep()
        except Exception:
            log.exception("outbox feed stopped; its streams end and resume on reconnect")
            raise
        finally:
            for sub in list(self._subscribers):
                sub.end()
            self._subscribers.clear()
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            self._ready.clear()

    async def _sleep(self) -> None:
        assert self._wake is not None
        if self._hole is not None:
            wait = HOLE_RECHECK_SECONDS
        elif self._listening:
            wait = LISTENING_POLL_SECONDS
        else:
            wait = self.poll_seconds
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
        # arrives as the event is set (a NOTIFY as the feed is closed), and the feed ran on
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._wake.wait()
        self._wake.clear()

    def _fan_out(self, rows: list[NotificationView]) -> None:
        for row in rows:
            self.position = row.id
            for sub in list(self._subscribers):
                if sub.offer(row):
                    self.counts["delivered"] += 1
                elif sub.overflowed:
                    self._subscribers.discard(sub)
        self.counts["rows"] += len(rows)

    async def _listen(self) -> None:
        """LISTEN on a connection of its own, setting the wake event on each NOTIFY; on a lost
        connection the feed polls at its ordinary pace until LISTEN works again."""
        import psycopg

        assert self._wake is not None
        dsn = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self._listening = True
                    self._wake.set()  # read once: rows may have come before LISTEN took hold
                    async for _ in conn.notifies():
                        self.counts["wakeups"] += 1
                        self._wake.set()
            except psycopg.Error as exc:
                self.counts["listen_failures"] += 1
                log.warning("outbox LISTEN lost, polling every %.1f s: %s", self.poll_seconds, exc)
            finally:
                self._listening = False
            await asyncio.sleep(max(self.poll_seconds, 1.0))

    def _session(self) -> Session:
        if self._sessions is None:
            self._sessions = sessionmaker(self.db.reader, expire_on_commit=False)
        return self._sessions()

    def _start_position(self) -> int:
        """The newest id, once every transaction that might still commit a lower one is over."""
        with self._session() as s:
            newest = s.scalar(select(func.max(Notification.id))) or 0
            if not self.postgres:
                return newest
            xids = running_xids(s)
            deadline = time.monotonic() + MAX_HOLD_SECONDS
            while xids and time.monotonic() < deadline:
                s.rollback()  # a fresh snapshot per look
                xids = [x for x in xids if in_progress(s, [x])]
                if xids:
                    time.sleep(HOLE_RECHECK_SECONDS)
            return newest

    def _read(self) -> tuple[list[NotificationView], bool]:
        """The next settled rows after `position`, and whether more may be waiting."""
        hole = self._hole
        with self._session() as s:
            if hole is not None and self.postgres:
                # before reading the rows: a transaction that ends after this look is seen
                # by the read below
                hole.finished = not in_progress(s, hole.xids)
            rows = notifications_after(s, self.position, limit=BATCH)
            self.counts["reads"] += 1
            out: list[NotificationView] = []
            expected = self.position + 1
            for row in rows:
                if row.id != expected and self.postgres and not self._settled(expected, s):
                    break
                if self._hole is not None and row.id >= self._hole.start:
                    self._hole = None
                out.append(row)
                expected = row.id + 1
        return out, len(rows) == BATCH and len(out) == len(rows)

    def _settled(self, start: int, s: Session) -> bool:
        """Whether the missing ids from `start` may be passed over now."""
        hole, now = self._hole, time.monotonic()
        if hole is None or hole.start != start:
            self._hole = _Hole(start, now, running_xids(s))
            self.counts["holes_waited"] += 1
            return False
        if hole.finished and now - hole.seen >= MIN_HOLE_AGE_SECONDS:
            return True
        if now - hole.seen > MAX_HOLD_SECONDS:
            self.counts["holes_given_up"] += 1
            log.warning("outbox id %d missing for %.0f s; streams move on", start, now - hole.seen)
            return True
        return False
