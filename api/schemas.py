"""Request and response schemas, separate from the ORM models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from api.auth import ApiRole
from api.cost_schemas import CostSummary
from api.parts_schemas import PartLineOut
from api.validation import Moment
from maintenance.alarms.history import JournalEntry
from maintenance.notify.delivery_log import DeliveryView
from maintenance.work_orders.models import Status, Via
from maintenance.work_orders.revisits import COMMENT_MAX, RevisitView
from maintenance.work_orders.service import WorkOrderView
from propwatch.site import TIER_PRIORITY, Category, ComplaintTier, Priority
from propwatch.work_order_fields import MAX_TAGS

Tag = Annotated[str, Field(min_length=1, max_length=32)]
CustomFieldValues = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64)], str | int | float | bool | None],
    Field(max_length=50),
]
"""A work order's custom fields by id: text, a number or true/false (null: none)."""


class WorkOrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str | None
    site_id: str
    source: str
    status: str
    status_zh: str
    asset: str | None
    asset_name: str | None
    category: str
    priority: str
    priority_zh: str
    title: str
    description: str
    assignee: str | None
    zone: str | None
    reported_at: datetime
    respond_due: datetime | None
    arrive_due: datetime | None
    resolve_due: datetime | None
    occurrences: int
    external_id: str | None = None
    location: str | None = None
    tags: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime = Field(description="the last change of any kind (the sync's clock)")


class WorkOrderPage(BaseModel):
    items: list[WorkOrderOut]
    next_cursor: str | None = Field(
        None, description="pass as `cursor` for the next page; absent on the last page"
    )


class NotificationDeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None = Field(
        None, description="pass as `cursor` for the next page; absent on the last page"
    )


class LinkedAlarm(BaseModel):
    """The alarm that opened the order (its latest episode), for the detail's link."""

    id: int
    message: str
    severity: str
    raised_at: datetime
    cleared_at: datetime | None


class LinkedPlan(BaseModel):
    """The 保养计划 an occurrence order came from."""

    id: str
    name: str
    due_at: datetime | None


class WorkOrderDetail(WorkOrderView):
    external_id: str | None = None
    etag: str
    assignee_name: str | None = Field(None, description="the assignee's name from the site file")
    actor_names: dict[str, str] = Field(
        default_factory=dict,
        description="a name to show for each actor of `transitions`: a person's name, a token's "
        "person or role (值班员, 管理员), or the part of the system (系统, 保养计划, 网关)",
    )
    alarm: LinkedAlarm | None = None
    plan: LinkedPlan | None = None
    photo_required: bool = Field(
        False,
        description="照片留证: the site wants a photo before 完成 (its category or plan is in the "
        "site file's work_orders.photo_required)",
    )
    parts: list[PartLineOut] = Field(
        default_factory=list, description="备品备件 on the order (GET …/parts has them too)"
    )
    parts_cost: str = Field(
        "0.00", description="材料费, 元: the issued lines, quantity × unit price at issue"
    )
    costs: CostSummary | None = Field(
        None,
        description="费用: labour + parts + extras and 有偿维修 (GET …/costs has the lines)",
    )
    revisits: list[RevisitView] = Field(
        default_factory=list,
        description="回访评价: every revisit, oldest first, with its scores (响应速度, 维修质量, "
        "服务态度), comment, who made it by name and when in local time",
    )


