"""项目排名: the month's league of sites and of zones across three properties."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from maintenance.db import Database
from maintenance.registry.service import sync_registry
from maintenance.reports import league_report, monthly_report
from maintenance.work_orders.models import Status
from maintenance.work_orders.service import transition
from propwatch.clock import ManualClock
from propwatch.site import Site, load_site
from tests.maintenance.helpers import order
from tests.support.three_sites import three_sites

SHANGHAI = ZoneInfo("Asia/Shanghai")
URUMQI = "Asia/Urumqi"  # two hours behind Shanghai
FIX = (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED)
DECEMBER_2 = datetime(2026, 12, 2, tzinfo=SHANGHAI)


@pytest.fixture
def sites(db: Database, clock: ManualClock, tmp_path: Path) -> dict[str, Site]:
    folder = tmp_path / "sites"
    loaded = three_sites(folder)
    path = folder / "yuehai.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["site"]["timezone"] = URUMQI
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    loaded[2] = load_site(path)
    with db.session() as s:
        for site in loaded:
            sync_registry(s, site, clock.now())
    return {site.id: site for site in loaded}


def _fixed(
    db: Database,
    site: Site,
    reported: datetime,
    repair: timedelta,
    *,
    asset: str = "pump-1",
    alarm_type: str = "low_outlet_pressure",
) -> int:
    with db.session() as s:
        wo_id = order(s, site, reported, asset=asset, alarm_type=alarm_type).id
        for to in FIX:
            transition(s, site.spec, wo_id, to, actor="wang-gong", now=reported + repair)
    return wo_id


def test_sites_are_ranked_by_time_limits_kept_and_rework_with_mttr_and_overdue(
    db: Database, sites: dict[str, Site]
) -> None:
    start = datetime(2026, 11, 4, 9, 0, tzinfo=SHANGHAI)
    _fixed(db, sites["lanting"], start, timedelta(hours=2))
    _fixed(db, sites["binjiang"], start, timedelta(hours=40))  # past the 24 h limit
    _fixed(db, sites["binjiang"], start + timedelta(days=1), timedelta(hours=2), alarm_type="x")
    _fixed(db, sites["yuehai"], start, timedelta(hours=1))
    _fixed(db, sites["yuehai"], start + timedelta(days=3), timedelta(hours=1))  # the same fault
    with db.session() as s:
        league = league_report(s, [site.spec for site in sites.values()], 2026, 11, DECEMBER_2)
    assert [(r.rank, r.site_id, r.name) for r in league.sites] == [
        (1, "lanting", "兰亭苑"),
        (2, "yuehai", "粤海花园"),  # on time, but one of two repairs came back
        (3, "binjiang", "滨江名邸"),  # one of two late
    ]
    lanting, yuehai, binjiang = league.sites
    assert (lanting.resolve_on_time_rate, lanting.mttr_hours, lanting.overdue) == (1.0, 2.0, 0)
    assert (yuehai.rework_rate, yuehai.score) == (0.5, 75.0)
    assert (binjiang.resolve_on_time_rate, binjiang.mttr_hours, binjiang.overdue) == (0.5, 21.0, 1)
    assert binjiang.region == "east"


def test_the_zone_league_across_sites_agrees_with_each_sites_monthly_report(
    db: Database, sites: dict[str, Site]
) -> None:
    start = datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI)
    _fixed(db, sites["lanting"], start, timedelta(hours=30))  # zone-a, late
    _fixed(db, sites["lanting"], start, timedelta(hours=1), asset="door-north", alarm_type="d")
    _fixed(db, sites["binjiang"], start, timedelta(hours=3), asset="door-north", alarm_type="d")
    with db.session() as s:
        league = league_report(s, [site.spec for site in sites.values()], 2026, 11, DECEMBER_2)
        monthly = {
            site_id: monthly_report(s, site.spec, 2026, 11, DECEMBER_2)
            for site_id, site in sites.items()
        }
    assert len(league.zones) == 6  # two zones in each of three sites
    assert [(z.site_id, z.zone) for z in league.zones[:2]] == [
        ("lanting", "zone-b"),  # 100, MTTR 1 h
        ("binjiang", "zone-b"),  # 100, MTTR 3 h
    ]
    assert (league.zones[-1].site_id, league.zones[-1].zone) == ("lanting", "zone-a")
    assert league.zones[0].site_name == "兰亭苑" and league.zones[0].name == "B区"
    for z in league.zones:
        own = next(x for x in monthly[z.site_id].league if x.zone == z.zone)
        mine = z.model_dump(exclude={"rank", "site_id", "site_name"})
        assert mine == own.model_dump(exclude={"rank"})


def test_each_site_is_measured_over_its_own_local_month(
    db: Database, sites: dict[str, Site]
) -> None:
    # 01:00 on 1 December in Shanghai is still 30 November, 23:00, in Urumqi
    instant = datetime(2026, 12, 1, 1, 0, tzinfo=SHANGHAI)
    for site_id in ("lanting", "yuehai"):
        _fixed(db, sites[site_id], instant, timedelta(minutes=30))
    with db.session() as s:
        specs = [site.spec for site in sites.values()]
        november = {
            r.site_id: r.work_orders for r in league_report(s, specs, 2026, 11, DECEMBER_2).sites
        }
        december = {
            r.site_id: r.work_orders for r in league_report(s, specs, 2026, 12, DECEMBER_2).sites
        }
    assert (november["lanting"], november["yuehai"]) == (0, 1)
    assert (december["lanting"], december["yuehai"]) == (1, 0)


def test_no_sites_make_an_empty_league(db: Database, sites: dict[str, Site]) -> None:
    with db.session() as s:
        league = league_report(s, [], 2026, 11, DECEMBER_2)
    assert (league.sites, league.zones, league.month) == ([], [], "2026-11")
