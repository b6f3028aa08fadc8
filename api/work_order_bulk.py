"""批量报修: `POST /api/v1/work-orders/bulk`, one work order per NDJSON line.

A ticket system that moves its backlog over sends up to `MAX_ROWS` create bodies, one JSON
object a line (`application/x-ndjson`). Each row is checked and created on its own, in its own
transaction, exactly as `POST /api/v1/work-orders` would: a bad row is refused with the problem
the single create would answer and the others go on. The answer has one line per non-empty
request line, in order, with the row's status (201 created, 200 already there, or the 4xx).

Every row must say how to recognise it again, its `external_id` (per site) or its own `key`
(per token): sent again, after a timeout or a crash half-way, the body creates only the rows
that were not created yet and answers the others with 200 and the order they made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError
from pydantic_core import to_json
from sqlalchemy.orm import Session

from api.auth import Principal
from api.deps import AppContext
from api.models import AuditEntry
from api.problems import ApiProblem, Problem
from api.schemas import WorkOrderCreate
from api.validation import unstorable_in, unstorable_message
from api.work_order_schemas import BulkResult, BulkRow
from maintenance.errors import Conflict, MaintenanceError, NotFound, UnknownReference
from maintenance.work_orders.models import WorkOrder

MAX_ROWS = 1000
MAX_BYTES = 8 * 1024 * 1024
"""Largest body: 1,000 rows of a few kB each."""
MEDIA_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")


def _problem(status: int, detail: str, path: str, **extra: Any) -> Problem:
    titles = {403: "无权访问 (forbidden)", 404: "未找到 (not found)", 409: "冲突 (conflict)"}
    return Problem(
        title=titles.get(status, "请求内容无效 (unprocessable content)"),
        status=status,
        detail=detail,
        instance=path,
        **extra,
    )


def _invalid(path: str, errors: list[dict[str, Any]]) -> Problem:
    return _problem(422, "请求参数无效 (invalid request)", path, errors=errors)


def _refusal(exc: Exception, path: str) -> Problem:
    """The problem the single create answers for this refusal."""
    if isinstance(exc, ApiProblem):
        return _problem(exc.status, exc.detail, path, code=exc.code)
    if isinstance(exc, HTTPException):
        return _problem(exc.status_code, str(exc.detail), path)
    assert isinstance(exc, MaintenanceError)
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    errors = None
    if isinstance(exc, UnknownReference):
        errors = [
            {"loc": ["body", *f.split(".")], "msg": f"{zh} ({en})"}
            for f, (zh, en) in exc.fields.items()
        ]
    return _problem(status, f"{exc.zh} ({exc.en})", path, code=exc.code, errors=errors)


def parse_row(raw: bytes, path: str) -> BulkRow | Problem:
    """One line as a create body, or the 422 that refuses it."""
    try:
        value = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError included
        return _invalid(path, [{"loc": ["body"], "msg": f"不是 JSON (not JSON: {exc})"}])
    found = unstorable_in(value, ("body",))
    if found is not None:
        return _invalid(
            path, [{"loc": [str(p) for p in found[0]], "msg": unstorable_message(found[1])}]
        )
    try:
        row = BulkRow.model_validate(value)
    except ValidationError as exc:
        return _invalid(
            path,
            [
                {"loc": ["body", *(str(p) for p in e["loc"])], "msg": e["msg"]}
                for e in exc.errors(include_url=False)
            ],
        )
    if row.external_id is None and row.key is None:
        return _invalid(
            path,
            [
                {
                    "loc": ["body", "key"],
                    "msg": "每行需要 external_id 或 key，重发时才不会重复建单 "
                    "(each row needs external_id or key, so that sending it again creates "
                    "nothing twice)",
                }
            ],
        )
    return row


CreateFromBody = Callable[
    [Session, AppContext, Principal, WorkOrderCreate, str | None], tuple[WorkOrder, bool]
]


def create_rows(
    ctx: AppContext, caller: Principal, lines: list[bytes], path: str, create: CreateFromBody
) -> bytes:
    """Every row in order, each in its own transaction with `create` (the single create's own
    steps); the NDJSON answer. Blocking: run it off the event loop."""
    results: list[BulkResult] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        row = parse_row(raw, path)
        if isinstance(row, Problem):
            results.append(BulkResult(line=number, status=row.status, problem=row))
            continue
        mark = {"line": number, "external_id": row.external_id, "key": row.key}
        try:
            with ctx.db.session() as session:
                wo, created = create(session, ctx, caller, row, row.key)
                if created:
                    session.add(
                        AuditEntry(
                            at=ctx.clock.now(),
                            actor=caller.name,
                            role=caller.role.value,
                            method="POST",
                            path=path,
                            subject=f"work_order:{wo.id}",
                            status_code=201,
                            detail={"line": number, **row.model_dump(mode="json")},
                        )
                    )
                session.flush()
                done = BulkResult(**mark, status=201 if created else 200, id=wo.id, code=wo.code)
        except (ApiProblem, HTTPException, MaintenanceError) as exc:
            refusal = _refusal(exc, path)
            results.append(BulkResult(**mark, status=refusal.status, problem=refusal))
            continue
        results.append(done)
    return b"".join(to_json(r.model_dump(exclude_none=True)) + b"\n" for r in results)
