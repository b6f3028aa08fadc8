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
from maintenance.alarms.states import (
    GATEWAY,
    RECONCILIATION,
    AlarmState,
    JournalAction,
    alarm_state,
    is_shelved,
    record,
)
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


FROM_SNAPSHOT = "from_snapshot"
"""Evidence key of an alarm reconciliation raised before the raise event itself arrived."""

LATE_AFTER = timedelta(minutes=10)
"""An event older than this when it arrives is late: applied and marked, but it pages nobody and
does not open an emergency order by itself (the fault may long be over)."""


def apply_alarm_event(
    session: Session,
    spec: SiteFile,
    event: AlarmEvent,
    now: datetime,
    *,
    late_after: timedelta = LATE_AFTER,
) -> bool:
    """Apply one event; False when it was already applied (same event id)."""
    if session.get(ProcessedEvent, event.event_id) is not None:
        return False
    session.add(ProcessedEvent(event_id=event.event_id, processed_at=now))
    session.flush()  # a racing replica loses here, before it has changed anything else
    alarm = session.scalar(select(Alarm).where(Alarm.episode_id == event.episode_id))
    late = now - event.occurred_at > late_after
    if event.action is AlarmAction.CLEAR:
        if alarm is None:
            alarm = _new_alarm(event, raise_count=0)
            alarm.state, alarm.cleared_at = "cleared", event.occurred_at
            alarm.cleared_by, alarm.late = GATEWAY, late
            session.add(alarm)
            session.flush()
            return True
        if alarm.cleared_at is None:
            clear_alarm(session, alarm, at=event.occurred_at, now=now, by=GATEWAY)
        return True
    if alarm is not None:
        if alarm.raise_count == 0:
            # The clear came first; this is the episode's raise, late.
            alarm.raise_count = 1
            alarm.raised_at, alarm.severity = event.occurred_at, event.severity.value
            alarm.message, alarm.evidence = event.message, dict(event.evidence)
            alarm.late = alarm.late or late
            session.flush()
            _annunciate(session, spec, alarm, event, now)
            record(
                session,
                alarm,
                JournalAction.CLEARED,
                at=alarm.cleared_at or now,
                now=now,
                actor=GATEWAY,
            )
            _annotate_clear(session, alarm, now)
            _tell(session, alarm, "alarm.cleared", now)
        elif alarm.evidence.get(FROM_SNAPSHOT):
            # Raised from a snapshot before its own raise event arrived: the same raise.
            alarm.evidence = dict(event.evidence)
        else:
            alarm.raise_count = Alarm.raise_count + 1
            session.flush()
            record(
                session, alarm, JournalAction.REPEATED, at=event.occurred_at, now=now, actor=GATEWAY
            )
        return True
    alarm = _new_alarm(event, raise_count=1)
    alarm.late = late
    session.add(alarm)
    session.flush()
    asset = _annunciate(session, spec, alarm, event, now)
    if (gone_at := _gone_by_snapshot(asset, alarm)) is not None:
        # The asset's snapshot, newer than this raise, no longer has it: it is already over.
        clear_alarm(
            session,
            alarm,
            at=gone_at,
            now=now,
            by=RECONCILIATION,
            note="网关的当前告警快照中已无此告警",
        )
    return True


def _gone_by_snapshot(asset: Asset | None, alarm: Alarm) -> datetime | None:
    """The time of a snapshot taken after the alarm was raised that does not hold it."""
    if asset is None or asset.state_at is None or asset.state_at < alarm.raised_at:
        return None
    conditions = asset.state.get("conditions")
    if not isinstance(conditions, list):
        return None
    held = {c.get("episode_id") for c in conditions if isinstance(c, dict)}
    return None if alarm.episode_id in held else asset.state_at


def raise_alarm(
    session: Session, spec: SiteFile, event: AlarmEvent, now: datetime, *, late: bool, actor: str
) -> Alarm:
    """A new episode's row, routed and told; for a condition reconciliation finds first."""
    alarm = _new_alarm(event, raise_count=1)
    alarm.late = late
    session.add(alarm)
    session.flush()
    _annunciate(session, spec, alarm, event, now, actor=actor)
    return alarm


