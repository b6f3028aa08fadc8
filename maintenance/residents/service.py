"""扫码报修: a resident's report from a QR code, its tracking link, 催单 and the resident's 回访.

The code names an asset, a building (楼栋) or a public place (公共区域) of a site; the resident
picks what is wrong in plain words (`KINDS`, each a category and priority of the time-limit
table), describes it and leaves a phone number. A report of the same spot and category while an
order made within the last hour is still open joins that order as 报修人 +1 instead of making a
second. Every reporter gets a tracking link of their own: a random token of which only the
SHA-256 is kept, that shows the order's progress and nothing of anyone else.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from maintenance.assignment import zone_supervisor
from maintenance.errors import Conflict, NotFound, UnknownReference
from maintenance.notifications import notify
from maintenance.residents.models import ResidentReminder, ResidentReport
from maintenance.residents.phones import PhoneVault, masked
from maintenance.work_orders import comments
from maintenance.work_orders import service as work_orders
from maintenance.work_orders.models import (
    OPEN_STATUSES,
    Source,
    Status,
    Step,
    Via,
    WorkOrder,
    WorkOrderTransition,
)
from maintenance.work_orders.revisits import RevisitScores, local_time
from propwatch.site import Category, Priority, SiteFile

JOIN_WITHIN = timedelta(hours=1)
"""A report of the same spot and category joins an open order made this recently."""
REMIND_EVERY = timedelta(hours=4)
"""催单: at most once per order in this time."""
RESIDENT = "resident"
"""The actor of what residents do (no account: the tracking link is their only key)."""


@dataclass(frozen=True)
class ReportKind:
    """One choice of the scan page: plain words, and the order they make."""

    id: str
    label: str
    category: Category
    priority: Priority


KINDS = (
    ReportKind("elevator", "电梯故障（停梯、异响、按键失灵）", Category.ELEVATOR, Priority.GENERAL),
    ReportKind("elevator_trapped", "电梯困人", Category.ELEVATOR, Priority.EMERGENCY),
    ReportKind("water", "停水、水压低、漏水", Category.WATER_SUPPLY, Priority.GENERAL),
    ReportKind("burst_pipe", "爆管、大量漏水", Category.WATER_SUPPLY, Priority.EMERGENCY),
    ReportKind("lighting", "灯不亮、闪烁", Category.LIGHTING, Priority.GENERAL),
    ReportKind("door", "门禁、单元门故障", Category.ACCESS_CONTROL, Priority.GENERAL),
    ReportKind("fire", "消防设施损坏", Category.FIRE, Priority.IMPORTANT),
    ReportKind("other", "其他维修", Category.GENERAL, Priority.GENERAL),
    ReportKind("complaint", "投诉（服务态度、卫生保洁）", Category.COMPLAINT, Priority.GENERAL),
)
KIND_BY_ID = {k.id: k for k in KINDS}


@dataclass(frozen=True)
class Spot:
    """Where the scanned code points: one asset, building or public place of the site."""

    key: str
    name: str
    zone: str | None
    asset: str | None = None
    building: str | None = None


class UnknownSpot(NotFound):
    code = "unknown_spot"


class InvalidReport(UnknownReference):
    """A report's field the resident must correct (named, in zh-CN)."""

    code = "invalid_report"


class NoSuchTracking(NotFound):
    code = "tracking_not_found"


class TooSoon(Conflict):
    """催单 again within 4 h: `allowed_at` says when it may go."""

    code = "reminder_too_soon"

    def __init__(self, zh: str, en: str, allowed_at: datetime) -> None:
        super().__init__(zh, en)
        self.allowed_at = allowed_at


def locate(spec: SiteFile, *, asset: str | None, building: str | None, place: str | None) -> Spot:
    """The spot the code names, or `UnknownSpot` in words a resident reads."""
    given = [v for v in (asset, building, place) if v]
    if len(given) != 1:
        raise UnknownSpot(
            "二维码无效：未指明报修位置", "give exactly one of asset, building, place"
        )
    if asset:
        found = next((a for a in spec.assets if a.id == asset), None)
        if found is None:
            raise UnknownSpot("二维码无效：找不到该设备", f"unknown asset {asset!r}")
        where = _where(found.building, found.name)
        return Spot(f"asset:{found.id}", where, found.zone, asset=found.id, building=found.building)
    if place:
        public = spec.quality.place(place)
        if public is None:
            raise UnknownSpot("二维码无效：找不到该公共区域", f"unknown place {place!r}")
        where = _where(public.building, public.name)
        return Spot(f"place:{public.id}", where, public.zone, building=public.building or None)
    zone = next((z for z in spec.zones if building in z.buildings), None)
    if zone is None:
        raise UnknownSpot("二维码无效：找不到该楼栋", f"unknown building {building!r}")
    return Spot(f"building:{building}", str(building), zone.id, building=building)


