"""Request and response bodies of the parts routes (备品备件).

Quantities and prices come in as JSON numbers or strings (`2.5`, `"12.80"`) and go out as
strings, so no client reads a price through a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from maintenance.parts.models import LineState, MovementKind, Unit

_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
MAX_QUANTITY = Decimal(2_000_000)
MAX_PRICE = Decimal(20_000_000)

Quantity = Annotated[Decimal, Field(gt=0, le=MAX_QUANTITY, decimal_places=3)]
"""More than nothing, at most three decimals (a thousandth of a 米)."""
Counted = Annotated[Decimal, Field(ge=0, le=MAX_QUANTITY, decimal_places=3)]
Signed = Annotated[Decimal, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY, decimal_places=3)]
Price = Annotated[Decimal, Field(ge=0, le=MAX_PRICE, decimal_places=2)]


class StoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=_CODE)
    name: str = Field(min_length=1, max_length=100)
    default: bool = Field(False, description="lines and receipts without a store go here")


class StoreOut(BaseModel):
    code: str
    name: str
    default: bool


class StorePage(BaseModel):
    items: list[StoreOut]


class StoreLevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(
        None, min_length=1, max_length=64, description="a store code; absent: the default"
    )
    minimum: Counted = Field(Decimal(0), description="最低库存 (reorder level)")


class PartCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=_CODE)
    name: str = Field(min_length=1, max_length=200)
    spec: str = Field("", max_length=200, description="规格型号")
    unit: Unit = Field(description="个, 米 or 套")
    unit_price: Price = Field(description="单价, 元")
    stores: list[StoreLevelIn] = Field(
        default_factory=list,
        max_length=50,
        description="the stores that keep it, each with its minimum; absent: the default store",
    )


class PartPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    spec: str | None = Field(None, max_length=200)
    unit: Unit | None = None
    unit_price: Price | None = Field(None, description="单价, 元")
    stores: list[StoreLevelIn] | None = Field(
        None, max_length=50, description="a minimum per store named (a new store is added)"
    )


class StockOut(BaseModel):
    store: str
    store_name: str
    on_hand: str
    reserved: str
    available: str
    minimum: str
    below_minimum: bool


class PartOut(BaseModel):
    code: str
    name: str
    spec: str
    unit: str
    unit_price: str
    on_hand: str
    available: str
    below_minimum: bool
    stores: list[StockOut]
    updated_at: datetime
    etag: str


class PartPage(BaseModel):
    items: list[PartOut]
    next_after: str | None = Field(None, description="pass as `after` for the next page")


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(None, min_length=1, max_length=64)
    quantity: Quantity = Field(description="received, in the part's unit")
    note: str = Field("", max_length=500, description="供应商, 送货单号 …")


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(None, min_length=1, max_length=64)
    quantity: Signed = Field(description="signed change of on hand")
    reason: str = Field(min_length=1, max_length=500)


class MovementOut(BaseModel):
    id: int
    kind: MovementKind
    kind_zh: str
    store: str
    store_name: str
    quantity: str
    on_hand_after: str
    reserved_after: str
    available_after: str
    work_order_id: int | None
    work_order_code: str | None
    count_id: int | None
    actor: str
    actor_name: str
    at: datetime
    at_local: str
    note: str


class MovementPage(BaseModel):
    items: list[MovementOut]
    next_after: int | None = None


class PartLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part: str = Field(min_length=1, max_length=64, description="a part code of the site")
    store: str | None = Field(None, min_length=1, max_length=64)
    quantity: Quantity = Field(description="in the part's unit")
    note: str = Field("", max_length=500)


class PartLineOut(BaseModel):
    id: int
    part: str
    part_name: str
    spec: str
    unit: str
    store: str
    store_name: str
    quantity: str
    state: LineState
    state_zh: str
    unit_price: str = Field(description="at issue; before it, the catalogue's")
    cost: str | None = Field(description="quantity × unit price at issue; null until issued")
    amount: str = Field(
        description="quantity × unit price: the cost once issued, what it would cost before"
    )
    added_by: str
    added_by_name: str = Field(description="a person's name, or the token's role in words")
    added_at: datetime


class WorkOrderParts(BaseModel):
    work_order_id: int
    work_order_code: str | None
    lines: list[PartLineOut]
    parts_cost: str


class CountLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part: str = Field(min_length=1, max_length=64)
    counted: Counted = Field(description="what is on the shelf")


class CountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[CountLineIn] = Field(min_length=1, max_length=5000)
    note: str = Field("", max_length=500)


class CountDifference(BaseModel):
    part: str
    part_name: str
    unit: str
    book: str
    counted: str
    difference: str


class CountOut(BaseModel):
    id: int
    store: str
    store_name: str
    counted_by: str
    counted_by_name: str
    counted_at: datetime
    counted_local: str
    note: str
    lines_counted: int
    differences: list[CountDifference]


class ImportProblem(BaseModel):
    row: int = Field(description="as a spreadsheet numbers it: the header is row 1")
    column: str = Field(description="the column's header; empty for the whole row")
    problem: str


class ImportOut(BaseModel):
    dry_run: bool
    rows: int = Field(description="data rows read")
    created: int = Field(description="parts new to the catalogue (to be) created")
    updated: int = Field(description="parts whose name, spec, unit, price or a minimum changes")
    unchanged: int
    problems: list[ImportProblem] = Field(description="a dry run's findings; an apply has none")
