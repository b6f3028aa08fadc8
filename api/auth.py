"""Bearer tokens with a role and the sites they may see; only hashes are kept.

Tokens live in the `api_token` table (issued and rotated by an admin through
`/api/v1/tokens`); the registry also holds tokens known at start, such as the demo's admin token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import ApiToken


class ApiRole(StrEnum):
    DUTY = "duty"  # 值班室
    TECHNICIAN = "technician"  # 维修人员
    INTEGRATION = "integration"  # 工单系统
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    name: str
    role: ApiRole
    sites: frozenset[str]  # "*" means every site
    person: str | None = None  # the technician this token belongs to

    def may_see(self, site_id: str) -> bool:
        return "*" in self.sites or site_id in self.sites

    def site_filter(self) -> list[str] | None:
        """The sites to restrict a query to, or None for every site."""
        return None if "*" in self.sites else sorted(self.sites)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "pw_" + secrets.token_urlsafe(24)


class TokenRegistry:
    """Token hashes to principals, for tokens known at start (the rest are in the database)."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Principal] = {}

    def add(self, token: str, principal: Principal) -> None:
        self._by_hash[hash_token(token)] = principal

    def resolve(self, token: str, session: Session | None = None) -> Principal | None:
        digest = hash_token(token)
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        if session is None:
            return None
        row = session.scalar(
            select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        )
        if row is None:
            return None
        return Principal(row.name, ApiRole(row.role), frozenset(row.sites), row.person)


def issue_token(
    session: Session,
    *,
    name: str,
    role: ApiRole,
    sites: list[str],
    person: str | None,
    now: datetime,
) -> str:
    """Create a token and return it; it is never shown again (only its hash is stored)."""
    token = new_token()
    session.add(
        ApiToken(
            name=name,
            token_hash=hash_token(token),
            role=role.value,
            sites=sorted(set(sites)),
            person=person,
            created_at=now,
        )
    )
    session.flush()
    return token


def rotate_token(session: Session, row: ApiToken) -> str:
    """A new secret for the same identity; the old one stops working at once."""
    token = new_token()
    row.token_hash = hash_token(token)
    row.revoked_at = None
    return token