def _where(building: str | None, name: str) -> str:
    """`水泵房 1号生活水泵`; `1栋大堂` already says its building."""
    return name if not building or name.startswith(building) else f"{building} {name}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewReport:
    site_id: str
    spot: Spot
    kind: ReportKind
    description: str
    phone: str
    room: str | None = None


@dataclass(frozen=True)
class Submitted:
    work_order: WorkOrder
    report: ResidentReport
    token: str
    joined: bool


def submit(
    session: Session, spec: SiteFile, new: NewReport, vault: PhoneVault, now: datetime
) -> Submitted:
    """The resident's report: a new order, or 报修人 +1 on the open one of the same spot."""
    token = secrets.token_urlsafe(24)
    digest = token_hash(token)
    joined = _open_duplicate(session, new, now)
    room = f"（{new.room}）" if new.room else ""
    if joined is None:
        wo, created = work_orders.create_work_order(
            session,
            spec,
            work_orders.NewWorkOrder(
                site_id=new.site_id,
                source=Source.RESIDENT,
                source_key=f"resident:{digest}",
                category=new.kind.category,
                priority=new.kind.priority,
                title=f"{new.kind.label.split('（')[0]}：{new.spot.name}"[:300],
                reported_at=now,
                asset_code=new.spot.asset,
                description=f"{new.description}{room}",
                zone_code=new.spot.zone,
                location=new.spot.name[:300],
                details={"channel": "扫码报修", "kind": new.kind.id},
                dedup_key=_twin_key(new, now),
            ),
            now,
            actor=RESIDENT,
        )
        if not created:  # a twin sent at the same moment made it first: join it
            joined = wo.id
    if joined is not None:
        wo = work_orders.get_work_order(session, joined, lock=True)
        count = reporter_count(session, wo.id) + 1
        comments.add_comment(
            session,
            wo.id,
            actor=RESIDENT,
            now=now,
            text=f"报修人 +1（共 {count} 人）{room}：{new.description}"[:2000],
        )
    report = ResidentReport(
        work_order_id=wo.id,
        site_id=new.site_id,
        token_hash=digest,
        place_key=new.spot.key,
        category=new.kind.category.value,
        kind=new.kind.id,
        phone_cipher=vault.encrypt(new.phone),
        phone_masked=masked(new.phone),
        room=new.room,
        joined=joined is not None,
        created_at=now,
    )
    session.add(report)
    session.flush()
    return Submitted(wo, report, token, joined is not None)


def _twin_key(new: NewReport, now: datetime) -> str:
    """The open order's unique key for reports of one spot and category in one clock hour.

    `_open_duplicate` finds an earlier report's order, but two sent at the same moment both
    find none; this key (cleared, like an alarm order's, once the order is resolved or
    cancelled) lets only one of them make the order, and the other joins it."""
    return f"resident:{new.site_id}:{new.spot.key}:{new.kind.category.value}:{now:%Y%m%d%H}"


def _open_duplicate(session: Session, new: NewReport, now: datetime) -> int | None:
    return session.scalar(
        select(WorkOrder.id)
        .join(ResidentReport, ResidentReport.work_order_id == WorkOrder.id)
        .where(
            ResidentReport.site_id == new.site_id,
            ResidentReport.place_key == new.spot.key,
            ResidentReport.category == new.kind.category.value,
            WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
            WorkOrder.reported_at >= now - JOIN_WITHIN,
        )
        .order_by(WorkOrder.id)
        .limit(1)
    )


def reporter_count(session: Session, work_order_id: int) -> int:
    return (
        session.scalar(select(func.count()).where(ResidentReport.work_order_id == work_order_id))
        or 0
    )


