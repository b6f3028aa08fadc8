"""Schemas of the calls a ticket system leans on: PATCH, comments, attachments, bulk create."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.problems import Problem
from api.schemas import CustomFieldValues, Tag, WorkOrderCreate
from propwatch.site import Priority
from propwatch.work_order_fields import MAX_TAGS


def _no_default(schema: dict[str, Any]) -> None:
    # absent means "unchanged": the schema must not claim a default of null for a field
    # that takes no null
    schema.pop("default", None)


def _absent(**constraints: Any) -> Any:
    """A field that may be left out and, when sent, must not be null."""
    return Field(None, json_schema_extra=_no_default, **constraints)


class WorkOrderPatch(BaseModel):
    """修改工单: only the fields sent change; null clears a field that may be empty.

    `tags` replaces the whole list; `custom_fields` merges (JSON merge patch: a field sent as
    null is removed, one not sent is kept)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "priority": "important",
                    "location": "3 号楼 2 单元 5 楼楼梯间",
                    "tags": ["业主投诉"],
                    "custom_fields": {"floor": 5},
                }
            ]
        },
    )

    title: str = _absent(min_length=1, max_length=300)
    description: str = _absent(max_length=5000)
    priority: Priority = _absent()
    asset: str | None = Field(None, min_length=1, max_length=64, description="null: no asset")
    zone: str | None = Field(None, min_length=1, max_length=64, description="null: no zone")
    location: str | None = Field(None, max_length=300, description="null: none")
    external_id: str | None = Field(
        None, min_length=1, max_length=100, description="null: unlink the ticket"
    )
    tags: list[Tag] = _absent(max_length=MAX_TAGS)
    custom_fields: CustomFieldValues = _absent()


class CommentOut(BaseModel):
    """跟进记录: one comment on a work order."""

    id: int
    work_order_id: int
    author: str = Field(description="the person id, or the token's name")
    author_name: str | None = Field(description="the person's name from the site file")
    at: datetime
    text: str
    attachments: list[str] = Field(
        description="references; an uploaded one is `attachments/{id}/{filename}`"
    )


class CommentPage(BaseModel):
    items: list[CommentOut]


class AttachmentItem(BaseModel):
    """An uploaded file still on the order (deleted ones are not listed)."""

    filename: str
    ref: str
    url: str
    content_type: str
    size: int
    uploaded_at: datetime
    uploaded_by: str
    comment_id: int = Field(description="the comment that holds it")


class AttachmentPage(BaseModel):
    items: list[AttachmentItem]


class BulkRow(WorkOrderCreate):
    """One line of a bulk create: a create body, with `external_id` or `key` to make it
    idempotent (a row with neither is refused)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="the row's own idempotency key (per token), when it has no external_id",
    )


class BulkResult(BaseModel):
    """One line of the answer per line of the request, in order."""

    line: int = Field(description="1-based line of the request body")
    status: int = Field(description="201 created, 200 already there, or the refusal's 4xx")
    id: int | None = None
    code: str | None = Field(None, description="the work order's code")
    external_id: str | None = None
    key: str | None = None
    problem: Problem | None = Field(None, description="why the row was refused")


class AssigneeCandidate(BaseModel):
    person: str
    name: str
    open_orders: int = Field(description="orders of the site open on this person now")
    zone_technician: bool = Field(description="a technician of the order's zone (片区)")
    on_duty: bool = Field(description="the duty technician of the shift now (值班)")
    current: bool = Field(description="the order's assignee now")


class AssigneeSuggestions(BaseModel):
    """改派建议: whom to give the order to, least loaded first."""

    zone: str | None
    suggested: str | None = Field(description="the first candidate who is not the assignee")
    candidates: list[AssigneeCandidate]
