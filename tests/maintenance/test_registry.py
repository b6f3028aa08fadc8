"""Registry: loading the site file upserts; what leaves the file is retired, never deleted."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from maintenance.assignment import choose_assignee
from maintenance.db import Database
from maintenance.registry.models import Asset, Building, SiteRecord
from maintenance.registry.service import duty_at, sync_registry
from propwatch.clock import ManualClock
from propwatch.site import DutyShift, Site
from tests.maintenance.helpers import directory_of, order

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _without_pump(site: Site) -> Site:
    spec = site.spec.model_copy(
        update={"assets": [a for a in site.spec.assets if a.id != "pump-1"]}
    )
    return Site(site.path, spec, site.profiles)


def test_loading_twice_changes_nothing_the_second_time(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        again = sync_registry(s, site, clock.now())
    assert (again.added, again.retired) == (0, 0)


def test_the_site_and_its_buildings_are_registered(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        record = s.scalars(select(SiteRecord)).one()
        buildings = set(s.scalars(select(Building.name)))
    assert (record.code, record.name, record.timezone) == ("hexie", "和谐花园", "Asia/Shanghai")
    assert {"1栋", "水泵房", "北门"} <= buildings


def test_an_asset_removed_from_the_file_is_retired_with_its_history(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        wo_id = order(s, site, clock.now()).id
    clock.advance(timedelta(days=1))
    with db.session() as s:
        result = sync_registry(s, _without_pump(site), clock.now())
        pump = s.scalars(select(Asset).where(Asset.code == "pump-1")).one()
        from maintenance.work_orders.models import WorkOrder

        wo = s.get(WorkOrder, wo_id)
    assert result.retired == 1 and pump.retired_at == clock.now()
    assert wo is not None and wo.asset_id == pump.id


def test_an_asset_listed_again_comes_back(db: Database, site: Site, clock: ManualClock) -> None:
    with db.session() as s:
        sync_registry(s, _without_pump(site), clock.now())
    with db.session() as s:
        sync_registry(s, site, clock.now())
        pump = s.scalars(select(Asset).where(Asset.code == "pump-1")).one()
    assert pump.retired_at is None


def test_a_changed_asset_is_updated_in_place(db: Database, site: Site, clock: ManualClock) -> None:
    moved = [
        a.model_copy(update={"location": "地下二层"}) if a.id == "pump-1" else a
        for a in site.spec.assets
    ]
    changed = Site(site.path, site.spec.model_copy(update={"assets": moved}), site.profiles)
    with db.session() as s:
        sync_registry(s, changed, clock.now())
        pumps = s.scalars(select(Asset).where(Asset.code == "pump-1")).all()
    assert [p.location for p in pumps] == ["地下二层"]


def test_a_night_alarm_goes_to_the_night_duty_technician(site: Site) -> None:
    night = datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)
    assert choose_assignee(site.spec, "zone-a", night) == "li-shifu"


def test_a_day_alarm_goes_to_the_zone_technician(site: Site) -> None:
    day = datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI)
    assert choose_assignee(site.spec, "zone-b", day) == "li-shifu"
    assert choose_assignee(site.spec, "zone-a", day) == "wang-gong"


def test_a_dated_rota_line_covers_the_small_hours_of_the_next_day(site: Site) -> None:
    duty = site.spec.duty.model_copy(
        update={"shifts": [DutyShift(date=date(2026, 11, 23), night_technician="wang-gong")]}
    )
    spec = site.spec.model_copy(update={"duty": duty})
    small_hours = datetime(2026, 11, 24, 3, 0, tzinfo=SHANGHAI)
    now = duty_at(spec, small_hours)
    assert (now.night, now.shift_date, now.technician) == (True, date(2026, 11, 23), "wang-gong")


def test_two_replicas_loading_a_new_site_at_once_both_start(
    db: Database, example_site: Site, clock: ManualClock, tmp_path: Path
) -> None:
    import threading

    from maintenance.service import MaintenanceService
    from propwatch.settings import Settings

    settings = Settings(var_dir=tmp_path)
    replicas = [
        MaintenanceService(
            directory_of(example_site, clock), settings, clock, "mqtt://127.0.0.1:1", db
        )
        for _ in range(2)
    ]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def load(svc: MaintenanceService) -> None:
        start.wait(5)
        try:
            svc.load_registry(example_site)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with db.session() as s:
        codes = list(s.scalars(select(Asset.code)))
    assert errors == [] and sorted(codes) == sorted(a.id for a in example_site.spec.assets)