def report_of(session: Session, token: str) -> ResidentReport:
    """The reporter row of a tracking link, or `NoSuchTracking`."""
    digest = token_hash(token)
    row = session.scalar(select(ResidentReport).where(ResidentReport.token_hash == digest))
    if row is None:
        raise NoSuchTracking("跟踪链接无效或已失效", "unknown tracking link")
    return row


class TrackStep(BaseModel):
    label: str
    at: datetime
    at_local: str


class Tracking(BaseModel):
    """What a tracking link shows: this order's progress, and of the people only the
    technician's surname; the resident's own phone masked."""

    code: str | None
    title: str
    place: str | None
    status: str
    status_zh: str
    reported_at_local: str
    resolve_due_local: str | None
    steps: list[TrackStep]
    reporters: int
    phone: str | None
    room: str | None
    can_remind: bool
    remind_allowed_at_local: str | None
    can_revisit: bool
    revisited: bool


PLAIN = {
    Status.REGISTERED: "已受理",
    Status.ACCEPTED: "师傅已接单",
    Status.ON_SITE: "维修人员已到场",
    Status.ON_HOLD: "暂缓处理",
    Status.RESOLVED: "已完成维修",
    Status.VERIFIED: "已验收",
    Status.CLOSED: "已办结",
    Status.REVISITED: "已回访",
    Status.REOPENED: "重新处理中",
    Status.CANCELLED: "已取消",
}


def master(spec: SiteFile, person: str | None) -> str:
    """`王师傅`: the surname only, never the phone or full name."""
    found = next((p for p in spec.people if p.id == person), None)
    return f"{found.name[0]}师傅" if found and found.name else "维修师傅"


def tracking(session: Session, spec: SiteFile, token: str, now: datetime) -> Tracking:
    report = report_of(session, token)
    wo = work_orders.get_work_order(session, report.work_order_id)
    steps: list[TrackStep] = []
    rows = session.scalars(
        select(WorkOrderTransition)
        .where(WorkOrderTransition.work_order_id == wo.id)
        .order_by(WorkOrderTransition.id)
    )
    for t in rows:
        if t.to_status == Status.DISPATCHED:
            label = f"已派单给 {master(spec, wo.assignee)}"
        elif t.to_status in PLAIN:
            label = PLAIN[Status(t.to_status)]
        else:
            continue
        if t.to_status == Status.REGISTERED and t.at < report.created_at:
            label = "已受理（其他住户先报）"
        steps.append(TrackStep(label=label, at=t.at, at_local=local_time(t.at, spec)))
    for r in session.scalars(
        select(ResidentReminder).where(ResidentReminder.work_order_id == wo.id)
    ):
        mine = "您已催单" if r.report_id == report.id else "住户已催单"
        steps.append(TrackStep(label=mine, at=r.at, at_local=local_time(r.at, spec)))
    steps.sort(key=lambda s: s.at)
    allowed = _remind_allowed_at(session, wo.id)
    status = Status(wo.status)
    return Tracking(
        code=wo.code,
        title=wo.title,
        place=wo.location,
        status=status.value,
        status_zh=(
            f"已派单给 {master(spec, wo.assignee)}"
            if status is Status.DISPATCHED
            else PLAIN.get(status, "处理中")
        ),
        reported_at_local=local_time(report.created_at, spec),
        resolve_due_local=local_time(wo.resolve_due, spec) if wo.resolve_due else None,
        steps=steps,
        reporters=reporter_count(session, wo.id),
        phone=report.phone_masked,
        room=report.room,
        can_remind=status in OPEN_STATUSES and (allowed is None or now >= allowed),
        remind_allowed_at_local=local_time(allowed, spec) if allowed and now < allowed else None,
        can_revisit=status is Status.CLOSED,
        revisited=status is Status.REVISITED,
    )


def _remind_allowed_at(session: Session, work_order_id: int) -> datetime | None:
    last = session.scalar(
        select(func.max(ResidentReminder.at)).where(ResidentReminder.work_order_id == work_order_id)
    )
    return last + REMIND_EVERY if last is not None else None


