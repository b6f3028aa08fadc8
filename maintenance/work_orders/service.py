"""工单 lifecycle: 登记 → 派单 → 接单 → 到场 → 完成 → 验收 → 关闭 → 回访, with 挂起, 取消, 重开.

Every creation is idempotent on its source key; every step is checked against `ALLOWED`, audited
as a `WorkOrderTransition` (who, when, note, attachment references) and announced in the
`notification` outbox. Respond is met by 接单, arrive by 到场, resolve by 完成, revisit by 回访.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance import contracts
from maintenance.assignment import choose_assignee
from maintenance.errors import UnknownReference
from maintenance.notifications import notify
from maintenance.parts import service as parts
from maintenance.registry.models import Asset, Zone
from maintenance.sla import compute_due, due_at, revisit_due, shift_for_hold
from maintenance.work_orders import revisits
from maintenance.work_orders.errors import (
    IllegalTransition,
    InvalidWorkOrder,
    WorkOrderNotFound,
)
from maintenance.work_orders.fields import checked_tags, merged_custom_fields
from maintenance.work_orders.models import (
    OPEN_STATUSES,
    STATUS_ZH,
    Source,
    Status,
    WorkOrder,
    WorkOrderTransition,
)
from propwatch.site import (
    CATEGORY_ZH,
    COMPLAINT_TIER_ZH,
    PRIORITY_TIER,
    PRIORITY_ZH,
    Category,
    ComplaintTier,
    Priority,
    SiteFile,
)

SYSTEM = "system"
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a ticket system's `reported_at` may be before it is refused."""

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.REGISTERED: frozenset({Status.DISPATCHED, Status.ON_HOLD, Status.CANCELLED}),
    Status.DISPATCHED: frozenset({Status.ACCEPTED, Status.ON_HOLD, Status.CANCELLED}),
    Status.ACCEPTED: frozenset({Status.ON_SITE, Status.ON_HOLD, Status.CANCELLED}),
    Status.ON_SITE: frozenset({Status.RESOLVED, Status.ON_HOLD}),
    Status.ON_HOLD: frozenset({Status.CANCELLED}),  # plus the status it was held from
    Status.RESOLVED: frozenset({Status.VERIFIED, Status.REOPENED}),
    Status.VERIFIED: frozenset({Status.CLOSED, Status.REOPENED}),
    Status.CLOSED: frozenset({Status.REVISITED, Status.REOPENED}),
    Status.REVISITED: frozenset({Status.REOPENED}),
    Status.REOPENED: frozenset({Status.DISPATCHED, Status.ON_HOLD, Status.CANCELLED}),
    Status.CANCELLED: frozenset(),
}
"""The lifecycle. A held order resumes to where it was held from (or is cancelled)."""

NEEDS_REASON = (Status.ON_HOLD, Status.CANCELLED, Status.REOPENED)

LIMITS = ("respond", "arrive", "resolve")
MET_BY = {"respond": "accepted_at", "arrive": "arrived_at", "resolve": "resolved_at"}


@dataclass(frozen=True)
class NewWorkOrder:
    site_id: str
    source: Source
    source_key: str
    category: Category | str
    priority: Priority
    title: str
    reported_at: datetime
    asset_code: str | None = None
    description: str = ""
    alarm_type: str | None = None
    dedup_key: str | None = None
    assignee: str | None = None
    zone_code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    location: str | None = None
    tags: Sequence[str] = ()
    custom_fields: dict[str, Any] = field(default_factory=dict)


