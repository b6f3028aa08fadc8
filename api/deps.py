"""Request dependencies: the app context, a database session, the caller."""

from __future__ import annotations

import pathlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api import contractor_scope
from api.auth import ApiRole, Principal, TokenRegistry
from api.idempotency import CLAIM_SCOPE, mark_applied
from api.models import AuditEntry
from api.problems import ApiProblem
from api.rate_limit import RateLimiter, retry_after
from api.resident_gate import ResidentGate
from api.scopes import resolve
from api.webhooks.targets import WebhookTargets
from gateway.sinks.reads import TelemetryReader
from maintenance.db import Database
from maintenance.work_orders import service as work_order_service
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import Clock
from propwatch.organisation import Organisation
from propwatch.site import Site


@dataclass
class AppContext:
    db: Database
    sites: dict[str, Site]
    clock: Clock
    tokens: TokenRegistry
    health: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    stream_poll_seconds: float = 0.5
    # uploaded photos live under var_dir/attachments
    var_dir: pathlib.Path = field(default_factory=lambda: pathlib.Path("var"))
    # largest video attachment (photos stay at 8 MB, `api.routes.attachments`)
    video_max_bytes: int = 50 * 1024 * 1024
    # where webhooks may be posted (public addresses, plus hosts the operator named)
    webhook_targets: WebhookTargets = field(default_factory=WebhookTargets)
    # requests per token; None: not limited (tests, unless they test the limit)
    rate_limiter: RateLimiter | None = None
    # 集团 → 区域: what region scopes of tokens resolve against (`organisation.yaml`)
    organisation: Organisation = field(default_factory=Organisation.implicit)
    # where trends are read (gateway.sinks.reads.make_reader); None: the API has no store
    telemetry: TelemetryReader | None = None
    # 扫码报修: the public report endpoint's limits and the residents' phone key
    resident: ResidentGate = field(default_factory=ResidentGate)
    # the address residents' phones reach the pages at, for QR labels; None: the request's own
    public_base_url: str | None = None
    _reads: sessionmaker[Session] | None = field(default=None, repr=False)

    def region_of_site(self, site_id: str) -> str | None:
        """The region a served site names now (None: none, or not served)."""
        site = self.sites.get(site_id)
        return site.spec.site.region if site is not None else None

    def read_engine(self) -> Engine:
        """The engine for GETs (`Database.reader`): on SQLite it takes no write lock."""
        return self.db.reader

    def read_session(self) -> sessionmaker[Session]:
        """Sessions for GETs, on `read_engine`."""
        if self._reads is None:
            self._reads = sessionmaker(self.read_engine(), expire_on_commit=False)
        return self._reads


async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_session(
    ctx: Annotated[AppContext, Depends(get_ctx)], request: Request
) -> Iterator[Session]:
    """A session per request, entered and left in the thread pool (never on the event loop).

    A request that claimed an `Idempotency-Key` marks its claim applied in this transaction,
    so its work and the claim commit together or not at all (`api.idempotency`)."""
    if request.method == "GET":
        with ctx.read_session()() as s:
            yield s
        return
    claim: int | None = request.scope.get(CLAIM_SCOPE)
    with ctx.db.session() as s:
        yield s
        if claim is not None:
            mark_applied(s, claim)


_bearer = HTTPBearer(auto_error=False)


async def get_principal(
    ctx: Annotated[AppContext, Depends(get_ctx)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "需要访问令牌 (Bearer token required)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    at = ctx.clock.monotonic()
    principal = ctx.tokens.known(creds.credentials, at)
    if principal is None:
        principal = await run_in_threadpool(_lookup_token, ctx, creds.credentials, at)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "访问令牌无效 (invalid token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.expired(ctx.clock.now()):
        raise ApiProblem(
            401,
            "访问令牌已过期, 请联系管理员重新发放 (token expired)",
            code="token_expired",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if ctx.rate_limiter is not None:
        wait = ctx.rate_limiter.take(principal.name, at)
        if wait is not None:
            raise ApiProblem(
                429,
                "请求过于频繁, 请稍后再试 (rate limit of this token reached)",
                code="rate_limited",
                headers={"Retry-After": retry_after(wait)},
            )
    # region scopes cover the sites in the region now: resolved per request, never remembered
    principal = resolve(principal, ctx.organisation, ctx.sites)
    return contractor_scope.scoped(principal, ctx.sites, ctx.clock.now())


def _lookup_token(ctx: AppContext, token: str, at: float) -> Principal | None:
    with ctx.read_engine().connect() as conn:
        return ctx.tokens.lookup(token, conn, at)


def require(*roles: ApiRole) -> Callable[[Principal], Awaitable[Principal]]:
    # async: a check this small costs less on the event loop than a hop to the thread pool
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles and principal.role is not ApiRole.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "无权访问 (role not allowed)")
        return principal

    return check


SITE_NOT_ALLOWED = "无权访问该小区的数据 (site not allowed for this token)"


def check_site(caller: Principal, site_id: str) -> None:
    """A token sees only its sites; another site's data is refused, not hidden. The answer does
    not name the site: it may be the site of an object the caller named by id, which the caller
    must not learn."""
    if not caller.may_see(site_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, SITE_NOT_ALLOWED)


def visible_work_order(session: Session, caller: Principal, work_order_id: int) -> WorkOrder:
    """The order, if this caller may see it: its site, and for technicians their own task."""
    wo = work_order_service.get_work_order(session, work_order_id)
    check_site(caller, wo.site_id)
    if caller.role is ApiRole.TECHNICIAN and wo.assignee != caller.person:
        raise ApiProblem(403, "只能查看和处理自己的工单 (not your task)", code="not_your_task")
    contractor_scope.check_order(session, caller, wo)
    return wo


def site_of(ctx: AppContext, caller: Principal, site_id: str) -> Site:
    check_site(caller, site_id)
    site = ctx.sites.get(site_id)
    if site is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"小区 {site_id} 不存在 (unknown site)")
    return site


def audit(
    session: Session,
    ctx: AppContext,
    caller: Principal,
    request: Request,
    *,
    subject: str | None,
    status_code: int,
    detail: dict[str, Any] | None = None,
) -> None:
    """审计: one row per change, in the same transaction as the change itself."""
    session.add(
        AuditEntry(
            at=ctx.clock.now(),
            actor=caller.name,
            role=caller.role.value,
            method=request.method,
            path=request.url.path,
            subject=subject,
            status_code=status_code,
            detail=detail or {},
        )
    )


Ctx = Annotated[AppContext, Depends(get_ctx)]
# "function": the change commits before the answer leaves, so a client that reads right after
# its own POST sees it (the default "request" scope commits only after the response is sent).
DbSession = Annotated[Session, Depends(get_session, scope="function")]
Caller = Annotated[Principal, Depends(get_principal)]
Reader = Annotated[
    Principal,
    Depends(require(ApiRole.DUTY, ApiRole.TECHNICIAN, ApiRole.INTEGRATION)),
]
Operator = Annotated[Principal, Depends(require(ApiRole.DUTY, ApiRole.INTEGRATION))]
Worker = Annotated[
    Principal, Depends(require(ApiRole.DUTY, ApiRole.TECHNICIAN, ApiRole.INTEGRATION))
]
Duty = Annotated[Principal, Depends(require(ApiRole.DUTY))]
Admin = Annotated[Principal, Depends(require())]

RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="database id")]
"""Ids fit a 32-bit column on every backend; a larger one is a 422, not a driver error."""
