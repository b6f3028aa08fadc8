"""Downtime of assets over a period, read from what is already recorded.

Two sources: alarms that mean the asset is not working — a fault code or flag, or lost
communication (the rules of kind fault_code, fault_flags and communication_loss), from raised
to cleared; a threshold alarm is a warning about a running asset and does not count — and
orders marked 停机, from their report or arrival to 完成 (or the cancel). Alarms suppressed by
design (the asset 停用) are not failures. Stops are merged per asset (`intervals.merged`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm
from maintenance.downtime.intervals import Cause, Interval, merged
from maintenance.downtime.models import DOWN_SINCE_ZH, DownSince, DowntimeMark
from maintenance.errors import Conflict, UnknownReference
from maintenance.registry.models import Asset
from maintenance.work_orders.models import WorkOrder
from propwatch.site import SiteFile

DOWN_RULE_KINDS = frozenset({"fault_code", "fault_flags", "communication_loss"})


def down_rules(spec: SiteFile) -> set[str]:
    """Ids of the rules whose alarms mean the asset is down."""
    return {r.id for r in spec.rules if r.kind in DOWN_RULE_KINDS}


def stops(
    session: Session,
    spec: SiteFile,
    start: datetime,
    end: datetime,
    assets: Collection[str] | None = None,
) -> dict[str, list[Interval]]:
    """Each asset's merged stops that overlap [start, end) (only `assets` when given)."""
    site = spec.site.id
    raw: dict[str, list[Interval]] = defaultdict(list)
    rules = down_rules(spec)
    q = select(Alarm).where(
        Alarm.site_id == site,
        Alarm.raised_at < end,
        or_(Alarm.cleared_at.is_(None), Alarm.cleared_at > start),
        or_(Alarm.rule_id.in_(rules), Alarm.alarm_type == "communication_loss"),
        Alarm.suppressed_reason.is_(None),
    )
    if assets is not None:
        q = q.where(Alarm.asset_code.in_(list(assets)))
    for alarm in session.scalars(q):
        reason = alarm.message or alarm.alarm_type
        raw[alarm.asset_code].append(
            Interval(alarm.raised_at, alarm.cleared_at, [Cause("alarm", alarm.id, reason)])
        )
    marks = select(DowntimeMark, WorkOrder).join(
        WorkOrder, WorkOrder.id == DowntimeMark.work_order_id
    )
    marks = marks.where(DowntimeMark.site_id == site, WorkOrder.reported_at < end)
    if assets is not None:
        marks = marks.where(DowntimeMark.asset_code.in_(list(assets)))
    for mark, wo in session.execute(marks):
        begun = wo.reported_at if mark.since == DownSince.REPORTED else wo.arrived_at
        if begun is None or begun >= end:
            continue
        ended = wo.resolved_at or wo.cancelled_at
        if ended is not None and ended <= start:
            continue
        if ended is not None and ended <= begun:
            continue
        reason = f"{wo.code or wo.id} {mark.reason}（{DOWN_SINCE_ZH[DownSince(mark.since)]}）"
        raw[mark.asset_code].append(Interval(begun, ended, [Cause("work_order", wo.id, reason)]))
    return {code: merged(ivs) for code, ivs in raw.items()}


def mark_down(
    session: Session,
    wo: WorkOrder,
    *,
    since: DownSince,
    reason: str,
    actor: str,
    now: datetime,
) -> DowntimeMark:
    """Mark the order's asset down (again: the mark is replaced). An order without an asset
    has nothing to stop; 到场起 before the technician arrived starts at the arrival."""
    if wo.asset_id is None:
        raise UnknownReference(
            {"asset": ("工单没有设备，无法记停机", "the order names no asset to mark down")}
        )
    if wo.status == "cancelled":
        raise Conflict("已取消的工单不能记停机", "a cancelled order cannot mark downtime")
    asset = session.get(Asset, wo.asset_id)
    assert asset is not None
    mark = session.scalar(select(DowntimeMark).where(DowntimeMark.work_order_id == wo.id))
    if mark is None:
        mark = DowntimeMark(work_order_id=wo.id, site_id=wo.site_id, asset_code=asset.code)
        session.add(mark)
    mark.since, mark.reason = since.value, reason
    mark.marked_by, mark.marked_at = actor, now
    session.flush()
    return mark


def clear_mark(session: Session, wo: WorkOrder) -> bool:
    """The order did not stop its asset after all; True when there was a mark."""
    mark = session.scalar(select(DowntimeMark).where(DowntimeMark.work_order_id == wo.id))
    if mark is None:
        return False
    session.delete(mark)
    session.flush()
    return True


def mark_of(session: Session, wo: WorkOrder) -> DowntimeMark | None:
    return session.scalar(select(DowntimeMark).where(DowntimeMark.work_order_id == wo.id))
