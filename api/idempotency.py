"""`Idempotency-Key` on POSTs (幂等键), the way the payment APIs keep it.

A key is claimed before the work: a unique row per caller and key, inserted and committed
first, so of two requests sent at once with the same key exactly one runs; the other is told
`409 idempotency_key_in_use` with `Retry-After`. The claim holds the key for `LEASE`; the
request's own transaction marks it `applied` (`mark_applied`, called by the session dependency
just before its commit), and then its answer is stored and replayed to every repeat for `KEEP`
(24 h), after which the key is pruned and may be used again.

- The same key with another method, path, query or body is refused with 422
  (`idempotency_key_reused`): a repeat must be the same request.
- Answers of 5xx, 401, 403 and 429 release the key (unless the work was already applied), so a
  retry after a failure really retries.
- An answer that carries a secret (`token`, `secret`: a new access token, a webhook's signing
  secret) is stored without it, and a repeat gets `409 idempotency_secret_withheld` with the
  redacted answer instead of a copy of the secret: only the first answer ever shows a secret.
- A request whose process died before it applied its work leaves a claim that a repeat takes
  over once the lease has passed; one that died after applying it but before its answer was
  stored leaves `409 idempotency_answer_lost` (look the result up; do not retry).
- A request that outlives its lease and finds its claim taken over is rolled back: the lease is
  a fence, so even then the work happens once.

Every database call here runs in a worker thread: nothing waits on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.admission import (
    ADMITTED_SCOPE,
    BACKGROUND,
    BODY_LIMIT,
    NEW,
    UNDER_WAY,
    Admission,
    DatabaseBusy,
    read_body,
    replay,
    send_answer,
    too_large,
)
from api.models import IdempotencyRecord
from api.problems import PROBLEM, RETRY_AFTER_SECONDS, ApiProblem
from maintenance.db import Database
from propwatch.clock import Clock

log = logging.getLogger("propwatch.api.idempotency")

T = TypeVar("T")


class Runner(Protocol):
    """Runs a database call off the event loop: `await run(work, *args)`."""

    def __call__(self, work: Callable[..., T], /, *args: Any) -> Awaitable[T]: ...


HEADER = b"idempotency-key"
REPLAYED = "Idempotent-Replayed"
KEPT_HEADERS = ("content-type", "location", "etag")
SECRET_FIELDS = ("token", "secret")
"""Fields of an answer that are shown once and never stored."""

LEASE = timedelta(seconds=60)
"""How long a claim holds its key; longer than any request may run (busy waits included)."""
KEEP = timedelta(hours=24)
PRUNE_EVERY = timedelta(minutes=1)
PRUNE_BATCH = 2000
RELEASE_ATTEMPTS = 5

CLAIM_SCOPE = "propwatch.idempotency_claim"
"""Where the middleware leaves the claim's id for the request's session (`mark_applied`)."""

CLAIMED, APPLIED, DONE, WITHHELD = "claimed", "applied", "done", "withheld"


@dataclass(frozen=True)
class Claimed:
    id: int


@dataclass(frozen=True)
class Answer:
    """What to send instead of running the request: a replay or a refusal."""

    status: int
    body: bytes
    headers: dict[str, str]


def _problem_answer(
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Answer:
    titles = {
        409: "冲突 (conflict)",
        422: "请求内容无效 (unprocessable content)",
        503: "服务繁忙 (service unavailable)",
    }
    body = {
        "type": "about:blank",
        "title": titles.get(status, "错误 (error)"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    raw = json.dumps(body, ensure_ascii=False).encode()
    return Answer(status, raw, {"content-type": PROBLEM, **(headers or {})})


def in_use() -> Answer:
    return _problem_answer(
        409,
        "idempotency_key_in_use",
        "同一 Idempotency-Key 的请求正在处理，请稍后重试 (a request with this key is in progress)",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def database_busy() -> Answer:
    return _problem_answer(
        503,
        "database_busy",
        "数据库繁忙，请稍后重试 (database busy, retry later)",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def actor_of(authorization: bytes) -> str:
    """Keys are the caller's own: scoped by the `Authorization` header (hashed)."""
    return hashlib.sha256(authorization).hexdigest()


