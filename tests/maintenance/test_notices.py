"""公告栏: notices for planned work that takes equipment out of service."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from maintenance.db import Database
from maintenance.notices import notices_to_post, resident_notices
from propwatch.site import Site
from tests.maintenance.plan_sites import plan_site

TZ = ZoneInfo("Asia/Shanghai")


def _site(tmp_path: Path) -> Site:
    assets = [
        {
            "id": "lift-1",
            "name": "1栋1号电梯",
            "kind": "elevator",
            "zone": "zone-a",
            "building": "1栋",
        },
        {
            "id": "pump-1",
            "name": "1号生活水泵",
            "kind": "water_pump",
            "zone": "zone-a",
            "building": "1栋",
        },
    ]
    plans = [
        {"id": "lift-quarterly", "template": "elevator-quarterly"},
        {"id": "tank", "template": "water-tank-cleaning"},
        {"id": "patrol", "template": "elevator-daily-patrol"},
    ]
    return plan_site(tmp_path, assets, plans)


def at(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=TZ).astimezone(UTC)


def test_an_elevator_maintenance_window_gets_a_notice_with_its_hours(
    tmp_path: Path, db: Database
) -> None:
    site = _site(tmp_path)
    with db.session() as s:
        notices = resident_notices(s, site, at(2026, 7, 1, 12))
    (lift,) = [n for n in notices if n.plan_id == "lift-quarterly"]
    assert lift.title == "停梯保养通知" and lift.post_on == date(2026, 7, 8)
    assert "2026年07月10日（星期五）09:00至13:00对1栋1号电梯进行电梯季度维护保养" in lift.text
    assert lift.text.startswith("【停梯保养通知】\n尊敬的各位业主、住户：")
    assert lift.text.endswith("和谐花园物业服务中心\n2026年07月08日")


def test_a_water_tank_cleaning_announces_the_interruption_for_its_area(
    tmp_path: Path, db: Database
) -> None:
    site = _site(tmp_path)
    with db.session() as s:
        notices = resident_notices(s, site, at(2026, 7, 10, 12))
    (water,) = [n for n in notices if n.kind == "water_supply"]
    assert water.title == "停水通知"
    assert "暂停A区1栋的生活用水供应" in water.text and "请您提前做好储水准备" in water.text


def test_work_that_keeps_equipment_in_service_gets_no_notice(tmp_path: Path, db: Database) -> None:
    site = _site(tmp_path)
    with db.session() as s:
        notices = resident_notices(s, site, at(2026, 7, 1, 12))
    assert all(n.plan_id != "patrol" for n in notices)


def test_a_notice_is_posted_only_from_its_posting_day(tmp_path: Path, db: Database) -> None:
    site = _site(tmp_path)
    with db.session() as s:
        early = notices_to_post(s, site, at(2026, 7, 7, 12))
        due = notices_to_post(s, site, at(2026, 7, 8, 8))
    assert [n.plan_id for n in early] == []
    assert [n.plan_id for n in due] == ["lift-quarterly"]
