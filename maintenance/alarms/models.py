"""Alarm episodes and the ids of events already consumed (idempotent consumption)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class Alarm(Base):
    """告警 episode: one raise .. clear of one alarm type on one asset (repeated raises counted).

    A clear that arrives before its raise creates the row with `raise_count` 0; the late raise
    then completes it, so the outcome does not depend on delivery order.
    """

    __tablename__ = "alarm"
    __table_args__ = (
        Index("ix_alarm_site_open", "site_id", "cleared_at", "acknowledged_at"),
        Index("ix_alarm_site_raised", "site_id", "raised_at"),
    )

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
    # Who cleared it: the gateway's clear event, or reconciliation with the gateway's snapshot
    # of active conditions (the clear event never came, e.g. across a restart).
    cleared_by: Mapped[str | None] = mapped_column(String(16))
    # The device is offline: the condition can be neither confirmed nor cleared (状态未知).
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    # Delivered later than `late_after` after it happened: recorded, pages nobody.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # 设计抑制: raised while the asset was out of service or under planned maintenance; recorded
    # and shown, makes no work order and pages nobody.
    suppressed_reason: Mapped[str | None] = mapped_column(String(200))
    # 停用: the duty room took this alarm out of service (a known fault, a sensor under repair).
    out_of_service_by: Mapped[str | None] = mapped_column(String(64))
    out_of_service_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    out_of_service_reason: Mapped[str | None] = mapped_column(String(300))


class AlarmJournal(Base):
    """告警日志: every state change of every alarm, who made it and when (the alarm history)."""

    __tablename__ = "alarm_journal"
    __table_args__ = (Index("ix_alarm_journal_site_at", "site_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarm.id"), index=True)
    site_id: Mapped[str] = mapped_column(String(64))
    asset_code: Mapped[str] = mapped_column(String(64))
    alarm_type: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(String(500), default="")


class ProcessedEvent(Base):
    """Event ids already applied; a redelivered event finds its id here and changes nothing."""

    __tablename__ = "processed_event"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime)
