"""超时升级: the ladder from the site file, each rung exactly once."""

from __future__ import annotations

from datetime import timedelta

from maintenance.db import Database
from maintenance.escalation import escalate_overdue, escalations_of
from maintenance.notifications import notifications_after
from maintenance.work_orders.models import Status, WorkOrder
from maintenance.work_orders.service import hold, transition
from propwatch.clock import ManualClock
from propwatch.site import Priority, Site
from tests.maintenance.helpers import order


def _escalate(db: Database, site: Site, clock: ManualClock) -> list[str]:
    with db.session() as s:
        return [e.step_id for e in escalate_overdue(s, site.spec, clock.now())]


def _accepted_general_order(db: Database, site: Site, clock: ManualClock) -> int:
    with db.session() as s:
        wo_id = order(s, site, clock.now(), priority=Priority.GENERAL).id
        transition(s, site.spec, wo_id, Status.ACCEPTED, actor="wang-gong", now=clock.now())
        transition(s, site.spec, wo_id, Status.ON_SITE, actor="wang-gong", now=clock.now())
    return wo_id


def test_nothing_escalates_before_its_time(db: Database, site: Site, clock: ManualClock) -> None:
    _accepted_general_order(db, site, clock)
    clock.advance(timedelta(hours=19))  # 79 % of the 24 h resolve limit
    assert _escalate(db, site, clock) == []


def test_the_assignee_is_warned_at_80_percent_of_the_resolve_limit(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _accepted_general_order(db, site, clock)
    clock.advance(timedelta(hours=19, minutes=12))
    assert _escalate(db, site, clock) == ["resolve-warn"]
    with db.session() as s:
        [warning] = notifications_after(s, topic="work_order.escalated")
    assert warning.recipient == "wang-gong" and "即将超过处理时限" in warning.message


def test_a_breach_fires_each_rung_exactly_once_however_often_the_job_runs(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _accepted_general_order(db, site, clock)
    clock.advance(timedelta(hours=25))
    first = _escalate(db, site, clock)
    again = _escalate(db, site, clock)
    clock.advance(timedelta(minutes=1))
    later = _escalate(db, site, clock)
    assert sorted(first) == ["resolve-breach", "resolve-warn"] and again == later == []
    with db.session() as s:
        assert len(escalations_of(s, wo_id)) == 2
        assert len(notifications_after(s, topic="work_order.escalated")) == 2


def test_the_zone_supervisor_is_notified_at_breach(
    db: Database, site: Site, clock: ManualClock
) -> None:
    _accepted_general_order(db, site, clock)
    clock.advance(timedelta(hours=25))
    _escalate(db, site, clock)
    with db.session() as s:
        told = {
            n.payload["step"]: n.recipient
            for n in notifications_after(s)
            if n.topic == "work_order.escalated"
        }
    assert told["resolve-breach"] == "zhou-zg"


def test_priority_is_raised_once_half_a_limit_past_the_breach(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _accepted_general_order(db, site, clock)
    clock.advance(timedelta(hours=36))
    _escalate(db, site, clock)
    clock.advance(timedelta(hours=36))
    _escalate(db, site, clock)
    with db.session() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None
        assert (wo.priority, wo.priority_raised_from) == ("important", "general")


def test_an_order_on_hold_does_not_escalate(db: Database, site: Site, clock: ManualClock) -> None:
    wo_id = _accepted_general_order(db, site, clock)
    with db.session() as s:
        hold(s, site.spec, wo_id, reason="等配件", actor="wang-gong", now=clock.now())
    clock.advance(timedelta(hours=30))
    assert _escalate(db, site, clock) == []


def test_an_unaccepted_emergency_escalates_to_the_duty_room_at_the_respond_limit(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        order(s, site, clock.now(), priority=Priority.EMERGENCY)
    clock.advance(timedelta(minutes=16))
    assert _escalate(db, site, clock) == ["respond-breach"]
    with db.session() as s:
        [n] = notifications_after(s, topic="work_order.escalated")
    assert n.recipient is None and n.payload["breached"] is True


def test_a_resolved_order_escalates_only_for_a_missed_revisit(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _accepted_general_order(db, site, clock)
    with db.session() as s:
        transition(s, site.spec, wo_id, Status.RESOLVED, actor="wang-gong", now=clock.now())
    clock.advance(timedelta(days=3))
    assert _escalate(db, site, clock) == ["revisit-breach"]


def test_a_reopened_order_climbs_a_fresh_ladder_from_the_reopening(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _accepted_general_order(db, site, clock)
    with db.session() as s:
        transition(s, site.spec, wo_id, Status.RESOLVED, actor="wang-gong", now=clock.now())
        transition(s, site.spec, wo_id, Status.VERIFIED, actor="duty", now=clock.now())
    clock.advance(timedelta(days=5))
    with db.session() as s:
        transition(s, site.spec, wo_id, Status.REOPENED, actor="duty", now=clock.now(), note="又漏")
    clock.advance(timedelta(hours=19))  # 79 % of the restarted 24 h
    assert _escalate(db, site, clock) == []
    clock.advance(timedelta(hours=6))
    assert sorted(_escalate(db, site, clock)) == ["resolve-breach#1", "resolve-warn#1"]


def test_two_replicas_running_the_job_at_once_fire_each_rung_once(
    db: Database, site: Site, clock: ManualClock
) -> None:
    import threading

    wo_id = _accepted_general_order(db, site, clock)
    clock.advance(timedelta(hours=25))
    start = threading.Barrier(2)
    fired: list[str] = []

    def replica() -> None:
        start.wait(5)
        fired.extend(_escalate(db, site, clock))

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(fired) == ["resolve-breach", "resolve-warn"]
    with db.session() as s:
        assert len(escalations_of(s, wo_id)) == 2
        assert len(notifications_after(s, topic="work_order.escalated")) == 2


def test_a_breach_is_reported_once_per_order_and_limit(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _accepted_general_order(db, site, clock)  # accepted: respond is met
    clock.advance(timedelta(hours=23, minutes=59))
    _escalate(db, site, clock)
    with db.session() as s:
        assert notifications_after(s, topic="work_order.overdue") == []
    clock.advance(timedelta(minutes=2))  # past the 24 h resolve limit
    _escalate(db, site, clock)
    clock.advance(timedelta(hours=1))
    _escalate(db, site, clock)
    with db.session() as s:
        [n] = notifications_after(s, topic="work_order.overdue")
    assert (n.work_order_id, n.recipient) == (wo_id, "wang-gong")
    assert (n.payload["limit"], n.payload["zone"]) == ("resolve", "zone-a")
    assert "已超过处理时限" in n.message


def test_a_breach_is_reported_even_without_an_escalation_rung(
    db: Database, site: Site, clock: ManualClock
) -> None:
    bare = Site(site.path, site.spec.model_copy(update={"escalation": []}), site.profiles)
    with db.session() as s:
        order(s, site, clock.now(), priority=Priority.GENERAL)
    clock.advance(timedelta(hours=9))  # past the 8 h respond limit, nothing accepted
    _escalate(db, bare, clock)
    with db.session() as s:
        assert [
            n.payload["limit"] for n in notifications_after(s) if n.topic == "work_order.overdue"
        ] == ["respond"]
        assert notifications_after(s, topic="work_order.escalated") == []
