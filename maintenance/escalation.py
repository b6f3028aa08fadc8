"""超时升级: breach detection and the escalation ladder from the site file, each rung once.

A rung (`propwatch.site.EscalationStep`) fires when `now` has passed `at` x the span from the
start of the clock (reported_at; resolved_at for the revisit; the last reopening for the resolve
limit of a reopened order) to the limit's current due time,
plus `after`, and the limit is not met yet. Orders on hold do not escalate (their clock is
stopped); cancelled and revisited ones are done. The pair (work order, rung) is unique in
`work_order_escalation`, so two replicas running the job at once fire it once; a reopened order
(返修) gets a fresh ladder (`resolve-breach#1`, ...). Each firing writes a `notification` row.

Apart from the ladder, the first pass after a limit's due time writes one `work_order.overdue`
row per order and limit (its `dedup_key` makes it once, a reopened order's resolve limit again),
whatever rungs the site configured: integrations and notification routes hear of every breach.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance.assignment import zone_supervisor
from maintenance.notifications import Notification, notify
from maintenance.work_orders.models import (
    STATUS_ZH,
    Escalation,
    Status,
    WorkOrder,
    WorkOrderTransition,
)
from propwatch.site import PRIORITY_ZH, EscalationAction, EscalationStep, Priority, SiteFile

ESCALATING = (
    Status.REGISTERED,
    Status.DISPATCHED,
    Status.ACCEPTED,
    Status.ON_SITE,
    Status.REOPENED,
    Status.RESOLVED,
    Status.VERIFIED,
    Status.CLOSED,
)
MET_BY = {
    "respond": "accepted_at",
    "arrive": "arrived_at",
    "resolve": "resolved_at",
    "revisit": "revisited_at",
}
LIMIT_ZH = {"respond": "响应", "arrive": "到场", "resolve": "处理", "revisit": "回访"}
RAISED = {Priority.GENERAL: Priority.IMPORTANT, Priority.IMPORTANT: Priority.EMERGENCY}


class EscalationView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    work_order_id: int
    step_id: str
    limit_name: str
    action: str
    due_at: datetime
    fired_at: datetime
    recipient: str | None


def fire_time(wo: WorkOrder, step: EscalationStep) -> datetime | None:
    """When this rung fires for this order, or None when it never will (limit absent or met)."""
    due: datetime | None = getattr(wo, f"{step.limit}_due")
    if due is None or getattr(wo, MET_BY[step.limit]) is not None:
        return None
    start = wo.resolved_at if step.limit == "revisit" else wo.reported_at
    if step.limit == "resolve" and wo.reopen_count:
        # 返修: the resolve clock restarted at the last reopening.
        start = max((t.at for t in wo.transitions if t.to_status == Status.REOPENED), default=start)
    if start is None:
        return None
    return start + (due - start) * step.at + timedelta(seconds=step.after)


def escalate_overdue(
    session: Session, spec: SiteFile, now: datetime, site_id: str | None = None
) -> list[EscalationView]:
    """Fire every rung that is due; returns what fired now (nothing twice)."""
    site = site_id or spec.site.id
    orders = session.scalars(
        select(WorkOrder)
        .where(WorkOrder.site_id == site, WorkOrder.status.in_([s.value for s in ESCALATING]))
        .order_by(WorkOrder.id)
    )
    fired: list[EscalationView] = []
    for wo in list(orders):
        _report_breaches(session, spec, wo, now)
        done = set(
            session.scalars(select(Escalation.step_id).where(Escalation.work_order_id == wo.id))
        )
        for step in spec.escalation:
            original = Priority(wo.priority_raised_from or wo.priority)
            if step.priorities and original not in step.priorities:
                continue
            key = step.id + (f"#{wo.reopen_count}" if wo.reopen_count else "")
            at = fire_time(wo, step)
            if key in done or at is None or now < at:
                continue
            row = _fire(session, spec, wo, step, key, now)
            if row is not None:
                fired.append(EscalationView.model_validate(row))
    return fired


def _fire(
    session: Session, spec: SiteFile, wo: WorkOrder, step: EscalationStep, key: str, now: datetime
) -> Escalation | None:
    due: datetime = getattr(wo, f"{step.limit}_due")
    recipient = _recipient(spec, wo, step.action)
    row = Escalation(
        work_order_id=wo.id,
        step_id=key,
        limit_name=step.limit,
        action=step.action.value,
        due_at=due,
        fired_at=now,
        recipient=recipient,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # another replica fired this rung
    local_due = due.astimezone(spec.site.tz).strftime("%m-%d %H:%M")
    what = LIMIT_ZH[step.limit]
    breached = now >= due
    state = f"已超过{what}时限" if breached else f"即将超过{what}时限"
    message = f"工单 {wo.code}【{STATUS_ZH[Status(wo.status)]}】{state}（{local_due}）：{wo.title}"
    if step.action is EscalationAction.RAISE_PRIORITY:
        current = Priority(wo.priority)
        higher = RAISED.get(current)
        if higher is not None:
            wo.priority_raised_from = wo.priority_raised_from or current.value
            wo.priority, wo.updated_at = higher.value, now
            session.add(
                WorkOrderTransition(
                    work_order_id=wo.id,
                    at=now,
                    actor="system",
                    from_status=wo.status,
                    to_status="note",
                    note=f"超时升级：{PRIORITY_ZH[current]} → {PRIORITY_ZH[higher]}",
                    attachments=[],
                )
            )
            message += f"，已升级为{PRIORITY_ZH[higher]}"
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.escalated",
        message=message,
        at=now,
        work_order_id=wo.id,
        recipient=recipient,
        payload={
            "work_order": wo.code,
            "id": wo.id,
            "step": key,
            "limit": step.limit,
            "action": step.action.value,
            "due": due.isoformat(),
            "breached": breached,
            "priority": wo.priority,
            "assignee": wo.assignee,
        },
        dedup_key=f"escalation:{wo.id}:{key}",
    )
    return row


def _report_breaches(session: Session, spec: SiteFile, wo: WorkOrder, now: datetime) -> None:
    """`work_order.overdue`: once per order and limit whose due time has passed unmet."""
    breached = []
    for limit, met_by in MET_BY.items():
        due: datetime | None = getattr(wo, f"{limit}_due")
        if due is not None and getattr(wo, met_by) is None and now >= due:
            suffix = f"#{wo.reopen_count}" if wo.reopen_count else ""
            breached.append((limit, due, f"overdue:{wo.id}:{limit}{suffix}"))
    if not breached:
        return
    told = set(
        session.scalars(
            select(Notification.dedup_key).where(
                Notification.work_order_id == wo.id, Notification.topic == "work_order.overdue"
            )
        )
    )
    for limit, due, key in breached:
        if key in told:
            continue
        local_due = due.astimezone(spec.site.tz).strftime("%m-%d %H:%M")
        try:
            with session.begin_nested():
                notify(
                    session,
                    site_id=wo.site_id,
                    topic="work_order.overdue",
                    message=(
                        f"工单 {wo.code}【{STATUS_ZH[Status(wo.status)]}】已超过"
                        f"{LIMIT_ZH[limit]}时限（{local_due}）：{wo.title}"
                    ),
                    at=now,
                    work_order_id=wo.id,
                    recipient=wo.assignee,
                    payload={
                        "work_order": wo.code,
                        "id": wo.id,
                        "limit": limit,
                        "due": due.isoformat(),
                        "priority": wo.priority,
                        "status": wo.status,
                        "assignee": wo.assignee,
                        "zone": wo.zone_code,
                    },
                    dedup_key=key,
                )
                session.flush()
        except IntegrityError:
            continue  # another replica reported it


def _recipient(spec: SiteFile, wo: WorkOrder, action: EscalationAction) -> str | None:
    if action is EscalationAction.NOTIFY_ASSIGNEE:
        return wo.assignee
    if action is EscalationAction.NOTIFY_SUPERVISOR:
        return zone_supervisor(spec, wo.zone_code)
    return None  # the duty room (值班室) reads notifications without a recipient


def escalations_of(session: Session, work_order_id: int) -> list[EscalationView]:
    rows = session.scalars(
        select(Escalation).where(Escalation.work_order_id == work_order_id).order_by(Escalation.id)
    )
    return [EscalationView.model_validate(r) for r in rows]