def _annunciate(
    session: Session,
    spec: SiteFile,
    alarm: Alarm,
    event: AlarmEvent,
    now: datetime,
    *,
    actor: str = GATEWAY,
) -> Asset | None:
    """Journal the raise, then route and tell it, unless design suppresses it (no work order,
    nobody paged) or it is late (recorded, pages nobody, no emergency order by itself)."""
    asset = session.scalar(
        select(Asset).where(Asset.site_id == alarm.site_id, Asset.code == alarm.asset_code)
    )
    alarm.suppressed_reason = suppression_reason(session, asset, now)
    alarm.stale = (
        alarm.cleared_at is None and _device_offline(asset) and not is_communication_alarm(alarm)
    )
    session.flush()
    note = "迟到告警" if alarm.late else ""
    record(
        session, alarm, JournalAction.RAISED, at=alarm.raised_at, now=now, actor=actor, note=note
    )
    if alarm.suppressed_reason is not None:
        record(
            session,
            alarm,
            JournalAction.SUPPRESSED,
            at=alarm.raised_at,
            now=now,
            actor=actor,
            note=alarm.suppressed_reason,
        )
        alarm.chattering = _is_chattering(session, spec, alarm)
        _tell(session, alarm, "alarm.raised", now, page=False)
        return asset
    _route(session, spec, alarm, event, now, asset=asset)
    _tell(session, alarm, "alarm.raised", now, page=not alarm.late)
    return asset


def clear_alarm(
    session: Session, alarm: Alarm, *, at: datetime, now: datetime, by: str, note: str = ""
) -> None:
    """恢复: the condition is gone (the gateway said so, or its snapshot no longer has it)."""
    alarm.state, alarm.cleared_at, alarm.cleared_by = "cleared", at, by
    alarm.stale = False
    session.flush()
    record(session, alarm, JournalAction.CLEARED, at=at, now=now, actor=by, note=note)
    _annotate_clear(session, alarm, now)
    if alarm.raise_count > 0:
        _tell(session, alarm, "alarm.cleared", now, page=alarm.suppressed_reason is None)


def suppression_reason(session: Session, asset: Asset | None, now: datetime) -> str | None:
    """设计抑制: why an alarm of this asset raised now is not for the duty room, if it is not."""
    if asset is None:
        return None
    if asset.out_of_service_since is not None:
        why = f"：{asset.out_of_service_reason}" if asset.out_of_service_reason else ""
        return f"设备已停用{why}"[:200]
    planned = session.scalar(
        select(WorkOrder.code)
        .where(
            WorkOrder.site_id == asset.site_id,
            WorkOrder.asset_id == asset.id,
            WorkOrder.source == Source.PLAN,
            WorkOrder.status == Status.ON_SITE,
        )
        .limit(1)
    )
    if planned is not None:
        return f"计划保养进行中（工单 {planned}）"
    return None


def _device_offline(asset: Asset | None) -> bool:
    return asset is not None and asset.state.get("online") is False


def is_communication_alarm(alarm: Alarm) -> bool:
    """通信中断 is the one alarm an offline device still knows the truth of."""
    return "/comm/" in alarm.episode_id


SEVERITY_ZH = {
    Severity.CRITICAL: "紧急",
    Severity.MAJOR: "重要",
    Severity.MINOR: "次要",
    Severity.WARNING: "提示",
}


