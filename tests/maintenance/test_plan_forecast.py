"""工作量预测: 90 days of plan orders and labour hours, per zone, technician and week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from maintenance.db import Database
from maintenance.plans.forecast import plan_forecast
from maintenance.plans.service import materialize_due
from maintenance.registry.service import sync_registry
from maintenance.statutory.service import InspectionResult, record_inspection
from propwatch.site import Site
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 1, 10, tzinfo=TZ).astimezone(UTC)  # a Sunday


def _site(db: Database, tmp_path: Path) -> Site:
    site = plan_site(
        tmp_path,
        fleet("elevator", 1, "zone-a", "1栋", "lift")
        + fleet("elevator", 1, "zone-b", "3栋", "liftb")
        + fleet("water_pump", 1, "zone-a", "水泵房", "pump"),
        [
            {"id": "lift-hm", "template": "elevator-half-monthly", "estimated_hours": 1.5},
            {
                "id": "lift-q",
                "template": "elevator-quarterly",
                "absorbs": ["lift-hm"],
                "estimated_hours": 2.5,
            },
            {
                "id": "pump-float",
                "every": "30d",
                "floating": True,
                "targets": {"kinds": ["water_pump"]},
                "checklist": [{"id": "x", "text": "水泵运行正常"}],
                "estimated_hours": 0.5,
            },
        ],
    )
    with db.session() as s:
        sync_registry(s, site, NOW)
        record_inspection(
            s,
            site,
            InspectionResult("lift-1", "elevator-periodic", date(2025, 5, 20), True, "TS-1"),
            by="wang-gong",
            now=NOW,
        )
        materialize_due(s, site, NOW)  # the floating plan's baseline is now
    return site


def test_ninety_days_of_orders_and_hours_per_zone_and_technician(
    db: Database, tmp_path: Path
) -> None:
    site = _site(db, tmp_path)
    with db.session() as s:
        f = plan_forecast(s, site, NOW, days=90, limit=1000)
    # By hand, (1 Mar 10:00, 30 May 10:00]: the half-monthly Mondays 9 Mar, 23 Mar, 6 Apr,
    # 20 Apr, 4 May, 18 May for each lift, less 6 Apr (4 days from the quarterly 10 Apr,
    # which absorbs it): 5 x 1.5 h; the quarterly visit 2.5 + 1.5 h; per lift 6 orders, 11.5 h.
    # The pump every 30 days from now: 31 Mar, 30 Apr, 30 May (the last instant): 3 x 0.5 h.
    # The lift's 定期检验 is due 20 May; its order opens 14 days before, 6 May: 2 h.
    assert (f.orders, f.hours) == (6 + 6 + 3 + 1, 11.5 * 2 + 1.5 + 2)
    zones = {g.id: (g.name, g.orders, g.hours) for g in f.by_zone}
    assert zones == {"zone-a": ("A区", 10, 15.0), "zone-b": ("B区", 6, 11.5)}
    techs = {g.id: (g.name, g.orders, g.hours) for g in f.by_technician}
    assert techs == {"wang-gong": ("王工", 10, 15.0), "li-shifu": ("李师傅", 6, 11.5)}
    lift_days = sorted(
        v.due_at.astimezone(TZ).date().isoformat() for v in f.visits if v.asset == "lift-1"
    )
    assert lift_days == [
        "2026-03-09",
        "2026-03-23",
        "2026-04-10",
        "2026-04-20",
        "2026-05-04",
        "2026-05-06",
        "2026-05-18",
    ]
    [quarterly] = [v for v in f.visits if v.plan_id == "lift-q" and v.asset == "lift-1"]
    assert (quarterly.hours, quarterly.absorbs) == (4.0, ["lift-hm"])
    assert sum(w.orders for w in f.by_week) == f.orders
    assert sum(w.hours for w in f.by_week) == f.hours
    assert len(f.by_week) == 13 and f.by_week[0].start == NOW
    assert [w.orders for w in f.by_week[:3]] == [0, 2, 0]  # 9 Mar, two lifts


def test_a_floating_order_still_open_counts_the_next_from_its_due_time(
    db: Database, tmp_path: Path
) -> None:
    site = _site(db, tmp_path)
    with db.session() as s:
        materialize_due(s, site, NOW + timedelta(days=30))  # the pump's order, left open
        f = plan_forecast(s, site, NOW + timedelta(days=31), days=60, limit=1000)
    pump = [v.due_at for v in f.visits if v.plan_id == "pump-float"]
    assert pump == [NOW + timedelta(days=60), NOW + timedelta(days=90)]
