"""RFC 9457 problem details: every refusal is `application/problem+json`, never a bare 500.

`title` is zh-CN first with the English after; `code` is stable for clients.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.openapi_paths import allowed_methods
from maintenance.errors import (
    Conflict,
    InvalidRequest,
    MaintenanceError,
    NotFound,
    UnknownReference,
)

PROBLEM = "application/problem+json"

log = logging.getLogger("propwatch.api")

_TITLES = {
    400: "请求有误 (bad request)",
    401: "需要登录 (unauthorized)",
    403: "无权访问 (forbidden)",
    404: "未找到 (not found)",
    405: "方法不允许 (method not allowed)",
    409: "冲突 (conflict)",
    410: "已删除 (gone)",
    412: "版本已变化 (precondition failed)",
    413: "内容过大 (content too large)",
    415: "不支持的类型 (unsupported media type)",
    422: "请求内容无效 (unprocessable content)",
    428: "需要 If-Match (precondition required)",
    503: "服务繁忙 (service unavailable)",
}

RETRY_AFTER_SECONDS = 1
"""What a 503 or a busy key's 409 asks the client to wait: a pool or a key frees up quickly."""


class Problem(BaseModel):
    """The body of every error answer (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str | None = None
    errors: list[dict[str, Any]] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM: {}}, "description": title}
    for code, title in _TITLES.items()
    if code in (401, 403, 404, 409, 412, 422, 503)
}


class ApiProblem(Exception):
    """Raised by routes for refusals that are the API's own (412, 428, 403 by ownership)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code, self.headers = status, detail, code, headers


def problem(
    request: Request,
    status: int,
    detail: str | None,
    *,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=_TITLES.get(status, "错误 (error)"),
        status=status,
        detail=detail,
        instance=request.url.path,
        code=code,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM, headers=headers
    )


def _maintenance_status(exc: MaintenanceError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, InvalidRequest):
        return 422
    return 400


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))})
    return out


def _allow(request: Request, given: str | None) -> str:
    """`Allow` on a 405 (RFC 9110): every method the schema publishes for the path, where
    Starlette names only those of the first route it matched; its own list for the pages."""
    published = allowed_methods(request.app, request.url.path)
    return ", ".join(sorted(published)) if published else (given or "")


MALFORMED_BODY: dict[str, Any] = {
    "description": "请求体无法解析 (body not UTF-8 JSON, or a broken multipart form)",
    "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _document_malformed_bodies(app: FastAPI) -> None:
    """Every operation that reads a body may answer 400 (FastAPI's own answer to one it cannot
    decode); say so in `/openapi.json` rather than leave it undocumented."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:  # FastAPI keeps what `generate` made in `app.openapi_schema`
            schema = generate()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    if isinstance(operation, dict) and "requestBody" in operation:
                        operation["responses"].setdefault("400", MALFORMED_BODY)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every refusal into problem JSON."""
    _document_malformed_bodies(app)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            headers["Allow"] = _allow(request, headers.get("Allow"))
        return problem(request, exc.status_code, str(exc.detail), headers=headers or None)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem(
            request, 422, "请求参数无效 (invalid request)", errors=_jsonable_errors(exc.errors())
        )

    async def on_maintenance(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MaintenanceError)
        errors = None
        if isinstance(exc, UnknownReference):  # every field at fault, named as in the body
            errors = [
                {"loc": ["body", *f.split(".")], "msg": f"{zh} ({en})"}
                for f, (zh, en) in exc.fields.items()
            ]
        return problem(
            request, _maintenance_status(exc), f"{exc.zh} ({exc.en})", code=exc.code, errors=errors
        )

    async def on_api(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        return problem(request, exc.status, exc.detail, code=exc.code, headers=exc.headers)

    unavailable: Counter[str] = Counter()
    app.state.database_unavailable = unavailable

    async def on_database_busy(request: Request, exc: Exception) -> JSONResponse:
        # 连接池已满 or SQLite's lock held past its busy timeout: the client may retry, and
        # its transaction was rolled back, so nothing of it was kept
        assert isinstance(exc, PoolTimeout | OperationalError)
        kind = "pool_timeout" if isinstance(exc, PoolTimeout) else "operational_error"
        unavailable[kind] += 1
        orig = getattr(exc, "orig", None) or exc
        first = str(orig).splitlines()[0] if str(orig) else ""
        log.warning("%s %s: 503 (%s: %s)", request.method, request.url.path, kind, first)
        return problem(
            request,
            503,
            "数据库繁忙，请稍后重试 (database busy, retry later)",
            code="database_busy",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    app.add_exception_handler(PoolTimeout, on_database_busy)
    app.add_exception_handler(OperationalError, on_database_busy)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(MaintenanceError, on_maintenance)
    app.add_exception_handler(ApiProblem, on_api)