def request_digest(path: str, query: bytes, body: bytes) -> str:
    """What a repeat must match: path, query string and body of the POST."""
    return hashlib.sha256(b"\0".join((b"POST", path.encode(), query, body))).hexdigest()


def mark_applied(session: Session, claim_id: int) -> None:
    """In the request's own transaction: its work and the claim's `applied` commit together.

    A claim no longer `claimed` was taken over after its lease; the work is refused (the
    transaction rolls back), since the request that took it over does it instead."""
    done = session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == claim_id, IdempotencyRecord.state == CLAIMED)
        .values(state=APPLIED)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise ApiProblem(
            409,
            "同一 Idempotency-Key 的请求已由重试接手 (this key's request was taken over)",
            code="idempotency_key_in_use",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


def _redacted(body: bytes, content_type: str) -> bytes | None:
    """The answer without its secrets, or None when it carries none."""
    if not content_type.startswith("application/json"):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or not any(value.get(f) is not None for f in SECRET_FIELDS):
        return None
    kept = {k: (None if k in SECRET_FIELDS else v) for k, v in value.items()}
    return json.dumps(kept, ensure_ascii=False).encode()


@dataclass
class IdempotencyKeys:
    """The keys in the database: each method one short transaction for a worker thread, which
    `claim` composes through the runners it is given."""

    db: Database
    clock: Clock
    counts: Counter[str] = field(default_factory=Counter)
    _next_prune: datetime | None = None
    pruning: bool = False  # a prune is running (one at a time)

    def find(self, actor: str, key: str) -> IdempotencyRecord | None:
        with Session(self.db.reader, expire_on_commit=False) as s:
            return s.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.actor == actor, IdempotencyRecord.key == key
                )
            )

    async def claim(
        self, actor: str, key: str, path: str, digest: str, read: Runner, write: Runner
    ) -> Claimed | Answer:
        """Claim `key` for this request, or the answer a repeat gets instead. `read` and
        `write` run a database call (in a worker thread, once admitted)."""
        row = await read(self.find, actor, key)
        for _ in range(3):
            now = self.clock.now()
            live = row is not None and (row.expires_at or row.created_at + KEEP) > now
            if row is not None and live:
                outcome = self._answer(row, digest, now)
                if outcome is not None:
                    return outcome
            claimed = await write(self.insert, actor, key, path, digest, now, row)
            if claimed is not None:
                self.counts["claimed"] += 1
                return claimed
            row = await read(self.find, actor, key)  # a twin claimed it between read and write
        self.counts["in_use"] += 1
        return in_use()

    def _answer(self, row: IdempotencyRecord, digest: str, now: datetime) -> Answer | None:
        """What a repeat of a live key gets; None when its claim may be taken over."""
        if row.request_hash != digest:
            self.counts["reused"] += 1
            return _problem_answer(
                422,
                "idempotency_key_reused",
                "同一 Idempotency-Key 用于不同请求 (key reused with another request)",
            )
        if row.state == DONE:
            self.counts["replayed"] += 1
            return Answer(
                row.status_code or 200,
                (row.body or "").encode(),
                {**row.headers, REPLAYED: "true"},
            )
        if row.state == WITHHELD:
            self.counts["withheld"] += 1
            location = {"Location": row.headers["location"]} if "location" in row.headers else {}
            return _problem_answer(
                409,
                "idempotency_secret_withheld",
                "该请求已完成；令牌和密钥只在首次应答中给出，重复请求不再返回。如未收到，请轮换"
                " (done; the secret was shown only in the first answer: rotate it if lost)",
                {REPLAYED: "true", **location},
                answer=json.loads(row.body or "null"),
                answer_status=row.status_code,
            )
        if row.locked_until is not None and row.locked_until > now:
            self.counts["in_use"] += 1
            return in_use()
        if row.state == APPLIED:
            self.counts["answer_lost"] += 1
            return _problem_answer(
                409,
                "idempotency_answer_lost",
                "该请求已执行，但应答未能保存；请查询结果，不要重试"
                " (the request was applied but its answer was lost: look the result up)",
            )
        return None  # claimed, lease passed: the first request died before its work

    def insert(
        self,
        actor: str,
        key: str,
        path: str,
        digest: str,
        now: datetime,
        replacing: IdempotencyRecord | None,
    ) -> Claimed | None:
        """The claim's row, committed; None if a twin's row is there (or `replacing` changed)."""
        try:
            with self.db.bookkeeping_session() as s:
                if replacing is not None:
                    # an expired key, or a claim whose lease passed: only if it is still so
                    gone = s.execute(
                        delete(IdempotencyRecord)
                        .where(
                            IdempotencyRecord.id == replacing.id,
                            IdempotencyRecord.state == replacing.state,
                        )
                        .execution_options(synchronize_session=False)
                    )
                    if getattr(gone, "rowcount", 0) != 1:
                        return None
                rec = IdempotencyRecord(
                    actor=actor,
                    key=key,
                    method="POST",
                    path=path[:300],
                    request_hash=digest,
                    state=CLAIMED,
                    locked_until=now + LEASE,
                    status_code=None,
                    body=None,
                    headers={},
                    created_at=now,
                    expires_at=now + KEEP,
                )
                s.add(rec)
                s.flush()
                return Claimed(rec.id)
        except IntegrityError:
            return None

    def finish(self, claim_id: int, status: int, body: bytes, headers: dict[str, str]) -> None:
        """Store the answer of a claimed request, or release the key after a failure."""
        if status >= 500 or status in (401, 403, 429):
            with self.db.bookkeeping_session() as s:
                gone = s.execute(
                    delete(IdempotencyRecord)
                    .where(IdempotencyRecord.id == claim_id, IdempotencyRecord.state == CLAIMED)
                    .execution_options(synchronize_session=False)
                )
            if getattr(gone, "rowcount", 0) == 1:
                self.counts["released"] += 1
                return
            # the work was applied before the failure: the answer is the record
        kept = {k: v for k, v in headers.items() if k in KEPT_HEADERS}
        redacted = _redacted(body, kept.get("content-type", ""))
        state, stored = (DONE, body) if redacted is None else (WITHHELD, redacted)
        with self.db.bookkeeping_session() as s:
            s.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.id == claim_id,
                    IdempotencyRecord.state.in_((CLAIMED, APPLIED)),
                )
                .values(
                    state=state,
                    status_code=status,
                    body=stored.decode("utf-8", "replace"),
                    headers=kept,
                    locked_until=None,
                )
                .execution_options(synchronize_session=False)
            )
        self.counts["stored"] += 1

    def release(self, claim_id: int) -> None:
        """Let the key go: its request ended before it had an answer (only if not applied)."""
        with self.db.bookkeeping_session() as s:
            s.execute(
                delete(IdempotencyRecord)
                .where(IdempotencyRecord.id == claim_id, IdempotencyRecord.state == CLAIMED)
                .execution_options(synchronize_session=False)
            )
        self.counts["released"] += 1

    def prune_due(self) -> bool:
        """Whether a prune is due (at most one every `PRUNE_EVERY`); claims it if so."""
        now = self.clock.now()
        if self._next_prune is not None and now < self._next_prune:
            return False
        self._next_prune = now + PRUNE_EVERY
        return True

    def prune_batch(self) -> int:
        """Delete up to `PRUNE_BATCH` keys older than `KEEP` (a short write transaction)."""
        now = self.clock.now()
        expired = or_(
            IdempotencyRecord.expires_at <= now,
            and_(
                IdempotencyRecord.expires_at.is_(None),
                IdempotencyRecord.created_at <= now - KEEP,
            ),
        )
        with self.db.bookkeeping_session() as s:
            ids = list(s.scalars(select(IdempotencyRecord.id).where(expired).limit(PRUNE_BATCH)))
            if ids:
                s.execute(
                    delete(IdempotencyRecord)
                    .where(IdempotencyRecord.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
        self.counts["pruned"] += len(ids)
        return len(ids)


class IdempotencyMiddleware:
    """Claims the key of a keyed POST, runs it, stores its answer; replays or refuses repeats.

    Its own database calls wait for a permit like any request (`api.admission`): a replay only
    reads, so on SQLite it never queues behind the writer."""

    def __init__(self, app: ASGIApp, keys: IdempotencyKeys, admission: Admission) -> None:
        self.app, self.keys, self.admission = app, keys, admission
        self._background: set[asyncio.Task[None]] = set()

    async def _read(self, work: Callable[..., T], *args: Any) -> T:
        return await self.admission.run(False, NEW, work, *args)

    async def _settle(self, work: Callable[..., T], *args: Any) -> T:
        """A write for a request under way: admitted before new requests."""
        return await self.admission.run(True, UNDER_WAY, work, *args)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        auth = headers.get(b"authorization")
        if raw_key is None or auth is None:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(raw_key) <= 200:
            await _send(
                send,
                _problem_answer(
                    422, "idempotency_key", "Idempotency-Key 长度须为 1–200 (key length 1-200)"
                ),
            )
            return
        body = await read_body(receive, BODY_LIMIT)
        if body is None:
            await send_answer(send, *too_large())
            return
        path = scope["path"]
        digest = request_digest(path, scope.get("query_string", b""), body)
        held: list[Callable[[], None]] = []

        async def claim_and_hold(work: Callable[..., T], *args: Any) -> T:
            # a claimed key keeps the write permit through the route to its stored answer
            release = await self.admission.acquire(True, NEW)
            try:
                result = await run_in_threadpool(work, *args)
            except BaseException:
                release()
                raise
            if isinstance(result, Claimed):
                held.append(release)
            else:
                release()
            return result

        try:
            outcome = await self.keys.claim(
                actor_of(auth), raw_key.decode("latin-1"), path, digest, self._read, claim_and_hold
            )
        except (SQLAlchemyError, DatabaseBusy) as exc:
            self.keys.counts["database_busy"] += 1
            log.warning("idempotency key not claimed: %s", _reason(exc))
            await _send(send, database_busy())
            return
        if isinstance(outcome, Answer):
            await _send(send, outcome)
            return
        try:
            answer = await self._run_claimed(outcome, scope, replay(body, receive))
        finally:
            held[0]()  # before the answer goes out: a slow client holds no permit
        for message in answer:
            await send(message)
        if self.keys.prune_due():
            self._spawn(self._prune())

    async def _run_claimed(self, claim: Claimed, scope: Scope, receive: Receive) -> list[Message]:
        """The request, and its answer stored before the client sees it (returned to be sent):
        a repeat sent the moment the first answer arrives gets its replay, not
        `idempotency_key_in_use`."""
        held: list[Message] = []

        async def capture(message: Message) -> None:
            held.append(message)

        scope[CLAIM_SCOPE] = claim.id
        scope[ADMITTED_SCOPE] = True
        try:
            await self.app(scope, receive, capture)
        except BaseException:
            self._spawn(self._release(claim.id))
            raise
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        status = start["status"] if start is not None else 500
        kept = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in (start or {}).get("headers", [])
        }
        answer = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        try:
            await run_in_threadpool(self.keys.finish, claim.id, status, answer, kept)
        except SQLAlchemyError as exc:
            # the client gets its answer; the key stays claimed until released or its lease ends
            self.keys.counts["finish_failed"] += 1
            log.warning("idempotency answer not stored: %s", _reason(exc))
            if status >= 500 or status in (401, 403, 429):
                self._spawn(self._release(claim.id))
        return held

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _prune(self) -> None:
        """Expired keys, a batch per write permit, off the request's path."""
        if self.keys.pruning:
            return
        self.keys.pruning = True
        try:
            while await self.admission.run(True, BACKGROUND, self.keys.prune_batch) == PRUNE_BATCH:
                pass
        except (SQLAlchemyError, DatabaseBusy) as exc:
            self.keys.counts["prune_failed"] += 1  # the next prune takes them
            log.warning("expired idempotency keys not pruned: %s", _reason(exc))
        finally:
            self.keys.pruning = False

    async def _release(self, claim_id: int) -> None:
        """Release a key in the background, retried while the database is busy."""
        for attempt in range(RELEASE_ATTEMPTS):
            try:
                await self._settle(self.keys.release, claim_id)
                return
            except (SQLAlchemyError, DatabaseBusy) as exc:
                log.warning("idempotency key not released (try %d): %s", attempt + 1, _reason(exc))
                await asyncio.sleep(RETRY_AFTER_SECONDS * (attempt + 1))
        self.keys.counts["release_failed"] += 1  # held until its lease ends


def _reason(exc: Exception) -> str:
    """The driver's first line, without the statement and its parameters."""
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"


async def _send(send: Send, answer: Answer) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()]
    raw.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": raw})
    await send({"type": "http.response.body", "body": answer.body})
