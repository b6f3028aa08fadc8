"""签名 for webhook deliveries; the scheme lives with the outbox (`maintenance.signing`) so the
notification channels' generic webhook signs the same way.

During a secret rotation's overlap window a delivery carries one signature per valid secret, the
new one first, comma-separated as Stripe does (`v1=<new>,v1=<old>`); a receiver accepts the
delivery when any of them matches the secret it holds, so it can switch secrets at its own pace.
"""

from collections.abc import Sequence

from maintenance.signing import (
    DEFAULT_TOLERANCE,
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify,
)


def signatures(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The `Propwatch-Signature` value: `v1=…` for each secret, in the order given."""
    return ",".join(sign(secret, timestamp, body) for secret in secrets)


__all__ = [
    "DEFAULT_TOLERANCE",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "signatures",
    "verify",
]
