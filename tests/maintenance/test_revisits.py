"""回访评价 in the service, on SQLite and PostgreSQL: the scores a resident's order needs, the
refusals that keep nothing, and what an unsatisfied score sets going (reopen or follow-up, the
supervisor told once)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from maintenance.db import Database
from maintenance.notifications import Notification
from maintenance.work_orders.models import (
    Source,
    Status,
    Via,
    WorkOrder,
    WorkOrderRevisit,
)
from maintenance.work_orders.revisits import InvalidRevisit, RevisitScores, revisits_of
from maintenance.work_orders.service import get_work_order, transition
from propwatch.clock import ManualClock
from propwatch.site import Category, Site
from tests.maintenance.helpers import order

TO_CLOSED = (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED, Status.VERIFIED, Status.CLOSED)


def _closed(
    db: Database,
    site: Site,
    clock: ManualClock,
    *,
    source: Source = Source.TICKET,
    category: Category = Category.WATER_SUPPLY,
) -> int:
    with db.session() as s:
        wo_id = order(s, site, clock.now(), source=source, category=category).id
    for to in TO_CLOSED:
        clock.advance(1800)
        with db.session() as s:
            transition(s, site.spec, wo_id, to, actor="wang-gong", now=clock.now())
    clock.advance(3600)
    return wo_id


def _revisit(
    db: Database, site: Site, clock: ManualClock, wo_id: int, scores: RevisitScores | None
) -> None:
    with db.session() as s:
        transition(
            s, site.spec, wo_id, Status.REVISITED, actor="chen-kf", now=clock.now(), revisit=scores
        )


def _scores(response: int = 5, quality: int = 5, attitude: int = 5, **kw: str) -> RevisitScores:
    return RevisitScores(response, quality, attitude, Via(kw.get("via", "phone")), kw.get("c", ""))


def _unsatisfied(db: Database) -> list[Notification]:
    with db.session() as s:
        return list(
            s.scalars(select(Notification).where(Notification.topic == "work_order.unsatisfied"))
        )


def _rows(db: Database, wo_id: int) -> list[WorkOrderRevisit]:
    with db.session() as s:
        return list(
            s.scalars(select(WorkOrderRevisit).where(WorkOrderRevisit.work_order_id == wo_id))
        )


def test_a_satisfied_revisit_keeps_the_scores_and_closes_the_loop(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _closed(db, site, clock)
    _revisit(db, site, clock, wo_id, _scores(5, 4, 5, c="师傅很专业"))
    with db.session() as s:
        wo = get_work_order(s, wo_id)
        assert (wo.status, wo.revisited_at, wo.reopen_count) == ("revisited", clock.now(), 0)
        last = wo.transitions[-1]
        assert last.to_status == "revisited" and last.actor == "chen-kf"
        assert (
            last.note
            == "电话回访：响应速度 5 分、维修质量 4 分、服务态度 5 分；住户意见：师傅很专业"
        )
        [view] = revisits_of(s, wo_id, site.spec)
    assert (view.via, view.via_zh, view.comment) == ("phone", "电话回访", "师傅很专业")
    assert [(x.item_zh, x.score) for x in view.scores] == [
        ("响应速度", 5),
        ("维修质量", 4),
        ("服务态度", 5),
    ]
    assert (view.satisfied, view.unsatisfied, view.outcome, view.outcome_zh) == (
        True,
        False,
        "closed",
        "已闭环",
    )
    assert view.at_local == "11月23日 13:30" and view.on_time is True
    assert _unsatisfied(db) == []


@pytest.mark.parametrize(
    ("source", "category", "required"),
    [
        (Source.TICKET, Category.WATER_SUPPLY, True),
        (Source.MANUAL, Category.COMPLAINT, True),
        (Source.MANUAL, Category.WATER_SUPPLY, False),
        (Source.ALARM, Category.WATER_SUPPLY, False),
    ],
)
def test_scores_are_required_where_a_resident_is_behind_the_order(
    db: Database,
    site: Site,
    clock: ManualClock,
    source: Source,
    category: Category,
    required: bool,
) -> None:
    wo_id = _closed(db, site, clock, source=source, category=category)
    if not required:
        _revisit(db, site, clock, wo_id, None)
        [row] = _rows(db, wo_id)
        assert (row.response, row.via, row.outcome) == (None, None, "closed")
        return
    with pytest.raises(InvalidRevisit) as refused:
        _revisit(db, site, clock, wo_id, None)
    assert list(refused.value.fields) == ["revisit"]
    with db.session() as s:
        assert get_work_order(s, wo_id).status == "closed"
    assert _rows(db, wo_id) == []


@pytest.mark.parametrize(("field", "value"), [("response", 0), ("quality", 6), ("attitude", -1)])
def test_a_score_outside_1_to_5_is_refused_by_name_and_nothing_is_kept(
    db: Database, site: Site, clock: ManualClock, field: str, value: int
) -> None:
    wo_id = _closed(db, site, clock)
    scores = {"response": 4, "quality": 4, "attitude": 4, field: value}
    with db.session() as s:
        steps = s.scalar(select(func.count()).select_from(Notification))
    with pytest.raises(InvalidRevisit) as refused:
        _revisit(
            db,
            site,
            clock,
            wo_id,
            RevisitScores(scores["response"], scores["quality"], scores["attitude"], Via.PHONE),
        )
    assert list(refused.value.fields) == [f"revisit.{field}"]
    with db.session() as s:
        wo = get_work_order(s, wo_id)
        assert (wo.status, wo.revisited_at) == ("closed", None)
        assert s.scalar(select(func.count()).select_from(Notification)) == steps
    assert _rows(db, wo_id) == []


def test_an_unsatisfied_quality_reopens_the_order_and_tells_the_supervisor_once(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _closed(db, site, clock)
    with db.session() as s:
        due_before = get_work_order(s, wo_id).revisit_due
    _revisit(db, site, clock, wo_id, _scores(4, 2, 4, c="还是漏水"))
    with db.session() as s:
        wo = get_work_order(s, wo_id)
        assert (wo.status, wo.reopen_count, wo.revisit_due, wo.revisited_at) == (
            "reopened",
            1,
            None,
            None,
        )
        steps = [(t.from_status, t.to_status) for t in wo.transitions[-2:]]
        assert steps == [("closed", "revisited"), ("revisited", "reopened")]
        assert wo.transitions[-1].note == "回访不满意（维修质量 2 分）：还是漏水"
        assert wo.resolve_due is not None and wo.resolve_due > clock.now()
    [row] = _rows(db, wo_id)
    assert (row.round, row.quality, row.outcome, row.due_at) == (0, 2, "reopened", due_before)
    [told] = _unsatisfied(db)
    assert told.recipient == "zhou-zg"  # zone-a's supervisor
    assert told.work_order_id == wo_id and told.dedup_key == f"revisit:{wo_id}:0"
    assert "维修质量 2 分" in told.message and "已重新打开返修" in told.message
    assert told.payload["scores"] == {"response": 4, "quality": 2, "attitude": 4}


def test_the_reopened_order_is_revisited_again_in_its_next_round(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _closed(db, site, clock)
    _revisit(db, site, clock, wo_id, _scores(3, 1, 3))
    for to in (Status.DISPATCHED, *TO_CLOSED):
        clock.advance(1800)
        with db.session() as s:
            transition(s, site.spec, wo_id, to, actor="wang-gong", now=clock.now())
    _revisit(db, site, clock, wo_id, _scores(5, 5, 4))
    rows = sorted(_rows(db, wo_id), key=lambda r: r.round)
    assert [(r.round, r.outcome) for r in rows] == [(0, "reopened"), (1, "closed")]
    assert len(_unsatisfied(db)) == 1
    with db.session() as s:
        assert get_work_order(s, wo_id).status == "revisited"


def test_an_unsatisfied_attitude_with_a_sound_repair_opens_a_complaint_for_customer_service(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _closed(db, site, clock)
    _revisit(db, site, clock, wo_id, _scores(4, 5, 1, c="态度差"))
    with db.session() as s:
        wo = get_work_order(s, wo_id)
        assert (wo.status, wo.reopen_count) == ("revisited", 0)  # not counted as rework
        [follow] = s.scalars(select(WorkOrder).where(WorkOrder.id != wo_id)).all()
        assert (follow.category, follow.priority, follow.status) == (
            "complaint",
            "general",
            "dispatched",
        )
        assert follow.assignee == "chen-kf"  # zone-a's customer service, not the technician
        assert follow.details["follow_up_of"] == wo_id
        assert follow.zone_code == wo.zone_code and follow.asset_id == wo.asset_id
        assert "服务态度 1 分" in follow.description and "态度差" in follow.description
        assert wo.transitions[-1].note == f"回访不满意（服务态度 1 分），已开跟进工单 {follow.code}"
        [view] = revisits_of(s, wo_id, site.spec)
    assert (view.outcome, view.follow_up_id, view.follow_up_code) == (
        "follow_up",
        follow.id,
        follow.code,
    )
    [told] = _unsatisfied(db)
    assert told.recipient == "zhou-zg" and told.payload["follow_up"] == follow.code


def test_a_plans_order_with_poor_work_gets_a_follow_up_repair_not_a_reopening(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _closed(db, site, clock, source=Source.PLAN)
    _revisit(db, site, clock, wo_id, _scores(4, 2, 4))
    with db.session() as s:
        assert get_work_order(s, wo_id).status == "revisited"
        [follow] = s.scalars(select(WorkOrder).where(WorkOrder.id != wo_id)).all()
        assert (follow.category, follow.source) == ("water_supply", "manual")
        assert follow.assignee == "wang-gong"  # a repair: the zone's technician
    assert len(_unsatisfied(db)) == 1


def test_a_score_of_3_closes_the_loop_without_counting_as_satisfied(
    db: Database, site: Site, clock: ManualClock
) -> None:
    wo_id = _closed(db, site, clock)
    _revisit(db, site, clock, wo_id, _scores(3, 4, 5))
    with db.session() as s:
        [view] = revisits_of(s, wo_id, site.spec)
        assert get_work_order(s, wo_id).status == "revisited"
    assert (view.satisfied, view.unsatisfied, view.outcome) == (False, False, "closed")
    assert _unsatisfied(db) == []


def test_scores_go_with_the_revisit_only(db: Database, site: Site, clock: ManualClock) -> None:
    wo_id = _closed(db, site, clock)
    with db.session() as s, pytest.raises(InvalidRevisit) as refused:
        transition(
            s,
            site.spec,
            wo_id,
            Status.REOPENED,
            actor="chen-kf",
            now=clock.now(),
            note="住户来电",
            revisit=_scores(),
        )
    assert list(refused.value.fields) == ["revisit"]


def test_a_late_revisit_is_kept_as_late(db: Database, site: Site, clock: ManualClock) -> None:
    wo_id = _closed(db, site, clock)
    with db.session() as s:
        due = get_work_order(s, wo_id).revisit_due
    assert due is not None
    clock.set(due + timedelta(minutes=1))
    _revisit(db, site, clock, wo_id, _scores())
    with db.session() as s:
        [view] = revisits_of(s, wo_id, site.spec)
    assert view.on_time is False and view.due_at == due
