"""Zones, people and assets as stored rows; retired, never deleted, so history keeps its subject."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db import Base, UtcDateTime


class SiteRecord(Base):
    """小区: one property as the registry last loaded it from its site file."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(300), default="")
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Zone(Base):
    """片区: a zone whose technician, security and service staff answer for its facilities."""

    __tablename__ = "zone"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    technicians: Mapped[list[str]] = mapped_column(JSON, default=list)
    security: Mapped[list[str]] = mapped_column(JSON, default=list)
    service: Mapped[list[str]] = mapped_column(JSON, default=list)
    supervisor: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Building(Base):
    """楼栋 (or plant room, gate): a place in a zone where assets stand."""

    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id"), index=True)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(32), default="")
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Asset(Base):
    __tablename__ = "asset"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id"), index=True)
    building: Mapped[str] = mapped_column(String(100), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    install_date: Mapped[date | None] = mapped_column(Date)
    warranty_end: Mapped[date | None] = mapped_column(Date)
    device_id: Mapped[str | None] = mapped_column(String(64))
    # 上级: the asset holding this one (the site file's `parent:`), by its code
    parent_code: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    state: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    state_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # 停用 (设备停运): while set, the asset's new alarms are suppressed by design.
    out_of_service_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    out_of_service_by: Mapped[str | None] = mapped_column(String(64))
    out_of_service_reason: Mapped[str | None] = mapped_column(String(300))
