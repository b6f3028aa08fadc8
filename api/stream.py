"""`GET /api/v1/stream`: server-sent events of alarm and work-order changes.

The events are the rows of the `notification` outbox, which the maintenance core writes in the
same transaction as each change; its `id` only grows, so it is the SSE event id. A client that
reconnects with `Last-Event-ID` (or `?after=`) gets every row after it, in order, then live ones:
nothing is lost while it was away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from api.auth import ApiRole, Principal
from api.deps import AppContext, Ctx, Reader
from api.problems import PROBLEM_RESPONSES
from maintenance.notifications import Notification, NotificationView, notifications_after

router = APIRouter(prefix="/api/v1", tags=["stream"], responses=PROBLEM_RESPONSES)

KEEPALIVE_SECONDS = 15.0
BATCH = 200


def _frame(n: NotificationView) -> bytes:
    data = json.dumps(n.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return f"id: {n.id}\nevent: {n.topic}\ndata: {data}\n\n".encode()


def _batch(ctx: AppContext, caller: Principal, after: int) -> list[NotificationView]:
    """The next rows this caller may see; a technician sees only what is addressed to them."""
    person = (caller.person or "") if caller.role is ApiRole.TECHNICIAN else None
    with ctx.read_session()() as s:
        return notifications_after(
            s, after, site_ids=caller.site_filter(), recipient=person, limit=BATCH
        )


def _newest_id(ctx: AppContext) -> int:
    """Where a page that has just loaded its data starts listening: after the newest event."""
    with ctx.read_session()() as s:
        return s.scalar(select(func.max(Notification.id))) or 0


async def events(
    ctx: AppContext, caller: Principal, after: int, request: Request
) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    idle = 0.0
    while not await request.is_disconnected():
        rows = await asyncio.to_thread(_batch, ctx, caller, after)
        for n in rows:
            after = n.id
            yield _frame(n)
        if rows:
            idle = 0.0
            if len(rows) == BATCH:
                continue
        await asyncio.sleep(ctx.stream_poll_seconds)
        idle += ctx.stream_poll_seconds
        if idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield b": keepalive\n\n"


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
    start = after if after is not None else 0
    if last_event_id is not None and last_event_id.strip().isdigit():
        start = max(start, int(last_event_id.strip()))
    elif after is None and tail:
        start = await asyncio.to_thread(_newest_id, ctx)
    return StreamingResponse(
        events(ctx, caller, start, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
