"""Request and response bodies of the quality routes (巡查发现, 整改)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from maintenance.quality.models import RectificationStatus
from propwatch.quality import Department, FindingSeverity

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class FindingCreate(BaseModel):
    """A finding names exactly one place: an asset, a public place, or a building (with a
    floor); its severity is 一般 general, 重要 important or 紧急 emergency."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=64, pattern=_ID, description="a finding type of the site file")
    severity: FindingSeverity
    asset: str | None = Field(default=None, max_length=64, description="an asset id")
    place: str | None = Field(default=None, max_length=64, description="a public place id")
    building: str | None = Field(default=None, max_length=100, description="a zone's building")
    floor: str | None = Field(default=None, max_length=20)
    note: str = Field(default="", max_length=2000)
    requirement: str = Field(
        default="", max_length=2000, description="整改要求; by default the type and deadline"
    )


class TransitionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Literal[
        RectificationStatus.IN_PROGRESS,
        RectificationStatus.RECTIFIED,
        RectificationStatus.PASSED,
        RectificationStatus.FAILED,
    ] = Field(
        description="in_progress 整改中, rectified 已整改, passed 复查通过, failed 复查不通过"
    )
    note: str = Field(default="", max_length=2000)
    evidence: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="refs of photos uploaded to …/evidence (required for rectified)",
    )


class WorkOrderLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    work_order_id: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="link this order; absent: open one"
    )


class PhotoOut(BaseModel):
    ref: str
    url: str
    content_type: str | None = None
    size: int | None = None


class PlaceOut(BaseModel):
    name: str = Field(description="as people say it: 1栋大堂, 1号生活水泵, 3栋 5层")
    asset: str | None
    place: str | None
    building: str | None
    floor: str | None
    zone: str
    zone_name: str


class StepOut(BaseModel):
    at: datetime
    at_local: str = Field(description="12月1日 14:05")
    actor: str
    actor_name: str
    from_status: str | None
    to_status: str
    step: str = Field(description="下发, 开始整改, 整改完成, 复查通过, 复查不通过, 关联工单")
    note: str
    photos: list[PhotoOut]


class EscalationOut(BaseModel):
    step_id: str
    action: str
    fired_at: datetime
    fired_local: str
    recipient: str | None
    recipient_name: str | None


class RectificationOut(BaseModel):
    id: int
    site_id: str
    finding_id: int
    status: str
    status_zh: str
    severity: FindingSeverity
    severity_zh: str
    type: str
    type_name: str
    place: PlaceOut
    department: Department
    department_zh: str
    assignee: str | None
    assignee_name: str | None
    requirement: str
    note: str = Field(description="what the finding said")
    photos: list[PhotoOut] = Field(description="the finding's photos")
    reported_by: str
    reported_by_name: str
    issued_at: datetime
    deadline_at: datetime
    deadline_local: str = Field(description="10月10日 23:59")
    overdue: bool = Field(description="open (下发/整改中) past its deadline")
    recheck_failures: int
    work_order_id: int | None
    work_order_code: str | None
    updated_at: datetime
    steps: list[StepOut]
    escalations: list[EscalationOut]
    etag: str


class RectificationPage(BaseModel):
    items: list[RectificationOut]
    next_after: int | None = Field(description="pass as `after` for the next page")


class AccountabilityRow(BaseModel):
    key: str
    name: str
    open: int = Field(description="下发, 整改中 or 已整改 awaiting 复查")
    overdue: int = Field(description="open past the deadline now")
    passed: int
    passed_late: int = Field(description="passed, last reported done after the deadline")
    recheck_failures: int


class AccountabilityOut(BaseModel):
    site_id: str
    at: datetime
    departments: list[AccountabilityRow]
    people: list[AccountabilityRow]


class DeductionBody(BaseModel):
    """One rule applied to an item, where it was found (one of asset, place, building)."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(max_length=64, description="a deduction rule of the item")
    count: int = Field(default=1, ge=1, le=100)
    note: str = Field(default="", max_length=2000)
    asset: str | None = Field(default=None, max_length=64)
    place: str | None = Field(default=None, max_length=64)
    building: str | None = Field(default=None, max_length=100)
    floor: str | None = Field(default=None, max_length=20)


class ItemResultBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(max_length=64, description="an item of the sheet")
    not_applicable: bool = Field(default=False, description="不适用: left out of the maximum")
    deductions: list[DeductionBody] = Field(default_factory=list, max_length=50)


class InspectionCreate(BaseModel):
    """Items not named score full points; mandatory items must be named."""

    model_config = ConfigDict(extra="forbid")

    sheet: str = Field(max_length=64, description="a score sheet of the site file")
    zone: str | None = Field(default=None, max_length=64, description="the zone inspected")
    note: str = Field(default="", max_length=2000)
    results: list[ItemResultBody] = Field(default_factory=list, max_length=500)


class ItemScore(BaseModel):
    id: str
    text: str
    maximum: float
    deducted: float
    score: float
    applicable: bool


class SectionScore(BaseModel):
    id: str
    name: str
    maximum: float
    score: float
    items: list[ItemScore]


class DeductionOut(BaseModel):
    section_id: str
    item_id: str
    rule_id: str
    count: int
    points: float
    note: str
    finding_id: int
    rectification_id: int


class InspectionOut(BaseModel):
    id: int
    site_id: str
    sheet: str
    sheet_name: str
    zone: str | None
    zone_name: str | None
    inspector: str
    inspector_name: str
    inspected_at: datetime
    inspected_local: str
    note: str
    total: float
    maximum: float
    percent: float | None = Field(description="the total on a 100-point scale, one decimal")
    sections: list[SectionScore]
    deductions: list[DeductionOut]


class InspectionPage(BaseModel):
    items: list[InspectionOut]


class ScoreSheetPage(BaseModel):
    items: list[dict[str, object]] = Field(description="the site file's score sheets as data")


class NamedOption(BaseModel):
    id: str
    name: str


class PlaceOption(BaseModel):
    id: str
    name: str
    zone: str
    building: str
    floor: str


class QualityFormOptions(BaseModel):
    """What the phone forms offer: where (places, assets, buildings) and what (finding types)."""

    places: list[PlaceOption] = Field(description="the site file's quality.places")
    assets: list[NamedOption]
    buildings: list[str] = Field(description="the zones' buildings, in the site file's order")
    finding_types: list[NamedOption]