def remind(
    session: Session, spec: SiteFile, token: str, now: datetime
) -> tuple[ResidentReminder, int]:
    """催单: tell the assignee and the zone supervisor, at most once per order in 4 h; the
    reminder and how many were told."""
    report = report_of(session, token)
    wo = work_orders.get_work_order(session, report.work_order_id, lock=True)
    if Status(wo.status) not in OPEN_STATUSES:
        raise Conflict("工单已处理完毕，无需催单", f"work order {wo.code} is {wo.status}")
    allowed = _remind_allowed_at(session, wo.id)
    if allowed is not None and now < allowed:
        raise TooSoon(
            f"已催单，请于 {local_time(allowed, spec)} 后再催",
            f"reminded already; next at {allowed.isoformat()}",
            allowed,
        )
    row = ResidentReminder(work_order_id=wo.id, report_id=report.id, at=now)
    session.add(row)
    session.flush()
    session.add(
        WorkOrderTransition(
            work_order_id=wo.id,
            at=now,
            actor=RESIDENT,
            from_status=wo.status,
            to_status=Step.NOTE,
            note="住户催单",
            attachments=[],
        )
    )
    message = f"住户催单：工单 {wo.code} {wo.title}（{wo.location or ''}），请尽快处理"
    told = 0
    for who in dict.fromkeys([wo.assignee, zone_supervisor(spec, wo.zone_code)]):
        if who is None:
            continue
        notify(
            session,
            site_id=wo.site_id,
            topic="work_order.reminded",
            message=message,
            at=now,
            work_order_id=wo.id,
            recipient=who,
            payload={"work_order": wo.code, "id": wo.id, "zone": wo.zone_code},
            dedup_key=f"remind:{row.id}:{who}",
        )
        told += 1
    return row, told


@dataclass(frozen=True)
class ResidentScores:
    response: int
    quality: int
    attitude: int
    comment: str = ""


def revisit(
    session: Session, spec: SiteFile, token: str, scores: ResidentScores, now: datetime
) -> WorkOrder:
    """回访评价 by the resident: the order's 回访 step with via `resident_link`, so an
    unsatisfied score reopens or follows up and tells the supervisor as a staff revisit does."""
    report = report_of(session, token)
    wo = work_orders.get_work_order(session, report.work_order_id)
    if wo.status == Status.REVISITED:
        raise Conflict("您已评价，感谢您的反馈", f"work order {wo.code} was revisited already")
    if wo.status != Status.CLOSED:
        raise Conflict("工单办结后才能评价", f"work order {wo.code} is {wo.status}, not closed")
    given = RevisitScores(
        response=scores.response,
        quality=scores.quality,
        attitude=scores.attitude,
        via=Via.RESIDENT_LINK,
        comment=scores.comment,
    )
    return work_orders.transition(
        session, spec, wo.id, Status.REVISITED, actor=RESIDENT, now=now, revisit=given
    )


class Reporter(BaseModel):
    """报修人 as staff see them: the phone masked, whole only for customer service."""

    id: int
    phone: str | None
    room: str | None
    joined: bool
    at: datetime
    at_local: str
    erased: bool


def reporters_of(
    session: Session, spec: SiteFile | None, work_order_id: int, vault: PhoneVault | None
) -> list[Reporter]:
    """Every reporter of the order, first first; `vault` given: phones whole (客服 only)."""
    rows = session.scalars(
        select(ResidentReport)
        .where(ResidentReport.work_order_id == work_order_id)
        .order_by(ResidentReport.id)
    )
    out = []
    for r in rows:
        phone = r.phone_masked
        if vault is not None and r.phone_cipher is not None:
            phone = vault.decrypt(r.phone_cipher) or r.phone_masked
        out.append(
            Reporter(
                id=r.id,
                phone=phone,
                room=r.room,
                joined=r.joined,
                at=r.created_at,
                at_local=local_time(r.created_at, spec),
                erased=r.erased_at is not None,
            )
        )
    return out


def erase_expired_phones(
    session: Session, site_id: str, now: datetime, retention: timedelta
) -> int:
    """个人信息保护法: the phones and rooms of orders closed (or cancelled) longer ago than
    `retention` are erased; the reporter rows stay, so the 报修人 count holds."""
    ended = func.coalesce(WorkOrder.closed_at, WorkOrder.cancelled_at)
    expired = select(WorkOrder.id).where(WorkOrder.site_id == site_id, ended <= now - retention)
    done = session.execute(
        update(ResidentReport)
        .where(
            ResidentReport.site_id == site_id,
            ResidentReport.erased_at.is_(None),
            ResidentReport.work_order_id.in_(expired),
        )
        .values(phone_cipher=None, phone_masked=None, room=None, erased_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)
