"""照明定时控制: the lighting schedule switches circuits through commands, once per switching."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import sunrise, sunset
from sqlalchemy import select

from maintenance.commands.models import DeviceCommand
from maintenance.commands.service import MISSED, due_to_send
from maintenance.db import Database
from maintenance.lighting import (
    check_time,
    circuit_commands,
    circuit_readings,
    night_lighting_check,
    night_start,
)
from maintenance.lighting_control import CURSOR, issue_due_switchings, switchings_of_night
from maintenance.lighting_tonight import lighting_tonight
from maintenance.plans.models import PlanCursor
from maintenance.registry.models import Asset as AssetRow
from maintenance.registry.service import sync_registry
from maintenance.scheduler import PlanScheduler
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.config_file import ConfigError
from propwatch.site import Site
from tests.maintenance.lighting_sites import lighting_site

TZ = ZoneInfo("Asia/Shanghai")
NIGHT = date(2026, 11, 23)
HANGZHOU = Observer(30.2741, 120.1551)
SUNSET = sunset(HANGZHOU, NIGHT, tzinfo=TZ).astimezone(UTC)
SUNRISE = sunrise(HANGZHOU, NIGHT + timedelta(days=1), tzinfo=TZ).astimezone(UTC)
ON = SUNSET + timedelta(minutes=10)
GARDEN_OFF = datetime(2026, 11, 23, 23, 30, tzinfo=TZ).astimezone(UTC)
PUBLIC_OFF = SUNRISE - timedelta(minutes=15)


@pytest.fixture
def lit(tmp_path: Path, db: Database) -> Site:
    site = lighting_site(tmp_path)
    with db.session() as s:
        sync_registry(s, site, SUNSET - timedelta(hours=3))
    return site


def _commands(db: Database) -> list[DeviceCommand]:
    with db.session() as s:
        rows = list(s.scalars(select(DeviceCommand).order_by(DeviceCommand.id)))
        s.expunge_all()
    return rows


def _pass(db: Database, site: Site, at: datetime) -> None:
    with db.session() as s:
        issue_due_switchings(s, site, at)


def test_switchings_follow_the_sites_sunset_and_sunrise_and_fixed_times(lit: Site) -> None:
    night = switchings_of_night(lit, NIGHT)
    assert [(s.switch.id, s.action, s.at) for s in night] == [
        ("b-garden", "on", ON),
        ("b-public", "on", ON),
        ("b-garden", "off", GARDEN_OFF),
        ("b-public", "off", PUBLIC_OFF),
    ]
    assert night[1].points == tuple(f"circuit_{n}_command" for n in range(1, 7))
    # Hangzhou in late November: dusk about 17:00, dawn about 06:30 local
    assert ON.astimezone(TZ).hour == 17 and PUBLIC_OFF.astimezone(TZ).hour == 6
    # a summer night switches later
    june = switchings_of_night(lit, date(2026, 6, 21))[0].at.astimezone(TZ)
    assert june.hour == 19


def test_a_night_on_a_manual_clock_switches_each_circuit_on_and_off_once(
    lit: Site, db: Database
) -> None:
    clock = ManualClock(SUNSET - timedelta(hours=1))
    _pass(db, lit, clock.now())  # the schedule starts here
    assert _commands(db) == []
    clock.set(ON - timedelta(seconds=1))
    _pass(db, lit, clock.now())
    assert _commands(db) == []
    clock.set(ON + timedelta(seconds=40))  # the next pass after the time
    _pass(db, lit, clock.now())
    _pass(db, lit, clock.now() + timedelta(seconds=20))  # and the one after: nothing more
    on = _commands(db)
    assert sorted(c.point for c in on) == sorted(f"circuit_{n}_command" for n in range(1, 9))
    assert {(c.value, c.state, c.requested_role) for c in on} == {(True, "pending", "schedule")}
    assert {c.requested_by for c in on} == {"照明定时：B区路灯", "照明定时：B区庭院灯"}
    garden = [c for c in on if c.point in ("circuit_7_command", "circuit_8_command")]
    assert {c.expires_at for c in garden} == {ON + timedelta(minutes=5)}  # its own ttl
    public = [c for c in on if c not in garden]
    assert {c.expires_at for c in public} == {ON + timedelta(minutes=10)}
    assert {c.scheduled_at for c in on} == {ON}

    clock.set(GARDEN_OFF + timedelta(seconds=30))
    _pass(db, lit, clock.now())
    off = _commands(db)[8:]
    assert [(c.point, c.value) for c in off] == [
        ("circuit_7_command", False),
        ("circuit_8_command", False),
    ]
    clock.set(PUBLIC_OFF + timedelta(seconds=30))
    _pass(db, lit, clock.now())
    morning = _commands(db)[10:]
    assert [(c.point, c.value, c.scheduled_at) for c in morning] == [
        (f"circuit_{n}_command", False, PUBLIC_OFF) for n in range(1, 7)
    ]


def test_each_switching_is_one_command_across_restarts_and_replicas(
    lit: Site, db: Database
) -> None:
    _pass(db, lit, SUNSET - timedelta(hours=1))
    # a restarted scheduler (its own state lost) runs its catch-up pass at start
    PlanScheduler(lit, db, ManualClock(ON + timedelta(seconds=5))).run_pass()
    PlanScheduler(lit, db, ManualClock(ON + timedelta(seconds=65))).run_pass()
    assert len(_commands(db)) == 8
    # two replicas at once that both read the cursor from before the switching
    with db.session() as s:
        cursor = s.scalar(select(PlanCursor).where(PlanCursor.plan_code == CURSOR))
        assert cursor is not None
        cursor.through = SUNSET
    second = Database(db.url)
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def replica(d: Database) -> None:
        try:
            barrier.wait()
            with d.session() as s:
                issue_due_switchings(s, lit, ON + timedelta(seconds=90))
        except BaseException as exc:  # pragma: no cover - shown below
            failures.append(exc)

    threads = [threading.Thread(target=replica, args=(d,)) for d in (db, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    second.dispose()
    # SQLite serialises the two writers; one may give up on the lock, never make a second row
    assert all("locked" in str(f) for f in failures), failures
    keys = [c.schedule_key for c in _commands(db)]
    assert len(keys) == 8 and len(set(keys)) == 8


def test_switchings_missed_while_the_service_was_down_are_kept_expired_and_never_sent(
    lit: Site, db: Database
) -> None:
    _pass(db, lit, SUNSET - timedelta(hours=1))
    # down from before dusk until 23:00: the switch-on is past its ttl, so it is recorded only
    late = datetime(2026, 11, 23, 23, 0, tzinfo=TZ).astimezone(UTC)
    _pass(db, lit, late)
    rows = _commands(db)
    assert len(rows) == 8
    assert {(c.state, c.reason, c.value) for c in rows} == {("expired", MISSED, True)}
    with db.session() as s:
        assert due_to_send(s, {lit.id}, late) == []
    # the garden's 23:30 switch-off is not missed
    _pass(db, lit, GARDEN_OFF + timedelta(minutes=2))
    assert [(c.point, c.state) for c in _commands(db)[8:]] == [
        ("circuit_7_command", "pending"),
        ("circuit_8_command", "pending"),
    ]


def test_a_new_schedule_starts_now_and_a_long_outage_records_a_week_at_most(
    lit: Site, db: Database
) -> None:
    _pass(db, lit, ON + timedelta(minutes=1))  # first seen after dusk: nothing back-filled
    assert _commands(db) == []
    back = ON + timedelta(days=30, minutes=1)
    _pass(db, lit, back)
    rows = _commands(db)
    assert min(c.scheduled_at for c in rows if c.scheduled_at) > back - timedelta(days=7)
    nights = {c.schedule_key.split(":")[1] for c in rows if c.schedule_key}
    assert len(nights) in (7, 8)  # a week of nights, not thirty
    assert {
        c.state for c in rows if c.scheduled_at and c.scheduled_at < back - timedelta(hours=1)
    } == {"expired"}


def test_the_site_file_refuses_a_schedule_that_could_not_switch_anything(
    tmp_path: Path,
) -> None:
    bad = [
        {"id": "x", "asset": "lighting-c", "on": {"after_sunset": 0}, "off": {"at": "23:30"}},
        {
            "id": "y",
            "asset": "lighting-b",
            "circuits": [9],
            "on": {"after_sunset": 0},
            "off": {"at": "23:30"},
        },
        {"id": "z", "asset": "pump-1", "on": {"after_sunset": 0}, "off": {"at": "23:30"}},
    ]
    with pytest.raises(ConfigError) as caught:
        lighting_site(tmp_path, bad)
    text = "\n".join(caught.value.problems)
    assert "lighting_control.switches[0].asset" in text and "lighting-c" in text
    assert "lighting_control.switches[1].circuits[0]" in text and "9" in text
    assert "lighting_control.switches[2].asset" in text and "pump-1" in text
    times = {
        "id": "w",
        "asset": "lighting-b",
        "on": {"after_sunset": "10m", "at": "18:00"},
        "off": {"before_sunrise": "7h"},
    }
    with pytest.raises(ConfigError) as caught:
        lighting_site(tmp_path, [times])
    text = "\n".join(caught.value.problems)
    assert "lighting_control.switches[0].on" in text and "at" in text
    assert "lighting_control.switches[0].off.before_sunrise" in text


def _telemetry(
    db: Database, at: datetime, coils: dict[int, bool], currents: dict[int, float]
) -> None:
    values: dict[str, float | bool] = {}
    for n in range(1, 9):
        values[f"circuit_{n}_command"] = coils.get(n, True)
        values[f"circuit_{n}_current"] = currents.get(n, 2.1 if coils.get(n, True) else 0.0)
        values[f"circuit_{n}_rated_current"] = 2.5
    with db.session() as s:
        row = s.scalar(select(AssetRow).where(AssetRow.code == "lighting-b"))
        assert row is not None
        row.state, row.state_at = {"online": True, "values": values}, at


def _settle(db: Database, states: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Give the gateway's answer to tonight's switch-on of each point: point → command id."""
    ids: dict[str, int] = {}
    with db.session() as s:
        for c in s.scalars(select(DeviceCommand).where(DeviceCommand.value.is_not(None))):
            if c.point in states and c.value is True:
                c.state, c.reason = states[c.point]
                ids[c.point] = c.id
    return ids


