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
within the pool timeout (a SQLite writer: within the lock's busy timeout, as it would have waited
for the lock itself) is answered 503 with `Retry-After` instead of queueing without end.

Requests are admitted in arrival order; work already under way (releasing the key of a request
that failed) goes before new requests, housekeeping after. A keyed POST is admitted once, when
it claims its key, and keeps its permit through its route to the storing of its answer, so a
burst finishes what it started instead of leaving half-done requests waiting behind new ones.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM, RETRY_AFTER_SECONDS
from maintenance.db import SQLITE_BUSY_TIMEOUT, Database

T = TypeVar("T")

READING = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_LIMIT = 16 * 1024 * 1024
"""A write's body is read before it is admitted (a slow upload holds no permit); past this, 413."""
SPARE_THREADS = 10
UNDER_WAY_TIMEOUT = 30.0
"""How long work under way may wait for a permit (SQLite's own busy timeout)."""

UNDER_WAY, NEW, BACKGROUND = 0, 1, 2
"""Priorities: the rest of a request already started, a new request, housekeeping."""
ADMITTED_SCOPE = "propwatch.admitted"
"""Set in a request's scope by a middleware that holds the request's permit already."""


class DatabaseBusy(Exception):
    """No permit within the timeout: every connection (or SQLite's writer) is taken."""


class Gate:
    """A semaphore whose waiters are served by priority, then in arrival order."""

    def __init__(self, permits: int) -> None:
        self.free = permits
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (priority, next(self._order), handed)
        heapq.heappush(self._waiting, entry)
        try:
            await handed
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self.release()  # handed over just as the waiter gave up: pass it on
            elif entry in self._waiting:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def release(self) -> None:
        """Hand the permit to the first waiter, or keep it free."""
        while self._waiting:
            _, _, handed = heapq.heappop(self._waiting)
            if not handed.done():
                handed.set_result(None)
                return
        self.free += 1


@dataclass
class Admission:
    """Permits to use the database: a read takes one of `reads`; a write one of `writes` and, on
    PostgreSQL, one of `reads` as well (one pool serves both there, and writes may not take its
    last `reserve` connections, so writes stuck behind a lock never starve the readers)."""

    reads: Gate
    writes: Gate
    writes_take_a_read: bool
    permits: int
    timeout: float
    write_timeout: float
    counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def for_database(cls, db: Database) -> Admission:
        capacity = db.pool.size + db.pool.max_overflow
        timeout = db.pool.timeout
        if db.url.startswith("sqlite:"):
            # WAL: readers on their own engine beside the one writer the lock admits; writers
            # queue as long as they would on the lock itself (its busy timeout)
            write_timeout = max(timeout, SQLITE_BUSY_TIMEOUT)
            return cls(Gate(capacity), Gate(1), False, capacity + 1, timeout, write_timeout)
        writers = capacity - max(1, capacity // 4) if capacity > 1 else 1
        return cls(Gate(capacity), Gate(writers), True, capacity, timeout, timeout)

    def _enough_threads(self) -> None:
        """The thread pool (one per event loop) stays larger than the permits."""
        limiter = anyio.to_thread.current_default_thread_limiter()
        if limiter.total_tokens < self.permits + SPARE_THREADS:
            limiter.total_tokens = self.permits + SPARE_THREADS

    async def acquire(self, write: bool, priority: int = NEW) -> Callable[[], None]:
        """A permit (raises `DatabaseBusy` after the timeout); returns its release, which may be
        called more than once."""
        self._enough_threads()
        gates = [self.writes, self.reads] if write and self.writes_take_a_read else []
        gates = gates or [self.writes if write else self.reads]
        taken: list[Gate] = []
        timeout = self.write_timeout if write else self.timeout
        if priority == UNDER_WAY:
            timeout = max(timeout, UNDER_WAY_TIMEOUT)
        try:
            async with asyncio.timeout(timeout):
                for gate in gates:
                    await gate.acquire(priority)
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

    async def run(self, write: bool, priority: int, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in a worker thread once admitted (raises `DatabaseBusy`)."""
        release = await self.acquire(write, priority)
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
        if scope["type"] != "http" or scope.get(ADMITTED_SCOPE):
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
