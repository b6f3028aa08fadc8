"""What a work order cost: labour, parts and extras, and the 有偿维修 quoted to the resident.

Definitions, so a figure can be checked by hand:
- Time on site (现场工时) is each stretch from a 到场 step to the next change of status (完成,
  挂起, 取消 …), counted for the person who reported 到场 (the order's assignee when the duty
  room recorded it). A stretch still open counts once it ends.
- Labour of a person on an order = (seconds on site + 60 × minutes of their manual entries) ×
  the hourly rate of their role (`costs.rates`, `contractor` for a contractor's people) / 3600,
  rounded half up to the 分 once per person and order.
- Parts (材料费) are the issued lines at their price at issue (`maintenance.parts`); extras
  (其他费用) are added as entered. Cost of an order = labour + parts + extras.
- The quoted amount of a 有偿维修 is what the resident pays; it is not a cost and is reported
  beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.costs.models import ExtraCost, LabourEntry, PaidRepair
from maintenance.errors import NotFound, UnknownReference
from maintenance.notifications import notify
from maintenance.parts.models import LineState, PartLine
from maintenance.parts.quantities import line_cost_fen
from maintenance.work_orders.models import Status, WorkOrder, WorkOrderTransition
from propwatch.site import SiteFile

STATUSES = {s.value for s in Status}
TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Stretch:
    """One stretch on site: who, from 到场 to the step that ended it."""

    person: str
    arrived_at: datetime
    left_at: datetime

    @property
    def seconds(self) -> float:
        return (self.left_at - self.arrived_at).total_seconds()


@dataclass
class PersonLabour:
    person: str
    on_site_seconds: float = 0.0
    manual_minutes: int = 0
    rate_fen: int = 0

    @property
    def cost_fen(self) -> int:
        seconds = Decimal(str(self.on_site_seconds)) + 60 * self.manual_minutes
        exact = seconds * self.rate_fen / 3600
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def add(self, *, seconds: float = 0.0, minutes: int = 0) -> int:
        """Count a stretch or an entry in, and answer what it added to the cost in 分."""
        before = self.cost_fen
        self.on_site_seconds += seconds
        self.manual_minutes += minutes
        return self.cost_fen - before


@dataclass
class OrderCost:
    work_order_id: int
    labour: list[PersonLabour] = field(default_factory=list)
    stretches: list[Stretch] = field(default_factory=list)
    parts_fen: int = 0
    extras_fen: int = 0
    paid_repair: PaidRepair | None = None

    @property
    def labour_fen(self) -> int:
        return sum(p.cost_fen for p in self.labour)

    @property
    def labour_seconds(self) -> float:
        return sum(p.on_site_seconds + 60 * p.manual_minutes for p in self.labour)

    @property
    def total_fen(self) -> int:
        return self.labour_fen + self.parts_fen + self.extras_fen


def stretches(
    steps: Sequence[WorkOrderTransition], people: set[str], assignee: str | None
) -> list[Stretch]:
    """The stretches on site in an order's steps (oldest first)."""
    out: list[Stretch] = []
    who: str | None = None
    since: datetime | None = None
    for step in steps:
        if step.to_status not in STATUSES:
            continue  # a note, an attachment, a reassignment: the status stays
        if since is not None and step.to_status != Status.ON_SITE and who is not None:
            out.append(Stretch(who, since, step.at))
            since = None
        if step.to_status == Status.ON_SITE and since is None:
            since = step.at
            who = step.actor if step.actor in people else assignee
    return out


def rate_fen(spec: SiteFile, person: str) -> int:
    p = next((x for x in spec.people if x.id == person), None)
    if p is None:
        return 0
    return spec.costs.rate_fen(p.role.value, p.contractor is not None)