def test_the_night_check_flags_a_circuit_the_schedule_switched_on_that_did_not_come_on(
    lit: Site, db: Database
) -> None:
    with db.session() as s:
        night_lighting_check(s, lit, SUNSET - timedelta(hours=1))
    _pass(db, lit, SUNSET - timedelta(hours=1))
    _pass(db, lit, ON + timedelta(seconds=30))
    away = "命令已过有效期（网关离线期间），未执行"
    ids = _settle(
        db,
        {
            **{f"circuit_{n}_command": ("done", "") for n in range(1, 7)},
            "circuit_7_command": ("expired", away),
            "circuit_8_command": ("expired", away),
        },
    )
    # circuit 2 took the command but draws nothing; 7 and 8 never closed
    _telemetry(db, ON + timedelta(minutes=5), {7: False, 8: False}, {2: 0.0})
    check = check_time(lit.spec, NIGHT) + timedelta(minutes=1)
    with db.session() as s:
        result = night_lighting_check(s, lit, check)
    with db.session() as s:
        faults = {
            w.details["circuit"]: w
            for w in s.scalars(select(WorkOrder).where(WorkOrder.title.like("照明回路不亮%")))
        }
        patrol = s.scalar(select(WorkOrder).where(WorkOrder.title.like("夜间照明巡查%")))
        s.expunge_all()
    assert sorted(faults) == ["lighting-b#2", "lighting-b#7", "lighting-b#8"]
    assert len(result.faults_opened) == 3
    on_local = f"{ON.astimezone(TZ):%H:%M}"
    seven = faults["lighting-b#7"]
    assert seven.details["command_id"] == ids["circuit_7_command"]
    assert (
        f"照明定时：B区庭院灯 {on_local} 的合闸命令（#{ids['circuit_7_command']}，已过期：{away}）"
        in seven.description
    )
    assert "未合闸" in seven.description and "回路仍为分闸" in seven.description
    two = faults["lighting-b#2"]
    assert "疑似跳闸或断电" in two.description
    assert f"照明定时：B区路灯 {on_local} 的合闸命令（#{ids['circuit_2_command']}，已执行）" in (
        two.description
    )
    assert patrol is not None
    assert "第7回路：未合闸：照明定时：B区庭院灯" in patrol.description
    assert "第1回路：已合闸，电流 2.10 A（额定 2.50 A），正常" in patrol.description

    # after the garden's 23:30 switch-off, circuits 7 and 8 are dark on purpose
    _pass(db, lit, GARDEN_OFF + timedelta(seconds=30))
    with db.session() as s:
        off = list(s.scalars(select(DeviceCommand).where(DeviceCommand.value.is_not(None))))
        assert sum(1 for c in off if c.value is False) == 2
    _telemetry(db, GARDEN_OFF + timedelta(minutes=3), {7: False, 8: False}, {})
    later = GARDEN_OFF + timedelta(minutes=5)
    with db.session() as s:
        readings = circuit_readings(
            s, lit, SUNSET, circuit_commands(s, lit, night_start(lit, NIGHT), later)
        )
        repeat = night_lighting_check(s, lit, later)
    seven_now = next(r for r in readings if r.circuit == 7)
    assert not seven_now.is_dark(lit.spec)
    assert seven_now.telemetry_text(lit.spec).startswith(
        "已分闸（照明定时：B区庭院灯 23:30 的分闸命令"
    )
    assert repeat.faults_opened == [] and repeat.faults_repeated == 0


