"""Plans become work orders exactly once, on the Chinese working-day calendar."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from sqlalchemy import func, select, update

from maintenance.db import Database
from maintenance.notifications import Notification
from maintenance.plans.library import template_library, templates_for_kind
from maintenance.plans.service import materialize_due
from maintenance.registry.models import Asset as AssetRow
from maintenance.registry.service import sync_registry
from maintenance.work_orders.models import Source, WorkOrder
from propwatch.config_file import ConfigError
from propwatch.site import Site
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")
NEW_YEAR = datetime(2026, 1, 1, tzinfo=TZ).astimezone(UTC)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def loaded(db: Database, site: Site, at: datetime) -> Site:
    with db.session() as s:
        sync_registry(s, site, at)
    return site


def plan_orders(db: Database, plan_id: str | None = None) -> list[WorkOrder]:
    with db.session() as s:
        rows = list(s.scalars(select(WorkOrder).where(WorkOrder.source == Source.PLAN)))
    return [w for w in rows if plan_id is None or w.details.get("plan_id") == plan_id]


def run(db: Database, site: Site, at: datetime, **kw: Any) -> int:
    with db.session() as s:
        return materialize_due(s, site, at, **kw).total


def test_the_library_has_the_four_tsg_t5002_elevator_schedules_with_their_items() -> None:
    lib = template_library()
    items = {
        t: len(lib[t].checklist or []) for t in lib if t.startswith("elevator-") and lib[t].rrule
    }
    assert items["elevator-half-monthly"] == 31
    assert items["elevator-quarterly"] == 12
    assert items["elevator-half-yearly"] == 15
    assert items["elevator-yearly"] == 16


def test_every_kind_of_public_facility_has_templates() -> None:
    for kind in ("elevator", "water_pump", "fire_pump", "lighting_panel", "access_controller"):
        assert templates_for_kind(kind), kind


def _year_site(tmp_path: Path) -> Site:
    assets = (
        fleet("elevator", 1, "zone-a", "1栋", "lift")
        + fleet("water_pump", 10, "zone-a", "水泵房", "pump")
        + fleet("fire_pump", 4, "zone-a", "水泵房", "fire")
        + fleet("lighting_circuit", 10, "zone-a", "1栋", "light-a")
        + fleet("lighting_circuit", 90, "zone-b", "3栋", "light-b")
        + fleet("access_controller", 75, "zone-a", "2栋", "door-a")
        + fleet("access_controller", 10, "zone-b", "北门", "door-b")
    )
    assert len(assets) == 200
    elevator = [t.id for t in templates_for_kind("elevator") if t.meter is None]
    plans: list[dict[str, Any]] = [{"id": t, "template": t} for t in elevator]
    plans += [
        {"id": "water-pump-monthly", "template": "water-pump-monthly"},
        {"id": "water-tank-cleaning", "template": "water-tank-cleaning"},
        {"id": "fire-pump-monthly", "template": "fire-pump-monthly"},
        {
            "id": "fire-pump-weekly-run",
            "name": "消防泵周试车",
            "targets": {"assets": ["fire-1", "fire-2"]},
            "cron": "0 10 * * 2",
            "non_working_day": "skip",
            "checklist": [{"id": "run", "text": "低频巡检试运行正常"}],
            "category": "fire",
        },
        {
            "id": "lighting-monthly",
            "template": "lighting-circuit-monthly",
            "targets": {"buildings": ["1栋"]},
        },
        {
            "id": "lighting-30d",
            "name": "庭院灯灯具清洁",
            "targets": {"assets": [f"light-b-{i}" for i in range(1, 6)]},
            "every": "30d",
            "checklist": [{"id": "clean", "text": "灯罩清洁，无积水"}],
        },
        {
            "id": "door-b-monthly",
            "template": "access-controller-monthly",
            "targets": {"zones": ["zone-b"]},
            "non_working_day": "skip",
        },
    ]
    return plan_site(tmp_path, assets, plans)


def _working_days(days: list[date]) -> int:
    return sum(1 for d in days if chinese_calendar.is_workday(d))


def test_a_year_of_plans_for_200_assets_gives_exact_counts_per_template(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/year.db")
    db.create_all()
    site = loaded(db, _year_site(tmp_path), NEW_YEAR)
    at = NEW_YEAR
    while at < local(2027, 1, 1):
        run(db, site, at)
        at += timedelta(days=3)  # passes every third day: each one also catches up
    run(db, site, local(2027, 1, 1))

    counts = Counter(str(w.details["plan_id"]) for w in plan_orders(db))
    tuesdays = [date(2026, 1, 6) + timedelta(weeks=k) for k in range(52)]
    twelfths = [date(2026, m, 12) for m in range(1, 13)]
    assert dict(counts) == {
        "elevator-half-monthly": 26,  # every other Monday from 12 Jan
        "elevator-quarterly": 4,
        "elevator-half-yearly": 2,
        "elevator-yearly": 1,
        "elevator-daily-patrol": 730,  # twice a day, holidays included
        "elevator-weekly-disinfection": 52,
        "water-pump-monthly": 10 * 12,
        "water-tank-cleaning": 10 * 2,
        "fire-pump-monthly": 4 * 12,
        "fire-pump-weekly-run": 2 * _working_days(tuesdays),  # holidays skipped
        "lighting-monthly": 10 * 12,  # the circuits in 1栋 only
        "lighting-30d": 5 * 13,  # 1 Jan + 30 d ... 27 Dec
        "door-b-monthly": 10 * _working_days(twelfths),  # skipped on days off
    }
    assert _working_days(tuesdays) < 52 and _working_days(twelfths) < 12  # the calendar bites


def _due_days(db: Database, plan_id: str, asset: str) -> list[date]:
    return sorted(
        datetime.fromisoformat(str(w.details["due_at"])).astimezone(TZ).date()
        for w in plan_orders(db, plan_id)
        if w.title.endswith(asset)
    )


def test_next_working_day_policy_moves_holidays_to_the_first_working_day_after(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path}/p.db")
    db.create_all()
    site = loaded(
        db,
        plan_site(
            tmp_path,
            fleet("fire_pump", 1, "zone-a", prefix="fire"),
            [{"id": "fp", "template": "fire-pump-monthly"}],
        ),
        NEW_YEAR,
    )
    run(db, site, NEW_YEAR)
    run(db, site, local(2026, 12, 31, 23))
    days = _due_days(db, "fp", "fire 1号")
    assert date(2026, 1, 4) in days  # 元旦 1-3 Jan off, Sunday 4 Jan is a 调休 working day
    assert date(2026, 10, 8) in days  # 国庆 1-7 Oct off
    assert date(2026, 2, 2) in days and len(days) == 12


def test_previous_working_day_policy_moves_holidays_to_the_last_working_day_before(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path}/p.db")
    db.create_all()
    site = loaded(
        db,
        plan_site(
            tmp_path,
            fleet("fire_pump", 1, "zone-a", prefix="fire"),
            [{"id": "fp", "template": "fire-pump-monthly", "non_working_day": "previous"}],
        ),
        NEW_YEAR,
    )
    run(db, site, NEW_YEAR)
    run(db, site, local(2026, 12, 31, 23))
    days = _due_days(db, "fp", "fire 1号")
    assert date(2026, 1, 30) in days  # Sunday 1 Feb → Friday 30 Jan
    assert date(2026, 9, 30) in days  # 国庆 1 Oct → 30 Sep
    assert len(days) == 11  # 1 Jan would move to 31 Dec 2025, before the plan began


def test_half_monthly_elevator_maintenance_is_never_more_than_15_days_apart(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path}/p.db")
    db.create_all()
    site = loaded(
        db,
        plan_site(
            tmp_path,
            fleet("elevator", 1, "zone-a", prefix="lift"),
            [{"id": "hm", "template": "elevator-half-monthly"}],
        ),
        NEW_YEAR,
    )
    run(db, site, NEW_YEAR)
    run(db, site, local(2026, 12, 31, 23))
    days = _due_days(db, "hm", "lift 1号")
    assert date(2026, 2, 23) in days  # TSG T5002 keeps its interval through 春节
    assert max((b - a).days for a, b in pairwise(days)) <= 15


@pytest.fixture
def elevator_site(tmp_path: Path, db: Database) -> Site:
    return loaded(
        db,
        plan_site(
            tmp_path,
            fleet("elevator", 3, "zone-a", "1栋", "lift"),
            [{"id": "patrol", "template": "elevator-daily-patrol"}],
        ),
        NEW_YEAR,
    )


def test_a_replayed_pass_creates_nothing_more(db: Database, elevator_site: Site) -> None:
    run(db, elevator_site, NEW_YEAR)
    first = run(db, elevator_site, local(2026, 1, 3, 0))
    again = run(db, elevator_site, local(2026, 1, 3, 0))
    assert (first, again, len(plan_orders(db))) == (12, 0, 12)


def test_a_lost_cursor_cannot_duplicate_an_occurrence(db: Database, elevator_site: Site) -> None:
    from maintenance.plans.models import PlanCursor

    run(db, elevator_site, NEW_YEAR)
    run(db, elevator_site, local(2026, 1, 2, 0))
    with db.session() as s:
        s.execute(update(PlanCursor).values(through=NEW_YEAR))
    assert run(db, elevator_site, local(2026, 1, 2, 0)) == 0
    assert len(plan_orders(db)) == 6


def test_two_replicas_racing_create_each_occurrence_once(db: Database, elevator_site: Site) -> None:
    run(db, elevator_site, NEW_YEAR)
    other = Database(db.url)
    made: list[int] = []
    barrier = threading.Barrier(2)

    def replica(d: Database) -> None:
        barrier.wait()
        made.append(run(d, elevator_site, local(2026, 1, 5, 0)))

    threads = [threading.Thread(target=replica, args=(d,)) for d in (db, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.dispose()
    assert sum(made) == 24 and len(plan_orders(db)) == 24


def test_after_downtime_missed_occurrences_are_created_once_and_marked_late(
    db: Database, elevator_site: Site
) -> None:
    run(db, elevator_site, NEW_YEAR)
    run(db, elevator_site, local(2026, 1, 1, 9, 1))  # on time: 09:00 patrol
    created = run(db, elevator_site, local(2026, 1, 3, 12))  # down for two days
    orders = plan_orders(db)
    late = [w for w in orders if w.details["late"]]
    assert created == 3 * 4  # 1 Jan 16:00, 2 Jan 09:00 and 16:00, 3 Jan 09:00
    assert len(late) == 12 and all("补建" in w.description for w in late)
    assert run(db, elevator_site, local(2026, 1, 3, 12)) == 0


def test_a_late_occurrence_keeps_its_time_limit_from_when_it_was_due(
    db: Database, elevator_site: Site
) -> None:
    run(db, elevator_site, NEW_YEAR)
    run(db, elevator_site, local(2026, 1, 1, 20))
    wo = next(w for w in plan_orders(db) if str(w.details["due_at"]).startswith("2026-01-01T01"))
    assert wo.resolve_due == local(2026, 1, 1, 11)  # 09:00 + the patrol's 2 h


def test_a_new_plan_starts_now_instead_of_back_filling(db: Database, elevator_site: Site) -> None:
    assert run(db, elevator_site, local(2026, 6, 1, 12)) == 0
    assert run(db, elevator_site, local(2026, 6, 1, 16)) == 3


def test_a_plan_occurrence_carries_its_checklist_and_zone_staff(
    db: Database, elevator_site: Site
) -> None:
    run(db, elevator_site, NEW_YEAR)
    run(db, elevator_site, local(2026, 1, 1, 9))
    wo = plan_orders(db)[0]
    checklist = wo.details["checklist"]
    assert isinstance(checklist, list)
    assert [i["id"] for i in checklist][:2] == ["p-01", "p-02"]
    assert wo.assignee == "zhao-ba"  # the template's role is security: the zone's 保安
    assert wo.source_key.startswith("plan:hexie:patrol:lift-")


def _set_meter(db: Database, asset: str, value: float) -> None:
    with db.session() as s:
        row = s.scalar(select(AssetRow).where(AssetRow.code == asset))
        assert row is not None
        row.state = {"online": True, "values": {"run_hours": value}}


@pytest.fixture
def pump_site(tmp_path: Path, db: Database) -> Site:
    return loaded(
        db,
        plan_site(
            tmp_path,
            fleet("water_pump", 1, "zone-a", "水泵房", "pump"),
            [{"id": "run-hours", "template": "water-pump-run-hours"}],
        ),
        NEW_YEAR,
    )


def test_a_meter_plan_opens_one_order_when_run_hours_cross_the_next_threshold(
    db: Database, pump_site: Site
) -> None:
    _set_meter(db, "pump-1", 1990.0)
    assert run(db, pump_site, NEW_YEAR) == 0  # the first reading is the baseline
    _set_meter(db, "pump-1", 2000.5)
    assert run(db, pump_site, NEW_YEAR + timedelta(hours=1)) == 1
    assert run(db, pump_site, NEW_YEAR + timedelta(hours=2)) == 0
    _set_meter(db, "pump-1", 3999.0)
    assert run(db, pump_site, NEW_YEAR + timedelta(hours=3)) == 0
    _set_meter(db, "pump-1", 4000.0)
    assert run(db, pump_site, NEW_YEAR + timedelta(hours=4)) == 1
    assert [w.details["threshold"] for w in plan_orders(db)] == [2000.0, 4000.0]


def test_a_meter_that_jumps_two_thresholds_opens_one_order_naming_both(
    db: Database, pump_site: Site
) -> None:
    _set_meter(db, "pump-1", 100.0)
    run(db, pump_site, NEW_YEAR)
    _set_meter(db, "pump-1", 4100.0)
    run(db, pump_site, NEW_YEAR + timedelta(hours=1))
    (wo,) = plan_orders(db)
    assert wo.details["thresholds_crossed"] == [2000.0, 4000.0]


def test_a_warranty_reminder_is_sent_once_a_month_before_the_end(
    tmp_path: Path, db: Database
) -> None:
    assets = fleet("water_pump", 1, "zone-a", prefix="pump")
    assets[0]["warranty_end"] = "2026-03-31"
    site = loaded(db, plan_site(tmp_path, assets, []), NEW_YEAR)

    def reminders() -> int:
        with db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.topic == "asset.warranty_expiring")
                )
                or 0
            )

    run(db, site, local(2026, 2, 28, 10))
    before = reminders()
    run(db, site, local(2026, 3, 1, 10))
    run(db, site, local(2026, 3, 2, 10))
    assert (before, reminders()) == (0, 1)


def test_a_site_file_naming_an_unknown_template_is_refused_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "en")  # the message's language follows the locale
    with pytest.raises(ConfigError, match=r"site.yaml:\d+: plans\[0\].template: unknown template"):
        plan_site(tmp_path, [], [{"id": "x", "template": "no-such-template"}])
