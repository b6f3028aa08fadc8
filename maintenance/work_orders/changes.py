"""修改工单: a ticket system or the duty room edits what an order says, not where it stands.

Title, description, priority, asset, zone, location, tags and custom fields change here (the
status only moves through `service.transition`). Every edit that changes something is one
audited step (`Step.CHANGED`, its note listing each change in zh-CN) and one
`work_order.changed` event whose payload holds each field's value before and after; an edit
that changes nothing records nothing.

A new priority re-times the limits not yet met as if the order had been registered with it:
from the report (the resolve limit of a reopened order from its last reopening), moved later by
every hold since, exactly as `maintenance.sla` moves them on resume. It is refused once the
order is resolved, cancelled or beyond: its limits are then history the reports are read
against. The asset of an alarm's order is the alarm's and cannot change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance import contracts
from maintenance.errors import UnknownReference
from maintenance.notifications import notify
from maintenance.registry.models import Asset, Zone
from maintenance.sla import due_at, shift_for_hold
from maintenance.work_orders.errors import IllegalChange
from maintenance.work_orders.fields import checked_tags, merged_custom_fields
from maintenance.work_orders.models import OPEN_STATUSES, Status, Step, WorkOrder
from maintenance.work_orders.service import (
    LIMITS,
    MET_BY,
    _audit,
    _payload,
    check_references,
    get_work_order,
)
from propwatch.site import PRIORITY_ZH, Priority, SiteFile

EDITABLE = (
    "title",
    "description",
    "priority",
    "asset",
    "zone",
    "location",
    "tags",
    "custom_fields",
)
"""What `change_work_order` takes; the ticket system's id is the API's (`also`)."""

FIELD_ZH = {
    "title": "标题",
    "description": "描述",
    "priority": "优先级",
    "asset": "设备",
    "zone": "片区",
    "location": "位置",
    "tags": "标签",
    "custom_fields": "自定义字段",
    "external_id": "外部工单号",
}


@dataclass(frozen=True)
class FieldChange:
    """One field's value before and after an edit (as the API shows it)."""

    field: str
    before: Any
    after: Any


def change_work_order(
    session: Session,
    spec: SiteFile,
    work_order_id: int,
    edits: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
    also: Sequence[FieldChange] = (),
) -> tuple[WorkOrder, list[FieldChange]]:
    """Apply `edits` (field → new value, None clears; `custom_fields` merges, None removes a
    key); `also` are changes the caller made itself in this transaction, audited with them.
    Returns the order and what changed (empty: nothing was recorded)."""
    unknown = set(edits) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    wo = get_work_order(session, work_order_id, lock=True)
    changes: list[FieldChange] = []

    def put(name: str, attribute: str, value: Any) -> None:
        before = getattr(wo, attribute)
        if before != value:
            changes.append(FieldChange(name, before, value))
            setattr(wo, attribute, value)

    for name in ("title", "description", "location"):
        if name in edits:
            put(name, name, edits[name])
    if "tags" in edits:
        put("tags", "tags", checked_tags(spec.work_orders, edits["tags"] or ()))
    if "custom_fields" in edits:
        current = dict(wo.custom_fields or {})
        merged = merged_custom_fields(spec.work_orders, current, edits["custom_fields"] or {})
        put("custom_fields", "custom_fields", merged)
    if "asset" in edits or "zone" in edits:
        _place(session, spec, wo, edits, changes)
    if "priority" in edits and edits["priority"] is not None:
        _reprioritise(spec, wo, Priority(edits["priority"]), changes)
    changes += also
    if not changes:
        return wo, []
    wo.updated_at = now
    names = {f.id: f.name for f in spec.work_orders.custom_fields}
    note = _note(changes, names)
    _audit(session, wo, now, actor, wo.status, Step.CHANGED, note)
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.changed",
        message=f"工单 {wo.code} {note}",
        at=now,
        work_order_id=wo.id,
        recipient=wo.assignee,
        payload={
            **_payload(wo),
            "actor": actor,
            "changes": {c.field: {"from": c.before, "to": c.after} for c in changes},
        },
    )
    return wo, changes