def test_without_a_command_a_circuit_reading_off_is_still_only_noted(
    lit: Site, db: Database
) -> None:
    with db.session() as s:
        night_lighting_check(s, lit, SUNSET - timedelta(hours=1))
    _telemetry(db, ON, {5: False}, {})
    with db.session() as s:
        result = night_lighting_check(s, lit, check_time(lit.spec, NIGHT) + timedelta(minutes=1))
        readings = circuit_readings(s, lit, SUNSET)
    assert result.faults_opened == []
    assert next(r for r in readings if r.circuit == 5).telemetry_text(lit.spec) == (
        "未合闸（请确认时控设置）"
    )


def test_tonights_view_judges_each_circuit_with_its_latest_command(lit: Site, db: Database) -> None:
    _pass(db, lit, SUNSET - timedelta(hours=1))
    _pass(db, lit, ON + timedelta(seconds=30))
    ids = _settle(db, {"circuit_7_command": ("failed", "写入后回读不一致")})
    _telemetry(db, ON + timedelta(minutes=5), {7: False}, {})
    at = ON + timedelta(minutes=10)
    with db.session() as s:
        tonight = lighting_tonight(s, lit, at)
        # before the command has had two minutes to settle, it is not held against the circuit
        early = lighting_tonight(s, lit, ON + timedelta(minutes=1))
    seven = next(c for c in tonight.circuits if c.key == "lighting-b#7")
    assert seven.suspect and seven.command_id == ids["circuit_7_command"]
    assert seven.text.startswith(
        f"未合闸：照明定时：B区庭院灯 {ON.astimezone(TZ):%H:%M} 的合闸命令"
        f"（#{ids['circuit_7_command']}，执行失败：写入后回读不一致）"
    )
    assert [c.key for c in tonight.circuits if c.suspect] == ["lighting-b#7"]
    assert not any(c.suspect for c in early.circuits)
