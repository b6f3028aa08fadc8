"""督促: overdue rectifications climb the site's ladder (`quality.escalation`), each rung once.

A rung fires when `now` has passed `at` x the span from issue to the deadline, plus `after`,
while the rectification is still 下发 or 整改中 (已整改 waits for 复查; the clock of the
responsible person has stopped). As in the work orders' ladder (`maintenance.escalation`), the
pair (rectification, rung) is unique in the database, so two replicas running the pass fire a
rung once, and each firing writes a `rectification.escalated` outbox row: to the assignee, the
zone's supervisor, or the duty room (no recipient).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from maintenance.assignment import zone_supervisor
from maintenance.notifications import notify
from maintenance.quality.models import (
    OPEN_STATUSES,
    STATUS_ZH,
    Rectification,
    RectificationEscalation,
    RectificationStatus,
)
from maintenance.quality.service import local, place_name
from propwatch.quality import RectificationAction, RectificationStep
from propwatch.site import SiteFile


class RectificationEscalationView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rectification_id: int
    step_id: str
    action: str
    due_at: datetime
    fired_at: datetime
    recipient: str | None


def fire_time(rect: Rectification, step: RectificationStep) -> datetime:
    return (
        rect.issued_at
        + (rect.deadline_at - rect.issued_at) * step.at
        + timedelta(seconds=step.after)
    )


def escalate_overdue_rectifications(
    session: Session, spec: SiteFile, now: datetime, site_id: str | None = None
) -> list[RectificationEscalationView]:
    """Fire every rung that is due; returns what fired now (nothing twice)."""
    site = site_id or spec.site.id
    if not spec.quality.escalation:
        return []
    rects = session.scalars(
        select(Rectification)
        .where(
            Rectification.site_id == site,
            Rectification.status.in_([s.value for s in OPEN_STATUSES]),
            Rectification.issued_at <= now,
        )
        .options(selectinload(Rectification.finding))
        .order_by(Rectification.id)
    )
    fired: list[RectificationEscalationView] = []
    for rect in list(rects):
        done = set(
            session.scalars(
                select(RectificationEscalation.step_id).where(
                    RectificationEscalation.rectification_id == rect.id
                )
            )
        )
        for step in spec.quality.escalation:
            if step.id in done or now < fire_time(rect, step):
                continue
            row = _fire(session, spec, rect, step, now)
            if row is not None:
                fired.append(RectificationEscalationView.model_validate(row))
    return fired


def _recipient(spec: SiteFile, rect: Rectification, action: RectificationAction) -> str | None:
    if action is RectificationAction.NOTIFY_ASSIGNEE:
        return rect.assignee
    if action is RectificationAction.NOTIFY_SUPERVISOR:
        return zone_supervisor(spec, rect.zone_code)
    return None  # the duty room (值班室) reads rows without a recipient


def _fire(
    session: Session, spec: SiteFile, rect: Rectification, step: RectificationStep, now: datetime
) -> RectificationEscalation | None:
    recipient = _recipient(spec, rect, step.action)
    row = RectificationEscalation(
        rectification_id=rect.id,
        step_id=step.id,
        action=step.action.value,
        due_at=rect.deadline_at,
        fired_at=now,
        recipient=recipient,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # another replica fired this rung
    breached = now >= rect.deadline_at
    state = "已超过整改期限" if breached else "即将到整改期限"
    names = {p.id: p.name for p in spec.people}
    who = names.get(rect.assignee or "", rect.assignee or "未指定责任人")
    notify(
        session,
        site_id=rect.site_id,
        topic="rectification.escalated",
        message=(
            f"整改单 {rect.id}【{STATUS_ZH[RectificationStatus(rect.status)]}】{state}"
            f"（{local(rect.deadline_at, spec)}）：{place_name(spec, rect.finding)}，责任人 {who}"
        ),
        at=now,
        recipient=recipient,
        payload={
            "rectification_id": rect.id,
            "step": step.id,
            "action": step.action.value,
            "deadline": rect.deadline_at.isoformat(),
            "breached": breached,
            "assignee": rect.assignee,
            "department": rect.department,
            "zone": rect.zone_code,
        },
        dedup_key=f"rectification:{rect.id}:{step.id}",
    )
    return row


def escalations_of(session: Session, rectification_id: int) -> list[RectificationEscalationView]:
    rows = session.scalars(
        select(RectificationEscalation)
        .where(RectificationEscalation.rectification_id == rectification_id)
        .order_by(RectificationEscalation.id)
    )
    return [RectificationEscalationView.model_validate(r) for r in rows]