def _place(
    session: Session,
    spec: SiteFile,
    wo: WorkOrder,
    edits: Mapping[str, Any],
    changes: list[FieldChange],
) -> None:
    """Asset and zone: a known asset of the site, a zone of the site file, and no zone that
    contradicts the asset's (the zone follows a new asset unless given)."""
    check_references(session, spec, wo.site_id, asset=edits.get("asset"), zone=edits.get("zone"))
    current = session.get(Asset, wo.asset_id) if wo.asset_id is not None else None
    asset = current
    if "asset" in edits:
        code = edits["asset"]
        asset = None
        if code is not None:
            asset = session.scalar(
                select(Asset).where(Asset.site_id == wo.site_id, Asset.code == code)
            )
        if wo.alarm_type is not None and (asset is None or asset.id != wo.asset_id):
            raise IllegalChange(
                f"告警工单 {wo.code} 的设备不能修改",
                f"work order {wo.code} comes from an alarm of its asset; the asset cannot change",
            )
    asset_zone = None
    if asset is not None:
        zone_row = session.get(Zone, asset.zone_id)
        asset_zone = zone_row.code if zone_row is not None else None
    zone = edits.get("zone", wo.zone_code)
    if asset is not None and asset is not current and "zone" not in edits:
        zone = asset_zone
    if asset is not None and asset_zone is not None and zone != asset_zone:
        raise UnknownReference(
            {
                "zone": (
                    f"设备 {asset.code} 属于片区 {asset_zone}，与填写的片区 {zone} 不符",
                    f"asset {asset.code!r} is in zone {asset_zone!r}, not {zone!r}",
                )
            }
        )
    before = current.code if current is not None else None
    after = asset.code if asset is not None else None
    if before != after:
        changes.append(FieldChange("asset", before, after))
        wo.asset_id = asset.id if asset is not None else None
    if zone != wo.zone_code:
        changes.append(FieldChange("zone", wo.zone_code, zone))
        wo.zone_code = zone


def _reprioritise(
    spec: SiteFile, wo: WorkOrder, priority: Priority, changes: list[FieldChange]
) -> None:
    if priority.value == wo.priority and wo.priority_raised_from is None:
        return
    if Status(wo.status) not in OPEN_STATUSES:
        raise IllegalChange(
            f"工单 {wo.code} 已结束处理，不能修改优先级",
            f"work order {wo.code} is {wo.status}; its priority can no longer change",
        )
    changes.append(FieldChange("priority", wo.priority, priority.value))
    wo.priority, wo.priority_raised_from = priority.value, None
    policy = contracts.order_limits(spec, wo, priority)
    tz = spec.site.tz
    holds = _holds(wo)
    reopened = _last_reopened(wo)
    for name in LIMITS:
        if getattr(wo, MET_BY[name]) is not None:
            continue
        limit = getattr(policy, name)
        if limit is None:
            setattr(wo, f"{name}_due", None)
            continue
        start = reopened if name == "resolve" and reopened is not None else wo.reported_at
        due = due_at(start, limit, tz)
        for held, resumed in holds:
            if held >= start:
                due = shift_for_hold(due, limit, held, resumed, tz)
        setattr(wo, f"{name}_due", due)


def _holds(wo: WorkOrder) -> list[tuple[datetime, datetime]]:
    """Every finished hold of the order (挂起 → resumed), from its audit trail."""
    statuses = {s.value for s in Status}
    out, held = [], None
    for t in wo.transitions:
        if t.to_status == Status.ON_HOLD:
            held = t.at
        elif held is not None and t.from_status == Status.ON_HOLD and t.to_status in statuses:
            out.append((held, t.at))
            held = None
    return out


def _last_reopened(wo: WorkOrder) -> datetime | None:
    return max((t.at for t in wo.transitions if t.to_status == Status.REOPENED), default=None)


def _shown(field: str | None, value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "（空）"
    if field == "priority":
        return PRIORITY_ZH[Priority(value)]
    return str(value)


def _note(changes: Sequence[FieldChange], names: Mapping[str, str]) -> str:
    """修改：标题「…」→「…」；标签 +漏水 −噪音 … (the description only as changed)."""
    parts = []
    for c in changes:
        name = FIELD_ZH.get(c.field, c.field)
        if c.field == "description":
            parts.append(f"{name}已修改")
        elif c.field == "tags":
            added = [t for t in c.after if t not in c.before]
            removed = [t for t in c.before if t not in c.after]
            parts.append(
                name + " " + " ".join([*(f"+{t}" for t in added), *(f"−{t}" for t in removed)])
            )
        elif c.field == "custom_fields":
            keys = sorted(set(c.before) | set(c.after))
            before, after = c.before, c.after
            shown = [
                f"{names.get(k, k)} {_shown(None, before.get(k))} → {_shown(None, after.get(k))}"
                for k in keys
                if before.get(k) != after.get(k)
            ]
            parts.append(f"{name} " + "，".join(shown))
        else:
            parts.append(f"{name}「{_shown(c.field, c.before)}」→「{_shown(c.field, c.after)}」")
    return "修改：" + "；".join(parts)
