"""今晚照明: what the duty room is shown of tonight's lighting check."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from maintenance.db import Database
from maintenance.lighting import check_time, night_lighting_check, sunset_at
from maintenance.lighting_tonight import lighting_tonight, night_of
from maintenance.plans.service import record_check
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.maintenance.test_lighting import NIGHT, TZ, _night, _panel


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def test_the_night_runs_from_noon_to_noon(site: Site) -> None:
    assert night_of(site, _local(NIGHT, 12)) == NIGHT
    assert night_of(site, _local(NIGHT, 23, 59)) == NIGHT
    assert night_of(site, _local(NIGHT + timedelta(days=1), 2)) == NIGHT
    assert night_of(site, _local(NIGHT + timedelta(days=1), 11, 59)) == NIGHT


def test_before_the_check_time_it_shows_when_the_check_comes_and_no_patrol(
    db: Database, site: Site, clock: ManualClock
) -> None:
    clock.set(_local(NIGHT, 15))
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
        t = lighting_tonight(s, site, clock.now())
    assert t.night == NIGHT and not t.started
    assert t.check_at == check_time(site.spec, NIGHT) and t.sunset == sunset_at(site.spec, NIGHT)
    assert t.sunset < t.check_at < t.sunrise
    assert t.patrols == [] and t.faults == []
    assert len(t.circuits) == 8  # B区's panel


def test_after_the_check_it_shows_the_patrol_progress_and_the_dark_circuit(
    db: Database, site: Site, clock: ManualClock
) -> None:
    clock.set(_local(NIGHT, 15))
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    _night(db, site, clock, NIGHT)  # circuit 3 is dark
    with db.session() as s:
        t = lighting_tonight(s, site, clock.now())
        (patrol,) = t.patrols
        assert (patrol.zone, patrol.checked, patrol.total, patrol.failed) == ("zone-b", 0, 8, 0)
        record_check(
            s,
            site,
            patrol.work_order_id,
            "lighting-b-1",
            by="zhao-ba",
            now=clock.now(),
            passed=True,
        )
    with db.session() as s:
        t = lighting_tonight(s, site, clock.now())
    assert t.started
    assert t.patrols[0].checked == 1
    (fault,) = t.faults
    assert "第3回路" in fault.title
    dark = [c for c in t.circuits if c.suspect]
    assert [c.key for c in dark] == ["lighting-b#3"]
    assert "疑似跳闸" in dark[0].text  # 0.02 A: tripped, not 已合闸


def test_the_next_morning_still_shows_last_nights_check(
    db: Database, site: Site, clock: ManualClock
) -> None:
    clock.set(_local(NIGHT, 15))
    with db.session() as s:
        night_lighting_check(s, site, clock.now())
    _night(db, site, clock, NIGHT)
    clock.set(_local(NIGHT + timedelta(days=1), 3))
    _panel(db, clock.now() - timedelta(minutes=5))
    with db.session() as s:
        t = lighting_tonight(s, site, clock.now())
    assert t.night == NIGHT and len(t.patrols) == 1
    assert all(c.fresh for c in t.circuits)
