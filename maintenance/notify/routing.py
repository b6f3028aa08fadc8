"""路由: which channels an outbox row goes to, and which people each one tells.

The subject of a row (its work order, alarm or asset) gives the zone, the priority and the
assignee; a route matches on topic, zone and priority and names roles, which resolve to people
of the site file at the moment of the event (the duty technician of that shift, the zone's
supervisor). Several routes reaching one channel make one message naming everyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm
from maintenance.assignment import duty_pair, is_night, zone_supervisor
from maintenance.notifications import Notification
from maintenance.work_orders.models import WorkOrder
from propwatch.notification_channels import Audience, NotificationRoute
from propwatch.site import SiteFile


@dataclass(frozen=True)
class Subject:
    zone: str | None = None
    priority: str | None = None
    assignee: str | None = None


@dataclass
class Reach:
    """Whom one channel tells about one row."""

    people: list[str] = field(default_factory=list)
    duty_room: bool = False

    def add(self, person: str | None) -> None:
        if person and person not in self.people:
            self.people.append(person)


def subject_of(session: Session, spec: SiteFile, n: Notification) -> Subject:
    wo = session.get(WorkOrder, n.work_order_id) if n.work_order_id else None
    if wo is None and n.alarm_id is not None:
        alarm = session.get(Alarm, n.alarm_id)
        if alarm is not None and alarm.work_order_id is not None:
            wo = session.get(WorkOrder, alarm.work_order_id)
        if wo is None and alarm is not None:
            return Subject(zone=_asset_zone(spec, alarm.asset_code))
    if wo is not None:
        return Subject(zone=wo.zone_code, priority=wo.priority, assignee=wo.assignee)
    asset = n.payload.get("asset_id") or n.payload.get("asset")
    return Subject(zone=_asset_zone(spec, asset if isinstance(asset, str) else None))


def _asset_zone(spec: SiteFile, asset_id: str | None) -> str | None:
    return next((a.zone for a in spec.assets if a.id == asset_id), None)


def matches(route: NotificationRoute, topic: str, subject: Subject) -> bool:
    if "*" not in route.topics and topic not in route.topics:
        return False
    if route.zones and subject.zone not in route.zones:
        return False
    return not route.priorities or subject.priority in route.priorities


def duty_technician(spec: SiteFile, n: Notification) -> str | None:
    _, day, night = duty_pair(spec, n.created_at)
    return night if is_night(spec, n.created_at) else day


def resolve(spec: SiteFile, n: Notification, subject: Subject) -> dict[str, Reach]:
    """Channel id to whom it tells, over every route that matches the row. A row marked
    `page: false` (a late alarm, one suppressed by design) pages nobody."""
    out: dict[str, Reach] = {}
    if n.payload.get("page") is False:
        return out
    for route in spec.notifications.routes:
        if not matches(route, n.topic, subject):
            continue
        reach = Reach()
        for who in route.to:
            if who is Audience.RECIPIENT:
                reach.add(n.recipient)
            elif who is Audience.ASSIGNEE:
                reach.add(subject.assignee)
            elif who is Audience.SUPERVISOR:
                reach.add(zone_supervisor(spec, subject.zone))
            elif who is Audience.DUTY_TECHNICIAN:
                reach.add(duty_technician(spec, n))
            else:
                reach.duty_room = True
        if not reach.people and not reach.duty_room:
            continue  # nobody to tell (an order without an assignee, say)
        for channel_id in route.channels:
            merged = out.setdefault(channel_id, Reach())
            for person in reach.people:
                merged.add(person)
            merged.duty_room = merged.duty_room or reach.duty_room
    return out
