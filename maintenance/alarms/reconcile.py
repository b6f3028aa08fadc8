"""告警对账: converge the alarm list to the gateway's snapshot of each asset's active conditions.

The gateway publishes, retained and on every change and (re)connect, the complete set of open
episodes of an asset (`AssetStateEvent.conditions`). Events alone can leave the list wrong after
a restart of either side (a clear that was never sent because the gateway died holding the
condition, a raise made while this service was away); the snapshot is the truth:

- an open alarm whose episode the snapshot no longer has, and that was raised before the
  snapshot was taken, is cleared, recorded as cleared by reconciliation at the snapshot's time;
- a condition the snapshot has and no alarm row knows is raised (and routed) as if its raise
  event had arrived; the raise event, when it comes, finds the row and changes nothing;
- while the snapshot says the device is offline, its other open alarms are marked stale (状态未知)
  and are not cleared; they are fresh again with the first online snapshot.

A snapshot older than the last one applied for the asset is only history and changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm
from maintenance.alarms.service import (
    FROM_SNAPSHOT,
    LATE_AFTER,
    clear_alarm,
    is_communication_alarm,
    raise_alarm,
)
from maintenance.alarms.states import RECONCILIATION, JournalAction, record
from maintenance.registry.models import Asset
from propwatch.events import AlarmAction, AlarmEvent, AssetStateEvent
from propwatch.site import SiteFile


def apply_asset_state(
    session: Session,
    spec: SiteFile,
    event: AssetStateEvent,
    now: datetime,
    *,
    late_after: timedelta = LATE_AFTER,
) -> bool:
    """Store the asset's latest state and reconcile its alarms; False for an older snapshot."""
    asset = session.scalar(
        select(Asset).where(Asset.site_id == event.site_id, Asset.code == event.asset_id)
    )
    if asset is None or (asset.state_at is not None and asset.state_at > event.occurred_at):
        return False
    state: dict[str, object] = {
        "online": event.online,
        "values": event.values,
        "active_alarms": event.active_alarms,
    }
    if event.conditions is not None:
        state["conditions"] = [c.model_dump(mode="json") for c in event.conditions]
    asset.state, asset.state_at = state, event.occurred_at
    if event.conditions is None:
        return True  # a gateway that sends no snapshot: nothing to reconcile against
    active = {c.episode_id: c for c in event.conditions}
    open_alarms = session.scalars(
        select(Alarm).where(
            Alarm.site_id == event.site_id,
            Alarm.asset_code == event.asset_id,
            Alarm.cleared_at.is_(None),
            Alarm.raise_count > 0,
        )
    ).all()
    for alarm in open_alarms:
        if alarm.episode_id in active:
            _mark_stale(session, alarm, not event.online, event.occurred_at, now)
        elif alarm.raised_at <= event.occurred_at:
            clear_alarm(
                session,
                alarm,
                at=event.occurred_at,
                now=now,
                by=RECONCILIATION,
                note="网关的当前告警快照中已无此告警",
            )
    known = set(session.scalars(select(Alarm.episode_id).where(Alarm.episode_id.in_(list(active)))))
    for episode_id, c in active.items():
        if episode_id in known:
            continue
        raise_event = AlarmEvent(
            event_id=f"snapshot:{episode_id}"[:64],
            site_id=event.site_id,
            occurred_at=c.since,
            action=AlarmAction.RAISE,
            episode_id=episode_id,
            asset_id=event.asset_id,
            device_id=c.device_id,
            alarm_type=c.alarm_type,
            severity=c.severity,
            rule_id=c.rule_id,
            message=c.message,
            evidence={FROM_SNAPSHOT: True},
        )
        alarm = raise_alarm(
            session, spec, raise_event, now, late=now - c.since > late_after, actor=RECONCILIATION
        )
        _mark_stale(session, alarm, not event.online, event.occurred_at, now)
    return True


def _mark_stale(session: Session, alarm: Alarm, offline: bool, at: datetime, now: datetime) -> None:
    stale = offline and not is_communication_alarm(alarm)
    if alarm.stale == stale:
        return
    alarm.stale = stale
    session.flush()
    action = JournalAction.STALE if stale else JournalAction.FRESH
    record(session, alarm, action, at=at, now=now, actor=RECONCILIATION)
