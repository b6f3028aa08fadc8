"""计划保养完成率: PM compliance, the planned share and the backlog in the monthly report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from maintenance.db import Database
from maintenance.reports import monthly_report
from maintenance.work_orders.models import Source, Status
from maintenance.work_orders.service import NewWorkOrder, create_work_order, transition
from propwatch.site import Category, Priority, Site

TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ).astimezone(UTC)


def _order(
    db: Database,
    site: Site,
    key: str,
    *,
    source: Source = Source.PLAN,
    deadline: datetime | None = None,
    done: datetime | None = None,
    cancelled: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    with db.session() as s:
        wo, _ = create_work_order(
            s,
            site.spec,
            NewWorkOrder(
                site_id=site.id,
                source=source,
                source_key=key,
                category=Category.WATER_SUPPLY,
                priority=Priority.GENERAL,
                title=f"工单 {key}",
                reported_at=at(1),
                asset_code="pump-1",
                assignee="wang-gong",
                details=details or {},
            ),
            at(1),
            actor="test",
        )
        if deadline is not None:
            wo.resolve_due = deadline
        order_id = wo.id
    if done is not None:
        with db.session() as s:
            for to in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
                transition(s, site.spec, order_id, to, actor="wang-gong", now=done)
    if cancelled is not None:
        with db.session() as s:
            transition(
                s,
                site.spec,
                order_id,
                Status.CANCELLED,
                actor="zhou-zg",
                now=cancelled,
                note="改期",
            )


def test_pm_compliance_planned_share_and_backlog_by_hand(db: Database, site: Site) -> None:
    hours = {"estimated_hours": 1.5}
    _order(db, site, "A", deadline=at(10), done=at(9), details=hours)  # on time
    _order(db, site, "B", deadline=at(12), done=at(14), details=hours)  # late
    _order(db, site, "C", deadline=at(20), details=hours)  # open past its deadline: late
    _order(db, site, "D", deadline=at(28), details={"estimated_hours": 3.0})  # not due yet
    _order(db, site, "E", deadline=at(5), cancelled=at(4))  # cancelled: not counted
    _order(db, site, "F", done=at(15), details={"follow_up_of": 1})  # corrective
    _order(db, site, "G", source=Source.MANUAL, done=at(16))
    _order(db, site, "H", source=Source.MANUAL)  # open corrective: 2 h of backlog
    _order(db, site, "I", deadline=at(3, month=12), details=hours)  # due next month
    with db.session() as s:
        pm = monthly_report(s, site.spec, 2026, 11, at(25)).pm
    # due and decided: A, B, C; on time: A
    assert (pm.due, pm.on_time, pm.late, pm.rate) == (3, 1, 2, round(1 / 3, 4))
    # resolved in November: A, B (planned), F, G
    assert (pm.planned_resolved, pm.resolved, pm.planned_share) == (2, 4, 0.5)
    # open on 25 Nov: C 1.5 h, D 3 h, H 2 h, I 1.5 h = 8 h, two technicians of 8 h
    technicians = sum(1 for p in site.spec.people if p.role.value == "technician")
    assert (pm.backlog_orders, pm.backlog_hours, pm.technicians) == (4, 8.0, technicians)
    assert pm.backlog_days == round(8.0 / (technicians * 8), 2)


def test_a_month_without_plan_work_has_no_rate(db: Database, site: Site) -> None:
    with db.session() as s:
        pm = monthly_report(s, site.spec, 2026, 11, at(25)).pm
    assert (pm.due, pm.rate, pm.planned_share, pm.backlog_hours) == (0, None, None, 0.0)