def check_references(
    session: Session,
    spec: SiteFile,
    site_id: str,
    *,
    asset: str | None = None,
    zone: str | None = None,
    assignee: str | None = None,
) -> None:
    """Refuse an asset, zone or person this site does not have, naming every field at fault
    (`UnknownReference`), so that nothing given is silently dropped or stored as typed.

    For what people and systems send (报修, the ticket system); the alarm path skips it and keeps
    an order for an asset the registry does not know yet. A zone given with an asset must be
    the asset's own zone, since the order takes the asset's.
    """
    at_fault: dict[str, tuple[str, str]] = {}
    asset_zone: str | None = None
    if asset is not None:
        row = session.scalar(
            select(Asset).where(
                Asset.site_id == site_id, Asset.code == asset, Asset.retired_at.is_(None)
            )
        )
        if row is None:
            at_fault["asset"] = (f"设备 {asset} 不在本小区", f"unknown asset {asset!r}")
        else:
            found = session.get(Zone, row.zone_id)
            asset_zone = found.code if found else None
    if zone is not None:
        if not any(z.id == zone for z in spec.zones):
            at_fault["zone"] = (f"片区 {zone} 不在本小区", f"unknown zone {zone!r}")
        elif asset_zone is not None and zone != asset_zone:
            at_fault["zone"] = (
                f"设备 {asset} 属于片区 {asset_zone}，与填写的片区 {zone} 不符",
                f"asset {asset!r} is in zone {asset_zone!r}, not {zone!r}",
            )
    if assignee is not None and not _is_person(spec, assignee):
        at_fault["assignee"] = _unknown_person(assignee)
    if at_fault:
        raise UnknownReference(at_fault)


def create_work_order(
    session: Session, spec: SiteFile, new: NewWorkOrder, now: datetime, actor: str = SYSTEM
) -> tuple[WorkOrder, bool]:
    """Register a work order, or return the one that already has this source key.

    The unique constraints on `source_key` and `dedup_key` make a duplicate impossible even for
    two replicas racing; the loser gets the winner's row and False. An order whose assignee is
    known (given, or from the zone and duty rota) is dispatched to them at once. An asset the
    registry does not know is left off the order: `check_references` first where that must be
    refused.
    """
    existing = session.scalar(select(WorkOrder).where(WorkOrder.source_key == new.source_key))
    if existing is not None:
        return existing, False
    if new.reported_at.tzinfo is None:
        raise InvalidWorkOrder("报告时间缺少时区", "reported_at must carry a time zone")
    if new.reported_at > now + CLOCK_SKEW:
        raise InvalidWorkOrder("报告时间晚于当前时间", "reported_at is in the future")
    reported_at = min(new.reported_at, now)
    asset = None
    zone_code = new.zone_code
    if new.asset_code:
        asset = session.scalar(
            select(Asset).where(Asset.site_id == new.site_id, Asset.code == new.asset_code)
        )
        if asset is not None:
            zone = session.get(Zone, asset.zone_id)
            zone_code = zone.code if zone else zone_code
    if new.assignee is not None:
        _check_person(spec, new.assignee)
    tags = checked_tags(spec.work_orders, new.tags)
    custom_fields = merged_custom_fields(spec.work_orders, {}, new.custom_fields)
    assignee = new.assignee or choose_assignee(spec, zone_code, reported_at)
    if new.source is Source.PLAN and asset is not None and _technician_plan(new):
        # 维保合同: the contractor's technician takes the plan orders of the assets it covers
        assignee = contracts.plan_assignee(spec, asset.code, reported_at) or assignee
    contracts.check_assignee(spec, assignee, asset.code if asset else None, reported_at)
    due = compute_due(spec, new.category, new.priority, reported_at, asset.code if asset else None)
    wo = WorkOrder(
        site_id=new.site_id,
        source=new.source,
        source_key=new.source_key,
        asset_id=asset.id if asset else None,
        category=str(new.category),
        priority=new.priority.value,
        status=Status.REGISTERED,
        title=new.title,
        description=new.description,
        alarm_type=new.alarm_type,
        assignee=assignee,
        zone_code=zone_code,
        location=new.location,
        tags=tags,
        custom_fields=custom_fields,
        reported_at=reported_at,
        created_at=now,
        updated_at=now,
        respond_due=due.respond,
        arrive_due=due.arrive,
        resolve_due=due.resolve,
        occurrences=1,
        details=dict(new.details),
        dedup_key=new.dedup_key,
        chattering=False,
        paused_seconds=0.0,
        reopen_count=0,
    )
    try:
        with session.begin_nested():
            session.add(wo)
            session.flush()
    except IntegrityError:
        winner = session.scalar(select(WorkOrder).where(WorkOrder.source_key == new.source_key))
        if winner is None and new.dedup_key is not None:
            winner = session.scalar(select(WorkOrder).where(WorkOrder.dedup_key == new.dedup_key))
        if winner is None:
            raise
        return winner, False
    wo.code = f"GD{reported_at.astimezone(spec.site.tz):%Y%m%d}-{wo.id:05d}"
    _audit(session, wo, now, actor, None, Status.REGISTERED, "登记")
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.created",
        message=f"新工单 {wo.code}【{PRIORITY_ZH[new.priority]}】{wo.title}",
        at=now,
        work_order_id=wo.id,
        recipient=assignee,
        payload=_payload(wo),
    )
    if assignee is not None:
        wo.status, wo.dispatched_at = Status.DISPATCHED, now
        _audit(session, wo, now, SYSTEM, Status.REGISTERED, Status.DISPATCHED, "自动派单")
    return wo, True


