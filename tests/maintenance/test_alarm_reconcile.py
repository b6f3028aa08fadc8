"""告警对账 and the ISA-18.2 states: the alarm list converges to the gateway's snapshot."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from maintenance.alarms.models import Alarm, AlarmJournal
from maintenance.alarms.reconcile import apply_asset_state
from maintenance.alarms.service import acknowledge_alarm, apply_alarm_event, list_alarms
from maintenance.alarms.states import AlarmState
from maintenance.db import Database
from maintenance.notifications import Notification
from maintenance.registry.service import set_out_of_service
from maintenance.work_orders.models import Source, Status
from maintenance.work_orders.service import transition
from propwatch.clock import ManualClock
from propwatch.events import ActiveCondition, AlarmEvent, AssetStateEvent, Severity
from propwatch.site import Site
from tests.maintenance.helpers import all_orders, cleared, order, raised


def _apply(db: Database, site: Site, clock: ManualClock, event: AlarmEvent) -> None:
    with db.session() as s:
        apply_alarm_event(s, site.spec, event, clock.now())


def _condition(
    episode: str, since: datetime, alarm_type: str = "low_outlet_pressure"
) -> ActiveCondition:
    return ActiveCondition(
        episode_id=episode,
        alarm_type=alarm_type,
        severity=Severity.CRITICAL,
        rule_id="pump-outlet-pressure-low",
        since=since,
        device_id="pump-1",
        message="出水压力过低，可能停水",
    )


def _snapshot(
    db: Database,
    site: Site,
    clock: ManualClock,
    at: datetime,
    *conditions: ActiveCondition,
    asset: str = "pump-1",
    online: bool = True,
) -> bool:
    event = AssetStateEvent(
        site_id="hexie", occurred_at=at, asset_id=asset, online=online, conditions=list(conditions)
    )
    with db.session() as s:
        return apply_asset_state(s, site.spec, event, clock.now())


def _alarms(db: Database) -> list[Alarm]:
    with db.session() as s:
        return list(s.scalars(select(Alarm).order_by(Alarm.id)))


def _journal(db: Database) -> list[tuple[str, str, str | None]]:
    with db.session() as s:
        rows = s.scalars(select(AlarmJournal).order_by(AlarmJournal.id))
        return [(j.action, j.state, j.actor) for j in rows]


def _state(db: Database, clock: ManualClock) -> dict[str, AlarmState]:
    with db.session() as s:
        return {a.episode_id: a.isa_state for a in list_alarms(s, clock.now())}


def test_a_snapshot_without_the_episode_clears_it_as_reconciled(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, raised(clock.now()))
    clock.advance(60)
    assert _snapshot(db, site, clock, clock.now())
    [a] = _alarms(db)
    assert (a.state, a.cleared_by, a.cleared_at) == ("cleared", "reconciliation", clock.now())
    assert _journal(db)[-1] == ("cleared", "returned_unacknowledged", "reconciliation")
    assert len(all_orders(db)) == 1  # the order stays: a technician decides it is fixed


def test_a_snapshot_taken_before_the_raise_does_not_clear_it(
    db: Database, site: Site, clock: ManualClock
) -> None:
    before = clock.now()
    clock.advance(5)
    _apply(db, site, clock, raised(clock.now()))
    _snapshot(db, site, clock, before)
    assert _alarms(db)[0].cleared_at is None


def test_an_older_snapshot_than_the_last_changes_nothing(
    db: Database, site: Site, clock: ManualClock
) -> None:
    t0 = clock.now()
    _apply(db, site, clock, raised(t0, episode="ep-a"))
    _snapshot(db, site, clock, t0 + timedelta(seconds=10), _condition("ep-a", t0))
    assert not _snapshot(db, site, clock, t0 + timedelta(seconds=5))
    assert _alarms(db)[0].cleared_at is None


def test_a_condition_without_an_alarm_is_raised_and_its_late_raise_event_adds_nothing(
    db: Database, site: Site, clock: ManualClock
) -> None:
    since = clock.now()
    clock.advance(2)
    _snapshot(db, site, clock, clock.now(), _condition("ep-a", since))
    [a] = _alarms(db)
    assert (a.raised_at, a.raise_count, a.cleared_at) == (since, 1, None)
    [wo] = all_orders(db)
    assert (wo.priority, wo.source) == ("emergency", "alarm")
    _apply(db, site, clock, raised(since, episode="ep-a"))
    [a] = _alarms(db)
    assert a.raise_count == 1 and "metric" in a.evidence
    assert len(all_orders(db)) == 1
    assert [j[0] for j in _journal(db)] == ["raised"]


def test_a_raise_that_arrives_after_a_newer_snapshot_without_it_is_recorded_as_over(
    db: Database, site: Site, clock: ManualClock
) -> None:
    t0 = clock.now()
    _snapshot(db, site, clock, t0 + timedelta(seconds=30))
    _apply(db, site, clock, raised(t0, episode="ep-a"))
    [a] = _alarms(db)
    assert (a.cleared_by, a.cleared_at) == ("reconciliation", t0 + timedelta(seconds=30))
    assert _state(db, clock) == {"ep-a": AlarmState.RETURNED_UNACKNOWLEDGED}


def test_two_conditions_on_one_asset_are_two_alarms_and_one_clearing_leaves_the_other(
    db: Database, site: Site, clock: ManualClock
) -> None:
    t0 = clock.now()
    _apply(db, site, clock, raised(t0, episode="ep-a"))
    _apply(db, site, clock, raised(t0, episode="ep-b", alarm_type="bearing_overheat"))
    clock.advance(10)
    _snapshot(db, site, clock, clock.now(), _condition("ep-b", t0, "bearing_overheat"))
    assert _state(db, clock) == {
        "ep-a": AlarmState.RETURNED_UNACKNOWLEDGED,
        "ep-b": AlarmState.UNACKNOWLEDGED,
    }


def test_an_offline_device_marks_its_alarms_stale_and_never_clears_them(
    db: Database, site: Site, clock: ManualClock
) -> None:
    t0 = clock.now()
    _apply(db, site, clock, raised(t0, episode="ep-a"))
    clock.advance(10)
    _snapshot(db, site, clock, clock.now(), _condition("ep-a", t0), online=False)
    [a] = _alarms(db)
    assert a.stale and a.cleared_at is None
    clock.advance(10)
    _snapshot(db, site, clock, clock.now(), _condition("ep-a", t0))
    [a] = _alarms(db)
    assert not a.stale
    assert [j[0] for j in _journal(db)] == ["raised", "stale", "fresh"]


def test_a_returned_alarm_stays_on_the_list_until_acknowledged(
    db: Database, site: Site, clock: ManualClock
) -> None:
    t0 = clock.now()
    _apply(db, site, clock, raised(t0))
    _apply(db, site, clock, cleared(t0 + timedelta(seconds=40)))
    with db.session() as s:
        [view] = list_alarms(s, clock.now(), attention=True)
        assert view.isa_state is AlarmState.RETURNED_UNACKNOWLEDGED
        acknowledge_alarm(s, view.id, actor="值班员", now=clock.now())
    with db.session() as s:
        assert list_alarms(s, clock.now(), attention=True) == []
        [view] = list_alarms(s, clock.now())
        assert view.isa_state is AlarmState.NORMAL
    assert [j[:2] for j in _journal(db)] == [
        ("raised", "unacknowledged"),
        ("cleared", "returned_unacknowledged"),
        ("acknowledged", "normal"),
    ]


def test_a_late_raise_pages_nobody_and_opens_no_emergency_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    happened = clock.now()
    clock.advance(15 * 60)
    _apply(db, site, clock, raised(happened))
    [a] = _alarms(db)
    assert a.late
    [wo] = all_orders(db)
    assert wo.priority == "important"
    with db.session() as s:
        [n] = s.scalars(select(Notification).where(Notification.topic == "alarm.raised"))
        assert n.payload["page"] is False and n.payload["late"] is True


def test_an_asset_out_of_service_suppresses_its_alarms_by_design(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        set_out_of_service(s, "hexie", "pump-1", actor="值班员", reason="更换叶轮", now=clock.now())
    _apply(db, site, clock, raised(clock.now()))
    [a] = _alarms(db)
    assert a.suppressed_reason == "设备已停用：更换叶轮"
    assert all_orders(db) == []
    assert _state(db, clock) == {"ep-1": AlarmState.SUPPRESSED}
    with db.session() as s:
        [n] = s.scalars(select(Notification).where(Notification.topic == "alarm.raised"))
        assert n.payload["page"] is False


def test_planned_maintenance_under_way_suppresses_the_assets_alarms(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo = order(s, site, clock.now(), source=Source.PLAN, key="plan:pump-monthly:1")
        for to in (Status.ACCEPTED, Status.ON_SITE):
            transition(s, site.spec, wo.id, to, actor="wang-gong", now=clock.now())
        code = wo.code
    _apply(db, site, clock, raised(clock.now()))
    [a] = _alarms(db)
    assert a.suppressed_reason == f"计划保养进行中（工单 {code}）"
    assert len(all_orders(db)) == 1  # only the plan's own order
