"""The answer of the telemetry read (趋势): an asset's points as window means, labelled."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


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
