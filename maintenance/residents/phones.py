"""住户电话 (个人信息保护法): a resident's phone is kept encrypted and shown masked.

Only customer service (the `service` role) reads a phone whole; every other answer, page,
export, notification and log carries `138****0002`. The Fernet key lives in a file of its own
(`<var>/resident-phone.key` unless configured), made with mode 0600 at first use, so a copy of
the database alone reveals no number.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

MOBILE = re.compile(r"^1[3-9]\d{9}$")
"""A mainland mobile number: 11 digits starting 13–19."""


def normalised(raw: str) -> str | None:
    """The 11 digits of a mobile number as typed (spaces, dashes, a +86 prefix allowed)."""
    digits = re.sub(r"[\s\-]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits if MOBILE.match(digits) else None


def masked(phone: str) -> str:
    """`13800000002` → `138****0002`."""
    return f"{phone[:3]}****{phone[-4:]}"


class PhoneVault:
    """Encrypts and decrypts phones with the key of one key file."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def at(cls, path: Path) -> PhoneVault:
        """The vault of the key file at `path`, made (0600, never overwritten) when missing."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it meanwhile: use theirs
                pass
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def encrypt(self, phone: str) -> str:
        return self._fernet.encrypt(phone.encode()).decode()

    def decrypt(self, cipher: str) -> str | None:
        """The phone, or None when this key cannot read it (a replaced key file)."""
        try:
            return self._fernet.decrypt(cipher.encode()).decode()
        except InvalidToken:
            return None