class WorkOrderCreate(BaseModel):
    """报修 from the duty room or the ticket system."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "site_id": "hexie-garden",
                    "title": "3 号楼 2 单元楼道灯不亮",
                    "category": "lighting",
                    "priority": "general",
                    "zone": "Z1",
                    "external_id": "TK-2026-000123",
                }
            ]
        },
    )

    site_id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=300)
    category: Category = Category.GENERAL
    priority: Priority = Priority.GENERAL
    description: str = Field("", max_length=5000)
    asset: str | None = Field(None, max_length=64)
    zone: str | None = Field(None, max_length=64)
    assignee: str | None = Field(None, max_length=64)
    reported_at: Moment | None = None
    external_id: str | None = Field(None, min_length=1, max_length=100)
    location: str | None = Field(None, max_length=300, description="位置, in the reporter's words")
    tags: list[Tag] = Field(
        default_factory=list, max_length=MAX_TAGS, description="标签 the site file declares"
    )
    custom_fields: CustomFieldValues = Field(
        default_factory=dict, description="自定义字段 the site file declares, by id"
    )
    complaint_tier: ComplaintTier | None = Field(
        None,
        description="投诉分级 of a complaint: general (一般投诉), complex (复杂投诉), major "
        "(重大投诉); it sets the priority (general, important, emergency)",
    )

    @model_validator(mode="after")
    def _tier_is_the_priority(self) -> WorkOrderCreate:
        if self.complaint_tier is None:
            return self
        if self.category is not Category.COMPLAINT:
            raise PydanticCustomError(
                "tier_without_complaint",
                "只有投诉（category: complaint）才分级 (complaint_tier is for complaints only)",
            )
        wanted = TIER_PRIORITY[self.complaint_tier]
        if "priority" in self.model_fields_set and self.priority is not wanted:
            raise PydanticCustomError(
                "tier_priority_mismatch",
                f"投诉分级 {self.complaint_tier.value} 对应优先级 {wanted.value}，与填写的 "
                f"{self.priority.value} 不符 (complaint_tier {self.complaint_tier.value} is "
                f"priority {wanted.value})",
            )
        self.priority = wanted
        return self


HOLD_REASON_MAX = 300
"""挂起原因 is kept on the order (`WorkOrder.hold_reason`), at most this long."""


Score = Annotated[int, Field(ge=1, le=5, strict=True)]


class RevisitIn(BaseModel):
    """回访评价 by customer service: three scores of 1 (很不满意) to 5 (很满意)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"response": 5, "quality": 4, "attitude": 5, "via": "phone", "comment": "很及时"}
            ]
        },
    )

    response: Score = Field(description="响应速度, 1–5")
    quality: Score = Field(description="维修质量, 1–5")
    attitude: Score = Field(description="服务态度, 1–5")
    via: Via = Field(description="phone (电话回访) or in_person (上门回访)")
    comment: str = Field("", max_length=COMMENT_MAX, description="住户意见")

    @field_validator("via")
    @classmethod
    def _by_customer_service(cls, via: Via) -> Via:
        # the resident scores through the tracking link, not through a staff token
        if via is Via.RESIDENT_LINK:
            raise PydanticCustomError(
                "resident_link_not_here",
                "住户在线评价经跟踪链接提交，客服回访请填 phone 或 in_person "
                "(resident_link is the resident's own; record phone or in_person)",
            )
        return via


class TransitionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "on_hold", "note": "等待配件 (waiting for parts)"}]},
    )

    to: Status
    note: str = Field(
        "", max_length=2000, description=f"the reason; at most {HOLD_REASON_MAX} for on_hold"
    )
    attachments: list[str] = Field(default_factory=list, max_length=20)
    assignee: str | None = Field(None, max_length=64)
    revisit: RevisitIn | None = Field(
        None,
        description="回访评价, with `to: revisited` only; required for a resident's report "
        "(source ticket or resident) and for a complaint",
    )

    @field_validator("revisit")
    @classmethod
    def _only_at_revisit(cls, revisit: RevisitIn | None, info: ValidationInfo) -> RevisitIn | None:
        if revisit is not None and info.data.get("to") is not Status.REVISITED:
            raise PydanticCustomError(
                "revisit_not_here",
                "只有回访（to: revisited）时可以记录评分 (scores go with to: revisited only)",
            )
        return revisit

    @field_validator("note")
    @classmethod
    def _hold_reason_fits(cls, note: str, info: ValidationInfo) -> str:
        # 挂起原因 is kept on the order itself, in a column of its own size
        if info.data.get("to") is Status.ON_HOLD and len(note) > HOLD_REASON_MAX:
            raise PydanticCustomError(
                "hold_reason_too_long",
                f"挂起原因最多 {HOLD_REASON_MAX} 字 (an on_hold reason has at most "
                f"{HOLD_REASON_MAX} characters)",
            )
        return note


class AssignIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"assignee": "T01", "note": "夜班改派"}]}
    )

    assignee: str = Field(min_length=1, max_length=64)
    note: str = Field("", max_length=2000)


class CommentIn(BaseModel):
    """跟进记录. `note` is the older name of `text`, still taken."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "已更换镇流器", "attachments": ["attachments/17/a1b2.jpg"]}]
        },
    )

    text: str = Field(min_length=1, max_length=2000, validation_alias=AliasChoices("text", "note"))
    attachments: list[str] = Field(default_factory=list, max_length=20)


class ChecklistIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"item_id": "brake", "passed": True, "note": "制动正常"}]},
    )

    item_id: str = Field(min_length=1, max_length=64)
    # strict: JSON true/false and numbers only, as published (no "yes", "1.5" or false as 0)
    passed: bool | None = Field(None, strict=True)
    value: float | None = Field(None, allow_inf_nan=False, strict=True)
    note: str = Field("", max_length=2000)
    not_applicable: bool = Field(
        False, strict=True, description="不适用: the item does not apply; the reason in `note`"
    )


class AlarmHistoryPage(BaseModel):
    items: list[JournalEntry]
    next_cursor: str | None = Field(
        None, description="pass as `cursor` for the next page; absent on the last page"
    )


class OutOfServiceIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "压力传感器送修，更换前不监视"}]},
    )

    reason: str = Field(min_length=1, max_length=300)


class ShelveIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"until": "2026-11-23T08:00:00+08:00", "reason": "施工期间屏蔽"}]
        },
    )

    until: Moment
    reason: str = Field(min_length=1, max_length=300)


class AssetOut(BaseModel):
    id: str
    site_id: str
    name: str
    kind: str
    zone: str
    building: str
    location: str
    retired: bool
    state: dict[str, object]
    state_at: datetime | None
    out_of_service: bool = False
    out_of_service_since: datetime | None = None
    out_of_service_by: str | None = None
    out_of_service_reason: str | None = None
    parent: str | None = Field(None, description="上级: the asset holding this one")


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "tech-T01",
                    "role": "technician",
                    "sites": ["hexie-garden"],
                    "person": "T01",
                    "expires_at": "2027-06-30T00:00:00+08:00",
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    role: ApiRole
    sites: list[str] = Field(min_length=1, max_length=100)
    person: str | None = Field(None, max_length=64)
    expires_at: Moment | None = Field(
        None, description="有效期: refused from this time on (401); omitted: never expires"
    )


class TokenOut(BaseModel):
    name: str
    role: ApiRole
    sites: list[str]
    person: str | None
    expires_at: datetime | None = None
    token: str | None = Field(None, description="shown once, at creation and rotation")


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://tickets.example.com/hooks/propwatch",
                    "event_types": ["work_order.created", "work_order.changed"],
                    "sites": ["hexie-garden"],
                }
            ]
        },
    )

    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://")
    event_types: list[str] = Field(min_length=1, max_length=10)
    sites: list[str] = Field(min_length=1, max_length=100)
    secret: str | None = Field(None, min_length=16, max_length=200)


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    sites: list[str]
    active: bool
    created_at: datetime
    secret: str | None = Field(None, description="shown once, at creation and rotation")
    previous_secret_until: datetime | None = Field(
        None, description="the secret before the last rotation also signs until then"
    )


class SecretRotation(BaseModel):
    """密钥轮换: a new signing secret; the old one keeps signing beside it for the overlap."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 86400}]}
    )

    secret: str | None = Field(None, min_length=16, max_length=200)
    overlap_seconds: int = Field(
        86400, ge=0, le=7 * 86400, description="both secrets sign for this long (default 24 h)"
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: int
    event_id: int
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    body: str


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    role: str
    method: str
    path: str
    subject: str | None
    status_code: int
    detail: dict[str, Any]
