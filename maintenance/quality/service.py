"""巡查发现 and 整改: record a finding, issue its rectification to whoever answers for the place,
and walk it 下发 → 整改中 → 已整改 (with evidence) → 复查通过, or 复查不通过 back to 整改中.

片区责任制: the place's zone (an asset's zone, a public place's zone, the zone holding the
building) and the department the finding's type names; the first of that department's people in
the zone takes it, the zone's supervisor when the zone has none. Every step is one audited row
(who, when, from, to, note, photos); the issue and each step also go to the outbox
(`rectification.issued`, `rectification.changed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from maintenance.errors import UnknownReference
from maintenance.notifications import notify
from maintenance.quality.deadlines import rectification_deadline
from maintenance.quality.errors import (
    FindingNotFound,
    IllegalRectificationStep,
    InvalidFinding,
    RectificationNotFound,
)
from maintenance.quality.models import (
    OPEN_STATUSES,
    STATUS_ZH,
    Finding,
    Rectification,
    RectificationStatus,
    RectificationStep,
)
from maintenance.work_orders.models import Source, WorkOrder
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.quality import (
    DEPARTMENT_STAFF,
    DEPARTMENT_ZH,
    SEVERITY_ZH,
    Department,
    FindingSeverity,
)
from propwatch.site import KIND_CATEGORY, Category, Priority, SiteFile

NEXT: dict[RectificationStatus, tuple[RectificationStatus, ...]] = {
    RectificationStatus.ISSUED: (RectificationStatus.IN_PROGRESS,),
    RectificationStatus.IN_PROGRESS: (RectificationStatus.RECTIFIED,),
    RectificationStatus.RECTIFIED: (RectificationStatus.PASSED, RectificationStatus.FAILED),
    RectificationStatus.PASSED: (),
}
"""The lifecycle; 复查不通过 (FAILED) lands back in 整改中."""

STEP_ZH = {
    RectificationStatus.ISSUED: "下发",
    RectificationStatus.IN_PROGRESS: "开始整改",
    RectificationStatus.RECTIFIED: "整改完成",
    RectificationStatus.PASSED: "复查通过",
    RectificationStatus.FAILED: "复查不通过",
}
WORK_ORDER_STEP = "work_order"
"""A step that opened or linked a work order (its note names the order)."""


@dataclass(frozen=True)
class NewFinding:
    site_id: str
    type_id: str
    severity: FindingSeverity
    reported_by: str
    asset: str | None = None
    place: str | None = None
    building: str | None = None
    floor: str | None = None
    note: str = ""
    requirement: str = ""
    photos: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Place:
    """Where a finding is, resolved against the site file."""

    zone: str
    name: str
    asset: str | None = None
    place: str | None = None
    building: str | None = None
    floor: str | None = None


def local(at: datetime, spec: SiteFile) -> str:
    """`10月10日 23:59`, the way the duty room reads a time."""
    t = at.astimezone(spec.site.tz)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def resolve_place(spec: SiteFile, new: NewFinding) -> Place:
    """The finding's place and zone, or `UnknownReference` naming the field at fault."""
    given = [k for k in ("asset", "place", "building") if getattr(new, k)]
    if len(given) != 1:
        raise InvalidFinding(
            "请填写一个位置：设备、公共区域或楼栋（三选一）",
            "give exactly one of asset, place or building",
        )
    floor = new.floor or None
    if new.asset:
        asset = next((a for a in spec.assets if a.id == new.asset), None)
        if asset is None:
            raise UnknownReference(
                {"asset": (f"设备 {new.asset} 不存在", f"unknown asset {new.asset!r}")}
            )
        name = asset.name + (f" {floor}层" if floor else "")
        return Place(asset.zone, name, asset=asset.id, building=asset.building or None, floor=floor)
    if new.place:
        place = spec.quality.place(new.place)
        if place is None:
            known = "、".join(p.name for p in spec.quality.places) or "（未配置公共区域）"
            raise UnknownReference(
                {
                    "place": (
                        f"公共区域 {new.place} 不存在；已有：{known}",
                        f"unknown public place {new.place!r}",
                    )
                }
            )
        floor = floor or place.floor or None
        return Place(
            place.zone, place.name, place=place.id, building=place.building or None, floor=floor
        )
    building = new.building or ""
    zone = next((z for z in spec.zones if building in z.buildings), None)
    if zone is None:
        raise UnknownReference(
            {
                "building": (
                    f"楼栋 {building} 不属于任何片区",
                    f"building {building!r} is in no zone",
                )
            }
        )
    return Place(
        zone.id, building + (f" {floor}层" if floor else ""), building=building, floor=floor
    )


