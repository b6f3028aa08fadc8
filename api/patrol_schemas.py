"""Bodies and answers of the patrol (巡更) routes; times also in local words for the pages."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class CheckInCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point: str = Field(
        min_length=1, max_length=64, description="the asset or public place id on the QR label"
    )
    note: str = Field(default="", max_length=500, description="what was seen, if anything")


class PatrolPointOut(BaseModel):
    point: str = Field(description="asset or public place id")
    name: str
    status: str = Field(description="on_time, late, missed, overdue, open or upcoming")
    status_zh: str = Field(description="已巡, 补巡, 漏巡, 超时未巡, 待巡 or 未开始")
    checked_at: datetime | None = None
    checked_at_local: str | None = Field(default=None, description="`12月3日 09:12`")
    checked_by: str | None = Field(default=None, description="who checked in, by name")


class PatrolRoundOut(BaseModel):
    patrol: str
    patrol_name: str
    who: list[str] = Field(description="the people responsible, by name")
    start: datetime
    end: datetime
    late_until: datetime = Field(description="check-ins until then still count, as late")
    window_local: str = Field(description="`09:00–12:00` (`22:00–次日02:00` past midnight)")
    points: list[PatrolPointOut]
    on_time: int
    late: int
    missed: int
    left: int = Field(description="points still to walk now (open or overdue)")


class MissedOut(BaseModel):
    patrol_name: str
    window_local: str
    point: str
    point_name: str
    who: list[str]


class PatrolDayOut(BaseModel):
    """One local day's rounds; `point` given: only the patrols of that point."""

    site_id: str
    date: date
    rounds: list[PatrolRoundOut]
    due: int = Field(description="points × rounds of the day")
    on_time: int
    late: int
    missed: int = Field(description="漏巡: rounds' points past their grace with no check-in")
    left: int
    missed_points: list[MissedOut] = Field(description="each missed point of a round, once")


class CountedOut(BaseModel):
    patrol: str
    patrol_name: str
    window_local: str
    status: str
    status_zh: str


class CheckInOut(BaseModel):
    id: int
    site_id: str
    point: str
    point_name: str
    person: str
    person_name: str
    checked_at: datetime
    checked_at_local: str
    note: str
    counted: list[CountedOut] = Field(
        description="the rounds this check-in counts for (none: that round had the point already)"
    )
    today: PatrolDayOut = Field(description="today's rounds of this point's patrols")
