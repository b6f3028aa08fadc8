"""Bearer tokens with a role and the sites they may see; only hashes are kept.

Tokens live in the `api_token` table (issued and rotated by an admin through
`/api/v1/tokens`); the registry also holds tokens known at start, such as the demo's admin token.
Any token may carry an expiry (有效期); past it the token is refused like an unknown one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections import Counter
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
    SERVICE = "service"  # 客服: the one role that reads residents' phones whole
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who calls. `sites` are the sites it may see ("*": every site); `scopes` what the token
    was issued for: "*" (the company), "region:<id>" (区域) and site ids, in any mix.

    A region scope covers whatever sites are in that region at the time of the request, so the
    principal found for a token is resolved against the loaded sites on every request
    (`api.scopes.resolve`); until then a region scope lets it see none of the region's sites.
    """

    name: str
    role: ApiRole
    sites: frozenset[str]  # "*" means every site
    person: str | None = None  # the technician this token belongs to
    expires_at: datetime | None = None  # None: does not expire
    scopes: frozenset[str] = frozenset()  # as issued; empty: the same as `sites`
    # 维保单位人员: `site:asset` ids of their contracts in force (None: not a contractor's)
    assets: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not self.scopes:
            object.__setattr__(self, "scopes", self.sites)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def may_see(self, site_id: str) -> bool:
        return "*" in self.sites or site_id in self.sites

    def site_filter(self) -> list[str] | None:
        """The sites to restrict a query to, or None for every site."""
        return None if "*" in self.sites else sorted(self.sites)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "pw_" + secrets.token_urlsafe(24)


# Placeholders of example files and documentation, and the passwords everyone tries first.
EXAMPLE_TOKENS = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        "admin",
        "password",
        "secret",
        "token",
        "test",
        "example",
        "propwatch",
        "replace-me",
        "your-token",
        "your-admin-token",
    }
)
MIN_TOKEN_LENGTH = 24
MIN_TOKEN_BITS = 64.0


def estimated_bits(token: str) -> float:
    """A cautious guess at a token's entropy: the character classes it draws from give the bits
    per character, and a character that repeats or continues a run (`aaaa`, `1234`, `abcd`) or
    repeats an earlier stretch (`Pass1Pass1`) adds almost nothing. `openssl rand -hex 16` and
    longer clear `MIN_TOKEN_BITS` comfortably."""
    pool = sum(
        size
        for present, size in (
            (any(c.islower() for c in token), 26),
            (any(c.isupper() for c in token), 26),
            (any(c.isdigit() for c in token), 10),
            (any(not c.isalnum() for c in token), 32),
        )
        if present
    )
    per_char = math.log2(pool) if pool > 1 else 0.0
    bits = 0.0
    seen: set[str] = set()
    for i, cur in enumerate(token):
        prev = token[i - 1] if i else ""
        trigram = token[max(i - 2, 0) : i + 1]
        predictable = (prev and abs(ord(cur) - ord(prev)) <= 1) or trigram in seen
        seen.add(trigram)
        bits += 1.0 if predictable else per_char
    # a token built from a handful of distinct characters is no better than its alphabet
    distinct = len(Counter(token))
    return min(bits, len(token) * math.log2(max(distinct, 2)))


def weak_token_reason(token: str) -> str | None:
    """Why a token given at start is too weak to guard the admin role, or None."""
    folded = token.strip().lower()
    if folded in EXAMPLE_TOKENS or any(p in folded for p in ("change-me", "changeme")):
        return "示例文件中的占位值 (the placeholder of an example file)"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"太短, 不足 {MIN_TOKEN_LENGTH} 个字符 (shorter than {MIN_TOKEN_LENGTH} characters)"
    if estimated_bits(token) < MIN_TOKEN_BITS:
        return "太有规律, 容易被猜中 (too predictable: low entropy)"
    return None


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

    def named(self, name: str) -> Principal | None:
        """A token known at start by the name its steps are recorded under (the pages show who
        acted, and `admin` is no such database token)."""
        return next((p for p in self._by_hash.values() if p.name == name), None)

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
            select(
                ApiToken.name, ApiToken.role, ApiToken.sites, ApiToken.person, ApiToken.expires_at
            ).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        ).first()
        if row is None:
            self._remembered.pop(digest, None)
            return None
        principal = Principal(
            row.name, ApiRole(row.role), frozenset(row.sites), row.person, row.expires_at
        )
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
    expires_at: datetime | None = None,
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
            expires_at=expires_at,
        )
    )
    session.flush()
    return token


def rotate_token(session: Session, row: ApiToken) -> str:
    """A new secret for the same identity and expiry; the old one stops working at once."""
    token = new_token()
    row.token_hash = hash_token(token)
    row.revoked_at = None
    return token
