"""签名: HMAC-SHA256 over `<timestamp>.<body>` with a shared secret; webhook subscriptions and
the generic webhook notification channel sign alike.

Headers on every delivery::

    Propwatch-Timestamp: 1795000000
    Propwatch-Signature: v1=<64 hex digits>

A receiver recomputes `HMAC_SHA256(secret, timestamp + "." + raw_body)`, compares in constant
time, and refuses timestamps older than its tolerance (replays). See docs/api.md.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "Propwatch-Timestamp"
SIGNATURE_HEADER = "Propwatch-Signature"
EVENT_HEADER = "Propwatch-Event"
DELIVERY_HEADER = "Propwatch-Delivery"
DEFAULT_TOLERANCE = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    signature: str,
    body: bytes,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> bool:
    """True when the signature matches and the timestamp is within `tolerance` seconds."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, int(timestamp), body)
    return any(hmac.compare_digest(expected, s.strip()) for s in signature.split(","))
