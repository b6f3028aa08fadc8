"""Fault scenarios: a YAML timeline of injections and clears, relative to start or absolute."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from propwatch.config_file import load_model
from propwatch.durations import Seconds


class Step(BaseModel):
    """Inject `fault` (or `clear` one, or `comm` a communication fault) on `device`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Seconds | None = None
    at: AwareDatetime | None = None
    device: str
    fault: str | None = None
    clear: str | None = None
    comm: str | None = Field(default=None, description="none, silent, exception, slow")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_time_one_action(self) -> Step:
        if (self.after is None) == (self.at is None):
            raise ValueError("a step needs exactly one of after (relative) or at (absolute)")
        if sum(x is not None for x in (self.fault, self.clear, self.comm)) != 1:
            raise ValueError("a step does exactly one of fault, clear or comm")
        return self

    def when(self, start: datetime) -> datetime:
        if self.at is not None:
            return self.at
        assert self.after is not None
        return start + timedelta(seconds=self.after)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    speed: float = Field(default=1.0, gt=0, description="simulated seconds per real second")
    steps: list[Step] = Field(default_factory=list)


def load_scenario(path: Path) -> Scenario:
    return load_model(path, Scenario)
