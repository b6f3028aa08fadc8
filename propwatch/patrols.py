"""巡更计划: patrol rounds from the site file's `quality.patrols`, and when each round is due.

A patrol names its points (assets or public places of `quality.places`; each has a QR label that
opens `/patrol?site=<site>&point=<id>`), who walks it, and its rounds in the site's local time:
either explicit start times with a window each, or one round every interval between two times.

```yaml
quality:
  patrols:
    - id: lift-daily               # 电梯每天至少巡查2次
      name: 电梯巡查
      points: [lift-1-1]
      who: [wang-gong]
      times: ["09:00", "15:00"]
      window: 3h                   # each round may be walked from its start for 3 h
      late_within: 1h              # a check-in up to 1 h after the round counts, as late
    - id: public-2h                # 公共区域每 2 小时巡查一次
      name: 公共区域巡查
      points: [lobby-1, stair-2]
      who: [zhao-ba]
      every: 2h
      from: "08:00"
      until: "20:00"               # rounds at 08:00, 10:00 … 18:00, each 2 h long
```

An `until` earlier than `from` runs past midnight (a night patrol 22:00 to 06:00: its rounds
after midnight belong to the evening it started), and a round's window may end after midnight
(22:00 for 4 h); each round belongs to one day, so a round across midnight is counted once.
`times` are read within one day, in clock order.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from propwatch.config_errors import unknown_reference
from propwatch.durations import Seconds
from propwatch.messages import say

ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class PatrolPlan(BaseModel):
    """One patrol: its points, who walks it, and its rounds each day."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=ID, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    points: list[str] = Field(min_length=1, max_length=200)
    who: list[str] = Field(default_factory=list, description="people responsible for the rounds")
    times: list[str] = Field(default_factory=list, max_length=48)
    window: Seconds | None = Field(default=None, gt=0, le=86400)
    every: Seconds | None = Field(default=None, ge=600, le=86400)
    start: str | None = Field(default=None, alias="from", pattern=HHMM)
    until: str | None = Field(default=None, pattern=HHMM)
    late_within: Seconds = Field(default=0, ge=0, le=86400)

    @model_validator(mode="after")
    def _rounds_given_once(self) -> PatrolPlan:
        for i, t in enumerate(self.times):
            if not _matches(t):
                raise ValueError(
                    say(f"times[{i}] 应为 HH:MM，这里是 {t}", f"times[{i}] must be HH:MM, got {t}")
                )
        if self.times and self.every is not None:
            raise ValueError(
                say("times 与 every 只能写一个", "give either times or every, not both")
            )
        if not self.times and (self.every is None or self.start is None or self.until is None):
            raise ValueError(
                say(
                    '需写 times（如 ["09:00", "15:00"]）或 every、from、until',
                    "give times, or every with from and until",
                )
            )
        if len(set(self.times)) != len(self.times):
            raise ValueError(say("times 有重复的时间", "times lists a time twice"))
        if len(set(self.points)) != len(self.points):
            raise ValueError(say("points 有重复的点位", "points lists a point twice"))
        return self

    def starts(self) -> list[time]:
        """The day's round start times, in order (those of a night patrol after midnight too)."""
        if self.times:
            return sorted(_clock(t) for t in self.times)
        assert self.every is not None and self.start is not None and self.until is not None
        first, last = _clock(self.start), _clock(self.until)
        span = _minutes(last) - _minutes(first)
        if span <= 0:
            span += 24 * 60
        step = self.every / 60
        out: list[time] = []
        offset = 0.0
        while offset < span:
            m = (_minutes(first) + int(offset)) % (24 * 60)
            out.append(time(m // 60, m % 60))
            offset += step
        return out

    def round_length(self) -> timedelta:
        """How long a round may be walked: `window`, else `every`, else the shortest gap."""
        if self.window is not None:
            return timedelta(seconds=self.window)
        if self.every is not None:
            return timedelta(seconds=self.every)
        minutes = sorted(_minutes(t) for t in self.starts())
        gaps = [b - a for a, b in itertools.pairwise(minutes)]
        gaps.append(minutes[0] + 24 * 60 - minutes[-1])
        return timedelta(minutes=min(gaps))


def _matches(text: str) -> bool:
    return re.match(HHMM, text) is not None


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True)
class Round:
    """One round of a patrol on one day: due from `start` until `end` (late until `late_end`)."""

    patrol: PatrolPlan
    day: date
    start: datetime  # UTC
    end: datetime
    late_end: datetime

    @property
    def key(self) -> str:
        return f"{self.patrol.id}@{self.start.isoformat()}"


def rounds_of_day(patrol: PatrolPlan, day: date, tz: ZoneInfo) -> list[Round]:
    """The patrol's rounds starting on the local `day` (a night patrol's later ones after
    midnight still belong to the day its first round starts on, as they follow it)."""
    out = []
    length = patrol.round_length()
    late = timedelta(seconds=patrol.late_within)
    first = None
    for t in patrol.starts():
        on = day
        if first is not None and _minutes(t) < first:
            on = day + timedelta(days=1)  # from/until across midnight: after the first round
        if first is None:
            first = _minutes(t)
        start = datetime.combine(on, t, tz).astimezone(UTC)
        end = start + length
        out.append(Round(patrol, day, start, end, end + late))
    return out


def patrol_problems(
    patrols: list[PatrolPlan], points: set[str], people: set[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Points that are neither an asset nor a public place, people not in `people`, ids twice."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    seen: dict[str, int] = {}
    for i, plan in enumerate(patrols):
        at: tuple[str | int, ...] = ("quality", "patrols", i)
        if plan.id in seen:
            out.append(
                (
                    (*at, "id"),
                    say(
                        f"id {plan.id} 重复（quality.patrols[{seen[plan.id]}] 已使用）",
                        f"id {plan.id} is used twice (also quality.patrols[{seen[plan.id]}])",
                    ),
                )
            )
        seen.setdefault(plan.id, i)
        for j, point in enumerate(plan.points):
            if point not in points:
                out.append(
                    ((*at, "points", j), unknown_reference("巡更点位", "point", point, points))
                )
        for j, person in enumerate(plan.who):
            if person not in people:
                out.append(((*at, "who", j), unknown_reference("人员", "person", person, people)))
    return out