def order_costs(
    session: Session, spec: SiteFile, orders: Iterable[WorkOrder]
) -> dict[int, OrderCost]:
    """The cost of each order, read in one query per table."""
    by_id = {wo.id: wo for wo in orders}
    ids = list(by_id)
    out = {i: OrderCost(i) for i in ids}
    if not ids:
        return out
    people = {p.id for p in spec.people}
    steps: dict[int, list[WorkOrderTransition]] = defaultdict(list)
    labour: dict[int, dict[str, PersonLabour]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for t in session.scalars(
            select(WorkOrderTransition)
            .where(WorkOrderTransition.work_order_id.in_(chunk))
            .order_by(WorkOrderTransition.at, WorkOrderTransition.id)
        ):
            steps[t.work_order_id].append(t)
        for e in session.scalars(select(LabourEntry).where(LabourEntry.work_order_id.in_(chunk))):
            _person(labour[e.work_order_id], spec, e.person).manual_minutes += e.minutes
        for x in session.scalars(select(ExtraCost).where(ExtraCost.work_order_id.in_(chunk))):
            out[x.work_order_id].extras_fen += x.amount_fen
        for line in session.scalars(
            select(PartLine).where(
                PartLine.work_order_id.in_(chunk), PartLine.state == LineState.ISSUED
            )
        ):
            if line.unit_price_fen is not None:
                out[line.work_order_id].parts_fen += line_cost_fen(
                    line.quantity_milli, line.unit_price_fen
                )
        for pr in session.scalars(select(PaidRepair).where(PaidRepair.work_order_id.in_(chunk))):
            out[pr.work_order_id].paid_repair = pr
    for i in ids:
        found = stretches(steps[i], people, by_id[i].assignee)
        out[i].stretches = found
        for s in found:
            _person(labour[i], spec, s.person).add(seconds=s.seconds)
        out[i].labour = sorted(labour[i].values(), key=lambda p: p.person)
    return out


def order_cost(session: Session, spec: SiteFile, wo: WorkOrder) -> OrderCost:
    return order_costs(session, spec, [wo])[wo.id]


def row_costs_fen(cost: OrderCost, entries: Sequence[LabourEntry]) -> tuple[list[int], list[int]]:
    """What each stretch on site and each labour entry of the order costs, in 分.

    A person's labour is rounded once (see above), so a row's share is what it adds to that
    rounded running total: the person's stretches in time order, then their entries as given.
    The rows of a person then add up to exactly the person's cost, and the order's to its
    labour cost, as a sheet of them must."""
    rates = {p.person: p.rate_fen for p in cost.labour}
    running: dict[str, PersonLabour] = {}

    def share(person: str, *, seconds: float = 0.0, minutes: int = 0) -> int:
        p = running.setdefault(person, PersonLabour(person, rate_fen=rates.get(person, 0)))
        return p.add(seconds=seconds, minutes=minutes)

    on_site = [share(s.person, seconds=s.seconds) for s in cost.stretches]
    manual = [share(e.person, minutes=e.minutes) for e in entries]
    return on_site, manual


def _person(rows: dict[str, PersonLabour], spec: SiteFile, person: str) -> PersonLabour:
    if person not in rows:
        rows[person] = PersonLabour(person, rate_fen=rate_fen(spec, person))
    return rows[person]


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def touch(wo: WorkOrder, now: datetime) -> None:
    """A new version of the order (its ETag changes) even when the clock has not moved."""
    wo.updated_at = max(now, wo.updated_at + TICK)


COSTS_CHANGED = "work_order.costs_changed"


def announce(session: Session, wo: WorkOrder, *, what: str, actor: str, now: datetime) -> None:
    """费用变动 on the outbox (a part, a labour entry, an extra cost, the 有偿维修 quote), so a page
    open on the order — the duty room's drawer, the assignee's phone — shows a change made
    elsewhere. It is for the screens only: `page: false` keeps it off every channel."""
    notify(
        session,
        site_id=wo.site_id,
        topic=COSTS_CHANGED,
        message=f"工单 {wo.code} {what}",
        at=now,
        work_order_id=wo.id,
        recipient=wo.assignee,
        payload={"code": wo.code, "actor": actor, "page": False},
    )


# -- labour entries -------------------------------------------------------------------------------


def check_person(spec: SiteFile, person: str) -> None:
    if all(p.id != person for p in spec.people):
        raise UnknownReference(
            {"person": (f"人员 {person} 不在本小区名册中", f"unknown person {person!r}")}
        )


def labour_of(session: Session, work_order_id: int) -> list[LabourEntry]:
    return list(
        session.scalars(
            select(LabourEntry)
            .where(LabourEntry.work_order_id == work_order_id)
            .order_by(LabourEntry.work_date, LabourEntry.id)
        )
    )


def add_labour(
    session: Session,
    spec: SiteFile,
    wo: WorkOrder,
    *,
    person: str,
    minutes: int,
    work_date: date,
    note: str,
    actor: str,
    now: datetime,
) -> LabourEntry:
    check_person(spec, person)
    row = LabourEntry(
        work_order_id=wo.id,
        person=person,
        minutes=minutes,
        work_date=work_date,
        note=note,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    touch(wo, now)
    session.flush()
    return row


def labour_entry(session: Session, wo: WorkOrder, entry_id: int) -> LabourEntry:
    row = session.get(LabourEntry, entry_id)
    if row is None or row.work_order_id != wo.id:
        raise NotFound(
            f"工单 {wo.code} 没有人工记录 {entry_id}", f"no labour entry {entry_id} on {wo.code}"
        )
    return row


def extras_of(session: Session, work_order_id: int) -> list[ExtraCost]:
    return list(
        session.scalars(
            select(ExtraCost).where(ExtraCost.work_order_id == work_order_id).order_by(ExtraCost.id)
        )
    )


def extra_cost(session: Session, wo: WorkOrder, extra_id: int) -> ExtraCost:
    row = session.get(ExtraCost, extra_id)
    if row is None or row.work_order_id != wo.id:
        raise NotFound(
            f"工单 {wo.code} 没有费用记录 {extra_id}", f"no extra cost {extra_id} on {wo.code}"
        )
    return row


def set_paid_repair(
    session: Session,
    wo: WorkOrder,
    *,
    quoted_fen: int,
    paid: bool,
    note: str,
    actor: str,
    now: datetime,
) -> PaidRepair:
    """有偿维修: set (or change) the quote and whether the resident paid; paid_at is kept from the
    first time it was marked paid."""
    row = session.get(PaidRepair, wo.id)
    if row is None:
        row = PaidRepair(work_order_id=wo.id, paid=False, paid_at=None)
        session.add(row)
    row.quoted_fen, row.note, row.updated_by, row.updated_at = quoted_fen, note, actor, now
    if paid and not row.paid:
        row.paid_at = now
    elif not paid:
        row.paid_at = None
    row.paid = paid
    touch(wo, now)
    session.flush()
    return row


def clear_paid_repair(session: Session, wo: WorkOrder, now: datetime) -> None:
    row = session.get(PaidRepair, wo.id)
    if row is not None:
        session.delete(row)
        touch(wo, now)
        session.flush()
