"""日盘点 and the monthly analysis, on orders whose figures can be worked out by hand."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from maintenance.db import Database
from maintenance.reports import daily_stocktake, monthly_report
from maintenance.work_orders.models import Status
from maintenance.work_orders.service import hold, transition
from propwatch.clock import ManualClock
from propwatch.site import Priority, Site
from tests.maintenance.helpers import order

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIX = (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED)


def _fixed_order(
    db: Database,
    site: Site,
    reported: datetime,
    repair: timedelta,
    *,
    asset: str = "pump-1",
    alarm_type: str | None = "low_outlet_pressure",
) -> int:
    with db.session() as s:
        wo_id = order(s, site, reported, asset=asset, alarm_type=alarm_type).id
        for to in FIX:
            transition(s, site.spec, wo_id, to, actor="wang-gong", now=reported + repair)
    return wo_id


def test_the_stocktake_lists_every_unfinished_item_with_owner_age_and_overdue_state(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        late = order(s, site, clock.now() - timedelta(hours=30)).id
        fresh = order(s, site, clock.now(), asset="door-north").id
        done = order(s, site, clock.now()).id
        transition(s, site.spec, done, Status.CANCELLED, actor="duty", now=clock.now(), note="重复")
    with db.session() as s:
        report = daily_stocktake(s, site.spec, clock.now())
    assert [i.id for i in report.items] == [late, fresh]
    first, second = report.items
    # reported at 04:00 on Sunday: the night duty technician has it
    assert (first.responsible, first.supervisor, first.age_hours) == ("li-shifu", "zhou-zg", 30)
    assert first.overdue == ["respond", "resolve"] and second.overdue == []
    assert (report.total, report.overdue) == (2, 1)


def test_an_item_on_hold_shows_its_reason_in_the_stocktake(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
        hold(s, site.spec, wo_id, reason="等业主在家", actor="wang-gong", now=clock.now())
    with db.session() as s:
        [item] = daily_stocktake(s, site.spec, clock.now()).items
    assert item.on_hold and item.hold_reason == "等业主在家"


def test_monthly_failure_count_mtbf_and_mttr_per_asset(
    db: Database, site: Site, clock: ManualClock
) -> None:
    november = datetime(2026, 11, 1, 0, 0, tzinfo=SHANGHAI)
    _fixed_order(db, site, november + timedelta(days=2), timedelta(hours=2))
    _fixed_order(db, site, november + timedelta(days=10), timedelta(hours=4), alarm_type="x")
    end = datetime(2026, 12, 1, tzinfo=SHANGHAI)
    with db.session() as s:
        report = monthly_report(s, site.spec, 2026, 11, end + timedelta(days=1))
    [pump] = report.assets
    assert (pump.asset, pump.failures, pump.mttr_hours) == ("pump-1", 2, 3.0)
    assert pump.mtbf_hours == 30 * 24 / 2


def test_on_time_rates_count_met_and_missed_limits(
    db: Database, site: Site, clock: ManualClock
) -> None:
    start = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
    _fixed_order(db, site, start, timedelta(hours=2))  # within 24 h
    _fixed_order(db, site, start + timedelta(days=3), timedelta(hours=30), alarm_type="y")
    with db.session() as s:
        report = monthly_report(s, site.spec, 2026, 11, datetime(2026, 12, 2, tzinfo=SHANGHAI))
    resolve = next(r for r in report.on_time if r.limit == "resolve")
    assert (resolve.decided, resolve.on_time, resolve.rate) == (2, 1, 0.5)


def test_the_same_fault_within_30_days_counts_as_rework_for_whoever_fixed_it(
    db: Database, site: Site, clock: ManualClock
) -> None:
    first = datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)
    _fixed_order(db, site, first, timedelta(hours=1))
    _fixed_order(db, site, first + timedelta(days=12), timedelta(hours=1))
    with db.session() as s:
        report = monthly_report(s, site.spec, 2026, 11, datetime(2026, 12, 2, tzinfo=SHANGHAI))
    [tech] = report.rework_by_technician
    assert (tech.key, tech.resolved, tech.reworked, tech.rate) == ("wang-gong", 2, 1, 0.5)
    assert report.rework_by_zone[0].key == "zone-a"


def test_the_zone_league_ranks_the_zone_that_keeps_its_time_limits_first(
    db: Database, site: Site, clock: ManualClock
) -> None:
    start = datetime(2026, 11, 4, 9, 0, tzinfo=SHANGHAI)
    _fixed_order(db, site, start, timedelta(hours=40))  # zone-a, late
    _fixed_order(db, site, start, timedelta(hours=1), asset="door-north", alarm_type="z")
    with db.session() as s:
        report = monthly_report(s, site.spec, 2026, 11, datetime(2026, 12, 2, tzinfo=SHANGHAI))
    assert [(z.rank, z.zone) for z in report.league] == [(1, "zone-b"), (2, "zone-a")]


def test_an_asset_failing_often_is_proposed_for_a_tighter_plan(
    db: Database, site: Site, clock: ManualClock
) -> None:
    start = datetime(2026, 11, 5, 9, 0, tzinfo=SHANGHAI)
    for i in range(3):
        _fixed_order(db, site, start + timedelta(days=i), timedelta(hours=1), alarm_type=f"t{i}")
    _fixed_order(db, site, start, timedelta(hours=1), asset="door-north", alarm_type="z")
    with db.session() as s:
        report = monthly_report(s, site.spec, 2026, 11, datetime(2026, 12, 2, tzinfo=SHANGHAI))
    assert [a.asset for a in report.tighten_plans] == ["pump-1"]


def test_plan_orders_are_not_failures(db: Database, site: Site, clock: ManualClock) -> None:
    from maintenance.work_orders.models import Source

    with db.session() as s:
        order(s, site, datetime(2026, 11, 6, 9, 0, tzinfo=SHANGHAI), source=Source.PLAN)
    with db.session() as s:
        report = monthly_report(s, site.spec, 2026, 11, datetime(2026, 12, 2, tzinfo=SHANGHAI))
    assert report.assets == []


def test_priority_does_not_matter_for_counting_failures(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        at = datetime(2026, 11, 7, 9, 0, tzinfo=SHANGHAI)
        order(s, site, at, priority=Priority.EMERGENCY)
        order(s, site, at, priority=Priority.GENERAL)
    with db.session() as s:
        report = monthly_report(s, site.spec, 2026, 11, datetime(2026, 12, 2, tzinfo=SHANGHAI))
    assert report.assets[0].failures == 2


def test_a_warranty_ending_within_a_month_is_announced(
    db: Database, site: Site, clock: ManualClock
) -> None:
    from maintenance.reports import warranty_expiring

    end = site.spec.asset("pump-1").warranty_end
    assert end is not None
    with db.session() as s:
        before = datetime.combine(end - timedelta(days=31), time(9), tzinfo=SHANGHAI)
        early = warranty_expiring(s, site.spec, before)
        within = datetime.combine(end - timedelta(days=22), time(9), tzinfo=SHANGHAI)
        due = warranty_expiring(s, site.spec, within)
    assert "pump-1" not in {n.asset for n in early}
    assert ("pump-1", 22) in {(n.asset, n.days_left) for n in due}
