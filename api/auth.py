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

from sqlalchemy import Connection, select
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
    """Token hashes to principals: tokens known at start, and the database's tokens remembered
    for a few seconds once found, so a busy client costs a hash per request rather than a query.

    A revocation or rotation through this process forgets them at once (`forget`); another API
    process honours it within `remember_seconds`.
    """

    def __init__(self, remember_seconds: float = 5.0, capacity: int = 4096) -> None:
        self._by_hash: dict[str, Principal] = {}
        self._remembered: dict[str, tuple[Principal, float]] = {}
        self.remember_seconds = remember_seconds
        self._capacity = capacity

    def add(self, token: str, principal: Principal) -> None:
        self._by_hash[hash_token(token)] = principal

    def known(self, token: str, at: float) -> Principal | None:
        """The principal without a database query: a token known at start, or one found in the
        database less than `remember_seconds` before `at` (a monotonic time)."""
        digest = hash_token(token)
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        hit = self._remembered.get(digest)
        if hit is not None and at < hit[1]:
            return hit[0]
        return None

    def lookup(self, token: str, conn: Connection | Session, at: float) -> Principal | None:
        """The principal of a token issued through the API (not revoked), remembered from `at`."""
        digest = hash_token(token)
        row = conn.execute(
            select(ApiToken.name, ApiToken.role, ApiToken.sites, ApiToken.person).where(
                ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            self._remembered.pop(digest, None)
            return None
        principal = Principal(row.name, ApiRole(row.role), frozenset(row.sites), row.person)
        if len(self._remembered) >= self._capacity:
            self._remembered.clear()  # bounded memory; live tokens are found again by a query
        self._remembered[digest] = (principal, at + self.remember_seconds)
        return principal

    def forget(self) -> None:
        """Drop what was remembered: a token was revoked or rotated."""
        self._remembered.clear()


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