def _tell(session: Session, alarm: Alarm, topic: str, now: datetime, *, page: bool = True) -> None:
    """告警/恢复 into the outbox, once per episode, for the people on duty and the webhooks.

    With `page` False the row still reaches the duty room's stream and the webhooks (marked
    late or suppressed), but no notification route pages anyone for it."""
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
            "late": alarm.late,
            "suppressed": alarm.suppressed_reason is not None,
            "cleared_by": alarm.cleared_by,
            "page": page,
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
    session: Session,
    spec: SiteFile,
    alarm: Alarm,
    event: AlarmEvent,
    now: datetime,
    *,
    asset: Asset | None,
) -> None:
    route = route_for(spec, event, asset.kind if asset else None)
    if alarm.late and route.priority is Priority.EMERGENCY:
        # A late event may describe a fault long over: the duty room judges, not the clock.
        route = route.model_copy(update={"priority": Priority.IMPORTANT})
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
                description=_describe(event)
                + ("\n（迟到送达的告警，未自动按紧急派单）" if alarm.late else ""),
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
        # 出水压力 0.047 MPa（低于下限 0.15）: the point's label, else its name (older gateways)
        name = ev.get("label") or ev.get("metric")
        bound = "低于下限" if ev.get("direction") == "below" else "高于上限"
        unit = f" {ev['unit']}" if ev.get("unit") else ""
        return f"{name} {_reading(ev['value'])}{unit}（{bound} {_reading(ev['limit'])}）"
    return event.message


def _reading(v: object) -> str:
    """A value as people write it: 0.047, 0.15, 12 (three decimals at most, no trailing 0)."""
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


class AlarmView(BaseModel):
    """An alarm episode as the duty room sees it."""

    id: int
    site_id: str
    episode_id: str
    asset: str
    asset_name: str | None = None
    alarm_type: str
    severity: str
    message: str
    state: str
    isa_state: AlarmState
    raised_at: datetime
    cleared_at: datetime | None
    cleared_by: str | None
    raise_count: int
    evidence: dict[str, object]
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    shelved: bool
    shelved_by: str | None
    shelved_until: datetime | None
    shelve_reason: str | None
    chattering: bool
    stale: bool
    late: bool
    suppressed_reason: str | None
    out_of_service_by: str | None
    out_of_service_at: datetime | None
    out_of_service_reason: str | None
    work_order_id: int | None


def alarm_view(alarm: Alarm, now: datetime, asset_name: str | None = None) -> AlarmView:
    return AlarmView(
        id=alarm.id,
        site_id=alarm.site_id,
        episode_id=alarm.episode_id,
        asset=alarm.asset_code,
        asset_name=asset_name,
        alarm_type=alarm.alarm_type,
        severity=alarm.severity,
        message=alarm.message,
        state=alarm.state,
        isa_state=alarm_state(alarm, now),
        raised_at=alarm.raised_at,
        cleared_at=alarm.cleared_at,
        cleared_by=alarm.cleared_by,
        raise_count=alarm.raise_count,
        evidence=alarm.evidence,
        acknowledged_by=alarm.acknowledged_by,
        acknowledged_at=alarm.acknowledged_at,
        shelved=is_shelved(alarm, now),
        shelved_by=alarm.shelved_by,
        shelved_until=alarm.shelved_until,
        shelve_reason=alarm.shelve_reason,
        chattering=alarm.chattering,
        stale=alarm.stale,
        late=alarm.late,
        suppressed_reason=alarm.suppressed_reason,
        out_of_service_by=alarm.out_of_service_by,
        out_of_service_at=alarm.out_of_service_at,
        out_of_service_reason=alarm.out_of_service_reason,
        work_order_id=alarm.work_order_id,
    )


def view_of(session: Session, alarm: Alarm, now: datetime) -> AlarmView:
    name = session.scalar(
        select(Asset.name).where(Asset.site_id == alarm.site_id, Asset.code == alarm.asset_code)
    )
    return alarm_view(alarm, now, name)


def get_alarm(session: Session, alarm_id: int) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"告警 {alarm_id} 不存在", f"alarm {alarm_id} not found")
    return alarm


