"""死信 (dead letters): event messages the consumer could not apply, kept in the database.

A message that is malformed (rejected) or whose applying raised (a bug) is kept here with its
topic, the reason and its bytes before it is acknowledged, so the broker can let it go and
nothing is lost: it can be inspected, and replayed once the bug is fixed. A redelivery of the
same message finds its row by digest and adds nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from maintenance.db import Base, UtcDateTime

MAX_PAYLOAD = 1 << 20
"""Bytes of a payload kept; larger ones are kept cut, with their length in the reason."""


class DeadLetterKind(StrEnum):
    REJECTED = (
        "rejected"  # not a valid event of this site: malformed, unknown version, another site
    )
    FAILED = "failed"  # a valid event whose applying raised: a bug to fix, then replay


class DeadLetter(Base):
    """One message kept instead of applied (死信)."""

    __tablename__ = "dead_letter"
    __table_args__ = (Index("ix_dead_letter_site_received", "site_id", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of topic and payload: a redelivered message finds its row instead of adding one
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(1000))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


def message_digest(topic: str, payload: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()


def keep_dead_letter(
    session: Session,
    *,
    site_id: str,
    topic: str,
    payload: bytes,
    kind: DeadLetterKind,
    reason: str,
    now: datetime,
) -> bool:
    """Keep one message; False when it is already kept (a redelivery of it)."""
    digest = message_digest(topic, payload)
    if session.scalar(select(DeadLetter.id).where(DeadLetter.digest == digest)) is not None:
        return False
    if len(payload) > MAX_PAYLOAD:
        reason = f"{reason} (payload of {len(payload)} bytes, first {MAX_PAYLOAD} kept)"
    session.add(
        DeadLetter(
            digest=digest,
            site_id=site_id,
            topic=topic[:300],
            kind=kind.value,
            reason=reason[:1000],
            payload=payload[:MAX_PAYLOAD],
            received_at=now,
        )
    )
    session.flush()
    return True


def recent_dead_letters(session: Session, site_id: str, limit: int = 100) -> list[DeadLetter]:
    """The newest kept messages of a site, for inspection and replay."""
    return list(
        session.scalars(
            select(DeadLetter)
            .where(DeadLetter.site_id == site_id)
            .order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc())
            .limit(limit)
        )
    )
