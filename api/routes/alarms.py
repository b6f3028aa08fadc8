"""Alarms for the duty room: list, 确认 (acknowledge), 搁置 (shelve until a time), 停用 (out of
service), and 告警历史 (every state change)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.deps import Ctx, DbSession, Duty, Reader, RowId, audit, check_site
from api.problems import PROBLEM_RESPONSES
from api.schemas import AlarmHistoryPage, OutOfServiceIn, ShelveIn
from api.validation import Moment
from api.work_order_list import cursor_values, encode_cursor, invalid_cursor
from maintenance.alarms import service
from maintenance.alarms.history import HistoryFilter, alarm_history
from maintenance.alarms.service import AlarmView
from maintenance.alarms.states import AlarmState

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[AlarmView], summary="告警列表, newest first")
def get_alarms(
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[Literal["raised", "cleared"] | None, Query()] = None,
    include_shelved: bool = True,
    attention: Annotated[
        bool,
        Query(
            description="only what the duty room must see: every alarm but the returned and "
            "acknowledged ones"
        ),
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlarmView]:
    sites = caller.site_filter()
    if site_id is not None:
        check_site(caller, site_id)
        sites = [site_id]
    return service.list_alarms(
        session,
        ctx.clock.now(),
        sites,
        state=state,
        include_shelved=include_shelved,
        attention=attention,
        limit=limit,
    )


@router.get(
    "/history",
    response_model=AlarmHistoryPage,
    summary="告警历史: every state change of every alarm, newest first (filter, cursor pages)",
)
def get_history(
    session: DbSession,
    caller: Reader,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    asset: Annotated[str | None, Query(max_length=64)] = None,
    alarm_type: Annotated[str | None, Query(max_length=64)] = None,
    state: AlarmState | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlarmHistoryPage:
    sites = caller.site_filter()
    if site_id is not None:
        check_site(caller, site_id)
        sites = [site_id]
    where = HistoryFilter(sites, asset, alarm_type, state, since, until)
    items, more = alarm_history(
        session, where, before=_before(cursor) if cursor else None, limit=limit
    )
    last = items[-1] if items else None
    return AlarmHistoryPage(
        items=items,
        next_cursor=encode_cursor([last.at.isoformat(), last.id]) if more and last else None,
    )


def _before(cursor: str) -> tuple[datetime, int]:
    at, last = cursor_values(cursor, 2)
    if not isinstance(last, int) or isinstance(last, bool) or not isinstance(at, str):
        raise invalid_cursor()
    try:
        t = datetime.fromisoformat(at)
    except ValueError as exc:
        raise invalid_cursor() from exc
    if t.tzinfo is None:
        raise invalid_cursor()
    return t, last


@router.get("/{alarm_id}", response_model=AlarmView, summary="one alarm episode")
def get_alarm(alarm_id: RowId, ctx: Ctx, session: DbSession, caller: Reader) -> AlarmView:
    alarm = service.get_alarm(session, alarm_id)
    check_site(caller, alarm.site_id)
    return service.view_of(session, alarm, ctx.clock.now())


@router.post("/{alarm_id}/acknowledge", response_model=AlarmView, summary="确认告警")
def acknowledge(
    alarm_id: RowId, request: Request, ctx: Ctx, session: DbSession, caller: Duty
) -> AlarmView:
    check_site(caller, service.get_alarm(session, alarm_id).site_id)
    now = ctx.clock.now()
    alarm = service.acknowledge_alarm(session, alarm_id, actor=caller.name, now=now)
    audit(session, ctx, caller, request, subject=f"alarm:{alarm_id}", status_code=200)
    return service.view_of(session, alarm, now)


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
    return service.view_of(session, alarm, now)


@router.post("/{alarm_id}/unshelve", response_model=AlarmView, summary="取消搁置")
def unshelve(
    alarm_id: RowId, request: Request, ctx: Ctx, session: DbSession, caller: Duty
) -> AlarmView:
    check_site(caller, service.get_alarm(session, alarm_id).site_id)
    now = ctx.clock.now()
    alarm = service.unshelve_alarm(session, alarm_id, actor=caller.name, now=now)
    audit(session, ctx, caller, request, subject=f"alarm:{alarm_id}", status_code=200)
    return service.view_of(session, alarm, now)


@router.post("/{alarm_id}/out-of-service", response_model=AlarmView, summary="停用告警")
def out_of_service(
    alarm_id: RowId,
    body: OutOfServiceIn,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    caller: Duty,
) -> AlarmView:
    check_site(caller, service.get_alarm(session, alarm_id).site_id)
    now = ctx.clock.now()
    alarm = service.remove_from_service(
        session, alarm_id, actor=caller.name, reason=body.reason, now=now
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
    return service.view_of(session, alarm, now)


@router.post("/{alarm_id}/return-to-service", response_model=AlarmView, summary="恢复启用告警")
def back_in_service(
    alarm_id: RowId, request: Request, ctx: Ctx, session: DbSession, caller: Duty
) -> AlarmView:
    check_site(caller, service.get_alarm(session, alarm_id).site_id)
    now = ctx.clock.now()
    alarm = service.return_to_service(session, alarm_id, actor=caller.name, now=now)
    audit(session, ctx, caller, request, subject=f"alarm:{alarm_id}", status_code=200)
    return service.view_of(session, alarm, now)
