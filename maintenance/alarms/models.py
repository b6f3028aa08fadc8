"""Alarm episodes and the ids of events already consumed (idempotent consumption)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class Alarm(Base):
    """告警 episode: one raise .. clear of one alarm type on one asset (repeated raises counted).

    A clear that arrives before its raise creates the row with `raise_count` 0; the late raise
    then completes it, so the outcome does not depend on delivery order.
    """

    __tablename__ = "alarm"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    episode_id: Mapped[str] = mapped_column(String(300), unique=True)
    asset_code: Mapped[str] = mapped_column(String(64), index=True)
    alarm_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    rule_id: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(16), default="raised")  # raised / cleared
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    raise_count: Mapped[int] = mapped_column(Integer, default=1)
    evidence: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # 搁置: the duty room hides a known alarm until `shelved_until`; it still records and routes.
    shelved_by: Mapped[str | None] = mapped_column(String(64))
    shelved_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    shelve_reason: Mapped[str | None] = mapped_column(String(300))
    chattering: Mapped[bool] = mapped_column(Boolean, default=False)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_order.id"), index=True)


class ProcessedEvent(Base):
    """Event ids already applied; a redelivered event finds its id here and changes nothing."""

    __tablename__ = "processed_event"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime)
