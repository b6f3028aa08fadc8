"""Alarms for the duty room."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import Caller, DbSession
from api.schemas import AlarmOut
from maintenance.alarms.models import Alarm

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])


@router.get("", response_model=list[AlarmOut])
def get_alarms(
    session: DbSession,
    caller: Caller,
    state: Annotated[str | None, Query(pattern="^(raised|cleared)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlarmOut]:
    q = select(Alarm).order_by(Alarm.id.desc()).limit(limit)
    if "*" not in caller.sites:
        q = q.where(Alarm.site_id.in_(caller.sites))
    if state:
        q = q.where(Alarm.state == state)
    return [
        AlarmOut(
            id=a.id,
            site_id=a.site_id,
            episode_id=a.episode_id,
            asset=a.asset_code,
            alarm_type=a.alarm_type,
            severity=a.severity,
            message=a.message,
            state=a.state,
            raised_at=a.raised_at,
            cleared_at=a.cleared_at,
            raise_count=a.raise_count,
            evidence=a.evidence,
            work_order_id=a.work_order_id,
        )
        for a in session.scalars(q)
    ]
