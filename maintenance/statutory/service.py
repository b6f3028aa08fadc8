"""法定检验: where each asset stands with the inspections the law requires, and what falls due.

An asset needs the inspections whose type covers its kind (or names it); the newest recorded
result of each says when the next is due (`next_due`: given with the result, else the result's
date plus the type's interval when it passed, a month when it failed: 整改后复检). From the
daily pass (`inspection_pass`, run with the plan pass):

- `remind_days` before it is due, one reminder to the zone supervisor (`statutory.due_soon`);
- `prepare_days` before, one work order to prepare the asset and accompany the inspector
  (法定检验准备与陪同), due the day of the inspection, so it stands in the daily stocktake;
- past due with no newer result, one overdue notification to every supervisor
  (`statutory.overdue`), `overdue_escalate_days` after the due date, and the order raised to
  emergency.

Each step is keyed by the asset, the type and the due date (the notification's `dedup_key`,
the order's `source_key`), so any number of passes, from any replica, does each once; a new
result moves the due date and so starts the next round.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance.errors import InvalidRequest, NotFound
from maintenance.notifications import Notification, notify
from maintenance.statutory.models import StatutoryRecord
from maintenance.work_orders.models import Source, WorkOrder
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.site import KIND_CATEGORY, Asset, Category, Priority, Role, Site, SiteFile
from propwatch.statutory import InspectionType

ACTOR = "statutory-inspections"
RECHECK = timedelta(days=30)
RECENT = timedelta(days=800)
"""When a failed inspection is due again unless the result says (整改后复检)."""

SPECIAL_EQUIPMENT = ("elevator-periodic", "pressure-vessel")
"""特种设备 (《特种设备安全法》 art. 40): not to be used once its inspection is overdue."""

State = Literal["unrecorded", "ok", "due_soon", "preparing", "overdue", "failed"]
STATE_ZH: dict[str, str] = {
    "unrecorded": "未登记",
    "ok": "有效",
    "due_soon": "即将到期",
    "preparing": "准备检验",
    "overdue": "已超期",
    "failed": "不合格待复检",
}


class InvalidInspection(InvalidRequest):
    code = "invalid_inspection"


class InspectionNotFound(NotFound):
    code = "inspection_not_found"


def add_months(d: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has no such day)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


class InspectionStatus(BaseModel):
    """One asset and one statutory inspection: the last result and what is due."""

    asset: str
    asset_name: str
    zone: str
    type: str
    type_name: str
    interval_months: int
    last_inspected: date | None
    passed: bool | None
    certificate_no: str | None = Field(description="检验合格证编号 of the last result")
    certificate_expiry: date | None
    next_due: date | None
    days_left: int | None = Field(description="days until next_due (negative: overdue)")
    state: State
    state_zh: str
    work_order_id: int | None = Field(description="the order to prepare and accompany it")


def _latest(session: Session, site_id: str) -> dict[tuple[str, str], StatutoryRecord]:
    rows = session.scalars(
        select(StatutoryRecord)
        .where(StatutoryRecord.site_id == site_id)
        .order_by(StatutoryRecord.inspected_on, StatutoryRecord.id)
    )
    return {(r.asset_code, r.type_id): r for r in rows}


def _state(row: StatutoryRecord | None, t: InspectionType, today: date) -> State:
    if row is None:
        return "unrecorded"
    if today > row.next_due:
        return "overdue"
    if not row.passed:
        return "failed"
    if today >= row.next_due - timedelta(days=t.prepare_days):
        return "preparing"
    if today >= row.next_due - timedelta(days=t.remind_days):
        return "due_soon"
    return "ok"


def order_key(site_id: str, asset_id: str, type_id: str, due: date) -> str:
    return f"statutory:{site_id}:{asset_id}:{type_id}:{due.isoformat()}"


def _pairs(spec: SiteFile, asset: str | None = None) -> list[tuple[Asset, InspectionType]]:
    types = spec.statutory_inspections.effective()
    return [
        (a, t)
        for a in spec.assets
        if asset is None or a.id == asset
        for t in types
        if t.applies_to(a.id, a.kind)
    ]


def inspection_statuses(
    session: Session, site: Site, today: date, asset: str | None = None
) -> list[InspectionStatus]:
    """Every asset's statutory inspections (one asset's with `asset`), overdue first."""
    spec = site.spec
    if asset is not None and all(a.id != asset for a in spec.assets):
        raise InspectionNotFound(f"设备 {asset} 不存在", f"unknown asset {asset!r}")
    latest = _latest(session, spec.site.id)
    keys = {
        order_key(spec.site.id, a.id, t.id, r.next_due): (a.id, t.id)
        for a, t in _pairs(spec, asset)
        if (r := latest.get((a.id, t.id))) is not None
    }
    orders = {
        keys[k]: i
        for k, i in session.execute(
            select(WorkOrder.source_key, WorkOrder.id).where(WorkOrder.source_key.in_(keys))
        )
    }
    out = []
    for a, t in _pairs(spec, asset):
        row = latest.get((a.id, t.id))
        state = _state(row, t, today)
        out.append(
            InspectionStatus(
                asset=a.id,
                asset_name=a.name,
                zone=a.zone,
                type=t.id,
                type_name=t.name,
                interval_months=t.interval_months,
                last_inspected=row.inspected_on if row else None,
                passed=row.passed if row else None,
                certificate_no=row.certificate_no if row else None,
                certificate_expiry=row.certificate_expiry if row else None,
                next_due=row.next_due if row else None,
                days_left=(row.next_due - today).days if row else None,
                state=state,
                state_zh=STATE_ZH[state],
                work_order_id=orders.get((a.id, t.id)),
            )
        )
    order = ["overdue", "failed", "preparing", "due_soon", "unrecorded", "ok"]
    out.sort(key=lambda s: (order.index(s.state), s.days_left or 0, s.asset, s.type))
    return out


@dataclass(frozen=True)
class InspectionResult:
    """What the inspector found, as the API gives it."""

    asset: str
    type: str
    inspected_on: date
    passed: bool
    certificate_no: str | None = None
    certificate_expiry: date | None = None
    next_due: date | None = None
    agency: str = ""
    note: str = ""


def record_inspection(
    session: Session, site: Site, result: InspectionResult, *, by: str, now: datetime
) -> InspectionStatus:
    """检验结果: keep one result; every refusal names its field and keeps nothing."""
    spec = site.spec
    today = now.astimezone(spec.site.tz).date()
    asset = next((a for a in spec.assets if a.id == result.asset), None)
    if asset is None:
        raise InvalidInspection(
            f"asset：设备 {result.asset} 不存在", f"asset: unknown {result.asset!r}"
        )
    kind = next((t for a, t in _pairs(spec, asset.id) if t.id == result.type), None)
    if kind is None:
        known = ", ".join(t.id for _, t in _pairs(spec, asset.id)) or "—"
        raise InvalidInspection(
            f"type：{asset.name} 没有法定检验 {result.type}（可选：{known}）",
            f"type: {asset.id} has no statutory inspection {result.type!r} (known: {known})",
        )
    if by not in {p.id for p in spec.people}:
        raise InvalidInspection(
            f"记录人 {by} 不在人员名单中", f"recorded_by: unknown person {by!r}"
        )
    if result.inspected_on > today:
        raise InvalidInspection("inspected_on：检验日期不能晚于今天", "inspected_on: in the future")
    if result.passed and not (result.certificate_no or "").strip():
        raise InvalidInspection(
            "certificate_no：检验合格需填写检验合格证编号",
            "certificate_no: a passed inspection needs the certificate number",
        )
    if result.certificate_expiry is not None and result.certificate_expiry <= result.inspected_on:
        raise InvalidInspection(
            "certificate_expiry：合格证有效期须晚于检验日期",
            "certificate_expiry: must be after inspected_on",
        )
    if result.next_due is not None and result.next_due <= result.inspected_on:
        raise InvalidInspection(
            "next_due：下次检验日期须晚于检验日期", "next_due: must be after inspected_on"
        )
    if not result.passed and result.certificate_no:
        raise InvalidInspection(
            "certificate_no：不合格不发检验合格证", "certificate_no: a failed inspection has none"
        )
    due = result.next_due or (
        result.certificate_expiry or add_months(result.inspected_on, kind.interval_months)
        if result.passed
        else result.inspected_on + RECHECK
    )
    session.add(
        StatutoryRecord(
            site_id=spec.site.id,
            asset_code=asset.id,
            type_id=kind.id,
            inspected_on=result.inspected_on,
            passed=result.passed,
            certificate_no=(result.certificate_no or "").strip() or None,
            certificate_expiry=result.certificate_expiry,
            next_due=due,
            agency=result.agency.strip(),
            note=result.note.strip(),
            recorded_by=by,
            recorded_at=now,
        )
    )
    session.flush()
    [status] = [s for s in inspection_statuses(session, site, today, asset.id) if s.type == kind.id]
    return status


@dataclass
class StatutoryPass:
    reminders: int = 0
    orders: int = 0
    overdue: int = 0


def _tell(
    session: Session,
    spec: SiteFile,
    sent: set[str],
    key: str,
    topic: str,
    message: str,
    recipient: str | None,
    now: datetime,
    payload: dict[str, object],
) -> bool:
    if key in sent:
        return False
    try:
        with session.begin_nested():
            notify(
                session,
                site_id=spec.site.id,
                topic=topic,
                message=message,
                at=now,
                recipient=recipient,
                payload=payload,
                dedup_key=key,
            )
            session.flush()
    except IntegrityError:
        return False
    sent.add(key)
    return True


def _local_day(d: date, spec: SiteFile, at: time) -> datetime:
    return datetime.combine(d, at, tzinfo=spec.site.tz).astimezone(UTC)


def inspection_pass(session: Session, site: Site, now: datetime) -> StatutoryPass:
    """Reminders, prepare orders and overdue escalation that fall due by `now` (idempotent)."""
    spec = site.spec
    today = now.astimezone(spec.site.tz).date()
    latest = _latest(session, spec.site.id)
    done = StatutoryPass()
    supervisors = [p.id for p in spec.people if p.role is Role.SUPERVISOR]
    # what earlier passes did, read once: a pass over thousands of assets makes no query per
    # asset (a step is at most a year and a half old: prepare_days ≤ a year, then overdue)
    prefix, since = f"statutory:{spec.site.id}:", now - RECENT
    sent: set[str] = {
        key
        for key in session.scalars(
            select(Notification.dedup_key).where(
                Notification.site_id == spec.site.id,
                Notification.created_at >= since,
                Notification.dedup_key.startswith(prefix),
            )
        )
        if key is not None
    }
    made = {
        wo.source_key: wo
        for wo in session.scalars(
            select(WorkOrder).where(
                WorkOrder.site_id == spec.site.id,
                WorkOrder.created_at >= since,
                WorkOrder.source_key.startswith(prefix),
            )
        )
    }
    for asset, t in _pairs(spec):
        row = latest.get((asset.id, t.id))
        if row is None:
            continue
        due = row.next_due
        base = f"statutory:{spec.site.id}:{asset.id}:{t.id}:{due.isoformat()}"
        payload: dict[str, object] = {"asset_id": asset.id, "type": t.id, "due": due.isoformat()}
        zone_supervisor = spec.zone(asset.zone).supervisor
        when = f"{due.month}月{due.day}日"
        if today >= due - timedelta(days=t.remind_days):
            left = (due - today).days
            done.reminders += _tell(
                session,
                spec,
                sent,
                f"{base}:remind",
                "statutory.due_soon",
                f"法定检验提醒：{asset.name}的{t.name}应于 {when} 前完成"
                + (f"，还剩 {left} 天" if left >= 0 else f"，已超期 {-left} 天")
                + "。请向检验机构预约，并安排维保单位到场配合。",
                zone_supervisor,
                now,
                payload,
            )
        wo: WorkOrder | None = None
        if today >= due - timedelta(days=t.prepare_days) and base in made:
            wo = made[base]
        elif today >= due - timedelta(days=t.prepare_days):
            wo, created = create_work_order(
                session,
                spec,
                NewWorkOrder(
                    site_id=spec.site.id,
                    source=Source.PLAN,
                    source_key=base,
                    category=KIND_CATEGORY.get(asset.kind, Category.GENERAL),
                    priority=Priority.IMPORTANT,
                    title=f"法定检验准备与陪同：{asset.name} {t.name}",
                    reported_at=now,
                    asset_code=asset.id,
                    description=(
                        f"{t.name}应于 {when} 前完成（上次 {row.inspected_on.month}月"
                        f"{row.inspected_on.day}日"
                        + (f"，合格证 {row.certificate_no}" if row.certificate_no else "")
                        + "）。\n□ 向检验机构预约检验日期\n□ 检验前自检、备齐维保记录和上次报告"
                        "\n□ 检验当日到场陪同\n□ 取得检验报告和检验合格证，登记检验结果"
                    ),
                    zone_code=asset.zone,
                    details={"statutory": t.id, "statutory_due": due.isoformat()},
                ),
                now,
                actor=ACTOR,
            )
            if created:
                wo.resolve_due = _local_day(due, spec, time(17))
                done.orders += 1
        if today > due + timedelta(days=spec.statutory_inspections.overdue_escalate_days):
            told = 0
            for person in dict.fromkeys([zone_supervisor, *supervisors]):
                if person is None:
                    continue
                told += _tell(
                    session,
                    spec,
                    sent,
                    f"{base}:overdue:{person}",
                    "statutory.overdue",
                    f"法定检验超期：{asset.name}的{t.name}应于 {when} 前完成，已超期 "
                    f"{(today - due).days} 天。"
                    + ("特种设备超期未检不得继续使用，" if t.id in SPECIAL_EQUIPMENT else "")
                    + "请立即安排检验。",
                    person,
                    now,
                    payload,
                )
            if told:
                done.overdue += 1
                if wo is not None and wo.priority != Priority.EMERGENCY.value:
                    wo.priority_raised_from = wo.priority
                    wo.priority, wo.updated_at = Priority.EMERGENCY.value, now
    return done
