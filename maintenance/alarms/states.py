"""告警状态 as ISA-18.2 names them, and the journal that records every change of one.

The state is derived from the alarm's columns, never stored on its own, so it cannot disagree
with them; the journal keeps, per change, the state it led to, who made it and when.

| state | ISA-18.2 | the duty room sees |
| --- | --- | --- |
| `unacknowledged` | UNACK: active, not acknowledged | 未确认, with sound for a critical one |
| `acknowledged` | ACKED: active, acknowledged | 已确认 |
| `returned_unacknowledged` | RTNUN: returned, never acknowledged | 已恢复未确认, stays listed |
| `normal` | NORM: returned and acknowledged | leaves the list, stays in the history |
| `shelved` | SHLVD: hidden by the duty room until a time | 已搁置 |
| `suppressed` | DSUPR: by design (asset out of service, planned work under way) | 设计抑制 |
| `out_of_service` | OOSRV: taken out of service by the duty room | 已停用 |
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm, AlarmJournal


class AlarmState(StrEnum):
    UNACKNOWLEDGED = "unacknowledged"
    ACKNOWLEDGED = "acknowledged"
    RETURNED_UNACKNOWLEDGED = "returned_unacknowledged"
    NORMAL = "normal"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"


STATE_ZH = {
    AlarmState.UNACKNOWLEDGED: "未确认",
    AlarmState.ACKNOWLEDGED: "已确认",
    AlarmState.RETURNED_UNACKNOWLEDGED: "已恢复未确认",
    AlarmState.NORMAL: "已恢复",
    AlarmState.SHELVED: "已搁置",
    AlarmState.SUPPRESSED: "设计抑制",
    AlarmState.OUT_OF_SERVICE: "已停用",
}


class JournalAction(StrEnum):
    RAISED = "raised"
    REPEATED = "repeated"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"
    RETURNED_TO_SERVICE = "returned_to_service"
    STALE = "stale"
    FRESH = "fresh"


ACTION_ZH = {
    JournalAction.RAISED: "告警",
    JournalAction.REPEATED: "再次告警",
    JournalAction.CLEARED: "恢复",
    JournalAction.ACKNOWLEDGED: "确认",
    JournalAction.SHELVED: "搁置",
    JournalAction.UNSHELVED: "取消搁置",
    JournalAction.SUPPRESSED: "设计抑制",
    JournalAction.OUT_OF_SERVICE: "停用",
    JournalAction.RETURNED_TO_SERVICE: "恢复启用",
    JournalAction.STALE: "设备离线，状态未知",
    JournalAction.FRESH: "设备恢复在线",
}

GATEWAY = "gateway"
RECONCILIATION = "reconciliation"
"""Actors that are not people: the gateway's own events, and reconciliation with its snapshot."""


def is_shelved(alarm: Alarm, now: datetime) -> bool:
    return alarm.shelved_until is not None and alarm.shelved_until > now


def alarm_state(alarm: Alarm, now: datetime) -> AlarmState:
    """The one state an alarm is in now; removal from service and design suppression win over
    shelving, which wins over the acknowledge/return cycle underneath."""
    if alarm.out_of_service_at is not None:
        return AlarmState.OUT_OF_SERVICE
    if alarm.suppressed_reason is not None:
        # Never annunciated, so nothing to acknowledge once it has returned.
        return AlarmState.SUPPRESSED if alarm.cleared_at is None else AlarmState.NORMAL
    if is_shelved(alarm, now):
        return AlarmState.SHELVED
    acked = alarm.acknowledged_at is not None
    if alarm.cleared_at is None:
        return AlarmState.ACKNOWLEDGED if acked else AlarmState.UNACKNOWLEDGED
    return AlarmState.NORMAL if acked else AlarmState.RETURNED_UNACKNOWLEDGED


def needs_attention(alarm: Alarm, now: datetime) -> bool:
    """On the duty room's list: everything but an acknowledged alarm that has returned."""
    return alarm_state(alarm, now) is not AlarmState.NORMAL


def record(
    session: Session,
    alarm: Alarm,
    action: JournalAction,
    *,
    at: datetime,
    now: datetime,
    actor: str | None,
    note: str = "",
) -> None:
    """告警日志: one row per change, with the state it led to (the alarm must be flushed)."""
    session.add(
        AlarmJournal(
            alarm_id=alarm.id,
            site_id=alarm.site_id,
            asset_code=alarm.asset_code,
            alarm_type=alarm.alarm_type,
            action=action.value,
            state=alarm_state(alarm, now).value,
            actor=actor,
            at=at,
            recorded_at=now,
            note=note[:500],
        )
    )
