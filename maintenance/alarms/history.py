"""告警历史: the alarm journal read back, newest first, with filters and keyset pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm, AlarmJournal
from maintenance.alarms.states import AlarmState, JournalAction
from maintenance.registry.models import Asset


class JournalEntry(BaseModel):
    """One state change of one alarm, as the duty room's 告警历史 shows it."""

    id: int
    alarm_id: int
    site_id: str
    asset: str
    asset_name: str | None
    alarm_type: str
    severity: str
    message: str
    action: JournalAction
    state: AlarmState
    actor: str | None
    at: datetime
    note: str


@dataclass(frozen=True)
class HistoryFilter:
    site_ids: list[str] | None = None
    asset: str | None = None
    alarm_type: str | None = None
    state: AlarmState | None = None
    since: datetime | None = None
    until: datetime | None = None


def alarm_history(
    session: Session,
    where: HistoryFilter,
    *,
    before: tuple[datetime, int] | None = None,
    limit: int = 100,
) -> tuple[list[JournalEntry], bool]:
    """A page of entries after `before` (the time and id of the last one shown), and whether
    more follow."""
    j = AlarmJournal
    q = (
        select(j, Alarm.severity, Alarm.message, Asset.name)
        .join(Alarm, Alarm.id == j.alarm_id)
        .outerjoin(Asset, (Asset.site_id == j.site_id) & (Asset.code == j.asset_code))
        .order_by(j.at.desc(), j.id.desc())
    )
    if where.site_ids is not None:
        q = q.where(j.site_id.in_(where.site_ids))
    if where.asset is not None:
        q = q.where(j.asset_code == where.asset)
    if where.alarm_type is not None:
        q = q.where(j.alarm_type == where.alarm_type)
    if where.state is not None:
        q = q.where(j.state == where.state.value)
    if where.since is not None:
        q = q.where(j.at >= where.since)
    if where.until is not None:
        q = q.where(j.at < where.until)
    if before is not None:
        at, last = before
        q = q.where(or_(j.at < at, and_(j.at == at, j.id < last)))
    rows = session.execute(q.limit(limit + 1)).all()
    entries = [
        JournalEntry(
            id=e.id,
            alarm_id=e.alarm_id,
            site_id=e.site_id,
            asset=e.asset_code,
            asset_name=name,
            alarm_type=e.alarm_type,
            severity=severity,
            message=message,
            action=JournalAction(e.action),
            state=AlarmState(e.state),
            actor=e.actor,
            at=e.at,
            note=e.note,
        )
        for e, severity, message, name in rows[:limit]
    ]
    return entries, len(rows) > limit
