"""夜间照明: a patrol per zone each night after sunset, a work order per dark circuit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from maintenance.db import Database
from maintenance.lighting import CircuitReading, check_time, night_lighting_check, sunset_at
from maintenance.registry.models import Asset as AssetRow
from maintenance.work_orders.models import Status, WorkOrder
from maintenance.work_orders.service import transition
from propwatch.clock import ManualClock
from propwatch.site import Site

TZ = ZoneInfo("Asia/Shanghai")
NIGHT = date(2026, 11, 23)


def _panel(db: Database, at: datetime, *, dark: tuple[int, ...] = (3,)) -> None:
    """和谐花园's B区 panel: all eight circuits commanded on, the `dark` ones drawing nothing."""
    values: dict[str, float | bool] = {}
    for n in range(1, 9):
        values[f"circuit_{n}_command"] = True
        values[f"circuit_{n}_current"] = 0.02 if n in dark else 2.1
        values[f"circuit_{n}_rated_current"] = 2.5
    with db.session() as s:
        row = s.scalar(select(AssetRow).where(AssetRow.code == "lighting-b"))
        assert row is not None
        row.state, row.state_at = {"online": True, "values": values}, at


def _orders(db: Database) -> list[WorkOrder]:
    with db.session() as s:
        return list(s.scalars(select(WorkOrder).order_by(WorkOrder.id)))


def _night(db: Database, site: Site, clock: ManualClock, night: date) -> None:
    """Run the check a minute after that night's check time, with fresh telemetry."""
    _panel(db, sunset_at(site.spec, night) + timedelta(minutes=20))
    clock.set(check_time(site.spec, night) + timedelta(minutes=1))
    with db.session() as s:
        night_lighting_check(s, site, clock.now())


def test_the_check_follows_the_sunset_at_the_sites_latitude(example_site: Site) -> None:
    site = example_site
    summer = sunset_at(site.spec, date(2026, 6, 21)).astimezone(TZ)
    winter = sunset_at(site.spec, date(2026, 12, 21)).astimezone(TZ)
    assert (summer.hour, winter.hour) == (19, 17)  # Hangzhou: about 19:05 and 17:05
    assert check_time(site.spec, NIGHT) == sunset_at(site.spec, NIGHT) + timedelta(minutes=30)


def test_each_night_one_patrol_per_zone_lists_its_circuits_with_telemetry(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    _night(db, site, clock, NIGHT)
    patrols = [w for w in _orders(db) if w.title.startswith("夜间照明巡查")]
    assert [(w.zone_code, w.assignee) for w in patrols] == [("zone-b", "zhao-ba")]
    checklist = patrols[0].details["checklist"]
    assert isinstance(checklist, list) and len(checklist) == 8
    assert "第1回路：已合闸，电流 2.10 A（额定 2.50 A），正常" in patrols[0].description
    assert checklist[2]["telemetry"]["suspect"] is True


def test_a_dark_circuit_becomes_one_corrective_order_across_nights(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    _night(db, site, clock, NIGHT)
    _night(db, site, clock, NIGHT + timedelta(days=1))
    faults = [w for w in _orders(db) if w.title.startswith("照明回路不亮")]
    assert [w.title for w in faults] == ["照明回路不亮：B区公共照明配电箱 第3回路"]
    assert faults[0].occurrences == 2
    assert faults[0].details["nights"] == ["2026-11-23", "2026-11-24"]


def test_a_fault_seen_again_after_its_repair_opens_a_new_order(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    _night(db, site, clock, NIGHT)
    (fault,) = [w for w in _orders(db) if w.title.startswith("照明回路不亮")]
    with db.session() as s:
        for step in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
            transition(s, site.spec, fault.id, step, actor="li-shifu", now=clock.now())
    _night(db, site, clock, NIGHT + timedelta(days=2))
    assert len([w for w in _orders(db) if w.title.startswith("照明回路不亮")]) == 2


def test_a_replayed_check_adds_nothing(db: Database, site: Site, clock: ManualClock) -> None:
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    _night(db, site, clock, NIGHT)
    before = len(_orders(db))
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    assert len(_orders(db)) == before == 2


def test_stale_telemetry_asks_for_a_look_instead_of_opening_a_fault(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    _panel(db, sunset_at(site.spec, NIGHT) - timedelta(hours=3))
    clock.set(check_time(site.spec, NIGHT) + timedelta(minutes=1))
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    (patrol,) = _orders(db)
    assert "无天黑后的遥测数据，请现场确认" in patrol.description


def test_after_downtime_the_latest_night_is_patrolled_late_naming_the_missed_ones(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    last = NIGHT + timedelta(days=3)
    _panel(db, sunset_at(site.spec, last) + timedelta(minutes=20), dark=())
    clock.set(datetime(2026, 11, 26, 21, 0, tzinfo=TZ).astimezone(UTC))
    with db.session() as s:
        result = night_lighting_check(s, site, clock.now())
    (patrol,) = _orders(db)
    assert result.missed_nights == [NIGHT, NIGHT + timedelta(days=1), NIGHT + timedelta(days=2)]
    assert patrol.details["late"] is True
    assert "11月23日、11月24日、11月25日" in patrol.description


def _reading(current_a: float | None, commanded_on: bool | None = True) -> CircuitReading:
    return CircuitReading(
        asset_id="lighting-b",
        asset_name="B区照明配电箱",
        zone="zone-b",
        circuit=2,
        commanded_on=commanded_on,
        current_a=current_a,
        rated_a=2.5,
        fresh=True,
    )


def test_a_circuit_commanded_on_with_no_current_reads_as_tripped_not_closed(
    example_site: Site,
) -> None:
    text = _reading(0.0).telemetry_text(example_site.spec)
    assert text == "已发合闸命令但无电流，疑似跳闸或断电，已另开维修工单"
    assert "已合闸" not in text


def test_a_circuit_drawing_too_little_reads_as_closed_but_dark(example_site: Site) -> None:
    text = _reading(0.4).telemetry_text(example_site.spec)
    assert text == "已合闸，电流 0.40 A（额定 2.50 A），电流偏低，疑似灯具不亮，已另开维修工单"
    assert _reading(None, commanded_on=False).telemetry_text(example_site.spec).startswith("未合闸")
