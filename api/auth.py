"""Bearer tokens with a role and the sites they may see; only hashes are kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum


class ApiRole(StrEnum):
    DUTY = "duty"
    TECHNICIAN = "technician"
    INTEGRATION = "integration"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    name: str
    role: ApiRole
    sites: frozenset[str]  # "*" means every site
    person: str | None = None  # the technician this token belongs to

    def may_see(self, site_id: str) -> bool:
        return "*" in self.sites or site_id in self.sites


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "pw_" + secrets.token_urlsafe(24)


class TokenRegistry:
    """Token hashes to principals."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Principal] = {}

    def add(self, token: str, principal: Principal) -> None:
        self._by_hash[hash_token(token)] = principal

    def resolve(self, token: str) -> Principal | None:
        digest = hash_token(token)
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None
