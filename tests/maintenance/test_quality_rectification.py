"""巡查发现 → 整改: responsibility by zone, deadlines on the working-day calendar, the lifecycle
with its audit trail, the 督促 ladder on an injected clock, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from maintenance.db import Database
from maintenance.errors import InvalidRequest, UnknownReference
from maintenance.notifications import notifications_after
from maintenance.quality.errors import IllegalRectificationStep
from maintenance.quality.escalation import escalate_overdue_rectifications, escalations_of
from maintenance.quality.models import RectificationStatus
from maintenance.quality.service import (
    NewFinding,
    accountability,
    get_rectification,
    open_work_order,
    record_finding,
    transition,
)
from maintenance.work_orders.service import get_work_order
from propwatch.clock import ManualClock
from propwatch.quality import FindingSeverity
from propwatch.site import Site

SHANGHAI = ZoneInfo("Asia/Shanghai")
S = RectificationStatus


def _finding(
    db: Database,
    site: Site,
    clock: ManualClock,
    severity: FindingSeverity = FindingSeverity.GENERAL,
    **where: str,
) -> int:
    where = where or {"place": "lobby-1"}
    with db.session() as s:
        rect = record_finding(
            s,
            site.spec,
            NewFinding(
                site_id=site.id,
                type_id=where.pop("type", "cleaning"),
                severity=severity,
                reported_by="zhou-zg",
                note="大堂地面有积水和垃圾",
                photos=["quality/finding/a.jpg"],
                **where,  # type: ignore[arg-type]
            ),
            clock.now(),
        )
        return rect.id


def _step(
    db: Database,
    site: Site,
    clock: ManualClock,
    rect_id: int,
    to: RectificationStatus,
    actor: str,
    **kw: object,
) -> None:
    with db.session() as s:
        rect = get_rectification(s, rect_id, lock=True)
        transition(s, site.spec, rect, to, actor=actor, now=clock.now(), **kw)  # type: ignore[arg-type]


def test_a_finding_goes_to_the_department_of_the_places_zone(
    db: Database, site: Site, clock: ManualClock
) -> None:
    cleaning = _finding(db, site, clock, place="lobby-1")
    broken = _finding(db, site, clock, type="facility", asset="door-north")
    blocked = _finding(db, site, clock, type="fire-safety", building="3栋", floor="5")
    with db.session() as s:
        got = {
            r: (x.zone_code, x.department, x.assignee, x.status)
            for r in (cleaning, broken, blocked)
            for x in [get_rectification(s, r)]
        }
    assert got == {
        cleaning: ("zone-a", "service", "chen-kf", "issued"),
        broken: ("zone-b", "engineering", "li-shifu", "issued"),
        blocked: ("zone-b", "security", "zhao-ba", "issued"),
    }
    with db.session() as s:
        [issued, *_] = notifications_after(s, topic="rectification.issued")
    assert issued.recipient == "chen-kf"
    assert issued.message == ("整改通知【一般】1栋大堂：环境卫生，客服部请于 11月26日 23:59 前完成")


def test_deadlines_follow_the_severity_table_across_national_day(
    db: Database, site: Site, clock: ManualClock
) -> None:
    # 2026-09-30 (Wednesday) 10:00; 国庆 1-7 October off, Saturday 10 October a 调休 working day
    clock = ManualClock(datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI).astimezone(UTC))
    ids = {sev: _finding(db, site, clock, sev) for sev in FindingSeverity}
    with db.session() as s:
        due = {sev: get_rectification(s, i).deadline_at for sev, i in ids.items()}
    assert due == {
        FindingSeverity.EMERGENCY: datetime(2026, 9, 30, 14, 0, tzinfo=SHANGHAI),  # 4 h
        FindingSeverity.IMPORTANT: datetime(2026, 10, 8, 23, 59, 59, tzinfo=SHANGHAI),  # 1 wd
        FindingSeverity.GENERAL: datetime(2026, 10, 10, 23, 59, 59, tzinfo=SHANGHAI),  # 3 wd
    }


def test_the_lifecycle_is_audited_with_who_and_when_through_a_failed_recheck(
    db: Database, site: Site, clock: ManualClock
) -> None:
    r = _finding(db, site, clock)
    clock.advance(timedelta(minutes=30))
    _step(db, site, clock, r, S.IN_PROGRESS, "chen-kf")
    clock.advance(timedelta(hours=2))
    _step(db, site, clock, r, S.RECTIFIED, "chen-kf", note="已清扫", evidence=["q/after-1.jpg"])
    clock.advance(timedelta(hours=1))
    _step(db, site, clock, r, S.FAILED, "zhou-zg", note="墙角仍有垃圾")
    clock.advance(timedelta(hours=1))
    _step(db, site, clock, r, S.RECTIFIED, "chen-kf", note="已补扫", evidence=["q/after-2.jpg"])
    clock.advance(timedelta(hours=1))
    _step(db, site, clock, r, S.PASSED, "zhou-zg", note="复查合格")
    with db.session() as s:
        rect = get_rectification(s, r)
        trail = [
            (st.from_status, st.to_status, st.actor, st.at - rect.issued_at, st.attachments)
            for st in rect.steps
        ]
        final = (rect.status, rect.recheck_failures, rect.passed_at)
    h = timedelta(hours=1)
    assert trail == [
        (None, "issued", "zhou-zg", timedelta(0), ["quality/finding/a.jpg"]),
        ("issued", "in_progress", "chen-kf", h / 2, []),
        ("in_progress", "rectified", "chen-kf", 2.5 * h, ["q/after-1.jpg"]),
        ("rectified", "failed", "zhou-zg", 3.5 * h, []),
        ("in_progress", "rectified", "chen-kf", 4.5 * h, ["q/after-2.jpg"]),
        ("rectified", "passed", "zhou-zg", 5.5 * h, []),
    ]
    assert final == ("passed", 1, clock.now())


@pytest.mark.parametrize(
    ("steps", "to"),
    [
        ([], S.RECTIFIED),  # 下发 → 已整改 skips 整改中
        ([], S.PASSED),
        ([S.IN_PROGRESS], S.PASSED),  # 复查 before 已整改
        ([S.IN_PROGRESS], S.IN_PROGRESS),
    ],
)
def test_a_step_the_status_does_not_allow_is_a_conflict(
    db: Database,
    site: Site,
    clock: ManualClock,
    steps: list[RectificationStatus],
    to: RectificationStatus,
) -> None:
    r = _finding(db, site, clock)
    for st in steps:
        _step(db, site, clock, r, st, "chen-kf")
    with pytest.raises(IllegalRectificationStep):
        _step(db, site, clock, r, to, "zhou-zg", evidence=["q/x.jpg"], note="x")


def test_done_needs_evidence_a_failed_recheck_a_note_and_someone_else(
    db: Database, site: Site, clock: ManualClock
) -> None:
    r = _finding(db, site, clock)
    _step(db, site, clock, r, S.IN_PROGRESS, "chen-kf")
    with pytest.raises(InvalidRequest, match="照片"):
        _step(db, site, clock, r, S.RECTIFIED, "chen-kf", note="已清扫")
    _step(db, site, clock, r, S.RECTIFIED, "chen-kf", evidence=["q/after.jpg"])
    with pytest.raises(InvalidRequest, match="写明"):
        _step(db, site, clock, r, S.FAILED, "zhou-zg")
    with pytest.raises(IllegalRectificationStep, match="整改人以外"):
        _step(db, site, clock, r, S.PASSED, "chen-kf")
    with db.session() as s:
        assert get_rectification(s, r).status == "rectified"


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ({"place": "lobby-9"}, "place"),
        ({"asset": "pump-9"}, "asset"),
        ({"building": "9栋"}, "building"),
        ({"place": "lobby-1", "type": "noise"}, "type"),
    ],
)
def test_an_unknown_place_or_type_is_refused_by_field(
    db: Database, site: Site, clock: ManualClock, where: dict[str, str], field: str
) -> None:
    with pytest.raises(UnknownReference) as refused:
        _finding(db, site, clock, **where)
    assert list(refused.value.fields) == [field]


def test_a_finding_names_exactly_one_place(db: Database, site: Site, clock: ManualClock) -> None:
    with pytest.raises(InvalidRequest, match="三选一"):
        _finding(db, site, clock, place="lobby-1", building="1栋")


def test_an_overdue_rectification_climbs_the_ladder_once_per_rung(
    db: Database, site: Site, clock: ManualClock
) -> None:
    r = _finding(db, site, clock, FindingSeverity.EMERGENCY, type="facility", asset="pump-1")

    def run() -> list[str]:
        with db.session() as s:
            return [e.step_id for e in escalate_overdue_rectifications(s, site.spec, clock.now())]

    clock.advance(timedelta(hours=3, minutes=11))  # 79 % of 4 h
    assert run() == []
    clock.advance(timedelta(minutes=1))
    assert run() == ["warn"]
    clock.advance(timedelta(minutes=48))  # the deadline
    assert run() == ["breach"]
    assert run() == []
    clock.advance(timedelta(hours=4))  # twice the span from issue
    assert run() == ["breach-duty"]
    clock.advance(timedelta(days=2))
    assert run() == []
    with db.session() as s:
        told = [
            (n.payload["step"], n.recipient, n.message)
            for n in notifications_after(s, topic="rectification.escalated")
        ]
        assert [e.step_id for e in escalations_of(s, r)] == ["warn", "breach", "breach-duty"]
    assert [(step, who) for step, who, _ in told] == [
        ("warn", "wang-gong"),
        ("breach", "zhou-zg"),
        ("breach-duty", None),
    ]
    assert told[1][2] == (
        f"整改单 {r}【已下发】已超过整改期限（11月23日 14:00）：1号生活水泵，责任人 王工"
    )


def test_a_rectification_reported_done_does_not_escalate(
    db: Database, site: Site, clock: ManualClock
) -> None:
    r = _finding(db, site, clock, FindingSeverity.EMERGENCY)
    _step(db, site, clock, r, S.IN_PROGRESS, "chen-kf")
    _step(db, site, clock, r, S.RECTIFIED, "chen-kf", evidence=["q/after.jpg"])
    clock.advance(timedelta(hours=10))
    with db.session() as s:
        assert escalate_overdue_rectifications(s, site.spec, clock.now()) == []


def test_overdue_and_late_work_is_counted_per_person_and_department(
    db: Database, site: Site, clock: ManualClock
) -> None:
    late = _finding(db, site, clock, FindingSeverity.EMERGENCY)  # chen-kf, 4 h
    _finding(db, site, clock, FindingSeverity.GENERAL)  # chen-kf, 3 wd: not yet due
    _finding(db, site, clock, FindingSeverity.EMERGENCY, type="facility", asset="pump-1")
    clock.advance(timedelta(hours=5))
    _step(db, site, clock, late, S.IN_PROGRESS, "chen-kf")
    _step(db, site, clock, late, S.RECTIFIED, "chen-kf", evidence=["q/after.jpg"])
    _step(db, site, clock, late, S.PASSED, "zhou-zg")
    with db.session() as s:
        departments, people = accountability(s, site.spec, site.id, clock.now())
    by_dept = {d.key: (d.open, d.overdue, d.passed, d.passed_late) for d in departments}
    by_person = {p.name: (p.open, p.overdue, p.passed, p.passed_late) for p in people}
    assert by_dept == {
        "engineering": (1, 1, 0, 0),
        "security": (0, 0, 0, 0),
        "service": (1, 0, 1, 1),
    }
    assert by_person == {"王工": (1, 1, 0, 0), "陈客服": (1, 0, 1, 1)}


def test_repair_work_opens_one_work_order_of_the_same_grade(
    db: Database, site: Site, clock: ManualClock
) -> None:
    r = _finding(db, site, clock, FindingSeverity.IMPORTANT, type="facility", asset="lift-1-1")
    with db.session() as s:
        rect = get_rectification(s, r, lock=True)
        first = open_work_order(s, site.spec, rect, actor="zhou-zg", now=clock.now()).id
        again = open_work_order(s, site.spec, rect, actor="zhou-zg", now=clock.now()).id
    with db.session() as s:
        wo = get_work_order(s, first)
        rect = get_rectification(s, r)
        assert (wo.priority, wo.category, wo.zone_code, wo.assignee) == (
            "important",
            "elevator",
            "zone-a",
            "wang-gong",
        )
        assert wo.title == "整改维修：1栋1号电梯 设施设备损坏"
        assert rect.work_order_id == first == again
        assert [st.to_status for st in rect.steps] == ["issued", "work_order"]
        assert rect.steps[-1].note == f"开维修工单 {wo.code}"
