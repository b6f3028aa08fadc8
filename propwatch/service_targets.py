"""服务目标: the property plan's targets the monthly report sets its figures beside.

The site file's `service_targets` section; each a share from 0 to 1. 满意度 has the plans' 90 %
by default; a target left out (null) is not shown beside its figure.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SATISFACTION = 0.90
"""The plans' 满意度 goal (from 70 % to 90 %)."""


class ServiceTargets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    satisfaction: float | None = Field(
        DEFAULT_SATISFACTION,
        ge=0,
        le=1,
        description="满意度: share of scored revisits with every score 4 or more",
    )
    revisit_rate: float | None = Field(
        None, ge=0, le=1, description="回访率: share of closed orders that needed one revisited"
    )
    revisit_on_time: float | None = Field(
        None, ge=0, le=1, description="回访及时率: share of revisits made by their due time"
    )
