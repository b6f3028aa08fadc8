"""资产层级与停机: what the hierarchy, downtime and availability routes answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from maintenance.downtime.models import DownSince


class AssetNodeOut(BaseModel):
    """An asset in the tree, with its own open alarms and orders."""

    id: str
    name: str
    kind: str
    zone: str
    building: str
    open_alarms: int
    open_orders: int = Field(description="orders not yet 完成 (resolved) nor cancelled")
    children: int = Field(description="assets it directly holds")


class AssetHierarchyOut(BaseModel):
    """资产层级: where an asset sits — its ancestors up to the top, the assets it holds, and the
    open alarms and orders of the whole branch (its own and of every asset below it)."""

    site_id: str
    asset: AssetNodeOut
    parent: str | None
    ancestors: list[AssetNodeOut] = Field(description="nearest first, up to the top")
    children: list[AssetNodeOut] = Field(description="in the site file's order")
    descendants: int = Field(description="assets below it at any depth")
    branch_open_alarms: int = Field(description="its own and every descendant's")
    branch_open_orders: int = Field(description="its own and every descendant's")


class DowntimeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"since": "arrived", "reason": "更换机械密封，停泵检修"}]},
    )

    since: DownSince = Field(
        description="reported: down from the report (报修起); arrived: from 到场 (到场起); "
        "either way until 完成"
    )
    reason: str = Field(min_length=1, max_length=300, description="停机原因")


class DowntimeMarkOut(BaseModel):
    """停机标记 of an order, and the interval it gives so far."""

    work_order_id: int
    site_id: str
    asset: str
    since: DownSince
    since_zh: str
    reason: str
    marked_by: str
    marked_at: datetime
    start: datetime | None = Field(description="None: marked 到场起 before the arrival")
    end: datetime | None = Field(description="完成 or cancel; None: still down")
