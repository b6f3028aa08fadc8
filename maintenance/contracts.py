"""维保单位 at work: the time limits of an order under contract, who takes the plan orders of
covered assets, and the reminders before a contract or a contractor's licence expires.

The contracts themselves are site-file data (`propwatch.contractors`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from maintenance.errors import UnknownReference
from maintenance.notifications import Notification, notify
from maintenance.registry.models import Asset
from maintenance.sla import limits_for
from maintenance.work_orders.models import WorkOrder
from propwatch.contractors import contract_of, contract_technician, contractor_of_person
from propwatch.site import Priority, SiteFile, SlaPolicy

CONTRACT_EXPIRING = "contract.expiring"
LICENCE_EXPIRING = "contractor.licence_expiring"


def asset_code(wo: WorkOrder, session: Session | None = None) -> str | None:
    """The site-file id of the order's asset (None without one)."""
    if wo.asset_id is None:
        return None
    s = session or object_session(wo)
    asset = s.get(Asset, wo.asset_id) if s is not None else None
    return asset.code if asset is not None else None


def order_limits(spec: SiteFile, wo: WorkOrder, priority: Priority) -> SlaPolicy:
    """The time limits of this order: the contract's over the site's while one covers its asset
    on the day it was reported."""
    return limits_for(spec, wo.category, priority, asset_code(wo), wo.reported_at)


def plan_assignee(spec: SiteFile, asset_id: str, at: datetime) -> str | None:
    """The contractor's technician for a plan order of a covered asset, None when no contract
    covers it that day (the zone's own staff take it)."""
    contract = contract_of(spec, asset_id, at.astimezone(spec.site.tz).date())
    return contract_technician(spec, contract) if contract is not None else None


class ExpiryNotice(BaseModel):
    """A contract or a licence that ends within the reminder window (or has ended)."""

    kind: str  # "contract" | "licence"
    kind_zh: str
    id: str
    name: str
    contractor: str
    contractor_name: str
    ends: date
    days_left: int
    message: str


def expiring(spec: SiteFile, today: date) -> list[ExpiryNotice]:
    """Contracts and licences ending within `contract_reminder_days` of `today`, soonest first.
    A licence already expired is listed while a contract of its contractor is still in force
    (their staff work without a valid licence); an ended contract is not."""
    window = timedelta(days=spec.contract_reminder_days)
    names = {c.id: c.name for c in spec.contractors}
    out: list[ExpiryNotice] = []
    for c in spec.contracts:
        if today <= c.end <= today + window:
            days = (c.end - today).days
            out.append(
                ExpiryNotice(
                    kind="contract",
                    kind_zh="维保合同",
                    id=c.id,
                    name=c.title,
                    contractor=c.contractor,
                    contractor_name=names.get(c.contractor, c.contractor),
                    ends=c.end,
                    days_left=days,
                    message=(
                        f"维保合同到期提醒：{names.get(c.contractor, c.contractor)}的"
                        f"「{c.title}」将于 {c.end.month}月{c.end.day}日 到期，剩余 {days} 天，"
                        f"涉及设备 {len(c.assets)} 台。请及时续签或重新招标。"
                    ),
                )
            )
    working = {c.contractor for c in spec.contracts if c.in_force(today)}
    for k in spec.contractors:
        end = k.licence_expiry
        if end <= today + window and (end >= today or k.id in working):
            days = (end - today).days
            left = f"剩余 {days} 天" if days >= 0 else f"已过期 {-days} 天"
            out.append(
                ExpiryNotice(
                    kind="licence",
                    kind_zh="资质证书",
                    id=k.licence_no,
                    name=f"{k.name}资质证书（{k.licence_no}）",
                    contractor=k.id,
                    contractor_name=k.name,
                    ends=end,
                    days_left=days,
                    message=(
                        f"资质到期提醒：{k.name}的资质证书（{k.licence_no}）"
                        f"于 {end.month}月{end.day}日 到期，{left}。请督促其换证，"
                        "过期后不得安排其人员作业。"
                    ),
                )
            )
    out.sort(key=lambda n: (n.ends, n.kind, n.id))
    return out


def expiry_reminders(session: Session, spec: SiteFile, now: datetime) -> int:
    """One notification per contract or licence and end date, to every zone supervisor of the
    assets concerned (the site's supervisors for a licence), once: the unique `dedup_key`."""
    today = now.astimezone(spec.site.tz).date()
    made = 0
    for n in expiring(spec, today):
        key = f"{n.kind}-expiry:{spec.site.id}:{n.contractor}:{n.id}:{n.ends.isoformat()}"
        if session.scalar(select(Notification.id).where(Notification.dedup_key == key)):
            continue
        try:
            with session.begin_nested():
                notify(
                    session,
                    site_id=spec.site.id,
                    topic=CONTRACT_EXPIRING if n.kind == "contract" else LICENCE_EXPIRING,
                    message=n.message,
                    at=now,
                    recipient=_supervisor(spec, n),
                    payload={
                        "kind": n.kind,
                        "id": n.id,
                        "contractor": n.contractor,
                        "ends": n.ends.isoformat(),
                    },
                    dedup_key=key,
                )
                session.flush()
        except IntegrityError:
            continue
        made += 1
    return made


def _supervisor(spec: SiteFile, n: ExpiryNotice) -> str | None:
    """The supervisor of the first zone concerned: the contract's first asset's zone, or for a
    licence the first contract's of that contractor."""
    assets = [
        a
        for c in spec.contracts
        if (c.id == n.id if n.kind == "contract" else c.contractor == n.contractor)
        for a in c.assets
    ]
    for aid in assets:
        asset = next((a for a in spec.assets if a.id == aid), None)
        if asset is not None:
            return spec.zone(asset.zone).supervisor
    return next((z.supervisor for z in spec.zones if z.supervisor), None)


class NotUnderContract(UnknownReference):
    """A contractor's person named for an order whose asset their contract does not cover."""

    code = "not_under_contract"


def check_assignee(spec: SiteFile, person: str | None, asset: str | None, at: datetime) -> None:
    """A contractor's people take the orders of their contracts' assets only (422 naming
    `assignee` otherwise); everyone else takes any order."""
    contractor = contractor_of_person(spec, person)
    if contractor is None:
        return
    contract = contract_of(spec, asset, at.astimezone(spec.site.tz).date())
    if contract is None or contract.contractor != contractor:
        raise NotUnderContract(
            {
                "assignee": (
                    f"{person} 是维保单位人员，只能处理其维保合同内设备的工单",
                    f"{person} works for contractor {contractor} and takes orders of the "
                    "assets of its contracts in force only",
                )
            }
        )
