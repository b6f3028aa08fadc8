"""Alarms for the duty room: list, 确认 (acknowledge), 搁置 (shelve until a time)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.deps import Ctx, DbSession, Duty, Reader, RowId, audit, check_site
from api.problems import PROBLEM_RESPONSES
from api.schemas import ShelveIn
from maintenance.alarms import service
from maintenance.alarms.service import AlarmView

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[AlarmView], summary="告警列表, newest first")
def get_alarms(
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[Literal["raised", "cleared"] | None, Query()] = None,
    include_shelved: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlarmView]:
    sites = caller.site_filter()
    if site_id is not None:
        check_site(caller, site_id)
        sites = [site_id]
    return service.list_alarms(
        session, ctx.clock.now(), sites, state=state, include_shelved=include_shelved, limit=limit
    )


@router.get("/{alarm_id}", response_model=AlarmView, summary="one alarm episode")
def get_alarm(alarm_id: RowId, ctx: Ctx, session: DbSession, caller: Reader) -> AlarmView:
    alarm = service.get_alarm(session, alarm_id)
    check_site(caller, alarm.site_id)
    return service.alarm_view(alarm, ctx.clock.now())


@router.post("/{alarm_id}/acknowledge", response_model=AlarmView, summary="确认告警")
def acknowledge(
    alarm_id: RowId, request: Request, ctx: Ctx, session: DbSession, caller: Duty
) -> AlarmView:
    check_site(caller, service.get_alarm(session, alarm_id).site_id)
    now = ctx.clock.now()
    alarm = service.acknowledge_alarm(session, alarm_id, actor=caller.name, now=now)
    audit(session, ctx, caller, request, subject=f"alarm:{alarm_id}", status_code=200)
    return service.alarm_view(alarm, now)


@router.post("/{alarm_id}/shelve", response_model=AlarmView, summary="搁置告警 until a time")
def shelve(
    alarm_id: RowId, body: ShelveIn, request: Request, ctx: Ctx, session: DbSession, caller: Duty
) -> AlarmView:
    check_site(caller, service.get_alarm(session, alarm_id).site_id)
    now = ctx.clock.now()
    alarm = service.shelve_alarm(
        session, alarm_id, actor=caller.name, until=body.until, reason=body.reason, now=now
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"alarm:{alarm_id}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return service.alarm_view(alarm, now)


@router.post("/{alarm_id}/unshelve", response_model=AlarmView, summary="取消搁置")
def unshelve(
    alarm_id: RowId, request: Request, ctx: Ctx, session: DbSession, caller: Duty
) -> AlarmView:
    check_site(caller, service.get_alarm(session, alarm_id).site_id)
    now = ctx.clock.now()
    alarm = service.unshelve_alarm(session, alarm_id, actor=caller.name, now=now)
    audit(session, ctx, caller, request, subject=f"alarm:{alarm_id}", status_code=200)
    return service.alarm_view(alarm, now)