def get_work_order(session: Session, work_order_id: int, *, lock: bool = False) -> WorkOrder:
    """The order; with `lock`, its row locked and read afresh: an order this session already
    holds is otherwise returned as it was read, without the lock or the other's change."""
    wo = session.get(WorkOrder, work_order_id, with_for_update=lock, populate_existing=lock)
    if wo is None:
        raise WorkOrderNotFound(
            f"工单 {work_order_id} 不存在", f"work order {work_order_id} not found"
        )
    return wo


def transition(
    session: Session,
    spec: SiteFile,
    work_order_id: int,
    to: Status,
    *,
    actor: str,
    now: datetime,
    note: str = "",
    attachments: Sequence[str] = (),
    assignee: str | None = None,
    revisit: revisits.RevisitScores | None = None,
) -> WorkOrder:
    """Move a work order one step, or refuse with `IllegalTransition`.

    `note` is the reason for 挂起 / 取消 / 重开 and is required there; `assignee` goes with 派单;
    `revisit` (the scores) with 回访, where the order may need them and an unsatisfied one
    reopens it or opens a follow-up (`maintenance.work_orders.revisits`).
    """
    wo = get_work_order(session, work_order_id, lock=True)
    current = Status(wo.status)
    allowed = ALLOWED[current]
    if current is Status.ON_HOLD and wo.held_from:
        allowed = allowed | {Status(wo.held_from)}
    if to not in allowed:
        raise IllegalTransition(
            f"工单 {wo.code} 当前为「{STATUS_ZH[current]}」，不能转为「{STATUS_ZH[to]}」",
            f"work order {wo.code} is {current.value}; it cannot go to {to.value}",
        )
    if to is Status.REVISITED:
        revisits.check(wo, revisit)
    elif revisit is not None:
        raise revisits.not_at_revisit()
    if to in NEEDS_REASON and not note.strip():
        raise InvalidWorkOrder(
            f"「{STATUS_ZH[to]}」需要填写原因", f"{to.value} needs a reason in the note"
        )
    if to is Status.DISPATCHED:
        if assignee is not None:
            _check_person(spec, assignee)
            contracts.check_assignee(spec, assignee, contracts.asset_code(wo), wo.reported_at)
            wo.assignee = assignee
        if wo.assignee is None:
            raise InvalidWorkOrder("派单需要指定维修人员", "dispatch needs an assignee")
    if current is Status.ON_HOLD:
        _resume(spec, wo, now)
    extra: dict[str, Any] = {}
    if revisit is not None:
        said = revisits.summary(revisit)
        note = f"{note.strip()}；{said}" if note.strip() else said
        extra["revisit"] = {**dict(revisit.items()), "via": revisit.via.value}
    _apply(session, spec, wo, current, to, actor, now, note)
    parts.on_transition(session, wo, to, actor=actor, now=now)  # 完成 issues, 取消 returns
    _audit(session, wo, now, actor, current, to, note, attachments)
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.transition",
        message=f"工单 {wo.code} {STATUS_ZH[current]} → {STATUS_ZH[to]}"
        + (f"：{note}" if note else ""),
        at=now,
        work_order_id=wo.id,
        recipient=wo.assignee,
        payload={**_payload(wo), "from": current.value, "to": to.value, "actor": actor, **extra},
    )
    if to is Status.REVISITED:
        row = revisits.record(session, wo, revisit, actor=actor, now=now, due=wo.revisit_due)
        revisits.follow_through(session, spec, wo, row, revisit, actor=actor, now=now)
    return wo


