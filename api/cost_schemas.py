"""Bodies and answers of the cost routes: labour, extra costs, 有偿维修, contractors, contracts.

Money is 元 as a string with two decimals ("46.78"), the way the parts routes give prices.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.validation import Day

Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999.99"), decimal_places=2)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabourEntryIn(_In):
    """人工登记: minutes worked on the order on a day, beyond the time on site the steps give."""

    person: str | None = Field(
        None, max_length=64, description="who worked; a technician's token: themselves only"
    )
    minutes: int = Field(ge=1, le=1440)
    work_date: Day = Field(description="the local day of the work")
    note: str = Field("", max_length=500)


class LabourEntryPatch(_In):
    minutes: int | None = Field(None, ge=1, le=1440)
    work_date: Day | None = None
    note: str | None = Field(None, max_length=500)


class LabourEntryOut(BaseModel):
    id: int
    person: str
    person_name: str | None
    minutes: int
    work_date: date
    note: str
    rate: str = Field(description="元 per hour of the person")
    cost: str = Field(description="its share of the person's labour cost, 元")
    created_by: str
    created_by_name: str = Field(description="a person's name, or the token's role in words")
    created_at: datetime


class ExtraCostIn(_In):
    description: str = Field(min_length=1, max_length=200)
    amount: Money


class ExtraCostPatch(_In):
    description: str | None = Field(None, min_length=1, max_length=200)
    amount: Money | None = None


class ExtraCostOut(BaseModel):
    id: int
    description: str
    amount: str
    created_by: str
    created_by_name: str
    created_at: datetime


class PaidRepairIn(_In):
    """有偿维修: the amount quoted to the resident, and whether they have paid it."""

    quoted: Money
    paid: bool = False
    note: str = Field("", max_length=500)


class PaidRepairOut(BaseModel):
    quoted: str
    paid: bool
    paid_at: datetime | None
    note: str
    updated_by: str
    updated_at: datetime


class OnSiteOut(BaseModel):
    """One stretch on site, from 到场 to the step that ended it."""

    person: str
    person_name: str | None
    arrived_at: datetime
    left_at: datetime
    work_date: date = Field(description="the local day of 到场")
    minutes: float
    rate: str
    cost: str = Field(description="its share of the person's labour cost, 元")


class PersonLabourOut(BaseModel):
    person: str
    person_name: str | None
    rate: str = Field(description="元 per hour (site file `costs.rates`)")
    on_site_minutes: float
    manual_minutes: int
    cost: str


class CostSummary(BaseModel):
    """费用 of an order: labour + parts + extras, and the 有偿维修 quoted to the resident."""

    currency: str
    labour_hours: float
    labour_cost: str
    parts_cost: str
    extras_cost: str
    total: str
    paid_repair: PaidRepairOut | None = None


class WorkOrderCosts(CostSummary):
    work_order_id: int
    work_order_code: str | None
    labour: list[PersonLabourOut]
    on_site: list[OnSiteOut]
    entries: list[LabourEntryOut]
    extras: list[ExtraCostOut]


class ResponseTermOut(BaseModel):
    category: str
    priority: str
    priority_zh: str
    respond: str | None
    arrive: str | None
    resolve: str | None


class ContractOut(BaseModel):
    id: str
    name: str
    contractor: str
    contractor_name: str
    assets: list[str]
    start: date
    end: date
    in_force: bool
    days_left: int = Field(description="days from today (local) to the end; negative once ended")
    technician: str | None
    technician_name: str | None
    response: list[ResponseTermOut]


class ContractorOut(BaseModel):
    id: str
    name: str
    licence_no: str
    licence_expiry: date
    licence_days_left: int
    contact: str
    phone: str
    people: list[str] = Field(description="the site file's people of this contractor")
    contracts: list[str]


class ContractorPage(BaseModel):
    items: list[ContractorOut]


class ContractPage(BaseModel):
    items: list[ContractOut]
