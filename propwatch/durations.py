"""Durations and time limits as people write them in site files: `90s`, `15m`, `4h`, `3wd`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PlainSerializer

from propwatch.config_errors import show
from propwatch.messages import say

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_seconds(value: Any) -> float:
    """`"15m"` -> 900.0; a bare number is seconds."""
    if isinstance(value, bool):
        raise ValueError(
            say("应为时长，如 30s、15m、4h", "expected a duration such as 30s, 15m, 4h")
        )
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(
                say(
                    f"时长不能为负数，这里是 {value}", f"a duration cannot be negative, got {value}"
                )
            )
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _SECONDS[m.group(2)]
    if isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(
            say(f"时长不能为负数，这里是 {value}", f"a duration cannot be negative, got {value}")
        )
    raise ValueError(
        say(
            f"应为时长，如 30s、15m、4h，这里是 {show(value)}",
            f"expected a duration such as 30s, 15m, 4h, got {show(value)}",
        )
    )


Seconds = Annotated[float, BeforeValidator(parse_seconds)]

_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|wd)\s*$")


@dataclass(frozen=True)
class TimeLimit:
    """A time limit in calendar time (24/7) or in working days on the statutory calendar."""

    amount: float
    unit: Literal["hours", "working_days"]

    def __str__(self) -> str:
        if self.unit == "working_days":
            return f"{self.amount:g}wd"
        return f"{self.amount:g}h"

    @classmethod
    def parse(cls, value: Any) -> TimeLimit:
        if isinstance(value, TimeLimit):
            return value
        if isinstance(value, dict):
            if "working_days" in value:
                return cls(float(value["working_days"]), "working_days")
            if "hours" in value:
                return cls(float(value["hours"]), "hours")
        if isinstance(value, str) and (m := _LIMIT.match(value)):
            amount, unit = float(m.group(1)), m.group(2)
            if unit == "wd":
                if amount != int(amount) or amount < 1:
                    raise ValueError(
                        say(
                            "工作日数须为不小于 1 的整数",
                            "working days must be a whole number of at least 1",
                        )
                    )
                return cls(amount, "working_days")
            hours = amount * {"m": 1 / 60, "min": 1 / 60, "h": 1.0, "d": 24.0}[unit]
            return cls(hours, "hours")
        raise ValueError(
            say(
                f"应为时限，如 1h、30m、24h 或 3wd（工作日），这里是 {show(value)}",
                f"expected a time limit such as 1h, 30m, 24h or 3wd (working days), "
                f"got {show(value)}",
            )
        )


Limit = Annotated[TimeLimit, BeforeValidator(TimeLimit.parse), PlainSerializer(str)]


def seconds_text(seconds: float) -> str:
    """A duration as a site file writes it (`7d`, `90m`), reading back as the same seconds."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds > 0 and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    text = f"{seconds:g}s"
    return text if parse_seconds(text) == seconds else f"{seconds:.9f}s"


def limit_text(limit: TimeLimit) -> str:
    """A time limit as a site file writes it (`30m`, `2h`, `3wd`), reading back as the same."""
    if limit.unit == "working_days":
        return str(limit)
    minutes = limit.amount * 60
    hours, mins = f"{limit.amount:g}h", f"{round(minutes)}m"
    candidates = [mins, hours] if limit.amount < 1 else [hours, mins]
    candidates.append(f"{limit.amount:.9f}h")
    return next((c for c in candidates if TimeLimit.parse(c) == limit), candidates[-1])
