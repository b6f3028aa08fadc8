"""告警 → 工单: record each episode, route it to a work order, never multiply one fault.

- One open work order per asset and alarm type (`WorkOrder.dedup_key`, unique in the database):
  a new episode while it is open attaches to it as another occurrence.
- A clear annotates the work order and never closes it: a technician decides it is fixed.
- A clear that arrives before its raise is kept; the late raise then routes as usual, so the end
  state does not depend on delivery order.
- A chattering alarm (频繁告警: `spec.chattering.raises` episodes within `.within`) is flagged on
  the alarm and the work order and attached to the latest order, even one already resolved.
- Consumption is idempotent: an event id is recorded in `processed_event` (primary key) in the
  same transaction, so a redelivery or a second replica changes nothing; a replica that loses a
  race gets an IntegrityError, and the consumer applies the event again to take the duplicate path.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm, ProcessedEvent
from maintenance.errors import InvalidRequest, NotFound
from maintenance.notifications import notify
from maintenance.registry.models import Asset
from maintenance.work_orders.models import Source, Status, WorkOrder, WorkOrderTransition
from maintenance.work_orders.service import (
    NewWorkOrder,
    alarm_dedup_key,
    create_work_order,
)
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import KIND_CATEGORY, AlarmRoute, Category, Priority, SiteFile

log = logging.getLogger(__name__)

SEVERITY_PRIORITY = {
    Severity.CRITICAL: Priority.EMERGENCY,
    Severity.MAJOR: Priority.IMPORTANT,
    Severity.MINOR: Priority.GENERAL,
    Severity.WARNING: Priority.GENERAL,
}

MAX_SHELVE = timedelta(days=7)
"""A shelved alarm comes back by itself after at most a week."""


def route_for(spec: SiteFile, event: AlarmEvent, asset_kind: str | None) -> AlarmRoute:
    for route in spec.alarm_routes:
        if route.alarm_type == event.alarm_type:
            if route.category is None:
                return route.model_copy(update={"category": _category(asset_kind)})
            return route
    return AlarmRoute(
        alarm_type=event.alarm_type,
        category=_category(asset_kind),
        priority=SEVERITY_PRIORITY[event.severity],
    )


def _category(kind: str | None) -> Category:
    return KIND_CATEGORY.get(kind or "", Category.GENERAL)


def apply_alarm_event(session: Session, spec: SiteFile, event: AlarmEvent, now: datetime) -> bool:
    """Apply one event; False when it was already applied (same event id)."""
    if session.get(ProcessedEvent, event.event_id) is not None:
        return False
    session.add(ProcessedEvent(event_id=event.event_id, processed_at=now))
    session.flush()  # a racing replica loses here, before it has changed anything else
    alarm = session.scalar(select(Alarm).where(Alarm.episode_id == event.episode_id))
    if event.action is AlarmAction.CLEAR:
        if alarm is None:
            alarm = _new_alarm(event, raise_count=0)
            alarm.state, alarm.cleared_at = "cleared", event.occurred_at
            session.add(alarm)
            session.flush()
            return True
        if alarm.cleared_at is None:
            alarm.state, alarm.cleared_at = "cleared", event.occurred_at
            _annotate_clear(session, alarm, now)
            if alarm.raise_count > 0:
                _tell(session, alarm, "alarm.cleared", now)
        return True
    if alarm is not None:
        if alarm.raise_count == 0:
            # The clear came first; this is the episode's raise, late.
            alarm.raise_count = 1
            alarm.raised_at, alarm.severity = event.occurred_at, event.severity.value
            alarm.message, alarm.evidence = event.message, dict(event.evidence)
            session.flush()
            _route(session, spec, alarm, event, now)
            _annotate_clear(session, alarm, now)
            _tell(session, alarm, "alarm.raised", now)
            _tell(session, alarm, "alarm.cleared", now)
        else:
            alarm.raise_count = Alarm.raise_count + 1
        return True
    alarm = _new_alarm(event, raise_count=1)
    session.add(alarm)
    session.flush()
    _route(session, spec, alarm, event, now)
    _tell(session, alarm, "alarm.raised", now)
    return True


SEVERITY_ZH = {
    Severity.CRITICAL: "紧急",
    Severity.MAJOR: "重要",
    Severity.MINOR: "次要",
    Severity.WARNING: "提示",
}


def _tell(session: Session, alarm: Alarm, topic: str, now: datetime) -> None:
    """告警/恢复 into the outbox, once per episode, for the people on duty and the webhooks."""
    wo = session.get(WorkOrder, alarm.work_order_id) if alarm.work_order_id else None
    asset = session.scalar(
        select(Asset.name).where(Asset.site_id == alarm.site_id, Asset.code == alarm.asset_code)
    )
    where = f"{asset}（{alarm.asset_code}）" if asset else f"{alarm.asset_code} "
    what = alarm.message or alarm.alarm_type
    if topic == "alarm.raised":
        message = f"{where}告警（{SEVERITY_ZH[Severity(alarm.severity)]}）：{what}"
    else:
        message = f"{where}告警已恢复：{what}"
    if wo is not None:
        message += f"，工单 {wo.code}"
    notify(
        session,
        site_id=alarm.site_id,
        topic=topic,
        message=message,
        at=now,
        work_order_id=wo.id if wo else None,
        alarm_id=alarm.id,
        recipient=wo.assignee if wo else None,
        payload={
            "asset": alarm.asset_code,
            "alarm_type": alarm.alarm_type,
            "severity": alarm.severity,
            "episode_id": alarm.episode_id,
            "raised_at": alarm.raised_at.isoformat(),
            "cleared_at": alarm.cleared_at.isoformat() if alarm.cleared_at else None,
            "work_order": wo.code if wo else None,
        },
        dedup_key=f"{topic}:{alarm.id}",
    )


def _new_alarm(event: AlarmEvent, raise_count: int) -> Alarm:
    return Alarm(
        site_id=event.site_id,
        episode_id=event.episode_id,
        asset_code=event.asset_id,
        alarm_type=event.alarm_type,
        severity=event.severity.value,
        rule_id=event.rule_id,
        message=event.message,
        state="raised",
        raised_at=event.occurred_at,
        raise_count=raise_count,
        evidence=dict(event.evidence),
        chattering=False,
    )


def _annotate_clear(session: Session, alarm: Alarm, now: datetime) -> None:
    if alarm.work_order_id is None or alarm.cleared_at is None:
        return
    session.add(
        WorkOrderTransition(
            work_order_id=alarm.work_order_id,
            at=now,
            actor="gateway",
            from_status=None,
            to_status="note",
            note=f"告警已恢复 {alarm.cleared_at.isoformat()}（工单不自动关闭）",
            attachments=[],
        )
    )


def _route(
    session: Session, spec: SiteFile, alarm: Alarm, event: AlarmEvent, now: datetime
) -> None:
    asset = session.scalar(
        select(Asset).where(Asset.site_id == event.site_id, Asset.code == event.asset_id)
    )
    route = route_for(spec, event, asset.kind if asset else None)
    alarm.chattering = _is_chattering(session, spec, alarm)
    if not route.create_work_order:
        return
    key = alarm_dedup_key(event.site_id, event.asset_id, event.alarm_type)
    target = session.scalar(select(WorkOrder).where(WorkOrder.dedup_key == key))
    if target is None and alarm.chattering:
        target = session.scalar(
            select(WorkOrder)
            .where(
                WorkOrder.site_id == event.site_id,
                WorkOrder.source == Source.ALARM,
                WorkOrder.asset_id == (asset.id if asset else None),
                WorkOrder.alarm_type == event.alarm_type,
                WorkOrder.status != Status.CANCELLED,
                WorkOrder.created_at >= now - timedelta(seconds=spec.chattering.within),
            )
            .order_by(WorkOrder.id.desc())
            .limit(1)
        )
    if target is None:
        assert route.category is not None
        asset_name = asset.name if asset else event.asset_id
        target, created = create_work_order(
            session,
            spec,
            NewWorkOrder(
                site_id=event.site_id,
                source=Source.ALARM,
                source_key=f"alarm:{event.episode_id}",
                category=route.category,
                priority=route.priority,
                title=f"{asset_name}：{event.message or event.alarm_type}",
                reported_at=event.occurred_at,
                asset_code=event.asset_id,
                description=_describe(event),
                alarm_type=event.alarm_type,
                dedup_key=key,
            ),
            now,
        )
        alarm.work_order_id = target.id
        if created:
            log.info("work order %s for %s on %s", target.code, event.alarm_type, event.asset_id)
            return
        if target.source_key == f"alarm:{event.episode_id}":
            return
    _attach(session, alarm, target, now)


def _attach(session: Session, alarm: Alarm, wo: WorkOrder, now: datetime) -> None:
    """再次告警: another episode of the same fault joins the order instead of a new one."""
    alarm.work_order_id = wo.id
    wo.occurrences = WorkOrder.occurrences + 1
    session.add(
        WorkOrderTransition(
            work_order_id=wo.id,
            at=now,
            actor="gateway",
            from_status=None,
            to_status="note",
            note=f"再次告警 {alarm.raised_at.isoformat()}：{alarm.message or alarm.alarm_type}",
            attachments=[],
        )
    )
    if alarm.chattering and not wo.chattering:
        wo.chattering = True
        notify(
            session,
            site_id=wo.site_id,
            topic="alarm.chattering",
            message=f"告警频繁：{alarm.asset_code} {alarm.alarm_type}，已并入工单 {wo.code}",
            at=now,
            work_order_id=wo.id,
            alarm_id=alarm.id,
            payload={"asset": alarm.asset_code, "alarm_type": alarm.alarm_type},
        )
    session.flush()


def _is_chattering(session: Session, spec: SiteFile, alarm: Alarm) -> bool:
    since = alarm.raised_at - timedelta(seconds=spec.chattering.within)
    count = session.scalar(
        select(func.count(Alarm.id)).where(
            Alarm.site_id == alarm.site_id,
            Alarm.asset_code == alarm.asset_code,
            Alarm.alarm_type == alarm.alarm_type,
            Alarm.raise_count > 0,
            Alarm.raised_at >= since,
            Alarm.raised_at <= alarm.raised_at,
        )
    )
    return (count or 0) >= spec.chattering.raises


def _describe(event: AlarmEvent) -> str:
    ev = event.evidence
    if "value" in ev and "limit" in ev:
        cmp = "低于" if ev.get("direction") == "below" else "高于"
        return (
            f"{ev.get('metric')} = {ev['value']:.3f} {ev.get('unit', '')}，{cmp}限值 {ev['limit']}"
        )
    return event.message


class AlarmView(BaseModel):
    """An alarm episode as the duty room sees it."""

    id: int
    site_id: str
    episode_id: str
    asset: str
    alarm_type: str
    severity: str
    message: str
    state: str
    raised_at: datetime
    cleared_at: datetime | None
    raise_count: int
    evidence: dict[str, object]
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    shelved: bool
    shelved_by: str | None
    shelved_until: datetime | None
    shelve_reason: str | None
    chattering: bool
    work_order_id: int | None


def alarm_view(alarm: Alarm, now: datetime) -> AlarmView:
    return AlarmView(
        id=alarm.id,
        site_id=alarm.site_id,
        episode_id=alarm.episode_id,
        asset=alarm.asset_code,
        alarm_type=alarm.alarm_type,
        severity=alarm.severity,
        message=alarm.message,
        state=alarm.state,
        raised_at=alarm.raised_at,
        cleared_at=alarm.cleared_at,
        raise_count=alarm.raise_count,
        evidence=alarm.evidence,
        acknowledged_by=alarm.acknowledged_by,
        acknowledged_at=alarm.acknowledged_at,
        shelved=is_shelved(alarm, now),
        shelved_by=alarm.shelved_by,
        shelved_until=alarm.shelved_until,
        shelve_reason=alarm.shelve_reason,
        chattering=alarm.chattering,
        work_order_id=alarm.work_order_id,
    )


def is_shelved(alarm: Alarm, now: datetime) -> bool:
    return alarm.shelved_until is not None and alarm.shelved_until > now


def get_alarm(session: Session, alarm_id: int) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"告警 {alarm_id} 不存在", f"alarm {alarm_id} not found")
    return alarm


def acknowledge_alarm(session: Session, alarm_id: int, *, actor: str, now: datetime) -> Alarm:
    """确认: the duty room has seen it. The first acknowledgement is the one kept."""
    alarm = get_alarm(session, alarm_id)
    if alarm.acknowledged_at is None:
        alarm.acknowledged_by, alarm.acknowledged_at = actor, now
    return alarm


def shelve_alarm(
    session: Session, alarm_id: int, *, actor: str, until: datetime, reason: str, now: datetime
) -> Alarm:
    """搁置 until a time (at most `MAX_SHELVE` ahead); it comes back by itself when that passes."""
    if not reason.strip():
        raise InvalidRequest("搁置需要填写原因", "shelving needs a reason")
    if until <= now:
        raise InvalidRequest("搁置截止时间必须晚于当前时间", "shelve until must be in the future")
    if until - now > MAX_SHELVE:
        raise InvalidRequest("搁置最长 7 天", "an alarm can be shelved for at most 7 days")
    alarm = get_alarm(session, alarm_id)
    alarm.shelved_by, alarm.shelved_until, alarm.shelve_reason = actor, until, reason
    return alarm


def unshelve_alarm(session: Session, alarm_id: int, *, actor: str, now: datetime) -> Alarm:
    alarm = get_alarm(session, alarm_id)
    if is_shelved(alarm, now):
        alarm.shelved_until = now
    return alarm


def list_alarms(
    session: Session,
    now: datetime,
    site_ids: list[str] | None = None,
    *,
    state: str | None = None,
    include_shelved: bool = True,
    limit: int = 100,
) -> list[AlarmView]:
    q = select(Alarm).order_by(Alarm.id.desc())
    if site_ids is not None:
        q = q.where(Alarm.site_id.in_(site_ids))
    if state is not None:
        q = q.where(Alarm.state == state)
    if not include_shelved:
        q = q.where((Alarm.shelved_until.is_(None)) | (Alarm.shelved_until <= now))
    return [alarm_view(a, now) for a in session.scalars(q.limit(limit))]
