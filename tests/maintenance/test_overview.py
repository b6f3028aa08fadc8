"""全部项目总览 over three properties: each figure counted as its own duty room counts it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select

from maintenance.alarms.service import acknowledge_alarm, remove_from_service, shelve_alarm
from maintenance.db import Database
from maintenance.lighting import check_time, night_lighting_check, sunset_at
from maintenance.overview import LightingState, Overview, SiteOverview, sites_overview
from maintenance.registry.models import Asset
from maintenance.registry.service import set_out_of_service, sync_registry
from maintenance.work_orders.models import OPEN_STATUSES, Status, WorkOrder
from maintenance.work_orders.service import hold, overdue_limits, transition
from propwatch.clock import ManualClock
from propwatch.events import Severity
from propwatch.site import Site
from tests.maintenance.helpers import order
from tests.maintenance.test_lighting import NIGHT
from tests.support.three_sites import raise_on, three_sites


@pytest.fixture
def sites(db: Database, clock: ManualClock, tmp_path: Path) -> dict[str, Site]:
    loaded = three_sites(tmp_path / "sites")
    with db.session() as s:
        for site in loaded:
            sync_registry(s, site, clock.now())
    return {site.id: site for site in loaded}


def _overview(db: Database, sites: dict[str, Site], clock: ManualClock) -> Overview:
    with db.session() as s:
        return sites_overview(s, sites.values(), clock.now(), region_names={"east": "华东区域"})


def _row(view: Overview, site_id: str) -> SiteOverview:
    return next(r for r in view.sites if r.site_id == site_id)


def test_active_alarms_are_counted_by_severity_leaving_out_shelved_and_out_of_service_ones(
    db: Database, sites: dict[str, Site], clock: ManualClock
) -> None:
    site, now = sites["lanting"], clock.now()
    with db.session() as s:
        raise_on(s, site, "pump-1", Severity.CRITICAL, "出水压力过低", now)
        major = raise_on(s, site, "lift-1-1", Severity.MAJOR, "平层误差", now, alarm_type="lv")
        acknowledge_alarm(s, major.id, actor="duty", now=now)
        shelved = raise_on(s, site, "door-north", Severity.MINOR, "门未关", now, alarm_type="d")
        shelve_alarm(
            s, shelved.id, actor="duty", until=now + timedelta(hours=1), reason="检修", now=now
        )
        oos = raise_on(s, site, "pump-1", Severity.WARNING, "振动趋势", now, alarm_type="v")
        remove_from_service(s, oos.id, actor="duty", reason="传感器待换", now=now)
    view = _overview(db, sites, clock)
    row = _row(view, "lanting")
    assert row.alarms.model_dump() == {
        "critical": 1,
        "major": 1,
        "minor": 0,
        "warning": 0,
        "total": 2,
        "unacknowledged": 1,
    }
    assert (row.name, row.region, row.region_name) == ("兰亭苑", "east", "华东区域")
    assert _row(view, "yuehai").alarms.total == 0 and _row(view, "yuehai").region_name == "south"
    # the shelved alarm is back on the board once its time has passed
    clock.advance(timedelta(hours=1, seconds=1))
    assert _row(_overview(db, sites, clock), "lanting").alarms.minor == 1


def test_open_and_overdue_orders_agree_with_the_stocktakes_rule(
    db: Database, sites: dict[str, Site], clock: ManualClock
) -> None:
    site, now = sites["binjiang"], clock.now()
    with db.session() as s:
        order(s, site, now - timedelta(hours=30))  # respond and resolve limits past
        order(s, site, now)
        late_then_accepted = order(s, site, now - timedelta(hours=20)).id
        transition(s, site.spec, late_then_accepted, Status.ACCEPTED, actor="li-shifu", now=now)
        held = order(s, site, now - timedelta(hours=40)).id
        hold(s, site.spec, held, reason="等配件", actor="li-shifu", now=now)
        cancelled = order(s, site, now - timedelta(hours=50)).id
        transition(s, site.spec, cancelled, Status.CANCELLED, actor="duty", now=now, note="重复")
        order(s, sites["lanting"], now - timedelta(hours=30))
    with db.session() as s:
        rows = s.scalars(select(WorkOrder).where(WorkOrder.site_id == "binjiang")).all()
        opened = [wo for wo in rows if wo.status in OPEN_STATUSES]
        expected_overdue = sum(1 for wo in opened if overdue_limits(wo, now))
    row = _row(_overview(db, sites, clock), "binjiang")
    assert (row.open_orders, row.overdue_orders) == (len(opened), expected_overdue)
    assert (row.open_orders, row.overdue_orders) == (4, 2)  # the held one's clock is stopped
    assert _row(_overview(db, sites, clock), "lanting").overdue_orders == 1


def test_a_device_is_offline_by_its_snapshot_or_an_open_communication_loss_alarm(
    db: Database, sites: dict[str, Site], clock: ManualClock
) -> None:
    site, now = sites["yuehai"], clock.now()
    with db.session() as s:
        rows = {a.code: a for a in s.scalars(select(Asset).where(Asset.site_id == "yuehai"))}
        rows["pump-1"].state, rows["pump-1"].state_at = {"online": False, "values": {}}, now
        rows["lift-1-1"].state, rows["lift-1-1"].state_at = {"online": True, "values": {}}, now
        rows["lighting-b"].state, rows["lighting-b"].state_at = {"online": False}, now
        raise_on(
            s,
            site,
            "door-north",
            Severity.MAJOR,
            "门禁控制器通信中断",
            now,
            alarm_type="communication_loss",
            episode="yuehai/door-north/comm/door-north/",
        )
        set_out_of_service(s, "yuehai", "lighting-b", actor="duty", reason="改造", now=now)
    row = _row(_overview(db, sites, clock), "yuehai")
    assert (row.devices, row.devices_offline, row.devices_out_of_service) == (3, 2, 1)
    assert _row(_overview(db, sites, clock), "lanting").devices_offline == 0


def test_the_site_that_needs_the_duty_centre_most_comes_first(
    db: Database, sites: dict[str, Site], clock: ManualClock
) -> None:
    now = clock.now()
    with db.session() as s:
        raise_on(s, sites["yuehai"], "lift-1-1", Severity.MAJOR, "平层误差", now, alarm_type="x")
        order(s, sites["binjiang"], now - timedelta(hours=30))
        raise_on(s, sites["lanting"], "pump-1", Severity.CRITICAL, "出水压力过低", now)
    assert [r.site_id for r in _overview(db, sites, clock).sites] == [
        "lanting",  # an emergency
        "binjiang",  # a broken time limit
        "yuehai",  # a major alarm (its order is not late yet)
    ]


def test_tonights_lighting_shows_each_sites_check_and_its_dark_circuits(
    db: Database, sites: dict[str, Site], clock: ManualClock
) -> None:
    clock.set(check_time(sites["lanting"].spec, NIGHT) - timedelta(hours=2))
    assert {r.lighting.state for r in _overview(db, sites, clock).sites} == {LightingState.WAITING}
    with db.session() as s:
        night_lighting_check(s, sites["lanting"], clock.now())  # the first start: next check
        row = s.scalars(
            select(Asset).where(Asset.site_id == "lanting", Asset.code == "lighting-b")
        ).one()
        values: dict[str, float | bool] = {}
        for n in range(1, 9):
            values[f"circuit_{n}_command"] = True
            values[f"circuit_{n}_current"] = 0.02 if n == 3 else 2.1
            values[f"circuit_{n}_rated_current"] = 2.5
        row.state = {"online": True, "values": values}
        row.state_at = sunset_at(sites["lanting"].spec, NIGHT) + timedelta(minutes=20)
    clock.set(check_time(sites["lanting"].spec, NIGHT) + timedelta(minutes=1))
    with db.session() as s:
        night_lighting_check(s, sites["lanting"], clock.now())
    view = _overview(db, sites, clock)
    lanting = _row(view, "lanting").lighting
    assert (lanting.state, lanting.state_zh) == (LightingState.PATROLLING, "巡查中")
    assert (lanting.patrols, lanting.patrols_done, lanting.items) == (1, 0, 8)
    assert (lanting.dark_circuits, lanting.open_faults) == (1, 1)
    assert _row(view, "binjiang").lighting.state is LightingState.NO_PATROL
    assert view.sites[0].site_id == "lanting"  # dark lighting outranks a quiet site


def test_the_number_of_queries_does_not_grow_with_the_number_of_sites(
    db: Database, sites: dict[str, Site], clock: ManualClock
) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.session() as s:
            sites_overview(s, [sites["lanting"]], clock.now())
        one = len(statements)
        statements.clear()
        with db.session() as s:
            sites_overview(s, sites.values(), clock.now())
        assert len(statements) == one
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