def responsible(spec: SiteFile, zone_code: str, department: Department) -> str | None:
    """片区责任制: the zone's first person of the department, else the zone's supervisor."""
    zone = spec.zone(zone_code)
    people: list[str] = getattr(zone, DEPARTMENT_STAFF[department])
    return people[0] if people else zone.supervisor


def record_finding(
    session: Session, spec: SiteFile, new: NewFinding, now: datetime
) -> Rectification:
    """Record the finding and issue its rectification (下发), due per the severity's deadline."""
    kind = spec.quality.finding_type(new.type_id)
    if kind is None:
        known = "、".join(f"{t.id}（{t.name}）" for t in spec.quality.finding_types)
        raise UnknownReference(
            {
                "type": (
                    f"问题类型 {new.type_id} 不存在；可选：{known}",
                    f"unknown type {new.type_id!r}",
                )
            }
        )
    place = resolve_place(spec, new)
    finding = Finding(
        site_id=new.site_id,
        asset_code=place.asset,
        place_id=place.place,
        building=place.building,
        floor=place.floor,
        zone_code=place.zone,
        type_id=kind.id,
        severity=new.severity.value,
        note=new.note,
        photos=list(new.photos),
        reported_by=new.reported_by,
        reported_at=now,
        created_at=now,
    )
    session.add(finding)
    session.flush()
    assignee = responsible(spec, place.zone, kind.department)
    deadline = rectification_deadline(spec, new.severity, now)
    requirement = new.requirement or f"请于 {local(deadline, spec)} 前完成整改：{kind.name}"
    rect = Rectification(
        site_id=new.site_id,
        finding_id=finding.id,
        zone_code=place.zone,
        department=kind.department.value,
        assignee=assignee,
        requirement=requirement,
        status=RectificationStatus.ISSUED.value,
        issued_at=now,
        issued_by=new.reported_by,
        deadline_at=deadline,
        recheck_failures=0,
        updated_at=now,
    )
    session.add(rect)
    session.flush()
    _step(
        session, rect, now, new.reported_by, None, RectificationStatus.ISSUED, new.note, new.photos
    )
    notify(
        session,
        site_id=rect.site_id,
        topic="rectification.issued",
        message=(
            f"整改通知【{SEVERITY_ZH[new.severity]}】{place.name}：{kind.name}，"
            f"{DEPARTMENT_ZH[kind.department]}请于 {local(deadline, spec)} 前完成"
        ),
        at=now,
        recipient=assignee,
        payload=_payload(rect, finding),
    )
    return rect


def get_rectification(
    session: Session, rectification_id: int, *, lock: bool = False
) -> Rectification:
    q = (
        select(Rectification)
        .where(Rectification.id == rectification_id)
        .options(selectinload(Rectification.steps), selectinload(Rectification.finding))
    )
    rect = session.scalar(q.with_for_update(of=Rectification) if lock else q)
    if rect is None:
        raise RectificationNotFound(
            f"整改单 {rectification_id} 不存在", f"rectification {rectification_id} not found"
        )
    return rect


def get_finding(session: Session, finding_id: int) -> Finding:
    finding = session.get(Finding, finding_id)
    if finding is None:
        raise FindingNotFound(f"巡查记录 {finding_id} 不存在", f"finding {finding_id} not found")
    return finding


