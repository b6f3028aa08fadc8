"""Plans kept in the database (made through the API) and each plan's materialization cursor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class PlanRecord(Base):
    """保养计划 added through the API; site-file plans are not stored here (the file is truth)."""

    __tablename__ = "plan"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PlanCursor(Base):
    """How far a plan has been materialized: the calendar instant it is done through, or the
    last meter threshold reached for one asset. Work orders are unique on their own; the cursor
    only saves re-enumerating the past and says where catch-up after downtime starts."""

    __tablename__ = "plan_cursor"
    __table_args__ = (UniqueConstraint("site_id", "plan_code", "asset_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    plan_code: Mapped[str] = mapped_column(String(80))
    # '' for a calendar plan (one cursor per plan), the asset's code for a meter plan.
    asset_code: Mapped[str] = mapped_column(String(64), default="")
    through: Mapped[datetime | None] = mapped_column(UtcDateTime)
    meter_threshold: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PlanHealth(Base):
    """Whether a plan's last pass made what it should: the error that stopped it (its text, when
    it was first and last seen) and how many passes it has failed in all. One row per plan that
    has ever failed; `error` is None again once a pass goes through (the counter stays, so
    `/metrics` can expose it as a counter)."""

    __tablename__ = "plan_health"
    __table_args__ = (UniqueConstraint("site_id", "plan_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    plan_code: Mapped[str] = mapped_column(String(80))
    error: Mapped[str | None] = mapped_column(Text)
    error_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