def _apply(
    session: Session,
    spec: SiteFile,
    wo: WorkOrder,
    current: Status,
    to: Status,
    actor: str,
    now: datetime,
    note: str,
) -> None:
    wo.status, wo.updated_at = to, now
    if to is Status.DISPATCHED:
        wo.dispatched_at = now
    elif to is Status.ACCEPTED:
        wo.accepted_at = wo.accepted_at or now
    elif to is Status.ON_SITE:
        wo.arrived_at = wo.arrived_at or now
    elif to is Status.ON_HOLD:
        wo.held_at, wo.held_from, wo.hold_reason = now, current.value, note
    elif to is Status.RESOLVED:
        wo.resolved_at, wo.resolved_by = now, wo.assignee or actor
        wo.revisit_due = revisit_due(spec, wo.category, _sla_priority(wo), now)
        wo.dedup_key = None
    elif to is Status.VERIFIED:
        wo.verified_at = now
    elif to is Status.CLOSED:
        wo.closed_at = now
    elif to is Status.REVISITED:
        wo.revisited_at = now
    elif to is Status.CANCELLED:
        wo.cancelled_at, wo.dedup_key = now, None
    elif to is Status.REOPENED:
        # 返修: the fix did not hold. The resolve clock starts again from the reopening.
        wo.reopen_count += 1
        limit = contracts.order_limits(spec, wo, _sla_priority(wo)).resolve
        wo.resolve_due = due_at(now, limit, spec.site.tz) if limit else None
        wo.resolved_at = wo.verified_at = wo.closed_at = wo.revisited_at = None
        wo.revisit_due = None
        asset = session.get(Asset, wo.asset_id) if wo.asset_id is not None else None
        if wo.alarm_type and asset is not None:
            key = alarm_dedup_key(wo.site_id, asset.code, wo.alarm_type)
            taken = session.scalar(select(WorkOrder.id).where(WorkOrder.dedup_key == key))
            wo.dedup_key = key if taken is None else None


def _resume(spec: SiteFile, wo: WorkOrder, now: datetime) -> None:
    """Give back the time on hold: shift every due time not yet met (rule in `maintenance.sla`)."""
    assert wo.held_at is not None
    policy = contracts.order_limits(spec, wo, _sla_priority(wo))
    for name in LIMITS:
        due: datetime | None = getattr(wo, f"{name}_due")
        limit = getattr(policy, name)
        if due is None or limit is None or getattr(wo, MET_BY[name]) is not None:
            continue
        setattr(wo, f"{name}_due", shift_for_hold(due, limit, wo.held_at, now, spec.site.tz))
    wo.paused_seconds += (now - wo.held_at).total_seconds()
    wo.held_at = wo.held_from = None


def hold(
    session: Session,
    spec: SiteFile,
    work_order_id: int,
    *,
    reason: str,
    actor: str,
    now: datetime,
    attachments: Sequence[str] = (),
) -> WorkOrder:
    """挂起 (waiting for parts, for the owner): the time-limit clock stops."""
    return transition(
        session,
        spec,
        work_order_id,
        Status.ON_HOLD,
        actor=actor,
        now=now,
        note=reason,
        attachments=attachments,
    )


def resume(
    session: Session,
    spec: SiteFile,
    work_order_id: int,
    *,
    actor: str,
    now: datetime,
    note: str = "",
) -> WorkOrder:
    """Back to where it was held from; due times move back by the hold (see `maintenance.sla`)."""
    wo = get_work_order(session, work_order_id)
    if wo.status != Status.ON_HOLD or wo.held_from is None:
        raise IllegalTransition(
            f"工单 {wo.code} 未挂起，无需恢复", f"work order {wo.code} is not on hold"
        )
    return transition(
        session, spec, work_order_id, Status(wo.held_from), actor=actor, now=now, note=note
    )


