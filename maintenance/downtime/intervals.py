"""Downtime intervals merged, and the figures of a period: availability, MTBF, MTTR.

An alarm and the order it opened usually cover the same stop; counting both would double the
downtime and the failures, so overlapping (or touching) intervals are one stop whose reasons
are all kept. A stop still open runs to the end of the period (or now)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Cause:
    """Why the asset was down: an alarm or an order, in the duty room's words."""

    kind: str  # alarm / work_order
    ref: int
    reason: str


@dataclass
class Interval:
    start: datetime
    end: datetime | None  # None: still down
    causes: list[Cause] = field(default_factory=list)


@dataclass(frozen=True)
class Figures:
    period_hours: float
    down_hours: float
    availability: float | None
    failures: int
    mtbf_hours: float | None
    mttr_hours: float | None


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals as one, in time order."""
    out: list[Interval] = []
    for iv in sorted(intervals, key=lambda i: i.start):
        last = out[-1] if out else None
        if last is not None and (last.end is None or iv.start <= last.end):
            if last.end is not None and (iv.end is None or iv.end > last.end):
                last.end = iv.end
            last.causes.extend(iv.causes)
            continue
        out.append(Interval(iv.start, iv.end, list(iv.causes)))
    return out


def figures(stops: list[Interval], start: datetime, end: datetime) -> Figures:
    """Over [start, end): downtime clipped to it, availability = up / period, and per stop that
    began in it MTBF = up time / stops and MTTR = down time / stops (None without a stop)."""
    period = max(0.0, (end - start).total_seconds())
    down = 0.0
    failures = 0
    for s in stops:
        lo, hi = max(s.start, start), min(s.end or end, end)
        if hi > lo:
            down += (hi - lo).total_seconds()
        if start <= s.start < end:
            failures += 1
    up = period - down
    return Figures(
        period_hours=round(period / 3600, 2),
        down_hours=round(down / 3600, 2),
        availability=round(up / period, 4) if period else None,
        failures=failures,
        mtbf_hours=round(up / 3600 / failures, 2) if failures else None,
        mttr_hours=round(down / 3600 / failures, 2) if failures else None,
    )
