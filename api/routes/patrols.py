"""巡更签到 over HTTP: a check-in at a patrol point, and a day's rounds with what was missed.

The staff page `/patrol?site=<site>&point=<id>` (the QR label on the point) posts the check-in
with the technician's or guard's token; the person and time are the caller's and the server's,
never the client's. Rounds and 漏巡 come from `maintenance.quality.patrols`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from api.auth import Principal
from api.deps import Ctx, DbSession, audit
from api.patrol_schemas import (
    CheckInCreate,
    CheckInOut,
    CountedOut,
    MissedOut,
    PatrolDayOut,
    PatrolPointOut,
    PatrolRoundOut,
)
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.routes.quality import SiteStaff
from api.validation import Day
from maintenance.quality import patrols
from maintenance.quality.patrols import LEFT, STATUS_ZH, PointStatus, RoundState
from maintenance.quality.service import local
from propwatch.site import Site, SiteFile

router = APIRouter(prefix="/api/v1/sites", tags=["patrols"], responses=PROBLEM_RESPONSES)


def _person_name(spec: SiteFile, caller: Principal) -> str:
    people = {p.id: p.name for p in spec.people}
    return people.get(caller.person or "", caller.person or caller.name)


def window_local(state: RoundState, spec: SiteFile) -> str:
    """`09:00–12:00`; a round ending on a later day says so (`22:00–次日02:00`)."""
    tz = spec.site.tz
    start, end = state.round.start.astimezone(tz), state.round.end.astimezone(tz)
    after = "次日" if end.date() > start.date() and end.time().isoformat() != "00:00:00" else ""
    end_text = "24:00" if end.date() > start.date() and not after else f"{end:%H:%M}"
    return f"{start:%H:%M}–{after}{end_text}"


def day_out(
    session: Session, site: Site, day: date, now: datetime, point: str | None = None
) -> PatrolDayOut:
    spec = site.spec
    people = {p.id: p.name for p in spec.people}
    states = patrols.day_rounds(session, spec, site.id, day, now)
    if point is not None:
        states = [s for s in states if point in s.round.patrol.points]
    rounds, missed = [], []
    for s in states:
        who = [people.get(w, w) for w in s.round.patrol.who]
        window = window_local(s, spec)
        points = []
        for p in s.points:
            name = patrols.point_name(spec, p.point_id) or p.point_id
            c = p.check_in
            points.append(
                PatrolPointOut(
                    point=p.point_id,
                    name=name,
                    status=p.status.value,
                    status_zh=STATUS_ZH[p.status],
                    checked_at=c.checked_at if c else None,
                    checked_at_local=local(c.checked_at, spec) if c else None,
                    checked_by=people.get(c.person, c.person) if c else None,
                )
            )
            if p.status is PointStatus.MISSED:
                missed.append(
                    MissedOut(
                        patrol_name=s.round.patrol.name,
                        window_local=window,
                        point=p.point_id,
                        point_name=name,
                        who=who,
                    )
                )
        rounds.append(
            PatrolRoundOut(
                patrol=s.round.patrol.id,
                patrol_name=s.round.patrol.name,
                who=who,
                start=s.round.start,
                end=s.round.end,
                late_until=s.round.late_end,
                window_local=window,
                points=points,
                on_time=s.count(PointStatus.ON_TIME),
                late=s.count(PointStatus.LATE),
                missed=s.count(PointStatus.MISSED),
                left=sum(s.count(st) for st in LEFT),
            )
        )
    return PatrolDayOut(
        site_id=site.id,
        date=day,
        rounds=rounds,
        due=sum(len(r.points) for r in rounds),
        on_time=sum(r.on_time for r in rounds),
        late=sum(r.late for r in rounds),
        missed=len(missed),
        left=sum(r.left for r in rounds),
        missed_points=missed,
    )


@router.post(
    "/{site_id}/patrol/check-ins",
    response_model=CheckInOut,
    status_code=201,
    summary="巡更签到: check in at a point (QR label); answers which rounds it counts for",
)
def create_check_in(
    body: CheckInCreate,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
) -> CheckInOut:
    site, caller = who
    spec = site.spec
    now = ctx.clock.now()
    row = patrols.check_in(
        session, spec, site.id, body.point, caller.person or caller.name, now, body.note.strip()
    )
    today = now.astimezone(spec.site.tz).date()
    counted: list[CountedOut] = []
    days: list[date] = []
    for day in (today - timedelta(days=1), today):
        for s in patrols.day_rounds(session, spec, site.id, day, now):
            for p in s.points:
                if p.check_in is not None and p.check_in.id == row.id:
                    days.append(day)
                    counted.append(
                        CountedOut(
                            patrol=s.round.patrol.id,
                            patrol_name=s.round.patrol.name,
                            window_local=window_local(s, spec),
                            status=p.status.value,
                            status_zh=STATUS_ZH[p.status],
                        )
                    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"patrol_check_in:{row.id}",
        status_code=201,
        detail={"point": row.point_id, "counted": [c.patrol for c in counted]},
    )
    response.headers["Location"] = f"/api/v1/sites/{site.id}/patrol/rounds?point={row.point_id}"
    return CheckInOut(
        id=row.id,
        site_id=site.id,
        point=row.point_id,
        point_name=patrols.point_name(spec, row.point_id) or row.point_id,
        person=row.person,
        person_name=_person_name(spec, caller),
        checked_at=row.checked_at,
        checked_at_local=local(row.checked_at, spec),
        note=row.note,
        counted=counted,
        # a night round past midnight belongs to yesterday: show that day's rounds then
        today=day_out(session, site, max(days, default=today), now, row.point_id),
    )


@router.get(
    "/{site_id}/patrol/rounds",
    response_model=PatrolDayOut,
    summary="巡更: a local day's rounds (today by default), each point walked, late or missed",
)
def get_rounds(
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
    day: Annotated[
        Day | None, Query(alias="date", description="local day, YYYY-MM-DD; default today")
    ] = None,
    point: Annotated[
        str | None, Query(max_length=64, description="only the patrols of this point")
    ] = None,
) -> PatrolDayOut:
    site, _ = who
    now = ctx.clock.now()
    if point is not None and patrols.point_name(site.spec, point) is None:
        raise ApiProblem(404, f"巡更点位 {point} 不存在 (unknown patrol point)")
    return day_out(session, site, day or now.astimezone(site.spec.site.tz).date(), now, point)