def reassign(
    session: Session,
    spec: SiteFile,
    work_order_id: int,
    assignee: str,
    *,
    actor: str,
    now: datetime,
    note: str = "",
) -> WorkOrder:
    """改派 by the duty room: the new technician has to accept it again."""
    _check_person(spec, assignee)
    wo = get_work_order(session, work_order_id, lock=True)
    contracts.check_assignee(spec, assignee, contracts.asset_code(wo), wo.reported_at)
    current = Status(wo.status)
    if current not in OPEN_STATUSES:
        raise IllegalTransition(
            f"工单 {wo.code} 当前为「{STATUS_ZH[current]}」，不能改派",
            f"work order {wo.code} is {current.value}; it cannot be reassigned",
        )
    before = wo.assignee
    wo.assignee, wo.updated_at = assignee, now
    if current in (Status.REGISTERED, Status.REOPENED, Status.ACCEPTED):
        wo.status, wo.dispatched_at = Status.DISPATCHED, now
    text = f"改派 {before or '—'} → {assignee}" + (f"：{note}" if note else "")
    _audit(session, wo, now, actor, current, "reassigned", text)
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.reassigned",
        message=f"工单 {wo.code} 已改派给您：{wo.title}",
        at=now,
        work_order_id=wo.id,
        recipient=assignee,
        payload={**_payload(wo), "previous_assignee": before, "actor": actor},
    )
    return wo


def annotate(
    session: Session,
    work_order_id: int,
    *,
    actor: str,
    now: datetime,
    note: str,
    attachments: Sequence[str] = (),
) -> WorkOrder:
    """跟进记录: a note or photos without a change of status, announced like every comment
    (`maintenance.work_orders.comments.add_comment`)."""
    from maintenance.work_orders.comments import add_comment  # it builds on this module

    add_comment(session, work_order_id, actor=actor, now=now, text=note, attachments=attachments)
    return get_work_order(session, work_order_id)


def alarm_dedup_key(site_id: str, asset_code: str, alarm_type: str) -> str:
    """The key that allows one open alarm work order per asset and alarm type."""
    return f"{site_id}:{asset_code}:{alarm_type}"


def open_work_order_for(session: Session, asset_id: int, alarm_type: str) -> WorkOrder | None:
    """The open work order for this asset and alarm type, if any (one at a time)."""
    return session.scalar(
        select(WorkOrder).where(
            WorkOrder.asset_id == asset_id,
            WorkOrder.alarm_type == alarm_type,
            WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
        )
    )


def list_work_orders(
    session: Session,
    site_ids: list[str] | None = None,
    status: str | None = None,
    limit: int = 100,
    *,
    assignee: str | None = None,
    zone: str | None = None,
    offset: int = 0,
) -> list[WorkOrder]:
    q = select(WorkOrder).order_by(WorkOrder.id.desc()).limit(limit).offset(offset)
    if site_ids is not None:
        q = q.where(WorkOrder.site_id.in_(site_ids))
    if status is not None:
        q = q.where(WorkOrder.status == status)
    if assignee is not None:
        q = q.where(WorkOrder.assignee == assignee)
    if zone is not None:
        q = q.where(WorkOrder.zone_code == zone)
    return list(session.scalars(q))


class TransitionView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    note: str
    attachments: list[str]


class WorkOrderView(BaseModel):
    """A work order as the API returns it: every due time and milestone, zh labels included."""

    id: int
    code: str | None
    site_id: str
    source: str
    status: str
    status_zh: str
    category: str
    category_zh: str
    priority: str
    priority_zh: str
    priority_raised_from: str | None
    complaint_tier: ComplaintTier | None
    complaint_tier_zh: str | None
    title: str
    description: str
    asset: str | None
    asset_name: str | None
    alarm_type: str | None
    zone: str | None
    location: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    assignee: str | None
    occurrences: int
    chattering: bool
    reported_at: datetime
    updated_at: datetime
    respond_due: datetime | None
    arrive_due: datetime | None
    resolve_due: datetime | None
    revisit_due: datetime | None
    dispatched_at: datetime | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    resolved_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    revisited_at: datetime | None
    cancelled_at: datetime | None
    on_hold_since: datetime | None
    hold_reason: str | None
    paused_seconds: float
    reopen_count: int
    overdue: list[str]
    transitions: list[TransitionView]


def overdue_limits(wo: WorkOrder, now: datetime) -> list[str]:
    """Limits past due and not met (none while on hold: the clock is stopped)."""
    if wo.status in (Status.ON_HOLD, Status.CANCELLED):
        return []
    out = []
    for name in LIMITS:
        due = getattr(wo, f"{name}_due")
        met = getattr(wo, MET_BY[name])
        if due is not None and (met > due if met is not None else now > due):
            out.append(name)
    if wo.revisit_due is not None and (
        wo.revisited_at > wo.revisit_due if wo.revisited_at else now > wo.revisit_due
    ):
        out.append("revisit")
    return out


