"""`GET /api/v1/stream`: server-sent events of alarm and work-order changes.

The events are the rows of the `notification` outbox, which the maintenance core writes in the
same transaction as each change; its `id` only grows, so it is the SSE event id. A client that
reconnects with `Last-Event-ID` (or `?after=`) gets every row after it, in order, then live ones:
nothing is lost while it was away, whichever API replica it reaches.

Live rows come from the process's one outbox feed (`api.outbox_feed`), never from a query per
client: a stream first reads its backlog from the database up to the feed's position, then
takes the feed from there. A client too slow to keep up (its queue full) gets a clean end of
stream and reconnects with its Last-Event-ID, catching up from the database.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import ApiRole, Principal
from api.deps import AppContext, Ctx, Reader
from api.outbox_feed import OutboxFeed
from api.problems import PROBLEM_RESPONSES
from api.scopes import COMPANY, regions_of, resolve
from maintenance.notifications import NotificationView, notifications_after

router = APIRouter(prefix="/api/v1", tags=["stream"], responses=PROBLEM_RESPONSES)

KEEPALIVE_SECONDS = 15.0
BATCH = 200


def _frame(n: NotificationView) -> bytes:
    data = json.dumps(n.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return f"id: {n.id}\nevent: {n.topic}\ndata: {data}\n\n".encode()


def _recipient(caller: Principal) -> str | None:
    """A technician sees only what is addressed to them; other roles see their sites' rows."""
    return (caller.person or "") if caller.role is ApiRole.TECHNICIAN else None


class StreamScope:
    """What an open stream's caller may see. A region token's sites are resolved again whenever
    the served sites or the organisation change (a rescan hands the API a new snapshot), so a
    property added to the region shows on a stream already open, and one moved out of it stops
    showing, as on the caller's next request."""

    def __init__(self, ctx: AppContext, caller: Principal) -> None:
        self.ctx, self.caller = ctx, caller
        self.person = _recipient(caller)
        self._follows = bool(regions_of(caller.scopes)) and COMPANY not in caller.scopes
        self._seen: tuple[object, object] = (ctx.sites, ctx.organisation)
        self._allowed = self._sites_of(caller)

    @staticmethod
    def _sites_of(principal: Principal) -> frozenset[str] | None:
        sites = principal.site_filter()
        return None if sites is None else frozenset(sites)

    def allowed(self) -> frozenset[str] | None:
        """The sites now (None: every site)."""
        if self._follows:
            now = (self.ctx.sites, self.ctx.organisation)
            if now[0] is not self._seen[0] or now[1] is not self._seen[1]:
                self._seen = now
                current = resolve(self.caller, self.ctx.organisation, self.ctx.sites)
                self._allowed = self._sites_of(current)
        return self._allowed

    def accepts(self, n: NotificationView) -> bool:
        allowed = self.allowed()
        return (allowed is None or n.site_id in allowed) and (
            self.person is None or n.recipient == self.person
        )

    def batch(self, after: int) -> list[NotificationView]:
        """The next rows after `after` the caller may see, from the database (the backlog).
        Blocking."""
        allowed = self.allowed()
        with self.ctx.read_session()() as s:
            return notifications_after(
                s,
                after,
                site_ids=None if allowed is None else sorted(allowed),
                recipient=self.person,
                limit=BATCH,
            )


def outbox_feed(request: Request, ctx: AppContext) -> OutboxFeed:
    """This process's feed, made on first use (one per event loop: tests serve an app twice)."""
    state = request.app.state
    loop = asyncio.get_running_loop()
    feed: OutboxFeed | None = getattr(state, "outbox_feed", None)
    if feed is None or getattr(state, "outbox_feed_loop", None) is not loop:
        feed = OutboxFeed(ctx.db, poll_seconds=ctx.stream_poll_seconds)
        state.outbox_feed, state.outbox_feed_loop = feed, loop
        ctx.health["stream"] = lambda: _feed_health(feed)
    return feed


def _feed_health(feed: OutboxFeed) -> dict[str, Any]:
    return {
        "subscribers": feed.subscribers,
        "position": feed.position,
        "listening": feed.listening,
        **feed.counts,
    }


async def events(
    ctx: AppContext,
    caller: Principal,
    after: int | None,
    feed: OutboxFeed,
) -> AsyncIterator[bytes]:
    """Backlog from the database up to the feed's position, then the feed; `after=None` starts
    at the feed's position (only what happens from now on)."""
    yield b"retry: 2000\n\n"
    scope = StreamScope(ctx, caller)
    while True:  # until the backlog is read without the subscription overflowing meanwhile
        sub = await feed.subscribe(scope.accepts)
        try:
            cursor = sub.start if after is None else after
            while cursor < sub.start and not sub.overflowed:
                rows = await asyncio.to_thread(scope.batch, cursor)
                for n in rows:
                    if n.id > sub.start:
                        break
                    cursor = n.id
                    yield _frame(n)
                else:
                    if len(rows) == BATCH:
                        continue
                cursor = max(cursor, sub.start)
            if sub.overflowed:
                after = cursor
                continue
            while True:
                live = await sub.next(KEEPALIVE_SECONDS)
                if live is None:
                    if sub.overflowed:
                        yield b": too slow, resume with Last-Event-ID\n\n"
                        return
                    yield b": keepalive\n\n"
                elif live.id > cursor:
                    cursor = live.id
                    yield _frame(live)
        finally:
            sub.close()


@router.get(
    "/stream",
    summary="实时事件流 (SSE); reconnect with Last-Event-ID to resume without gaps",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}},
)
async def stream(
    request: Request,
    ctx: Ctx,
    caller: Reader,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**62, description="resume after this event id")
    ] = None,
    tail: Annotated[
        bool, Query(description="without `after`/`Last-Event-ID`: only events from now on")
    ] = False,
) -> StreamingResponse:
    start: int | None = after if after is not None else 0
    if last_event_id is not None and last_event_id.strip().isdigit():
        start = max(after or 0, int(last_event_id.strip()))
    elif after is None and tail:
        start = None
    return StreamingResponse(
        events(ctx, caller, start, outbox_feed(request, ctx)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
