"""告警系统绩效 (ISA-18.2 / EEMUA 191) on alarm patterns whose figures can be worked out by hand.

November 2026 in Shanghai has 30 x 144 = 4,320 ten-minute slots, from 00:00 on the 1st.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from maintenance.alarms.kpi import AlarmSystemKpis, alarm_system_kpis, rolling_kpis
from maintenance.alarms.models import Alarm
from maintenance.db import Database
from maintenance.reports import month_bounds, monthly_report
from propwatch.site import Site, SiteFile

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER_SLOTS = 30 * 144
AFTER_NOVEMBER = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
_episodes = count(1)


def _alarm(
    s: Session,
    at: datetime,
    asset: str = "pump-1",
    alarm_type: str = "low_outlet_pressure",
    *,
    cleared_after: timedelta | None = timedelta(minutes=2),
    severity: str = "major",
    **columns: object,
) -> Alarm:
    """One episode as the alarm service leaves it: raised at `at`, cleared `cleared_after` later."""
    alarm = Alarm(
        site_id="hexie",
        episode_id=f"kpi-{next(_episodes)}",
        asset_code=asset,
        alarm_type=alarm_type,
        severity=severity,
        rule_id="rule",
        state="raised" if cleared_after is None else "cleared",
        raised_at=at,
        cleared_at=None if cleared_after is None else at + cleared_after,
        raise_count=1,
        chattering=False,
    )
    for name, value in columns.items():
        setattr(alarm, name, value)
    s.add(alarm)
    return alarm


def _every(
    s: Session, start: datetime, seconds: int, n: int, asset: str, alarm_type: str, **kw: object
) -> None:
    for i in range(n):
        _alarm(s, start + timedelta(seconds=i * seconds), asset, alarm_type, **kw)


def _kpis(db: Database, spec: SiteFile, now: datetime = AFTER_NOVEMBER) -> AlarmSystemKpis:
    start, end = month_bounds(spec, 2026, 11)
    with db.session() as s:
        return alarm_system_kpis(s, spec, start, end, now)


def _november(db: Database) -> None:
    """44 annunciated alarms in 11 asset + type pairs; two flood slots; noise that must not count.

    | pair | alarms |
    | lift-1-1 door_fault | 12 (10th 09:00, every 40 s; flagged from the 5th, as the site's
    |                     | `chattering` rule of 5 within 10 min would) |
    | door-north forced_open | 4 (20th 14:00) + 3 (25th 08:00) |
    | lighting-b circuit_dark | 3 (20th 14:00) + 3 (25th 08:00) + 1 (30th) |
    | lift-1-1 overload | 4 (25th 08:00) |
    | pump-1 low_outlet_pressure | 4 (20th 14:00, one of them delivered late) |
    | door-north door_held_open | 3 within 60 s (5th 12:00) |
    | pump-1 dry_run | 3 within 61 s (6th 12:00) |
    | door-north reader_offline, lighting-b breaker_trip, pump-1 high_current, pump-1 low_level |
    |                     | 1 each |
    """
    with db.session() as s:
        flood = datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI)
        for i in range(12):
            _alarm(
                s, flood + timedelta(seconds=40 * i), "lift-1-1", "door_fault", chattering=i >= 4
            )
        second = datetime(2026, 11, 20, 14, 0, tzinfo=SHANGHAI)  # 11 alarms
        _every(s, second, 100, 3, "pump-1", "low_outlet_pressure")
        _alarm(s, second + timedelta(seconds=300), "pump-1", "low_outlet_pressure", late=True)
        _every(s, second + timedelta(seconds=30), 100, 4, "door-north", "forced_open")
        _every(s, second + timedelta(seconds=60), 100, 3, "lighting-b", "circuit_dark")
        ten = datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)  # exactly 10: not a flood
        _every(s, ten, 120, 4, "lift-1-1", "overload")
        _every(s, ten + timedelta(seconds=60), 120, 3, "door-north", "forced_open")
        _every(s, ten + timedelta(seconds=90), 120, 3, "lighting-b", "circuit_dark")
        # in the same slot, episodes that are not alarms the duty room saw
        _every(s, ten, 30, 2, "lift-1-1", "overload", suppressed_reason="计划保养中")
        _alarm(s, ten + timedelta(seconds=5), "pump-1", "low_outlet_pressure", raise_count=0)
        burst = datetime(2026, 11, 5, 12, 0, tzinfo=SHANGHAI)
        for offset in (0, 20, 60):
            _alarm(s, burst + timedelta(seconds=offset), "door-north", "door_held_open")
        slower = datetime(2026, 11, 6, 12, 0, tzinfo=SHANGHAI)
        for offset in (0, 30, 61):
            _alarm(s, slower + timedelta(seconds=offset), "pump-1", "dry_run")
        one = datetime(2026, 11, 15, 3, 0, tzinfo=SHANGHAI)
        _alarm(s, one, "door-north", "reader_offline")
        _alarm(s, one, "lighting-b", "breaker_trip")
        _alarm(s, one, "pump-1", "high_current")
        _alarm(s, one, "pump-1", "low_level")
        _alarm(s, datetime(2026, 11, 30, 3, 0, tzinfo=SHANGHAI), "lighting-b", "circuit_dark")


def test_alarm_rate_per_operator_averages_every_10_minute_slot_of_the_month(
    db: Database, site: Site
) -> None:
    _november(db)
    load = _kpis(db, site.spec).load
    assert (load.slots, load.alarms, load.operators) == (NOVEMBER_SLOTS, 44, 1)
    assert load.average_per_operator == round(44 / NOVEMBER_SLOTS, 4) == 0.0102
    assert load.peak_per_operator == 12
    assert load.peak_slot_start == datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI)
    assert load.assessment == "可接受"


def test_the_rate_is_divided_by_the_operators_of_the_duty_room(db: Database, site: Site) -> None:
    _november(db)
    two = site.spec.model_copy(update={"duty": site.spec.duty.model_copy(update={"operators": 2})})
    load = _kpis(db, two).load
    assert (load.operators, load.average_per_operator, load.peak_per_operator) == (2, 0.0051, 6)


def test_a_slot_is_a_flood_above_ten_alarms_not_counting_suppressed_or_clear_first_episodes(
    db: Database, site: Site
) -> None:
    _november(db)
    kpis = _kpis(db, site.spec)
    # 12 and 11 alarms flood; 10 alarms (plus 2 suppressed and a clear without its raise) do not
    assert (kpis.load.flood_slots, kpis.load.flood_share) == (2, 0.0005)
    assert (kpis.suppressed, kpis.late) == (2, 1)


def test_the_ten_most_frequent_alarms_with_their_share_and_the_asset_names(
    db: Database, site: Site
) -> None:
    _november(db)
    kpis = _kpis(db, site.spec)
    assert [(b.asset, b.alarm_type, b.count) for b in kpis.bad_actors] == [
        ("lift-1-1", "door_fault", 12),
        ("door-north", "forced_open", 7),
        ("lighting-b", "circuit_dark", 7),
        ("lift-1-1", "overload", 4),
        ("pump-1", "low_outlet_pressure", 4),
        ("door-north", "door_held_open", 3),
        ("pump-1", "dry_run", 3),
        ("door-north", "reader_offline", 1),
        ("lighting-b", "breaker_trip", 1),
        ("pump-1", "high_current", 1),
    ]
    top = kpis.bad_actors[0]
    assert (top.name, top.share) == ("1栋1号电梯", round(12 / 44, 4))
    assert kpis.bad_actor_share == round(43 / 44, 4)


def test_chattering_is_the_service_flag_or_three_episodes_within_a_minute(
    db: Database, site: Site
) -> None:
    _november(db)
    kpis = _kpis(db, site.spec)
    got = [
        (c.asset, c.name, c.alarm_type, c.episodes, c.flagged, c.fastest_three_seconds)
        for c in kpis.chattering
    ]
    # pump-1 dry_run took 61 s for three, lift-1-1 overload 240 s: neither chatters
    assert got == [
        ("lift-1-1", "1栋1号电梯", "door_fault", 12, 8, 80),
        ("door-north", "北门门禁", "door_held_open", 3, 0, 60),
    ]
    assert kpis.chattering_count == 2


def test_standing_alarms_are_those_active_for_more_than_24_hours_at_the_end_of_the_month(
    db: Database, site: Site
) -> None:
    end = datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI)
    with db.session() as s:
        october = _alarm(
            s, datetime(2026, 10, 20, 8, 0, tzinfo=SHANGHAI), "lift-1-1", "comm_loss",
            cleared_after=None, stale=True, severity="minor",
        )  # fmt: skip
        cleared_in_december = _alarm(
            s, datetime(2026, 11, 3, 12, 0, tzinfo=SHANGHAI), "door-north", "reader_offline",
            cleared_after=timedelta(days=28), acknowledged_at=end - timedelta(days=1),
        )  # fmt: skip
        day_and_an_hour = _alarm(
            s, end - timedelta(hours=25), "pump-1", "low_level", cleared_after=None,
            shelved_until=end + timedelta(hours=4), shelved_by="duty", shelve_reason="施工",
        )  # fmt: skip
        _alarm(s, end - timedelta(hours=23), "lighting-b", "circuit_dark", cleared_after=None)
        _alarm(s, end - timedelta(days=3), "pump-1", "dry_run", cleared_after=timedelta(days=2))
        _alarm(
            s, end - timedelta(days=2), "lift-1-1", "overload", cleared_after=None,
            suppressed_reason="设备停用",
        )  # fmt: skip
        s.flush()
        ids = [october.id, cleared_in_december.id, day_and_an_hour.id]
    kpis = _kpis(db, site.spec)
    assert kpis.standing_count == 3
    got = [
        (a.id, a.asset, a.name, a.hours_active, a.acknowledged, a.shelved, a.stale)
        for a in kpis.standing
    ]
    assert got == [
        (ids[0], "lift-1-1", "1栋1号电梯", (41 * 24 + 16), False, False, True),
        (ids[1], "door-north", "北门门禁", 27 * 24 + 12, True, False, False),
        (ids[2], "pump-1", "1号生活水泵", 25, False, True, False),
    ]


def test_a_month_still_running_counts_its_slots_until_now(db: Database, site: Site) -> None:
    now = datetime(2026, 11, 2, 0, 5, tzinfo=SHANGHAI)  # the 145th slot has begun
    with db.session() as s:
        _every(s, datetime(2026, 11, 1, 23, 55, tzinfo=SHANGHAI), 60, 9, "pump-1", "dry_run")
    kpis = _kpis(db, site.spec, now)
    load = kpis.load
    # 5 alarms in the last slot of the 1st (23:55 .. 23:59), 4 in the running one (00:00 .. 00:03)
    assert (kpis.at, load.slots, load.alarms) == (now, 145, 9)
    assert (load.average_per_operator, load.peak_per_operator) == (round(9 / 145, 4), 5)


def test_the_monthly_report_carries_the_alarm_system_figures(db: Database, site: Site) -> None:
    _november(db)
    with db.session() as s:
        report = monthly_report(s, site.spec, 2026, 11, AFTER_NOVEMBER)
    assert report.alarm_system.load.alarms == 44
    assert report.alarm_system.bad_actors[0].name == "1栋1号电梯"


def test_rolling_figures_for_metrics_cover_the_last_24_hours_and_10_minutes(
    db: Database, site: Site
) -> None:
    now = datetime(2026, 11, 23, 10, 0, 0, 700_000, tzinfo=SHANGHAI)
    with db.session() as s:
        _every(s, now - timedelta(minutes=9), 30, 12, "lift-1-1", "door_fault", cleared_after=None)
        _alarm(s, now - timedelta(hours=3), "pump-1", "low_level", cleared_after=None)
        _alarm(
            s, now - timedelta(hours=30), "lighting-b", "circuit_dark", cleared_after=None,
            severity="minor", stale=True, acknowledged_at=now - timedelta(hours=29),
        )  # fmt: skip
        _alarm(
            s, now - timedelta(hours=2), "door-north", "forced_open", cleared_after=None,
            shelved_until=now + timedelta(hours=1),
        )  # fmt: skip
        _alarm(s, now - timedelta(hours=1), "door-north", "reader_offline")  # returned, unacked
        _alarm(
            s, now - timedelta(hours=1), "lift-1-1", "overload", cleared_after=None,
            suppressed_reason="计划保养中",
        )  # fmt: skip
    with db.session() as s:
        figures = rolling_kpis(s, [site.spec], now)
    assert figures.at == now.replace(microsecond=0)
    recent, day = figures.load["10m"]["hexie"], figures.load["24h"]["hexie"]
    assert (recent.slots, recent.alarms, recent.flood_slots, recent.flood_share) == (1, 12, 1, 1)
    assert (day.slots, day.alarms, day.flood_slots) == (144, 15, 1)
    assert day.average_per_operator == round(15 / 144, 4)
    assert (day.peak_per_operator, day.assessment) == (12, "可接受")
    # door_fault every 30 s: three within 60 s
    assert figures.chattering == {"10m": {"hexie": 1}, "24h": {"hexie": 1}}
    active = figures.active["hexie"]
    assert active.by_severity == {"major": 14, "minor": 1}
    assert (active.unacknowledged, active.returned_unacknowledged, active.shelved) == (13, 1, 1)
    assert (active.standing, active.stale, active.suppressed) == (1, 1, 1)


def test_a_duty_room_needs_at_least_one_operator(example_site: Site) -> None:
    data = example_site.spec.model_dump()
    data["duty"]["operators"] = 0
    with pytest.raises(ValidationError, match="operators"):
        SiteFile.model_validate(data)