def transition(
    session: Session,
    spec: SiteFile,
    rect: Rectification,
    to: RectificationStatus,
    *,
    actor: str,
    now: datetime,
    note: str = "",
    evidence: list[str] | None = None,
) -> Rectification:
    """One step of the lifecycle, audited; 409 (`IllegalRectificationStep`) when not allowed.

    已整改 needs evidence (a photo); 复查不通过 needs a note saying what is still wrong, and the
    reviewer may not be the person who did the work."""
    current = RectificationStatus(rect.status)
    if to not in NEXT[current]:
        raise IllegalRectificationStep(
            f"整改单当前为「{STATUS_ZH[current]}」，不能{STEP_ZH[to]}",
            f"a rectification that is {current.value} cannot go to {to.value}",
        )
    photos = list(evidence or [])
    if to is RectificationStatus.RECTIFIED and not photos:
        raise InvalidFinding("整改完成需上传整改后照片作为证据", "evidence photos are required")
    if to is RectificationStatus.FAILED and not note.strip():
        raise InvalidFinding("复查不通过请写明仍存在的问题", "a failed re-check needs a note")
    if to in (RectificationStatus.PASSED, RectificationStatus.FAILED):
        done_by = next(
            (s.actor for s in reversed(rect.steps) if s.to_status == RectificationStatus.RECTIFIED),
            None,
        )
        if done_by == actor:
            raise IllegalRectificationStep(
                "复查须由整改人以外的人员进行", "the re-check must be done by someone else"
            )
    if to is RectificationStatus.IN_PROGRESS:
        rect.started_at = rect.started_at or now
        rect.status = to.value
    elif to is RectificationStatus.RECTIFIED:
        rect.rectified_at = now
        rect.status = to.value
    elif to is RectificationStatus.PASSED:
        rect.passed_at = now
        rect.status = to.value
    else:  # 复查不通过: back to 整改中, the deadline unchanged (lateness keeps counting)
        rect.recheck_failures += 1
        rect.rectified_at = None
        rect.status = RectificationStatus.IN_PROGRESS.value
    rect.updated_at = now
    _step(session, rect, now, actor, current, to, note, photos)
    finding = rect.finding
    notify(
        session,
        site_id=rect.site_id,
        topic="rectification.changed",
        message=f"整改单 {rect.id}（{place_name(spec, finding)}）{STEP_ZH[to]}",
        at=now,
        recipient=rect.assignee,
        payload={**_payload(rect, finding), "step": to.value, "actor": actor},
    )
    return rect


def open_work_order(
    session: Session,
    spec: SiteFile,
    rect: Rectification,
    *,
    actor: str,
    now: datetime,
    work_order_id: int | None = None,
) -> WorkOrder:
    """整改需维修: link an existing order of the site, or open one for the finding's place.

    Opening is keyed on the rectification, so a repeat returns the same order."""
    if work_order_id is not None:
        wo = session.get(WorkOrder, work_order_id)
        if wo is None or wo.site_id != rect.site_id:
            raise UnknownReference(
                {
                    "work_order_id": (
                        f"工单 {work_order_id} 不存在",
                        f"work order {work_order_id} not found in this site",
                    )
                }
            )
        note = f"关联工单 {wo.code}"
    else:
        if rect.work_order_id is not None:
            linked = session.get(WorkOrder, rect.work_order_id)
            assert linked is not None
            return linked
        finding = rect.finding
        kind = spec.quality.finding_type(finding.type_id)
        asset = next((a for a in spec.assets if a.id == finding.asset_code), None)
        category = KIND_CATEGORY.get(asset.kind, Category.GENERAL) if asset else Category.GENERAL
        place = place_name(spec, finding)
        wo, _ = create_work_order(
            session,
            spec,
            NewWorkOrder(
                site_id=rect.site_id,
                source=Source.MANUAL,
                source_key=f"rectification:{rect.id}",
                category=category,
                priority=Priority(finding.severity),
                title=f"整改维修：{place} {kind.name if kind else finding.type_id}"[:300],
                reported_at=now,
                asset_code=finding.asset_code,
                description=finding.note,
                zone_code=rect.zone_code,
                location=place,
                details={"rectification_id": rect.id},
            ),
            now,
            actor=actor,
        )
        note = f"开维修工单 {wo.code}"
    rect.work_order_id = wo.id
    rect.updated_at = now
    rect.steps.append(
        RectificationStep(
            at=now,
            actor=actor,
            from_status=rect.status,
            to_status=WORK_ORDER_STEP,
            note=note,
            attachments=[],
        )
    )
    session.flush()
    return wo


@dataclass(frozen=True)
class RectificationFilter:
    site_id: str
    status: RectificationStatus | None = None
    severity: FindingSeverity | None = None
    zone: str | None = None
    department: Department | None = None
    assignee: str | None = None
    overdue: bool | None = None
    limit: int = 100
    after_id: int = 0


