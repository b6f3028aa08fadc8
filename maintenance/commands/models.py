"""The command table: every command asked for, who asked, what became of it (审计)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class DeviceCommand(Base):
    """One command to one writable point of an asset's device.

    `state`: pending (recorded, not yet on the broker) → sent (handed to the broker for the
    site's gateway) → done (written and read back) | failed | expired | refused. A command a
    lighting schedule issued carries its `schedule_key` (unique per site: exactly once)."""

    __tablename__ = "device_command"
    __table_args__ = (
        Index("ix_device_command_asset", "site_id", "asset_code", "id"),
        Index("ix_device_command_state", "state", "expires_at"),
        # 照明定时: one command per scheduled switching of one circuit, whoever issues it
        Index("uq_device_command_schedule", "site_id", "schedule_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64))
    asset_code: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    point: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_role: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    read_back: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    # set for a command a lighting schedule issued: `<switch>:<night>:<on|off>:<point>`, and
    # the time the switching was due (the command expires its ttl after that, not after now)
    schedule_key: Mapped[str | None] = mapped_column(String(200), nullable=True, default=None)
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, default=None)