def work_order_view(
    session: Session, wo: WorkOrder, now: datetime, *, with_transitions: bool = True
) -> WorkOrderView:
    asset = session.get(Asset, wo.asset_id) if wo.asset_id is not None else None
    try:
        category_zh = CATEGORY_ZH[Category(wo.category)]
    except ValueError:
        category_zh = wo.category
    tier = complaint_tier(wo)
    return WorkOrderView(
        id=wo.id,
        code=wo.code,
        site_id=wo.site_id,
        source=wo.source,
        status=wo.status,
        status_zh=STATUS_ZH[Status(wo.status)],
        category=wo.category,
        category_zh=category_zh,
        priority=wo.priority,
        priority_zh=PRIORITY_ZH[Priority(wo.priority)],
        priority_raised_from=wo.priority_raised_from,
        complaint_tier=tier,
        complaint_tier_zh=COMPLAINT_TIER_ZH[tier] if tier else None,
        title=wo.title,
        description=wo.description,
        asset=asset.code if asset else None,
        asset_name=asset.name if asset else None,
        alarm_type=wo.alarm_type,
        zone=wo.zone_code,
        location=wo.location,
        tags=list(wo.tags or ()),
        custom_fields=dict(wo.custom_fields or {}),
        assignee=wo.assignee,
        occurrences=wo.occurrences,
        chattering=wo.chattering,
        reported_at=wo.reported_at,
        updated_at=wo.updated_at,
        respond_due=wo.respond_due,
        arrive_due=wo.arrive_due,
        resolve_due=wo.resolve_due,
        revisit_due=wo.revisit_due,
        dispatched_at=wo.dispatched_at,
        accepted_at=wo.accepted_at,
        arrived_at=wo.arrived_at,
        resolved_at=wo.resolved_at,
        verified_at=wo.verified_at,
        closed_at=wo.closed_at,
        revisited_at=wo.revisited_at,
        cancelled_at=wo.cancelled_at,
        on_hold_since=wo.held_at,
        hold_reason=wo.hold_reason if wo.status == Status.ON_HOLD else None,
        paused_seconds=wo.paused_seconds,
        reopen_count=wo.reopen_count,
        overdue=overdue_limits(wo, now),
        transitions=[TransitionView.model_validate(t) for t in wo.transitions]
        if with_transitions
        else [],
    )


def complaint_tier(wo: WorkOrder) -> ComplaintTier | None:
    """投诉分级 of a complaint: the tier it was registered with (an escalation's raised priority
    hurries it along but does not make a 一般投诉 a 复杂投诉)."""
    if wo.category != Category.COMPLAINT:
        return None
    return PRIORITY_TIER[_sla_priority(wo)]


def _sla_priority(wo: WorkOrder) -> Priority:
    """Due times follow the priority the order was registered with, not an escalated one."""
    return Priority(wo.priority_raised_from or wo.priority)


def _is_person(spec: SiteFile, person: str) -> bool:
    return any(p.id == person for p in spec.people)


def _unknown_person(person: str) -> tuple[str, str]:
    return f"人员 {person} 不在本小区名册中", f"unknown person {person!r}"


def _check_person(spec: SiteFile, person: str) -> None:
    if not _is_person(spec, person):
        raise UnknownReference({"assignee": _unknown_person(person)})


def _audit(
    session: Session,
    wo: WorkOrder,
    now: datetime,
    actor: str,
    from_status: str | None,
    to_status: str,
    note: str,
    attachments: Sequence[str] = (),
) -> None:
    session.add(
        WorkOrderTransition(
            work_order_id=wo.id,
            at=now,
            actor=actor,
            from_status=from_status,
            to_status=to_status,
            note=note,
            attachments=list(attachments),
        )
    )


def _payload(wo: WorkOrder) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {
        "work_order": wo.code,
        "id": wo.id,
        "status": wo.status,
        "priority": wo.priority,
        "category": wo.category,
        "assignee": wo.assignee,
        "zone": wo.zone_code,
        "respond_due": iso(wo.respond_due),
        "arrive_due": iso(wo.arrive_due),
        "resolve_due": iso(wo.resolve_due),
        "updated_at": iso(wo.updated_at),
    }


def _technician_plan(new: NewWorkOrder) -> bool:
    return bool(new.details.get("role", "technician") == "technician")