def list_rectifications(
    session: Session, f: RectificationFilter, now: datetime
) -> list[Rectification]:
    """Oldest first from a cursor; `overdue`: open past the deadline (True) or not (False)."""
    q = (
        select(Rectification)
        .join(Finding, Finding.id == Rectification.finding_id)
        .where(Rectification.site_id == f.site_id, Rectification.id > f.after_id)
        .options(selectinload(Rectification.finding), selectinload(Rectification.steps))
        .order_by(Rectification.id)
        .limit(f.limit)
    )
    if f.status is not None:
        q = q.where(Rectification.status == f.status.value)
    if f.severity is not None:
        q = q.where(Finding.severity == f.severity.value)
    if f.zone is not None:
        q = q.where(Rectification.zone_code == f.zone)
    if f.department is not None:
        q = q.where(Rectification.department == f.department.value)
    if f.assignee is not None:
        q = q.where(Rectification.assignee == f.assignee)
    open_ = Rectification.status.in_([s.value for s in OPEN_STATUSES])
    if f.overdue is True:
        q = q.where(open_, Rectification.deadline_at < now)
    elif f.overdue is False:
        q = q.where(~(open_ & (Rectification.deadline_at < now)))
    return list(session.scalars(q))


def is_overdue(rect: Rectification, now: datetime) -> bool:
    """Past the deadline and not yet reported done (已整改 stops the clock until 复查)."""
    return RectificationStatus(rect.status) in OPEN_STATUSES and now > rect.deadline_at


def finished_late(rect: Rectification) -> bool:
    """Reported done, last time, after the deadline."""
    done = [s.at for s in rect.steps if s.to_status == RectificationStatus.RECTIFIED]
    return rect.status == RectificationStatus.PASSED and bool(done) and done[-1] > rect.deadline_at


@dataclass
class Accountability:
    """督促和问责: one person's or department's open, overdue and late rectifications."""

    key: str
    name: str
    open: int = 0
    overdue: int = 0
    passed: int = 0
    passed_late: int = 0
    recheck_failures: int = 0


def accountability(
    session: Session, spec: SiteFile, site_id: str, now: datetime
) -> tuple[list[Accountability], list[Accountability]]:
    """Counts per department and per person (the assignee), in the site file's order."""
    rects = session.scalars(
        select(Rectification)
        .where(Rectification.site_id == site_id)
        .options(selectinload(Rectification.steps))
    )
    names = {p.id: p.name for p in spec.people}
    departments = {d.value: Accountability(d.value, DEPARTMENT_ZH[d]) for d in Department}
    people = {p.id: Accountability(p.id, p.name) for p in spec.people}
    for r in rects:
        rows = [departments[r.department]]
        if r.assignee is not None:
            rows.append(
                people.setdefault(
                    r.assignee, Accountability(r.assignee, names.get(r.assignee, r.assignee))
                )
            )
        for row in rows:
            if (
                RectificationStatus(r.status) in OPEN_STATUSES
                or r.status == RectificationStatus.RECTIFIED
            ):
                row.open += 1
            row.overdue += is_overdue(r, now)
            row.passed += r.status == RectificationStatus.PASSED
            row.passed_late += finished_late(r)
            row.recheck_failures += r.recheck_failures
    busy = [p for p in people.values() if p.open or p.passed or p.recheck_failures]
    return list(departments.values()), busy


def step_count(session: Session, rectification_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(RectificationStep.rectification_id == rectification_id)
        )
        or 0
    )


def _step(
    session: Session,
    rect: Rectification,
    now: datetime,
    actor: str,
    from_status: RectificationStatus | None,
    to: RectificationStatus,
    note: str,
    attachments: list[str],
) -> None:
    step = RectificationStep(
        rectification_id=rect.id,
        at=now,
        actor=actor,
        from_status=from_status.value if from_status else None,
        to_status=to.value,
        note=note,
        attachments=list(attachments),
    )
    rect.steps.append(step)
    session.flush()


def place_name(spec: SiteFile, finding: Finding) -> str:
    floor = f" {finding.floor}层" if finding.floor else ""
    if finding.asset_code:
        asset = next((a for a in spec.assets if a.id == finding.asset_code), None)
        return (asset.name if asset else finding.asset_code) + floor
    if finding.place_id:
        place = spec.quality.place(finding.place_id)
        return place.name if place else finding.place_id
    return (finding.building or "") + floor


def _payload(rect: Rectification, finding: Finding) -> dict[str, object]:
    return {
        "rectification_id": rect.id,
        "finding_id": finding.id,
        "status": rect.status,
        "severity": finding.severity,
        "type": finding.type_id,
        "zone": rect.zone_code,
        "department": rect.department,
        "assignee": rect.assignee,
        "deadline": rect.deadline_at.isoformat(),
    }
