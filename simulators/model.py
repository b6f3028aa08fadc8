"""What every simulated device model offers to the protocol servers and to scenarios."""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

Value = float | int | bool | str


class DeviceModel(Protocol):
    """Physics of one device; protocol front-ends read `values` and forward commands."""

    kind: str
    FAULTS: ClassVar[tuple[str, ...]]
    faults: dict[str, dict[str, Any]]

    def values(self, now: datetime) -> dict[str, Value]:
        """Advance the physics to `now` and return every point by profile name."""
        ...

    def command(self, name: str, value: Value) -> None: ...

    def inject(self, fault: str, params: dict[str, Any]) -> None: ...

    def clear(self, fault: str | None = None) -> None: ...


class UnknownFault(ValueError):
    """A scenario or control command named a fault this model does not have."""


def local_hour(now: datetime, tz: ZoneInfo) -> float:
    """Hour of day in the site's time zone, with fractions."""
    t = now.astimezone(tz)
    return t.hour + t.minute / 60 + t.second / 3600


def bump(hour: float, centre: float, width: float) -> float:
    """A smooth daily peak (wraps around midnight)."""
    d = min(abs(hour - centre), 24 - abs(hour - centre))
    return math.exp(-((d / width) ** 2))


def lag(current: float, target: float, dt: float, tau: float) -> float:
    """First-order lag: temperature follows load with time constant `tau` seconds."""
    if dt <= 0:
        return current
    return target + (current - target) * math.exp(-dt / tau)


def make_rng(seed: int | str) -> random.Random:
    """Each device owns a seedable stream so runs repeat."""
    return random.Random(str(seed))


def plateau(hour: float, start: float, end: float, edge: float) -> float:
    """1 between `start` and `end` o'clock, easing to 0 over `edge` hours on both sides."""

    def rise(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x / max(edge, 1e-6) * 4.0))

    return rise(hour - start) * rise(end - hour)
