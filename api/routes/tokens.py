"""Access tokens (admin only): issue, rotate, revoke; and the audit log.

An admin hands out and manages only tokens within its own scope (`api.scopes.covers`): a
region's admin issues tokens for that region or its sites, never for the company or another
region, and does not see or touch the tokens of other sites. The audit log spans every site,
so only a company-wide admin reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.auth import ApiRole, Principal, issue_token, rotate_token
from api.deps import Admin, Ctx, DbSession, audit
from api.models import ApiToken, AuditEntry
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.schemas import AuditOut, TokenCreate, TokenOut
from api.scopes import COMPANY, covers_all
from api.validation import person_in_body, scopes_in_body

router = APIRouter(prefix="/api/v1", tags=["admin"], responses=PROBLEM_RESPONSES)

# the latest expiry every backend stores and every client parses alike
LATEST_EXPIRY = datetime(2200, 1, 1, tzinfo=UTC)


def _out(row: ApiToken, token: str | None = None) -> TokenOut:
    return TokenOut(
        name=row.name,
        role=ApiRole(row.role),
        sites=row.sites,
        person=row.person,
        expires_at=row.expires_at,
        token=token,
    )


@router.get("/tokens", response_model=list[TokenOut], summary="访问令牌列表 (no secrets)")
def list_tokens(session: DbSession, caller: Admin) -> list[TokenOut]:
    rows = session.scalars(
        select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    )
    return [_out(r) for r in rows if covers_all(caller, r.sites)]


@router.post(
    "/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED, summary="发放令牌"
)
def create_token(
    body: TokenCreate, request: Request, ctx: Ctx, session: DbSession, caller: Admin
) -> TokenOut:
    if body.role is ApiRole.TECHNICIAN and not body.person:
        raise HTTPException(422, "维修人员令牌需要 person (technician tokens need a person)")
    covered = scopes_in_body(ctx, caller, body.sites)
    if body.person is not None:
        person_in_body(ctx, covered, body.person)
    now = ctx.clock.now()
    if body.expires_at is not None and not now < body.expires_at < LATEST_EXPIRY:
        raise ApiProblem(
            422,
            "expires_at: 有效期须晚于现在、早于 2200 年 (expiry must lie between now and 2200)",
            code="invalid_expiry",
        )
    if session.scalar(select(ApiToken.id).where(ApiToken.name == body.name)) is not None:
        raise HTTPException(409, f"令牌名 {body.name} 已存在 (name taken)")
    try:
        with session.begin_nested():
            token = issue_token(
                session,
                name=body.name,
                role=body.role,
                sites=body.sites,
                person=body.person,
                now=now,
                expires_at=body.expires_at,
            )
    except IntegrityError as exc:
        raise HTTPException(409, f"令牌名 {body.name} 已存在 (name taken)") from exc
    row = session.scalar(select(ApiToken).where(ApiToken.name == body.name))
    assert row is not None
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"token:{body.name}",
        status_code=201,
        detail={
            "role": body.role.value,
            "sites": body.sites,
            "person": body.person,
            "expires_at": body.expires_at.isoformat() if body.expires_at else None,
        },
    )
    return _out(row, token)


def _token(session: DbSession, caller: Principal, name: str) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise HTTPException(404, f"令牌 {name} 不存在 (unknown token)")
    if not covers_all(caller, row.sites):
        raise ApiProblem(
            403, "该令牌超出本令牌的范围 (token outside this token's scope)", code="out_of_scope"
        )
    return row


@router.post("/tokens/{name}/rotate", response_model=TokenOut, summary="轮换令牌")
def rotate(name: str, request: Request, ctx: Ctx, session: DbSession, caller: Admin) -> TokenOut:
    row = _token(session, caller, name)
    token = rotate_token(session, row)
    ctx.tokens.forget()
    audit(session, ctx, caller, request, subject=f"token:{name}", status_code=200)
    return _out(row, token)


@router.delete("/tokens/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="吊销令牌")
def revoke(name: str, request: Request, ctx: Ctx, session: DbSession, caller: Admin) -> None:
    row = _token(session, caller, name)
    row.revoked_at = row.revoked_at or ctx.clock.now()
    ctx.tokens.forget()
    audit(session, ctx, caller, request, subject=f"token:{name}", status_code=204)


@router.get("/audit", response_model=list[AuditOut], summary="审计日志, newest first")
def get_audit(
    session: DbSession,
    caller: Admin,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditOut]:
    if COMPANY not in caller.scopes:
        raise ApiProblem(
            403,
            "审计日志涵盖所有小区, 仅限集团管理员 (the audit log is for company-wide admins)",
            code="company_only",
        )
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor is not None:
        q = q.where(AuditEntry.actor == actor)
    return [AuditOut.model_validate(r) for r in session.scalars(q)]
