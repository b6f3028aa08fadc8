"""Request dependencies: the app context, a database session, the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import ApiRole, Principal, TokenRegistry
from maintenance.db import Database
from propwatch.clock import Clock
from propwatch.site import Site


@dataclass
class AppContext:
    db: Database
    sites: dict[str, Site]
    clock: Clock
    tokens: TokenRegistry
    health: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_session(ctx: Annotated[AppContext, Depends(get_ctx)]) -> Iterator[Session]:
    with ctx.db.session() as s:
        yield s


_bearer = HTTPBearer(auto_error=False)


def get_principal(
    ctx: Annotated[AppContext, Depends(get_ctx)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "需要访问令牌 (Bearer token required)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = ctx.tokens.resolve(creds.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "访问令牌无效 (invalid token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require(*roles: ApiRole) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles and principal.role is not ApiRole.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "无权访问 (role not allowed)")
        return principal

    return check


Ctx = Annotated[AppContext, Depends(get_ctx)]
DbSession = Annotated[Session, Depends(get_session)]
Caller = Annotated[Principal, Depends(get_principal)]
