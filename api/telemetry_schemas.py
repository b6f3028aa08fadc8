"""What the device view (设备详情) reads besides the asset: its record (设备档案) with the labelled
points of its device profile, and the telemetry read (趋势): its points as window means."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from maintenance.statutory.service import InspectionStatus


class TelemetrySeries(BaseModel):
    point: str = Field(description="the point's name in the device profile (outlet_pressure)")
    label: str = Field(description="its zh-CN name (出水压力); the name when the profile has none")
    unit: str = Field(description="unit of the values (MPa); empty when it has none")
    points: list[tuple[datetime, float]] = Field(
        description="[window start, mean of the readings in [start, start + step)], oldest "
        "first; booleans average as 0/1; a window without readings has no entry"
    )


class TelemetryOut(BaseModel):
    site_id: str
    asset: str
    asset_name: str
    start: datetime = Field(
        serialization_alias="from", description="start of the first window (aligned to step)"
    )
    stop: datetime = Field(
        serialization_alias="to", description="end of the last window (aligned to step)"
    )
    step: int = Field(description="window length in seconds")
    store: str = Field(description="the store read: influxdb, victoriametrics or local")
    series: list[TelemetrySeries]


class PointOut(BaseModel):
    name: str = Field(description="the point's name in the device profile")
    label: str = Field(description="its zh-CN name; the name when the profile has none")
    unit: str
    numeric: bool = Field(description="a number or a bool: it has a trend (text has none)")
    writable: bool = Field(default=False, description="遥控: a command may write it")
    switch: bool = Field(default=False, description="an on/off point (true/false)")
    min: float | None = Field(default=None, description="the lowest value a command may set")
    max: float | None = Field(default=None, description="the highest value a command may set")
    allowed: list[bool | int | float] | None = Field(
        default=None, description="the only values a command may set, when the profile lists them"
    )


class AssetRecordOut(BaseModel):
    """设备档案: what the site file and the device profile say about an asset."""

    site_id: str
    asset: str
    name: str
    kind: str
    zone: str
    building: str
    location: str
    install_date: date | None
    warranty_end: date | None
    device: str | None = Field(description="the device it is read through (None: none)")
    model: str | None = Field(description="the device profile's model")
    vendor: str
    description: str
    points: list[PointOut] = Field(description="in the profile's order")
    inspections: list[InspectionStatus] = Field(
        default_factory=list,
        description="法定检验: each statutory inspection, its 检验合格证 and expiry, next due",
    )
