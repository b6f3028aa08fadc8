"""接入控制 (admission): a request waits for the database on the event loop, never in a thread.

A synchronous route runs in the thread pool, and its transaction stays open from its first query
to its commit, across another trip to the pool (FastAPI validates the answer there). If every
thread of the pool waits for a connection, or for SQLite's write lock, while the request holding
that connection or lock waits for a thread to finish, nothing moves until a timeout: the freeze
and the `database is locked` 500s seen under ten keyed POSTs at once, and the exhausted
PostgreSQL pool at 500 requests/s.

So a request takes a permit before it touches the database, and the permits are what the
database can serve at once: one writer on SQLite (its lock admits one), the pool's connections
for its readers; on PostgreSQL the pool's connections for all. Threads then never wait for one
another, and the thread pool is kept larger than the permits. A request that finds no permit
within the pool timeout is answered 503 with `Retry-After` instead of queueing without end.
Requests are admitted in arrival order.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM, RETRY_AFTER_SECONDS
from maintenance.db import Database

T = TypeVar("T")

READING = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_LIMIT = 16 * 1024 * 1024
"""A write's body is read before it is admitted (a slow upload holds no permit); past this, 413."""
SPARE_THREADS = 10


class DatabaseBusy(Exception):
    """No permit within the timeout: every connection (or SQLite's writer) is taken."""


@dataclass
class Admission:
    """Permits to use the database: a read takes one of `reads`; a write one of `writes` and, on
    PostgreSQL, one of `reads` as well (one pool serves both there, and writes may not take its
    last `reserve` connections, so writes stuck behind a lock never starve the readers)."""

    reads: asyncio.Semaphore
    writes: asyncio.Semaphore
    writes_take_a_read: bool
    permits: int
    timeout: float
    counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def for_database(cls, db: Database) -> Admission:
        capacity = db.pool.size + db.pool.max_overflow
        if db.url.startswith("sqlite:"):
            # WAL: readers on their own engine beside the one writer the lock admits
            return cls(
                asyncio.Semaphore(capacity),
                asyncio.Semaphore(1),
                False,
                capacity + 1,
                db.pool.timeout,
            )
        writers = capacity - max(1, capacity // 4) if capacity > 1 else 1
        return cls(
            asyncio.Semaphore(capacity), asyncio.Semaphore(writers), True, capacity, db.pool.timeout
        )

    def _enough_threads(self) -> None:
        """The thread pool (one per event loop) stays larger than the permits."""
        limiter = anyio.to_thread.current_default_thread_limiter()
        if limiter.total_tokens < self.permits + SPARE_THREADS:
            limiter.total_tokens = self.permits + SPARE_THREADS

    async def acquire(self, write: bool) -> Callable[[], None]:
        """A permit (raises `DatabaseBusy` after the timeout); returns its release, which may be
        called more than once."""
        self._enough_threads()
        gates = [self.writes, self.reads] if write and self.writes_take_a_read else []
        gates = gates or [self.writes if write else self.reads]
        taken: list[asyncio.Semaphore] = []
        try:
            async with asyncio.timeout(self.timeout):
                for gate in gates:
                    await gate.acquire()
                    taken.append(gate)
        except TimeoutError:
            for gate in taken:
                gate.release()
            self.counts["refused_write" if write else "refused_read"] += 1
            raise DatabaseBusy from None

        def release() -> None:
            while taken:
                taken.pop().release()

        return release

    async def run(self, write: bool, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in a worker thread once admitted (raises `DatabaseBusy`)."""
        release = await self.acquire(write)
        try:
            return await run_in_threadpool(work, *args)
        finally:
            release()


def busy_answer() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "服务繁忙 (service unavailable)",
            "status": 503,
            "detail": "数据库繁忙，请稍后重试 (database busy, retry later)",
            "code": "database_busy",
        },
        ensure_ascii=False,
    ).encode()
    headers = [
        (b"content-type", PROBLEM.encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    return 503, headers, body


async def send_answer(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AdmissionMiddleware:
    """Each request holds a permit from admission until its answer starts (its transaction has
    committed by then: the session dependency is scoped to the route function)."""

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app, self.admission = app, admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        write = scope["method"] not in READING
        if write:
            body = await read_body(receive, BODY_LIMIT)
            if body is None:
                await send_answer(send, *too_large())
                return
            receive = replay(body, receive)
        try:
            release = await self.admission.acquire(write)
        except DatabaseBusy:
            await send_answer(send, *busy_answer())
            return

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()  # committed; a slow client or a long stream holds no permit
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            release()


def too_large() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "内容过大 (content too large)",
            "status": 413,
            "detail": f"请求体超过 {BODY_LIMIT // (1024 * 1024)} MB (body too large)",
            "code": "body_too_large",
        },
        ensure_ascii=False,
    ).encode()
    return (
        413,
        [
            (b"content-type", PROBLEM.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        body,
    )


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body; None past `limit`. A client gone before the end leaves what came, and
    the route finds the body short, as it would have without this buffer."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body over once, then listens to the client again."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
