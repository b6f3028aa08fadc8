"""告警 → 工单: dedup, occurrences, clears, chattering, shelving and idempotent consumption."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from maintenance.alarms.models import Alarm
from maintenance.alarms.service import (
    acknowledge_alarm,
    apply_alarm_event,
    list_alarms,
    shelve_alarm,
)
from maintenance.db import Database
from maintenance.errors import InvalidRequest
from maintenance.notifications import NotificationView, notifications_after
from maintenance.work_orders.models import Status, WorkOrder
from maintenance.work_orders.service import transition
from propwatch.clock import ManualClock
from propwatch.events import AlarmEvent
from propwatch.site import Site
from tests.maintenance.helpers import all_orders, cleared, raised


def _apply(db: Database, site: Site, clock: ManualClock, *events: AlarmEvent) -> list[bool]:
    out = []
    for e in events:
        with db.session() as s:
            out.append(apply_alarm_event(s, site.spec, e, clock.now()))
    return out


def _alarms(db: Database) -> list[Alarm]:
    with db.session() as s:
        return list(s.scalars(select(Alarm).order_by(Alarm.id)))


def _notes(db: Database, wo_id: int) -> list[str]:
    with db.session() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None
        return [t.note for t in wo.transitions if t.to_status == "note"]


def test_a_raise_opens_an_emergency_order_routed_by_the_site_rules(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, raised(clock.now()))
    [wo] = all_orders(db)
    assert (wo.source, wo.category, wo.priority) == ("alarm", "water_supply", "emergency")
    assert _alarms(db)[0].work_order_id == wo.id


def test_the_same_event_delivered_twice_changes_nothing(
    db: Database, site: Site, clock: ManualClock
) -> None:
    event = raised(clock.now())
    assert _apply(db, site, clock, event, event) == [True, False]
    assert len(all_orders(db)) == 1 and _alarms(db)[0].raise_count == 1


def test_repeated_raise_of_one_episode_counts_on_the_alarm(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, raised(clock.now()), raised(clock.now() + timedelta(seconds=5)))
    assert _alarms(db)[0].raise_count == 2 and len(all_orders(db)) == 1


def test_repeated_raise_adds_occurrence_not_work_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    t = clock.now()
    _apply(db, site, clock, raised(t), cleared(t + timedelta(minutes=1)))
    _apply(db, site, clock, raised(t + timedelta(hours=1), episode="ep-2"))
    [wo] = all_orders(db)
    assert wo.occurrences == 2
    assert {a.work_order_id for a in _alarms(db)} == {wo.id}


def test_a_clear_annotates_the_order_and_never_closes_it(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, raised(clock.now()), cleared(clock.now() + timedelta(minutes=2)))
    [wo] = all_orders(db)
    assert wo.status == "dispatched"
    assert any("告警已恢复" in n for n in _notes(db, wo.id))
    assert _alarms(db)[0].state == "cleared"


def test_a_clear_before_its_raise_ends_in_the_same_state_as_in_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    t = clock.now()
    _apply(db, site, clock, cleared(t + timedelta(minutes=2)), raised(t))
    [wo] = all_orders(db)
    [alarm] = _alarms(db)
    assert (alarm.state, alarm.raise_count, alarm.raised_at) == ("cleared", 1, t)
    assert alarm.work_order_id == wo.id and wo.reported_at == t
    assert any("告警已恢复" in n for n in _notes(db, wo.id))


def test_a_lone_clear_records_the_episode_without_an_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, cleared(clock.now()))
    assert all_orders(db) == [] and _alarms(db)[0].raise_count == 0


def test_a_new_episode_after_resolution_opens_a_new_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, raised(clock.now()))
    [first] = all_orders(db)
    with db.session() as s:
        for to in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
            transition(s, site.spec, first.id, to, actor="wang-gong", now=clock.now())
    clock.advance(timedelta(days=1))
    _apply(db, site, clock, raised(clock.now(), episode="ep-2"))
    assert len(all_orders(db)) == 2


def test_a_chattering_alarm_is_flagged_and_not_multiplied(
    db: Database, site: Site, clock: ManualClock
) -> None:
    limit = site.spec.chattering.raises
    for i in range(limit + 2):
        _apply(db, site, clock, raised(clock.now(), episode=f"ep-{i}"))
        clock.advance(30)
        _apply(db, site, clock, cleared(clock.now(), episode=f"ep-{i}"))
        if i == 0:  # the technician closes it quickly; the fault keeps coming back
            [wo] = all_orders(db)
            with db.session() as s:
                for to in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
                    transition(s, site.spec, wo.id, to, actor="wang-gong", now=clock.now())
        clock.advance(30)
    orders = all_orders(db)
    assert len(orders) <= 2
    assert orders[-1].chattering
    assert _alarms(db)[-1].chattering


def test_two_replicas_consuming_the_same_event_make_one_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    event = raised(clock.now())
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def replica() -> None:
        start.wait(5)
        try:
            with db.session() as s:
                outcomes.append(
                    "applied"
                    if apply_alarm_event(s, site.spec, event, clock.now())
                    else "duplicate"
                )
        except Exception as exc:  # the consumer retries a lost race; so do we
            outcomes.append(type(exc).__name__)
            with db.session() as s:
                outcomes.append("retry-" + str(apply_alarm_event(s, site.spec, event, clock.now())))

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count("applied") == 1
    assert len(all_orders(db)) == 1 and len(_alarms(db)) == 1


def test_two_replicas_with_two_episodes_of_one_fault_share_one_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    events = [raised(clock.now(), episode="ep-a"), raised(clock.now(), episode="ep-b")]
    start = threading.Barrier(2)

    def replica(event: AlarmEvent) -> None:
        start.wait(5)
        for _ in range(2):  # as the consumer: one retry after a lost race
            try:
                with db.session() as s:
                    apply_alarm_event(s, site.spec, event, clock.now())
                return
            except Exception:
                continue

    threads = [threading.Thread(target=replica, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    [wo] = all_orders(db)
    assert wo.occurrences == 2 and {a.work_order_id for a in _alarms(db)} == {wo.id}


def test_acknowledge_keeps_the_first_acknowledgement(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, raised(clock.now()))
    alarm_id = _alarms(db)[0].id
    with db.session() as s:
        acknowledge_alarm(s, alarm_id, actor="duty-1", now=clock.now())
        alarm = acknowledge_alarm(s, alarm_id, actor="duty-2", now=clock.now() + timedelta(1))
    assert (alarm.acknowledged_by, alarm.acknowledged_at) == ("duty-1", clock.now())


def test_a_shelved_alarm_is_hidden_until_its_expiry(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, raised(clock.now()))
    alarm_id = _alarms(db)[0].id
    with db.session() as s:
        shelve_alarm(
            s,
            alarm_id,
            actor="duty-1",
            until=clock.now() + timedelta(hours=2),
            reason="已知故障，配件在途",
            now=clock.now(),
        )
        hidden = list_alarms(s, clock.now(), include_shelved=False)
    clock.advance(timedelta(hours=2, seconds=1))
    with db.session() as s:
        back = list_alarms(s, clock.now(), include_shelved=False)
    assert hidden == [] and [a.id for a in back] == [alarm_id] and not back[0].shelved


def test_shelving_without_a_reason_is_refused(db: Database, site: Site, clock: ManualClock) -> None:
    _apply(db, site, clock, raised(clock.now()))
    with db.session() as s, pytest.raises(InvalidRequest):
        shelve_alarm(
            s,
            _alarms(db)[0].id,
            actor="duty-1",
            until=clock.now() + timedelta(hours=1),
            reason="",
            now=clock.now(),
        )


def _told(db: Database, topic: str) -> list[NotificationView]:
    with db.session() as s:
        return notifications_after(s, topic=topic)


def test_a_raise_and_its_clear_reach_the_outbox_once_each(
    db: Database, site: Site, clock: ManualClock
) -> None:
    first = raised(clock.now())
    _apply(db, site, clock, first, first, raised(clock.now()))  # redelivery, repeat raise
    clock.advance(timedelta(minutes=5))
    _apply(db, site, clock, cleared(clock.now()))
    [up] = _told(db, "alarm.raised")
    [down] = _told(db, "alarm.cleared")
    [wo] = all_orders(db)
    assert (up.alarm_id, up.work_order_id, up.recipient) == (down.alarm_id, wo.id, wo.assignee)
    assert up.payload["severity"] == "critical"
    assert up.message.startswith("1号生活水泵（pump-1）告警（紧急）：出水压力过低")
    assert down.message.startswith("1号生活水泵（pump-1）告警已恢复")


def test_a_clear_before_its_raise_is_told_when_the_raise_arrives(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _apply(db, site, clock, cleared(clock.now()))
    assert _told(db, "alarm.cleared") == []
    _apply(db, site, clock, raised(clock.now() - timedelta(minutes=1)))
    assert len(_told(db, "alarm.raised")) == 1
    assert len(_told(db, "alarm.cleared")) == 1


def test_the_order_of_a_threshold_alarm_names_the_point_and_its_limit_in_zh_cn(
    db: Database, site: Site, clock: ManualClock
) -> None:
    event = raised(clock.now())
    event.evidence.update(label="出水压力", value=0.047, unit="MPa", limit=0.15)
    _apply(db, site, clock, event)
    [wo] = all_orders(db)
    assert wo.description == "出水压力 0.047 MPa（低于下限 0.15）"


def test_an_alarm_from_a_gateway_without_labels_names_the_point_by_its_name(
    db: Database, site: Site, clock: ManualClock
) -> None:
    event = raised(clock.now())
    event.evidence.update(direction="above", value=95.25, unit="degC", limit=85)
    _apply(db, site, clock, event)
    [wo] = all_orders(db)
    assert wo.description == "outlet_pressure 95.25 degC（高于上限 85）"
