"""`Idempotency-Key` on POSTs: a repeated request gets the first answer, from the database.

Keys are scoped by the caller's token, so two integrations cannot collide. A repeat with a
different body is refused (422) rather than answered with an unrelated result. Answers of 5xx
are not kept, so a retry after a failure really retries.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.models import IdempotencyRecord
from api.problems import PROBLEM
from maintenance.db import Database
from propwatch.clock import Clock

HEADER = b"idempotency-key"
REPLAYED = "Idempotent-Replayed"
KEPT_HEADERS = ("content-type", "location", "etag")


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, db: Database, clock: Clock) -> None:
        self.app, self.db, self.clock = app, db, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(HEADER)
        auth = headers.get(b"authorization")
        if key is None or auth is None:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= 200:
            await _problem(send, 422, "Idempotency-Key 长度须为 1–200 (key length 1-200)")
            return
        body = await _read_body(receive)
        actor = hashlib.sha256(auth).hexdigest()
        path = scope["path"]
        digest = hashlib.sha256(path.encode() + b"\0" + body).hexdigest()
        with self.db.session() as s:
            first = s.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.actor == actor, IdempotencyRecord.key == key.decode("latin-1")
                )
            )
            if first is not None:
                stored = (first.status_code, first.body, dict(first.headers), first.request_hash)
            else:
                stored = None
        if stored is not None:
            status, text, kept, request_hash = stored
            if request_hash != digest:
                await _problem(
                    send, 422, "同一 Idempotency-Key 用于不同请求 (key reused with another request)"
                )
                return
            await _send(send, status, text.encode(), {**kept, REPLAYED: "true"})
            return

        sent: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def replay() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                sent["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                sent["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, replay, capture)
        if sent["status"] >= 500 or sent["status"] in (401, 403, 429):
            return
        kept = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in sent["headers"]
            if k.decode("latin-1").lower() in KEPT_HEADERS
        }
        try:
            with self.db.session() as s:
                s.add(
                    IdempotencyRecord(
                        actor=actor,
                        key=key.decode("latin-1"),
                        method="POST",
                        path=path,
                        request_hash=digest,
                        status_code=sent["status"],
                        body=sent["body"].decode("utf-8", "replace"),
                        headers=kept,
                        created_at=self.clock.now(),
                    )
                )
        except IntegrityError:
            pass  # a concurrent twin stored its answer first; that one is the record


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _problem(send: Send, status: int, detail: str) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "请求内容无效 (unprocessable content)",
            "status": status,
            "detail": detail,
            "code": "idempotency_key",
        },
        ensure_ascii=False,
    ).encode()
    await _send(send, status, body, {"content-type": PROBLEM})
