"""Apply alarm events: record the episode, open (or annotate) the work order it routes to."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm, ProcessedEvent
from maintenance.registry.models import Asset
from maintenance.work_orders.models import Source, WorkOrderTransition
from maintenance.work_orders.service import (
    NewWorkOrder,
    create_work_order,
    open_work_order_for,
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
    alarm = session.scalar(select(Alarm).where(Alarm.episode_id == event.episode_id))
    if event.action is AlarmAction.CLEAR:
        if alarm is not None and alarm.state != "cleared":
            alarm.state, alarm.cleared_at = "cleared", event.occurred_at
            if alarm.work_order_id is not None:
                session.add(
                    WorkOrderTransition(
                        work_order_id=alarm.work_order_id,
                        at=now,
                        actor="gateway",
                        from_status=None,
                        to_status="note",
                        note=f"告警已恢复 {event.occurred_at.isoformat()}（工单不自动关闭）",
                    )
                )
        return True
    if alarm is not None:
        alarm.raise_count += 1
        return True
    alarm = Alarm(
        site_id=event.site_id,
        episode_id=event.episode_id,
        asset_code=event.asset_id,
        alarm_type=event.alarm_type,
        severity=event.severity.value,
        rule_id=event.rule_id,
        message=event.message,
        state="raised",
        raised_at=event.occurred_at,
        evidence=dict(event.evidence),
    )
    session.add(alarm)
    asset = session.scalar(
        select(Asset).where(Asset.site_id == event.site_id, Asset.code == event.asset_id)
    )
    route = route_for(spec, event, asset.kind if asset else None)
    if not route.create_work_order:
        return True
    if asset is not None and (wo := open_work_order_for(session, asset.id, event.alarm_type)):
        wo.occurrences += 1
        alarm.work_order_id = wo.id
        return True
    assert route.category is not None
    asset_name = asset.name if asset else event.asset_id
    wo, _ = create_work_order(
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
        ),
        now,
    )
    alarm.work_order_id = wo.id
    log.info("work order %s for alarm %s on %s", wo.code, event.alarm_type, event.asset_id)
    return True


def _describe(event: AlarmEvent) -> str:
    ev = event.evidence
    if "value" in ev and "limit" in ev:
        cmp = "低于" if ev.get("direction") == "below" else "高于"
        return (
            f"{ev.get('metric')} = {ev['value']:.3f} {ev.get('unit', '')}，{cmp}限值 {ev['limit']}"
        )
    return event.message
