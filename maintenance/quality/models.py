"""Findings, rectifications, their audited steps and the rungs of the 督促 ladder fired."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from maintenance.db import Base, UtcDateTime


class RectificationStatus(StrEnum):
    ISSUED = "issued"  # 下发
    IN_PROGRESS = "in_progress"  # 整改中
    RECTIFIED = "rectified"  # 已整改: reported done with evidence, awaiting 复查
    PASSED = "passed"  # 复查通过
    # 复查不通过 is a step, not a resting state: the rectification goes back to 整改中
    FAILED = "failed"


STATUS_ZH = {
    RectificationStatus.ISSUED: "已下发",
    RectificationStatus.IN_PROGRESS: "整改中",
    RectificationStatus.RECTIFIED: "已整改",
    RectificationStatus.PASSED: "复查通过",
    RectificationStatus.FAILED: "复查不通过",
}

OPEN_STATUSES = (RectificationStatus.ISSUED, RectificationStatus.IN_PROGRESS)
"""Still the responsible person's to do: the deadline runs and the ladder fires."""


class Finding(Base):
    """巡查发现: what a patrol or an inspection found, where, how bad, with photos."""

    __tablename__ = "finding"
    __table_args__ = (Index("ix_finding_site_reported", "site_id", "reported_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    # where: an asset, a public place of the site file, or a building (with a floor)
    asset_code: Mapped[str | None] = mapped_column(String(64))
    place_id: Mapped[str | None] = mapped_column(String(64))
    building: Mapped[str | None] = mapped_column(String(100))
    floor: Mapped[str | None] = mapped_column(String(20))
    zone_code: Mapped[str] = mapped_column(String(64))
    type_id: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    rectification: Mapped[Rectification] = relationship(back_populates="finding")


class Rectification(Base):
    """整改: one finding's notice to the responsible department and person, with its deadline."""

    __tablename__ = "rectification"
    __table_args__ = (Index("ix_rectification_site_status", "site_id", "status", "deadline_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    finding_id: Mapped[int] = mapped_column(ForeignKey("finding.id"), unique=True)
    zone_code: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    requirement: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=RectificationStatus.ISSUED)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_by: Mapped[str] = mapped_column(String(64))
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rectified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    passed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recheck_failures: Mapped[int] = mapped_column(Integer, default=0)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_order.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    finding: Mapped[Finding] = relationship(back_populates="rectification")
    steps: Mapped[list[RectificationStep]] = relationship(
        back_populates="rectification", order_by="RectificationStep.id"
    )


class RectificationStep(Base):
    """One audited step: who, when, from what to what, with a note and evidence photos."""

    __tablename__ = "rectification_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    rectification_id: Mapped[int] = mapped_column(ForeignKey("rectification.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)

    rectification: Mapped[Rectification] = relationship(back_populates="steps")


class RectificationEscalation(Base):
    """One rung of the 督促 ladder fired for one rectification; unique, so fired once only."""

    __tablename__ = "rectification_escalation"
    __table_args__ = (UniqueConstraint("rectification_id", "step_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rectification_id: Mapped[int] = mapped_column(ForeignKey("rectification.id"), index=True)
    step_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recipient: Mapped[str | None] = mapped_column(String(64))


class Inspection(Base):
    """品质检查: one scoring of a score sheet; the totals and each section's and item's score as
    computed when recorded (the sheet in the site file may change later)."""

    __tablename__ = "inspection"
    __table_args__ = (Index("ix_inspection_site_inspected", "site_id", "inspected_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    sheet_id: Mapped[str] = mapped_column(String(64))
    sheet_name: Mapped[str] = mapped_column(String(100))
    zone_code: Mapped[str | None] = mapped_column(String(64))
    inspector: Mapped[str] = mapped_column(String(64))
    inspected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    total: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)
    percent: Mapped[float | None] = mapped_column(Float)
    # [{id, name, maximum, score, items: [{id, text, maximum, deducted, score, applicable}]}]
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    deductions: Mapped[list[InspectionDeduction]] = relationship(
        back_populates="inspection", order_by="InspectionDeduction.id"
    )


class InspectionDeduction(Base):
    """扣分: one rule applied to one item, and the rectification it opened (via its finding)."""

    __tablename__ = "inspection_deduction"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"), index=True)
    section_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    points: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    finding_id: Mapped[int] = mapped_column(ForeignKey("finding.id"), unique=True)

    inspection: Mapped[Inspection] = relationship(back_populates="deductions")


class PatrolCheckIn(Base):
    """巡更签到: someone at a patrol point (its QR label scanned), when. Which round it counts
    for is worked out when rounds are read (`maintenance.quality.patrols`), so a change of the
    site file's rounds re-reads the same check-ins."""

    __tablename__ = "patrol_check_in"
    __table_args__ = (Index("ix_patrol_check_in_site_checked", "site_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    point_id: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
