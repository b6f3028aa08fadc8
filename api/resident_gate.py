"""扫码报修的防刷: the limits of the public report endpoint, without a CAPTCHA.

A resident has no account, so floods are refused by what a request does carry: its phone
number and its client address, each with a token bucket of reports per hour (429 with
`Retry-After`, `api.rate_limit`). Buckets live in one API process's memory, as the token limits
do. The phone is bucketed by its SHA-256, so not even memory holds the number in clear.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from api.rate_limit import RateLimiter
from maintenance.residents.phones import PhoneVault

HOUR = 3600.0


@dataclass
class ResidentGate:
    """The public report endpoint's limits, and the key that encrypts reporters' phones."""

    per_phone_per_hour: int = 5
    per_address_per_hour: int = 30
    phone_retention: timedelta = timedelta(days=180)
    # None: `<var_dir>/resident-phone.key`
    phone_key_file: Path | None = None
    _phones: RateLimiter | None = field(default=None, repr=False)
    _addresses: RateLimiter | None = field(default=None, repr=False)
    _vault: PhoneVault | None = field(default=None, repr=False)

    def phone_wait(self, phone: str, at: float) -> float | None:
        """Seconds this phone must wait before another report, or None."""
        if self._phones is None:
            n = self.per_phone_per_hour
            self._phones = RateLimiter(n / HOUR, n)
        return self._phones.take(hashlib.sha256(phone.encode()).hexdigest(), at)

    def address_wait(self, address: str, at: float) -> float | None:
        if self._addresses is None:
            n = self.per_address_per_hour
            self._addresses = RateLimiter(n / HOUR, n)
        return self._addresses.take(address, at)

    def vault(self, var_dir: Path) -> PhoneVault:
        """The phone vault, its key file made at first use (0600)."""
        if self._vault is None:
            self._vault = PhoneVault.at(self.phone_key_file or var_dir / "resident-phone.key")
        return self._vault
