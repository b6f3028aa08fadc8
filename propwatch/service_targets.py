"""服务目标: the property plan's targets the monthly report and the 服务报告 set their figures
beside.

The site file's `service_targets` section; each rate a share from 0 to 1. The plans' own goals
are the defaults: 满意度 90 %, 投诉复发率 under 10 %, 维修响应 within 8 h for 95 % of repairs, 紧急
on site within 1 h for 95 %, 回访率 100 %. 投诉率 per 100 households has no default (the plans
set it per property, "complaints down 60 %" from its own baseline). A target left out (null) is
not shown beside its figure.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SATISFACTION = 0.90
"""The plans' 满意度 goal (from 70 % to 90 %)."""
DEFAULT_REPEAT_COMPLAINTS = 0.10
"""投诉复发率 below 10 %."""
DEFAULT_RESPONSE_8H = 0.95
"""维修响应 within 8 h: the plans ask it of every repair; 95 % allows for the odd miss."""
DEFAULT_EMERGENCY_1H = 0.95
"""紧急 on site within 1 h."""
DEFAULT_REVISIT_RATE = 1.0
"""事事有回访: every closed report revisited."""


class ServiceTargets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    satisfaction: float | None = Field(
        DEFAULT_SATISFACTION,
        ge=0,
        le=1,
        description="满意度: share of scored revisits with every score 4 or more",
    )
    revisit_rate: float | None = Field(
        DEFAULT_REVISIT_RATE,
        ge=0,
        le=1,
        description="回访率 (the monthly report and the 服务报告): share of closed orders that "
        "needed one revisited",
    )
    revisit_on_time: float | None = Field(
        None, ge=0, le=1, description="回访及时率: share of revisits made by their due time"
    )
    complaints_per_100_households: float | None = Field(
        None, ge=0, description="投诉率: complaints a month per 100 households, at most"
    )
    repeat_complaints: float | None = Field(
        DEFAULT_REPEAT_COMPLAINTS,
        ge=0,
        le=1,
        description="投诉复发率: share of complaints repeating one within 30 days, below this",
    )
    response_8h: float | None = Field(
        DEFAULT_RESPONSE_8H,
        ge=0,
        le=1,
        description="维修响应: share of repairs accepted within 8 h of the report, at least",
    )
    emergency_1h: float | None = Field(
        DEFAULT_EMERGENCY_1H,
        ge=0,
        le=1,
        description="紧急到场: share of emergency repairs on site within 1 h, at least",
    )