def acknowledge_alarm(session: Session, alarm_id: int, *, actor: str, now: datetime) -> Alarm:
    """确认: the duty room has seen it. The first acknowledgement is the one kept; a returned
    alarm that is acknowledged leaves the list."""
    alarm = get_alarm(session, alarm_id)
    if alarm.acknowledged_at is None:
        alarm.acknowledged_by, alarm.acknowledged_at = actor, now
        session.flush()
        record(session, alarm, JournalAction.ACKNOWLEDGED, at=now, now=now, actor=actor)
        # Every duty screen stops its alarm sound now, not at its next reload; nobody is paged.
        notify(
            session,
            site_id=alarm.site_id,
            topic="alarm.acknowledged",
            message=f"{alarm.asset_code} 告警已确认：{alarm.message or alarm.alarm_type}",
            at=now,
            alarm_id=alarm.id,
            payload={
                "asset": alarm.asset_code,
                "alarm_type": alarm.alarm_type,
                "episode_id": alarm.episode_id,
                "acknowledged_by": actor,
                "page": False,
            },
            dedup_key=f"alarm.acknowledged:{alarm.id}",
        )
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
    session.flush()
    record(
        session,
        alarm,
        JournalAction.SHELVED,
        at=now,
        now=now,
        actor=actor,
        note=f"至 {until.isoformat()}：{reason}",
    )
    return alarm


def unshelve_alarm(session: Session, alarm_id: int, *, actor: str, now: datetime) -> Alarm:
    alarm = get_alarm(session, alarm_id)
    if is_shelved(alarm, now):
        alarm.shelved_until = now
        session.flush()
        record(session, alarm, JournalAction.UNSHELVED, at=now, now=now, actor=actor)
    return alarm


def remove_from_service(
    session: Session, alarm_id: int, *, actor: str, reason: str, now: datetime
) -> Alarm:
    """停用: a known fault the duty room stops watching until it puts the alarm back."""
    if not reason.strip():
        raise InvalidRequest(
            "停用告警需要填写原因", "taking an alarm out of service needs a reason"
        )
    alarm = get_alarm(session, alarm_id)
    if alarm.out_of_service_at is None:
        alarm.out_of_service_by, alarm.out_of_service_at = actor, now
        alarm.out_of_service_reason = reason[:300]
        session.flush()
        record(
            session, alarm, JournalAction.OUT_OF_SERVICE, at=now, now=now, actor=actor, note=reason
        )
    return alarm


def return_to_service(session: Session, alarm_id: int, *, actor: str, now: datetime) -> Alarm:
    alarm = get_alarm(session, alarm_id)
    if alarm.out_of_service_at is not None:
        alarm.out_of_service_by = alarm.out_of_service_at = alarm.out_of_service_reason = None
        session.flush()
        record(session, alarm, JournalAction.RETURNED_TO_SERVICE, at=now, now=now, actor=actor)
    return alarm


def list_alarms(
    session: Session,
    now: datetime,
    site_ids: list[str] | None = None,
    *,
    state: str | None = None,
    include_shelved: bool = True,
    attention: bool = False,
    limit: int = 100,
) -> list[AlarmView]:
    """Newest first. `attention`: what the duty room must see, i.e. every alarm but the
    acknowledged ones that have returned to normal (and suppressed ones that have returned)."""
    q = select(Alarm, Asset.name).outerjoin(
        Asset, (Asset.site_id == Alarm.site_id) & (Asset.code == Alarm.asset_code)
    )
    q = q.where(Alarm.raise_count > 0).order_by(Alarm.id.desc())
    if site_ids is not None:
        q = q.where(Alarm.site_id.in_(site_ids))
    if state is not None:
        q = q.where(Alarm.state == state)
    if not include_shelved:
        q = q.where((Alarm.shelved_until.is_(None)) | (Alarm.shelved_until <= now))
    if attention:
        q = q.where(
            Alarm.cleared_at.is_(None)
            | Alarm.out_of_service_at.is_not(None)
            | (Alarm.acknowledged_at.is_(None) & Alarm.suppressed_reason.is_(None))
            | ((Alarm.shelved_until > now) & Alarm.suppressed_reason.is_(None))
        )
    return [alarm_view(a, now, name) for a, name in session.execute(q.limit(limit))]
