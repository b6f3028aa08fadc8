"""工单 lifecycle: audited steps, refusals, the paused clock, reassignment, idempotent creation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from maintenance.db import Database
from maintenance.errors import UnknownReference
from maintenance.notifications import notifications_after
from maintenance.work_orders.errors import IllegalTransition, InvalidWorkOrder
from maintenance.work_orders.models import Source, Status, WorkOrder, WorkOrderTransition
from maintenance.work_orders.service import (
    NewWorkOrder,
    create_work_order,
    hold,
    reassign,
    resume,
    transition,
    work_order_view,
)
from propwatch.clock import ManualClock
from propwatch.site import Category, Priority, Site
from tests.maintenance.helpers import all_orders, order

SHANGHAI = ZoneInfo("Asia/Shanghai")
FULL_LOOP = [
    Status.ACCEPTED,
    Status.ON_SITE,
    Status.RESOLVED,
    Status.VERIFIED,
    Status.CLOSED,
    Status.REVISITED,
]


def _step(db: Database, site: Site, wo_id: int, to: Status, at: datetime, **kw: str) -> None:
    with db.session() as s:
        transition(s, site.spec, wo_id, to, actor=kw.pop("actor", "wang-gong"), now=at, **kw)


def test_a_new_order_is_registered_and_dispatched_to_the_zone_technician_by_day(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo = order(s, site, clock.now())
        steps = [(t.from_status, t.to_status) for t in wo.transitions]
    assert (wo.status, wo.assignee, wo.zone_code) == ("dispatched", "wang-gong", "zone-a")
    assert steps == [(None, "registered"), ("registered", "dispatched")]


def test_every_step_of_the_full_loop_is_audited_with_who_when_note_and_attachments(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
    for to in FULL_LOOP:
        clock.advance(600)
        _step(db, site, wo_id, to, clock.now(), note=f"{to.value} ok")
    with db.session() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None
        last = wo.transitions[-1]
        audited = [t.to_status for t in wo.transitions]
    assert audited == ["registered", "dispatched", *[t.value for t in FULL_LOOP]]
    assert (last.actor, last.at, last.note) == ("wang-gong", clock.now(), "revisited ok")
    assert wo.revisited_at == clock.now() and wo.status == "revisited"


def test_attachment_references_are_kept_on_the_transition(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
        transition(s, site.spec, wo_id, Status.ACCEPTED, actor="wang-gong", now=clock.now())
        transition(
            s,
            site.spec,
            wo_id,
            Status.ON_SITE,
            actor="wang-gong",
            now=clock.now(),
            attachments=["photos/pump-1/valve.jpg"],
        )
    with db.session() as s:
        row = s.scalars(
            select(WorkOrderTransition).where(WorkOrderTransition.to_status == "on_site")
        ).one()
    assert row.attachments == ["photos/pump-1/valve.jpg"]


def test_skipping_a_step_is_refused_in_chinese_and_english(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
    with pytest.raises(IllegalTransition) as refused:
        _step(db, site, wo_id, Status.RESOLVED, clock.now())
    assert "不能转为「已完成」" in refused.value.zh
    assert "cannot go to resolved" in refused.value.en


def test_a_refused_step_changes_nothing(db: Database, site: Site, clock: ManualClock) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
    with pytest.raises(IllegalTransition):
        _step(db, site, wo_id, Status.CLOSED, clock.now())
    with db.session() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None and wo.status == "dispatched" and len(wo.transitions) == 2


def test_a_cancelled_order_accepts_no_further_step(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
    _step(db, site, wo_id, Status.CANCELLED, clock.now(), note="业主已自行修好")
    with pytest.raises(IllegalTransition):
        _step(db, site, wo_id, Status.ACCEPTED, clock.now())


def test_hold_needs_a_reason(db: Database, site: Site, clock: ManualClock) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
    with pytest.raises(InvalidWorkOrder):
        _step(db, site, wo_id, Status.ON_HOLD, clock.now(), note=" ")


def test_hold_and_resume_shift_the_hour_limits_not_yet_met_by_the_time_on_hold(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo = order(s, site, clock.now(), priority=Priority.EMERGENCY)
        wo_id, respond_due, resolve_due = wo.id, wo.respond_due, wo.resolve_due
    clock.advance(300)
    _step(db, site, wo_id, Status.ACCEPTED, clock.now())
    clock.advance(600)
    with db.session() as s:
        hold(s, site.spec, wo_id, reason="等配件（止回阀）", actor="wang-gong", now=clock.now())
    clock.advance(timedelta(hours=3))
    with db.session() as s:
        wo = resume(s, site.spec, wo_id, actor="wang-gong", now=clock.now())
        assert wo.status == "accepted"
        assert wo.respond_due == respond_due  # met before the hold
        assert resolve_due is not None and wo.resolve_due == resolve_due + timedelta(hours=3)
        assert wo.paused_seconds == 3 * 3600


def test_a_held_order_is_not_overdue_while_its_clock_is_stopped(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now(), priority=Priority.EMERGENCY).id
        hold(s, site.spec, wo_id, reason="等业主在家", actor="wang-gong", now=clock.now())
    clock.advance(timedelta(hours=6))
    with db.session() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None
        assert work_order_view(s, wo, clock.now()).overdue == []


def test_resuming_an_order_that_is_not_on_hold_is_refused(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
        with pytest.raises(IllegalTransition):
            resume(s, site.spec, wo_id, actor="wang-gong", now=clock.now())


def test_a_complaint_on_hold_over_two_working_days_gets_two_more_days(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:  # Monday 23 Nov: 3 working days -> Thursday 26 Nov 23:59:59
        wo = order(s, site, clock.now(), category=Category.COMPLAINT, priority=Priority.GENERAL)
        wo_id = wo.id
        assert wo.resolve_due == datetime(2026, 11, 26, 23, 59, 59, tzinfo=SHANGHAI)
        hold(s, site.spec, wo_id, reason="等物业公司答复", actor="chen-kf", now=clock.now())
    clock.advance(timedelta(days=2))  # Wednesday
    with db.session() as s:
        wo = resume(s, site.spec, wo_id, actor="chen-kf", now=clock.now())
        assert wo.resolve_due == datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI)


def test_the_revisit_falls_due_one_working_day_after_resolution(
    db: Database, site: Site, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 11, 27, 16, 0, tzinfo=SHANGHAI))  # Friday afternoon
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
    for to in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
        _step(db, site, wo_id, to, clock.now())
    with db.session() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None
        assert wo.revisit_due == datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI)


def test_a_night_emergency_on_a_holiday_goes_to_the_night_technician_on_the_hour_clock(
    db: Database, site: Site
) -> None:
    night = datetime(2026, 10, 2, 2, 30, tzinfo=SHANGHAI)  # 国庆 holiday, small hours
    with db.session() as s:
        wo = order(s, site, night, priority=Priority.EMERGENCY)
    assert wo.assignee == "li-shifu"
    assert wo.arrive_due == night + timedelta(hours=1)
    assert wo.resolve_due == night + timedelta(hours=4)


def test_the_duty_room_reassigns_and_the_new_technician_must_accept(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
        transition(s, site.spec, wo_id, Status.ACCEPTED, actor="wang-gong", now=clock.now())
        wo = reassign(
            s, site.spec, wo_id, "li-shifu", actor="duty", now=clock.now(), note="王工请假"
        )
        assert (wo.status, wo.assignee) == ("dispatched", "li-shifu")
        told = notifications_after(s, topic="work_order.reassigned")
    assert [n.recipient for n in told] == ["li-shifu"]


def test_reassigning_to_someone_not_on_the_roster_is_refused(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
        with pytest.raises(UnknownReference) as refused:
            reassign(s, site.spec, wo_id, "nobody", actor="duty", now=clock.now())
    assert list(refused.value.fields) == ["assignee"]


def test_reopening_restarts_the_resolve_clock_and_counts_rework(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
    for to in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
        _step(db, site, wo_id, to, clock.now())
    clock.advance(timedelta(days=2))
    _step(db, site, wo_id, Status.REOPENED, clock.now(), note="业主反映仍漏水")
    with db.session() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None
        assert (wo.reopen_count, wo.resolved_at) == (1, None)
        assert wo.resolve_due == clock.now() + timedelta(hours=24)


def test_a_ticket_may_start_the_clock_before_it_reached_us(
    db: Database, site: Site, clock: ManualClock
) -> None:
    earlier = clock.now() - timedelta(hours=2)
    with db.session() as s:
        wo = order(s, site, clock.now(), source=Source.TICKET, reported_at=earlier)
    assert wo.reported_at == earlier and wo.resolve_due == earlier + timedelta(hours=24)


def test_a_report_time_in_the_future_is_refused(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s, pytest.raises(InvalidWorkOrder):
        order(s, site, clock.now(), reported_at=clock.now() + timedelta(hours=1))


def test_the_same_source_key_twice_gives_the_same_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        first = order(s, site, clock.now(), key="ticket:T-1")
        second = order(s, site, clock.now(), key="ticket:T-1")
    assert first.id == second.id and len(all_orders(db)) == 1


def test_two_replicas_creating_the_same_order_at_once_make_one(
    db: Database, site: Site, clock: ManualClock
) -> None:
    new = NewWorkOrder(
        site_id=site.id,
        source=Source.TICKET,
        source_key="ticket:T-42",
        category=Category.ELEVATOR,
        priority=Priority.IMPORTANT,
        title="3栋电梯困人",
        reported_at=clock.now(),
    )
    start = threading.Barrier(2)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            start.wait(5)
            with db.session() as s:
                wo, created = create_work_order(s, site.spec, new, clock.now())
                results.append((wo.id, created))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert len({wo_id for wo_id, _ in results}) == 1 and len(all_orders(db)) == 1


def test_every_due_time_is_exposed_in_the_view(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo = order(s, site, clock.now(), priority=Priority.EMERGENCY)
        view = work_order_view(s, wo, clock.now())
    assert view.status_zh == "已派单" and view.priority_zh == "紧急"
    assert (view.respond_due, view.arrive_due, view.resolve_due) == (
        clock.now() + timedelta(minutes=15),
        clock.now() + timedelta(hours=1),
        clock.now() + timedelta(hours=4),
    )
    assert view.reported_at.tzinfo is not None and view.reported_at.utcoffset() == UTC.utcoffset(
        None
    )
