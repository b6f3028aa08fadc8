"""巡更纪律: check-ins at patrol points, and which rounds were walked, late, or missed.

A check-in is stored as it happened (point, person, time). Which round it counts for is decided
when rounds are read, from the check-ins in time order: for each patrol of the point, the round
whose window holds the check-in and does not have that point yet (on time), else the earliest
round still in its grace period (`late_within`) that lacks it (late). One scan counts once per
patrol; a second scan in the same round is kept but counts for nothing.

A point of a round is missed once its grace period has passed without a check-in. Each round
belongs to the local day it starts on, so a round across midnight is counted on one day only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.errors import UnknownReference
from maintenance.quality.models import PatrolCheckIn
from propwatch.patrols import PatrolPlan, Round, rounds_of_day
from propwatch.site import SiteFile


class PointStatus(StrEnum):
    ON_TIME = "on_time"  # 已巡
    LATE = "late"  # 补巡 (after the round, within its grace)
    MISSED = "missed"  # 漏巡
    OVERDUE = "overdue"  # 超时未巡: the round is over, a late check-in still counts
    OPEN = "open"  # 待巡: the round is on
    UPCOMING = "upcoming"  # 未开始


STATUS_ZH = {
    PointStatus.ON_TIME: "已巡",
    PointStatus.LATE: "补巡",
    PointStatus.MISSED: "漏巡",
    PointStatus.OVERDUE: "超时未巡",
    PointStatus.OPEN: "待巡",
    PointStatus.UPCOMING: "未开始",
}

LEFT = (PointStatus.OPEN, PointStatus.OVERDUE)
"""What a patrol still has to walk now."""


@dataclass
class PointState:
    point_id: str
    status: PointStatus
    check_in: PatrolCheckIn | None = None


@dataclass
class RoundState:
    round: Round
    points: list[PointState] = field(default_factory=list)

    def count(self, status: PointStatus) -> int:
        return sum(1 for p in self.points if p.status is status)


def point_name(spec: SiteFile, point_id: str) -> str | None:
    """The asset's or public place's name (an asset id wins where both use it)."""
    asset = next((a for a in spec.assets if a.id == point_id), None)
    if asset is not None:
        return asset.name
    place = spec.quality.place(point_id)
    return place.name if place is not None else None


def patrols_of(spec: SiteFile, point_id: str) -> list[PatrolPlan]:
    return [p for p in spec.quality.patrols if point_id in p.points]


def check_in(
    session: Session,
    spec: SiteFile,
    site_id: str,
    point_id: str,
    person: str,
    now: datetime,
    note: str = "",
) -> PatrolCheckIn:
    """Record a check-in; a point that no patrol of the site names is refused, naming `point`."""
    if point_name(spec, point_id) is None or not patrols_of(spec, point_id):
        known = "、".join(
            f"{point_name(spec, p) or p}" for plan in spec.quality.patrols for p in plan.points
        )
        raise UnknownReference(
            {
                "point": (
                    f"巡更点位 {point_id} 不在本项目的巡更计划中；"
                    f"点位有：{known or '（未配置巡更计划）'}",
                    f"{point_id!r} is no patrol point of this site",
                )
            }
        )
    row = PatrolCheckIn(
        site_id=site_id, point_id=point_id, person=person, checked_at=now, note=note
    )
    session.add(row)
    session.flush()
    return row


def day_rounds(
    session: Session, spec: SiteFile, site_id: str, day: date, now: datetime
) -> list[RoundState]:
    """Every patrol's rounds of the local `day`, each point with its status at `now`."""
    tz = spec.site.tz
    out: list[RoundState] = []
    for patrol in spec.quality.patrols:
        # the neighbouring days' rounds take their check-ins first, as they would on their day
        rounds = [r for d in (-1, 0, 1) for r in rounds_of_day(patrol, day + timedelta(days=d), tz)]
        rounds.sort(key=lambda r: r.start)
        check_ins = _check_ins(session, site_id, patrol, rounds)
        credited = _credit(rounds, check_ins)
        for r in rounds:
            if r.day != day:
                continue
            state = RoundState(r)
            for point in patrol.points:
                got = credited.get((r.key, point))
                state.points.append(PointState(point, _status(r, got, now), got))
            out.append(state)
    out.sort(key=lambda s: (s.round.start, s.round.patrol.id))
    return out


def _check_ins(
    session: Session, site_id: str, patrol: PatrolPlan, rounds: list[Round]
) -> list[PatrolCheckIn]:
    if not rounds:
        return []
    rows = session.scalars(
        select(PatrolCheckIn)
        .where(
            PatrolCheckIn.site_id == site_id,
            PatrolCheckIn.point_id.in_(patrol.points),
            PatrolCheckIn.checked_at >= rounds[0].start,
            PatrolCheckIn.checked_at < max(r.late_end for r in rounds),
        )
        .order_by(PatrolCheckIn.checked_at, PatrolCheckIn.id)
    )
    return list(rows)


def _credit(
    rounds: list[Round], check_ins: Iterable[PatrolCheckIn]
) -> dict[tuple[str, str], PatrolCheckIn]:
    got: dict[tuple[str, str], PatrolCheckIn] = {}
    for c in check_ins:
        at = c.checked_at
        free = [r for r in rounds if r.start <= at < r.late_end and (r.key, c.point_id) not in got]
        on_time = [r for r in free if at < r.end]
        chosen = on_time[0] if on_time else (free[0] if free else None)
        if chosen is not None:
            got[(chosen.key, c.point_id)] = c
    return got


def _status(r: Round, got: PatrolCheckIn | None, now: datetime) -> PointStatus:
    if got is not None:
        return PointStatus.ON_TIME if got.checked_at < r.end else PointStatus.LATE
    if now < r.start:
        return PointStatus.UPCOMING
    if now < r.end:
        return PointStatus.OPEN
    if now < r.late_end:
        return PointStatus.OVERDUE
    return PointStatus.MISSED
