"""法定检验: defaults by kind, reminders, the prepare order, overdue escalation, results."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from maintenance.db import Database
from maintenance.notifications import Notification
from maintenance.plans.service import materialize_due
from maintenance.registry.service import sync_registry
from maintenance.reports import daily_stocktake
from maintenance.statutory.models import StatutoryRecord
from maintenance.statutory.service import (
    InspectionResult,
    InvalidInspection,
    add_months,
    inspection_pass,
    inspection_statuses,
    record_inspection,
)
from maintenance.work_orders.models import WorkOrder
from propwatch.site import Role, Site
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, m, d, hour, tzinfo=TZ).astimezone(UTC)


def _site(db: Database, tmp_path: Path, **extra: Any) -> Site:
    assets = (
        fleet("elevator", 1, "zone-a", "1栋", "lift")
        + fleet("fire_pump", 1, "zone-a", "水泵房", "fire")
        + fleet("water_pump", 1, "zone-a", "水泵房", "pump")
    )
    site = plan_site(tmp_path, assets, [], **extra)
    with db.session() as s:
        sync_registry(s, site, at(2025, 12, 1))
    return site


def _lift_passed(db: Database, site: Site, on: date, cert: str, now: datetime) -> None:
    with db.session() as s:
        record_inspection(
            s,
            site,
            InspectionResult("lift-1", "elevator-periodic", on, True, cert, agency="市特检院"),
            by="wang-gong",
            now=now,
        )


def _notes(db: Database, topic: str) -> list[Notification]:
    with db.session() as s:
        return list(s.scalars(select(Notification).where(Notification.topic == topic)))


def _pass(db: Database, site: Site, now: datetime) -> tuple[int, int, int]:
    with db.session() as s:
        p = inspection_pass(s, site, now)
    return p.reminders, p.orders, p.overdue


def test_each_kind_gets_its_statutory_inspections_by_default(db: Database, tmp_path: Path) -> None:
    site = _site(db, tmp_path)
    with db.session() as s:
        rows = inspection_statuses(s, site, date(2026, 1, 5))
    assert {(r.asset, r.type, r.state_zh) for r in rows} == {
        ("lift-1", "elevator-periodic", "未登记"),
        ("fire-1", "fire-annual", "未登记"),
    }
    assert all(r.next_due is None for r in rows)


def test_the_site_file_replaces_turns_off_and_adds_inspections(
    db: Database, tmp_path: Path
) -> None:
    site = _site(
        db,
        tmp_path,
        statutory_inspections={
            "types": [
                {"id": "fire-annual", "name": "消防设施年度检测", "enabled": False},
                {"id": "lightning", "name": "防雷装置检测", "assets": ["pump-1"]},
                {
                    "id": "pump-meter",
                    "name": "水表检定",
                    "kinds": ["water_pump"],
                    "interval_months": 6,
                },
            ]
        },
    )
    with db.session() as s:
        rows = inspection_statuses(s, site, date(2026, 1, 5))
    assert sorted((r.asset, r.type, r.interval_months) for r in rows) == [
        ("lift-1", "elevator-periodic", 12),
        ("pump-1", "lightning", 12),
        ("pump-1", "pump-meter", 6),
    ]


def test_a_year_round_reminder_prepare_order_overdue_and_new_result(
    db: Database, tmp_path: Path
) -> None:
    site = _site(db, tmp_path)
    _lift_passed(db, site, date(2025, 12, 20), "TS7110-2025-001", at(2025, 12, 20))
    with db.session() as s:
        [lift] = inspection_statuses(s, site, date(2026, 11, 10), "lift-1")
    assert (lift.next_due, lift.days_left, lift.state) == (date(2026, 12, 20), 40, "ok")
    assert lift.certificate_no == "TS7110-2025-001"

    assert _pass(db, site, at(2026, 11, 19)) == (0, 0, 0)  # 31 days ahead: nothing yet
    assert _pass(db, site, at(2026, 11, 20)) == (1, 0, 0)  # 30 days: the reminder
    assert _pass(db, site, at(2026, 11, 21)) == (0, 0, 0)  # once
    [reminder] = _notes(db, "statutory.due_soon")
    assert reminder.recipient == site.spec.zone("zone-a").supervisor
    assert "1号" in reminder.message and "12月20日" in reminder.message
    assert "还剩 30 天" in reminder.message

    assert _pass(db, site, at(2026, 12, 5)) == (0, 0, 0)
    assert _pass(db, site, at(2026, 12, 6)) == (0, 1, 0)  # 14 days: the prepare order
    assert _pass(db, site, at(2026, 12, 7)) == (0, 0, 0)
    with db.session() as s:
        [lift] = inspection_statuses(s, site, date(2026, 12, 6), "lift-1")
        wo = s.get(WorkOrder, lift.work_order_id)
        assert wo is not None
        assert wo.title == "法定检验准备与陪同：lift 1号 电梯定期检验"
        assert wo.resolve_due == at(2026, 12, 20, 17)
        assert wo.priority == "important"
        stocktake = daily_stocktake(s, site.spec, at(2026, 12, 6))
    assert lift.state == "preparing"
    assert wo.id in [i.id for i in stocktake.items]

    assert _pass(db, site, at(2026, 12, 20, 23)) == (0, 0, 0)  # due today: not overdue yet
    supervisors = {p.id for p in site.spec.people if p.role is Role.SUPERVISOR}
    assert _pass(db, site, at(2026, 12, 21)) == (0, 0, 1)
    assert _pass(db, site, at(2026, 12, 22)) == (0, 0, 0)
    overdue = _notes(db, "statutory.overdue")
    assert {n.recipient for n in overdue} == supervisors and len(overdue) == len(supervisors)
    assert "已超期 1 天" in overdue[0].message and "特种设备" in overdue[0].message
    with db.session() as s:
        wo = s.get(WorkOrder, lift.work_order_id)
        assert wo is not None and (wo.priority, wo.priority_raised_from) == (
            "emergency",
            "important",
        )

    _lift_passed(db, site, date(2026, 12, 22), "TS7110-2026-077", at(2026, 12, 22, 15))
    with db.session() as s:
        [lift] = inspection_statuses(s, site, date(2026, 12, 23), "lift-1")
    assert (lift.next_due, lift.state, lift.certificate_no) == (
        date(2027, 12, 22),
        "ok",
        "TS7110-2026-077",
    )
    assert _pass(db, site, at(2026, 12, 23)) == (0, 0, 0)


def test_the_plan_pass_runs_the_inspections_too(db: Database, tmp_path: Path) -> None:
    site = _site(db, tmp_path)
    _lift_passed(db, site, date(2025, 12, 20), "TS-1", at(2025, 12, 20))
    with db.session() as s:
        result = materialize_due(s, site, at(2026, 12, 10))
    assert (result.statutory.reminders, result.statutory.orders) == (1, 1)


def test_a_failed_inspection_is_due_again_in_a_month_and_the_certificate_sets_the_due_date(
    db: Database, tmp_path: Path
) -> None:
    site = _site(db, tmp_path)
    with db.session() as s:
        failed = record_inspection(
            s,
            site,
            InspectionResult(
                "fire-1", "fire-annual", date(2026, 3, 1), False, note="喷淋末端压力不足"
            ),
            by="wang-gong",
            now=at(2026, 3, 2),
        )
        assert (failed.state, failed.next_due) == ("failed", date(2026, 3, 31))
        cert = record_inspection(
            s,
            site,
            InspectionResult(
                "fire-1", "fire-annual", date(2026, 3, 20), True, "XF-9", date(2027, 3, 1)
            ),
            by="wang-gong",
            now=at(2026, 3, 20),
        )
    assert (cert.state, cert.next_due, cert.certificate_expiry) == (
        "ok",
        date(2027, 3, 1),
        date(2027, 3, 1),
    )


@pytest.mark.parametrize(
    ("result", "field"),
    [
        (InspectionResult("nope", "elevator-periodic", date(2026, 3, 1), True, "C"), "asset"),
        (InspectionResult("pump-1", "elevator-periodic", date(2026, 3, 1), True, "C"), "type"),
        (
            InspectionResult("lift-1", "elevator-periodic", date(2026, 3, 9), True, "C"),
            "inspected_on",
        ),
        (InspectionResult("lift-1", "elevator-periodic", date(2026, 3, 1), True), "certificate_no"),
        (
            InspectionResult("lift-1", "elevator-periodic", date(2026, 3, 1), False, "C"),
            "certificate_no",
        ),
        (
            InspectionResult(
                "lift-1", "elevator-periodic", date(2026, 3, 1), True, "C", date(2026, 2, 1)
            ),
            "certificate_expiry",
        ),
        (
            InspectionResult(
                "lift-1",
                "elevator-periodic",
                date(2026, 3, 1),
                True,
                "C",
                next_due=date(2026, 3, 1),
            ),
            "next_due",
        ),
    ],
)
def test_a_bad_result_names_its_field_and_keeps_nothing(
    db: Database, tmp_path: Path, result: InspectionResult, field: str
) -> None:
    site = _site(db, tmp_path)
    with db.session() as s, pytest.raises(InvalidInspection) as err:
        record_inspection(s, site, result, by="wang-gong", now=at(2026, 3, 2))
    assert err.value.en.startswith(f"{field}:")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(StatutoryRecord)) == 0


def test_add_months_keeps_the_day_or_takes_the_months_last() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 11, 15), 36) == date(2029, 11, 15)
