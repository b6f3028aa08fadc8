"""备品备件 rules: the catalogue, stock per store, parts on work orders, movements and 盘点.

A line added to a work order reserves its quantity (on hand − reserved must cover it); 完成
issues every reserved line at the part's price of that moment (the order's cost keeps it); 取消
gives the reservations back. Every change of a stock row locks it first (`SELECT … FOR UPDATE`
on PostgreSQL; SQLite's writers queue on the database lock) and writes a `Movement` with the
balance after, and the table's CHECK refuses a negative or over-reserved figure whatever
happens above it. When available falls below the minimum, one `parts.low_stock` row goes to the
outbox; the next waits until available is back at the minimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance.notifications import notify
from maintenance.parts.errors import (
    InsufficientStock,
    InvalidParts,
    OrderNotOpen,
    PartExists,
    PartLineNotFound,
    PartNotFound,
    StoreNotFound,
)
from maintenance.parts.models import (
    MOVEMENT_ZH,
    LineState,
    Movement,
    MovementKind,
    Part,
    PartLine,
    Stock,
    StockCount,
    Store,
)
from maintenance.parts.quantities import MAX_MILLI, line_cost_fen, quantity, text
from maintenance.work_orders.models import OPEN_STATUSES, STATUS_ZH, Status, WorkOrder

DEFAULT_STORE = "main"
DEFAULT_STORE_NAME = "总仓"
LOW_STOCK = "parts.low_stock"


# -- stores ---------------------------------------------------------------------------------------


def default_store(session: Session, site_id: str, now: datetime) -> Store:
    """The site's default store, made (总仓, code `main`) the first time a site needs one."""
    found = session.scalar(select(Store).where(Store.site_id == site_id, Store.is_default))
    if found is not None:
        return found
    made = Store(
        site_id=site_id,
        code=DEFAULT_STORE,
        name=DEFAULT_STORE_NAME,
        is_default=True,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(made)
    except IntegrityError:  # another request made it first
        return session.scalars(
            select(Store).where(Store.site_id == site_id, Store.code == DEFAULT_STORE)
        ).one()
    return made


def list_stores(session: Session, site_id: str) -> list[Store]:
    """The site's stores, the default first; a site that has none yet shows the 总仓 it will
    get (a read makes nothing)."""
    rows = list(
        session.scalars(
            select(Store)
            .where(Store.site_id == site_id)
            .order_by(Store.is_default.desc(), Store.code)
        )
    )
    return rows or [
        Store(site_id=site_id, code=DEFAULT_STORE, name=DEFAULT_STORE_NAME, is_default=True)
    ]


def create_store(
    session: Session, site_id: str, code: str, name: str, *, default: bool, now: datetime
) -> Store:
    """A new 仓库; `default` makes it the one lines and receipts without a store go to."""
    current = default_store(session, site_id, now)
    if session.scalar(select(Store.id).where(Store.site_id == site_id, Store.code == code)):
        raise PartExists(f"仓库编号 {code} 已存在", f"store {code!r} exists")
    store = Store(site_id=site_id, code=code, name=name, is_default=False, created_at=now)
    session.add(store)
    if default:
        current.is_default, store.is_default = False, True
    session.flush()
    return store


def store_by_code(session: Session, site_id: str, code: str | None, now: datetime) -> Store:
    if code is None:
        return default_store(session, site_id, now)
    store = session.scalar(select(Store).where(Store.site_id == site_id, Store.code == code))
    if store is None:
        if code == DEFAULT_STORE:
            return default_store(session, site_id, now)
        raise StoreNotFound(f"仓库 {code} 不存在", f"store {code!r} not found")
    return store


# -- the catalogue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreLevel:
    """A part's reorder level (最低库存) in one store (None: the default store)."""

    store: str | None
    minimum_milli: int


@dataclass(frozen=True)
class NewPart:
    site_id: str
    code: str
    name: str
    unit: str
    unit_price_fen: int
    spec: str = ""
    stores: Sequence[StoreLevel] = ()


@dataclass(frozen=True)
class PartChanges:
    name: str | None = None
    spec: str | None = None
    unit: str | None = None
    unit_price_fen: int | None = None
    stores: Sequence[StoreLevel] | None = None


def _stores_named(
    session: Session, site_id: str, levels: Sequence[StoreLevel], now: datetime
) -> list[tuple[Store, int]]:
    """The stores of `levels`, each once, or InvalidParts naming `stores.N.store`."""
    out: list[tuple[Store, int]] = []
    wrong: dict[str, tuple[str, str]] = {}
    for i, level in enumerate(levels):
        try:
            store = store_by_code(session, site_id, level.store, now)
        except StoreNotFound:
            wrong[f"stores.{i}.store"] = (
                f"仓库 {level.store} 不存在",
                f"unknown store {level.store!r}",
            )
            continue
        if any(s.id == store.id for s, _ in out):
            wrong[f"stores.{i}.store"] = (f"仓库 {store.name} 重复", "store named twice")
            continue
        out.append((store, level.minimum_milli))
    if wrong:
        raise InvalidParts(wrong)
    return out


def create_part(session: Session, new: NewPart, now: datetime) -> Part:
    """A catalogue entry with a stock row (nothing on hand yet) in each store named, or in the
    default store when none is."""
    if session.scalar(select(Part.id).where(Part.site_id == new.site_id, Part.code == new.code)):
        raise PartExists(f"备件编号 {new.code} 已存在", f"part {new.code!r} exists")
    levels = _stores_named(session, new.site_id, new.stores or [StoreLevel(None, 0)], now)
    part = Part(
        site_id=new.site_id,
        code=new.code,
        name=new.name,
        spec=new.spec,
        unit=new.unit,
        unit_price_fen=new.unit_price_fen,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(part)
            session.flush()
    except IntegrityError:
        raise PartExists(f"备件编号 {new.code} 已存在", f"part {new.code!r} exists") from None
    for store, minimum in levels:
        session.add(
            Stock(
                part_id=part.id,
                store_id=store.id,
                on_hand_milli=0,
                reserved_milli=0,
                minimum_milli=minimum,
                low_alerted=False,
            )
        )
    session.flush()
    return part


def edit_part(session: Session, part: Part, changes: PartChanges, now: datetime) -> Part:
    """Name, spec, unit, price; a store named gets that minimum (and a stock row if it had none).
    A new price applies to lines issued from now on; issued lines keep theirs."""
    levels = (
        _stores_named(session, part.site_id, changes.stores, now)
        if changes.stores is not None
        else []
    )
    for attr in ("name", "spec", "unit", "unit_price_fen"):
        value = getattr(changes, attr)
        if value is not None:
            setattr(part, attr, value)
    for store, minimum in levels:
        stock = _stock_row(session, part, store, create=True, lock=True)
        stock.minimum_milli = minimum
        _check_low_stock(session, part, store, stock, now)
    part.updated_at = now
    session.flush()
    return part


def get_part(session: Session, site_id: str, code: str, *, lock: bool = False) -> Part:
    q = select(Part).where(Part.site_id == site_id, Part.code == code)
    if lock:
        q = q.with_for_update()
    part = session.scalar(q)
    if part is None:
        raise PartNotFound(f"备件 {code} 不存在", f"part {code!r} not found")
    return part


@dataclass(frozen=True)
class PartFilter:
    site_id: str
    search: str | None = None  # part of the name or code
    below_minimum: bool | None = None
    store: str | None = None
    after: str | None = None  # the last code of the page before
    limit: int = 50


def list_parts(session: Session, wanted: PartFilter) -> list[Part]:
    """The catalogue in code order; `below_minimum`: parts with a store where available is under
    the minimum (or, False, none); `store`: parts kept in that store."""
    q = select(Part).where(Part.site_id == wanted.site_id).order_by(Part.code)
    if wanted.search:
        # case-blind on both databases (SQLite's LIKE is, PostgreSQL's is not); % and _ literal
        escaped = wanted.search.lower().replace("\\", "\\\\").replace("%", r"\%")
        like = "%" + escaped.replace("_", r"\_") + "%"
        q = q.where(
            or_(
                func.lower(Part.name).like(like, escape="\\"),
                func.lower(Part.code).like(like, escape="\\"),
            )
        )
    stocks = select(Stock.part_id).join(Store, Store.id == Stock.store_id)
    if wanted.store is not None:
        stocks = stocks.where(Store.code == wanted.store)
        q = q.where(Part.id.in_(stocks))
    if wanted.below_minimum is not None:
        low = stocks.where(Stock.on_hand_milli - Stock.reserved_milli < Stock.minimum_milli)
        q = q.where(Part.id.in_(low) if wanted.below_minimum else Part.id.not_in(low))
    if wanted.after is not None:
        q = q.where(Part.code > wanted.after)
    return list(session.scalars(q.limit(wanted.limit)))


def stocks_of(session: Session, part_ids: Sequence[int]) -> dict[int, list[tuple[Stock, Store]]]:
    """Each part's stock rows with their stores, the default store first."""
    out: dict[int, list[tuple[Stock, Store]]] = {pid: [] for pid in part_ids}
    if not part_ids:
        return out
    rows = session.execute(
        select(Stock, Store)
        .join(Store, Store.id == Stock.store_id)
        .where(Stock.part_id.in_(part_ids))
        .order_by(Store.is_default.desc(), Store.code)
    )
    for stock, store in rows:
        out[stock.part_id].append((stock, store))
    return out


# -- stock rows and their movements ---------------------------------------------------------------


def _stock_row(
    session: Session, part: Part, store: Store, *, create: bool = False, lock: bool = True
) -> Stock:
    """The part's row in the store, locked (re-read, so what is compared is the latest)."""
    q = select(Stock).where(Stock.part_id == part.id, Stock.store_id == store.id)
    if lock:
        q = q.with_for_update()
    stock = session.scalars(q.execution_options(populate_existing=True)).first()
    if stock is not None:
        return stock
    if not create:
        raise InvalidParts(
            {
                "store": (
                    f"备件「{part.name}」不在{store.name}存放",
                    f"part {part.code!r} is not kept in store {store.code!r}",
                )
            }
        )
    stock = Stock(
        part_id=part.id,
        store_id=store.id,
        on_hand_milli=0,
        reserved_milli=0,
        minimum_milli=0,
        low_alerted=False,
    )
    try:
        with session.begin_nested():
            session.add(stock)
            session.flush()
    except IntegrityError:  # made at the same moment by another request
        return _stock_row(session, part, store, create=False, lock=lock)
    return stock


def available(stock: Stock) -> int:
    return stock.on_hand_milli - stock.reserved_milli


def _move(
    session: Session,
    part: Part,
    store: Store,
    stock: Stock,
    kind: MovementKind,
    delta: int,
    *,
    actor: str,
    now: datetime,
    note: str = "",
    work_order_id: int | None = None,
    line_id: int | None = None,
    count_id: int | None = None,
) -> Movement:
    """Apply `delta` to on hand (or, for reserve and return, to reserved) of a locked row, audit
    it, and see whether it crossed the minimum."""
    figure = (
        "reserved_milli" if kind in (MovementKind.RESERVE, MovementKind.RETURN) else "on_hand_milli"
    )
    after = getattr(stock, figure) + delta
    if after > MAX_MILLI:  # the column's range; beyond it PostgreSQL would refuse with a 500
        raise InvalidParts(
            {
                "quantity": (
                    f"「{part.name}」在{store.name}的库存将超过上限 {text(quantity(MAX_MILLI))}",
                    "stock would exceed its limit",
                )
            }
        )
    setattr(stock, figure, after)
    row = Movement(
        site_id=part.site_id,
        stock_id=stock.id,
        kind=kind,
        quantity_milli=delta,
        on_hand_after_milli=stock.on_hand_milli,
        reserved_after_milli=stock.reserved_milli,
        work_order_id=work_order_id,
        line_id=line_id,
        count_id=count_id,
        actor=actor,
        at=now,
        note=note,
    )
    session.add(row)
    session.flush()  # the CHECK speaks now, inside the caller's transaction
    _check_low_stock(session, part, store, stock, now, work_order_id=work_order_id)
    return row


def _check_low_stock(
    session: Session,
    part: Part,
    store: Store,
    stock: Stock,
    now: datetime,
    *,
    work_order_id: int | None = None,
) -> None:
    """补货提醒: once when available falls below the minimum; re-armed when it is back."""
    free = available(stock)
    if free >= stock.minimum_milli:
        stock.low_alerted = False
        return
    if stock.low_alerted:
        return
    stock.low_alerted = True
    unit = part.unit
    notify(
        session,
        site_id=part.site_id,
        topic=LOW_STOCK,
        message=(
            f"备件库存不足：「{part.name}」（{part.code}）{store.name}可用 "
            f"{text(quantity(free))} {unit}，低于最低库存 {text(quantity(stock.minimum_milli))} "
            f"{unit}，请及时补货"
        ),
        at=now,
        work_order_id=work_order_id,
        payload={
            "part": part.code,
            "part_name": part.name,
            "store": store.code,
            "store_name": store.name,
            "unit": unit,
            "available": str(quantity(free)),
            "minimum": str(quantity(stock.minimum_milli)),
            "on_hand": str(quantity(stock.on_hand_milli)),
            "reserved": str(quantity(stock.reserved_milli)),
        },
    )


def receive(
    session: Session,
    part: Part,
    store_code: str | None,
    quantity_milli: int,
    *,
    actor: str,
    now: datetime,
    note: str = "",
) -> Movement:
    """入库: stock arrives in a store (the row is made if the part was not kept there)."""
    store = store_by_code(session, part.site_id, store_code, now)
    stock = _stock_row(session, part, store, create=True)
    return _move(
        session,
        part,
        store,
        stock,
        MovementKind.RECEIPT,
        quantity_milli,
        actor=actor,
        now=now,
        note=note,
    )


def adjust(
    session: Session,
    part: Part,
    store_code: str | None,
    delta_milli: int,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> Movement:
    """调整 (breakage, a find): on hand moves by `delta`, never below what is reserved."""
    store = store_by_code(session, part.site_id, store_code, now)
    stock = _stock_row(session, part, store)
    if stock.on_hand_milli + delta_milli < stock.reserved_milli:
        raise InvalidParts(
            {
                "quantity": (
                    f"调整后「{part.name}」在{store.name}的库存 "
                    f"{text(quantity(stock.on_hand_milli + delta_milli))} {part.unit} "
                    f"将少于已预留的 {text(quantity(stock.reserved_milli))} {part.unit}",
                    "on hand would fall below what is reserved",
                )
            }
        )
    return _move(
        session,
        part,
        store,
        stock,
        MovementKind.ADJUSTMENT,
        delta_milli,
        actor=actor,
        now=now,
        note=reason,
    )


@dataclass(frozen=True)
class MovementRow:
    movement: Movement
    store: Store
    work_order_code: str | None


def movements_of(
    session: Session, part: Part, *, store: str | None = None, after: int = 0, limit: int = 50
) -> list[MovementRow]:
    """The part's 库存流水, oldest first from a cursor."""
    q = (
        select(Movement, Store, WorkOrder.code)
        .join(Stock, Stock.id == Movement.stock_id)
        .join(Store, Store.id == Stock.store_id)
        .outerjoin(WorkOrder, WorkOrder.id == Movement.work_order_id)
        .where(Stock.part_id == part.id, Movement.id > after)
        .order_by(Movement.id)
        .limit(limit)
    )
    if store is not None:
        q = q.where(Store.code == store)
    return [MovementRow(m, s, code) for m, s, code in session.execute(q)]


# -- parts on work orders -------------------------------------------------------------------------


def _open(wo: WorkOrder, doing: str) -> None:
    if wo.status not in OPEN_STATUSES:
        raise OrderNotOpen(
            f"工单 {wo.code} 当前为「{STATUS_ZH[Status(wo.status)]}」，不能{doing}",
            f"work order {wo.code} is {wo.status}; parts are changed only before completion",
        )


def add_line(
    session: Session,
    wo: WorkOrder,
    part_code: str,
    store_code: str | None,
    quantity_milli: int,
    *,
    actor: str,
    now: datetime,
    note: str = "",
) -> PartLine:
    """Put a part on an order and reserve it, or refuse (409) naming the part and what is free.

    The caller holds the order's row lock, so a completion cannot slip between the check of its
    status and the reservation."""
    _open(wo, "添加备件")
    try:
        part = get_part(session, wo.site_id, part_code)
    except PartNotFound:
        raise InvalidParts(
            {"part": (f"备件 {part_code} 不在本小区目录中", f"unknown part {part_code!r}")}
        ) from None
    try:
        store = store_by_code(session, wo.site_id, store_code, now)
    except StoreNotFound:
        raise InvalidParts(
            {"store": (f"仓库 {store_code} 不存在", f"unknown store {store_code!r}")}
        ) from None
    stock = _stock_row(session, part, store)
    free = available(stock)
    if free < quantity_milli:
        raise InsufficientStock(
            f"备件「{part.name}」（{part.code}）在{store.name}可用 {text(quantity(free))} "
            f"{part.unit}，不足 {text(quantity(quantity_milli))} {part.unit}",
            f"part {part.code!r} has {quantity(free)} available in store {store.code!r}, "
            f"{quantity(quantity_milli)} asked",
        )
    line = PartLine(
        work_order_id=wo.id,
        stock_id=stock.id,
        quantity_milli=quantity_milli,
        state=LineState.RESERVED,
        note=note,
        added_by=actor,
        added_at=now,
    )
    session.add(line)
    session.flush()
    _move(
        session,
        part,
        store,
        stock,
        MovementKind.RESERVE,
        quantity_milli,
        actor=actor,
        now=now,
        note=f"工单 {wo.code} 预留",
        work_order_id=wo.id,
        line_id=line.id,
    )
    wo.updated_at = now
    return line


def remove_line(
    session: Session, wo: WorkOrder, line_id: int, *, actor: str, now: datetime
) -> PartLine:
    """Take a reserved part off an order before 完成; the reservation is given back."""
    line = session.get(PartLine, line_id)
    if line is None or line.work_order_id != wo.id:
        raise PartLineNotFound(
            f"工单 {wo.code} 没有备件明细 {line_id}", f"part line {line_id} not on this order"
        )
    _open(wo, "移除备件")
    if line.state != LineState.RESERVED:
        raise OrderNotOpen(
            f"备件明细 {line_id} 已不在预留中", f"part line {line_id} is {line.state}"
        )
    _release(session, wo, line, LineState.REMOVED, actor=actor, now=now, why="移除")
    wo.updated_at = now
    return line


def line_part(session: Session, line: PartLine) -> Part:
    """The part a line is of (for the words that announce it)."""
    return session.scalars(
        select(Part).join(Stock, Stock.part_id == Part.id).where(Stock.id == line.stock_id)
    ).one()


def _line_stock(session: Session, line: PartLine) -> tuple[Part, Store, Stock]:
    stock = session.scalars(
        select(Stock)
        .where(Stock.id == line.stock_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    part = session.get(Part, stock.part_id)
    store = session.get(Store, stock.store_id)
    assert part is not None and store is not None
    return part, store, stock


def _release(
    session: Session,
    wo: WorkOrder,
    line: PartLine,
    state: LineState,
    *,
    actor: str,
    now: datetime,
    why: str,
) -> None:
    part, store, stock = _line_stock(session, line)
    line.state, line.closed_at = state, now
    _move(
        session,
        part,
        store,
        stock,
        MovementKind.RETURN,
        -line.quantity_milli,
        actor=actor,
        now=now,
        note=f"工单 {wo.code} {why}，退回预留",
        work_order_id=wo.id,
        line_id=line.id,
    )


def _issue(session: Session, wo: WorkOrder, line: PartLine, *, actor: str, now: datetime) -> None:
    """出库 at 完成: the reservation becomes a deduction, priced as the catalogue says now."""
    part, store, stock = _line_stock(session, line)
    line.state, line.closed_at, line.unit_price_fen = LineState.ISSUED, now, part.unit_price_fen
    stock.reserved_milli -= line.quantity_milli
    _move(
        session,
        part,
        store,
        stock,
        MovementKind.ISSUE,
        -line.quantity_milli,
        actor=actor,
        now=now,
        note=f"工单 {wo.code} 完成出库",
        work_order_id=wo.id,
        line_id=line.id,
    )


def on_transition(
    session: Session, wo: WorkOrder, to: Status, *, actor: str, now: datetime
) -> None:
    """The parts side of a work-order step: 完成 issues the reserved lines, 取消 returns them.
    Called by `maintenance.work_orders.service.transition` with the order's row locked."""
    if to not in (Status.RESOLVED, Status.CANCELLED):
        return
    lines = session.scalars(
        select(PartLine)
        .where(PartLine.work_order_id == wo.id, PartLine.state == LineState.RESERVED)
        .order_by(PartLine.stock_id, PartLine.id)  # one lock order for every caller
    ).all()
    for line in lines:
        if to is Status.RESOLVED:
            _issue(session, wo, line, actor=actor, now=now)
        else:
            _release(session, wo, line, LineState.RETURNED, actor=actor, now=now, why="取消")


@dataclass(frozen=True)
class LineRow:
    line: PartLine
    part: Part
    store: Store

    @property
    def unit_price_fen(self) -> int:
        """The price at issue; before it, the catalogue's (what it would cost now)."""
        if self.line.unit_price_fen is not None:
            return self.line.unit_price_fen
        return self.part.unit_price_fen

    @property
    def cost_fen(self) -> int | None:
        if self.line.state != LineState.ISSUED or self.line.unit_price_fen is None:
            return None
        return line_cost_fen(self.line.quantity_milli, self.line.unit_price_fen)


def lines_of(session: Session, work_order_id: int) -> list[LineRow]:
    """The order's parts, removed lines left out (their movements keep them)."""
    rows = session.execute(
        select(PartLine, Part, Store)
        .join(Stock, Stock.id == PartLine.stock_id)
        .join(Part, Part.id == Stock.part_id)
        .join(Store, Store.id == Stock.store_id)
        .where(PartLine.work_order_id == work_order_id, PartLine.state != LineState.REMOVED)
        .order_by(PartLine.id)
    )
    return [LineRow(line, part, store) for line, part, store in rows]


def parts_cost_fen(lines: Sequence[LineRow]) -> int:
    """材料费: the issued lines, each quantity × its price at issue, rounded to the 分."""
    return sum(c for c in (r.cost_fen for r in lines) if c is not None)


# -- 盘点 ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    part: str
    counted_milli: int


@dataclass(frozen=True)
class Difference:
    part: Part
    book_milli: int
    counted_milli: int

    @property
    def difference_milli(self) -> int:
        return self.counted_milli - self.book_milli


@dataclass
class CountResult:
    count: StockCount
    store: Store
    differences: list[Difference] = field(default_factory=list)


def record_count(
    session: Session,
    site_id: str,
    store_code: str,
    counted: Sequence[Counted],
    *,
    actor: str,
    now: datetime,
    note: str = "",
) -> CountResult:
    """盘点 of one store: each part counted is set to the count, the difference an audited
    `count` movement; parts not named are not counted. Refused whole (each line named) for an
    unknown or repeated part, or a count below what open orders have reserved."""
    store = store_by_code(session, site_id, store_code, now)
    wrong: dict[str, tuple[str, str]] = {}
    parts: list[tuple[int, Part]] = []
    seen: set[str] = set()
    for i, c in enumerate(counted):
        if c.part in seen:
            wrong[f"lines.{i}.part"] = (f"备件 {c.part} 重复盘点", f"part {c.part!r} twice")
            continue
        seen.add(c.part)
        part = session.scalar(select(Part).where(Part.site_id == site_id, Part.code == c.part))
        if part is None:
            wrong[f"lines.{i}.part"] = (
                f"备件 {c.part} 不在本小区目录中",
                f"unknown part {c.part!r}",
            )
            continue
        parts.append((i, part))
    if wrong:
        raise InvalidParts(wrong)
    # lock in one order (by part id) so two counts of overlapping parts cannot deadlock
    stocks = {
        part.id: _stock_row(session, part, store, create=True)
        for _, part in sorted(parts, key=lambda p: p[1].id)
    }
    for i, part in parts:
        stock = stocks[part.id]
        if counted[i].counted_milli < stock.reserved_milli:
            wrong[f"lines.{i}.counted"] = (
                f"「{part.name}」盘点数 {text(quantity(counted[i].counted_milli))} {part.unit} "
                f"少于工单已预留的 {text(quantity(stock.reserved_milli))} {part.unit}，"
                "请先移除或取消相关工单的备件",
                "counted less than open orders have reserved",
            )
    if wrong:
        raise InvalidParts(wrong)
    row = StockCount(
        site_id=site_id,
        store_id=store.id,
        counted_by=actor,
        counted_at=now,
        note=note,
        lines=[],
    )
    session.add(row)
    session.flush()
    result = CountResult(row, store)
    kept: list[dict[str, object]] = []
    for i, part in parts:
        stock = stocks[part.id]
        book, real = stock.on_hand_milli, counted[i].counted_milli
        kept.append({"part": part.code, "book_milli": book, "counted_milli": real})
        if real != book:
            result.differences.append(Difference(part, book, real))
            _move(
                session,
                part,
                store,
                stock,
                MovementKind.COUNT,
                real - book,
                actor=actor,
                now=now,
                note=f"盘点 {row.id}：账面 {text(quantity(book))}，实盘 "
                f"{text(quantity(real))}" + (f"；{note}" if note else ""),
                count_id=row.id,
            )
    row.lines = kept
    return result


def movement_zh(kind: str) -> str:
    return MOVEMENT_ZH[MovementKind(kind)]
