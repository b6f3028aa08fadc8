"""Response schemas, separate from the ORM models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


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


class WorkOrderPage(BaseModel):
    items: list[WorkOrderOut]


class AlarmOut(BaseModel):
    id: int
    site_id: str
    episode_id: str
    asset: str
    alarm_type: str
    severity: str
    message: str
    state: str
    raised_at: datetime
    cleared_at: datetime | None
    raise_count: int
    evidence: dict[str, object]
    work_order_id: int | None


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
