"""The all-sites overview (全部项目总览) and the month's league (项目排名) over generated sites.

    .venv/bin/python -m bench.overview                       # 200 sites x 50 assets, 1M orders
    .venv/bin/python -m bench.overview --orders 100000 --keep /tmp/pw-pg

Generates the site files (`bench.many_sites`), builds the PostgreSQL database
(`bench.many_sites_db`: registries, orders by COPY), then gives every site a few active alarms
(one site in five an emergency), one asset in fifty an offline snapshot, and every lighting
panel telemetry, and times:

- `sites_overview` over all the sites (what `GET /api/v1/overview` answers for a company
  token), and over one region's sites;
- `league_report` of the latest month over all the sites (`GET /api/v1/reports/league`);

each as the median and the slowest of `--runs` runs in one session, the statements counted. It
prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bench.many_sites import write_sites
from bench.many_sites_db import NOW, build, cluster, ensure_database
from maintenance.alarms.models import Alarm
from maintenance.db import Database
from maintenance.overview import sites_overview
from maintenance.registry.models import Asset
from maintenance.reports import league_report
from propwatch.site import Site, load_site

SEVERITIES = ("major", "minor", "warning", "minor")


def _seed_state(db: Database, sites: list[Site]) -> dict[str, int]:
    """Alarms, offline devices and lighting telemetry, as the consumer would have left them."""
    counts = {"alarms": 0, "offline": 0}
    with db.session() as s:
        if s.scalar(select(Alarm.id).where(Alarm.rule_id == "bench-overview").limit(1)):
            return {}
        for i, site in enumerate(sites):
            assets = list(s.scalars(select(Asset).where(Asset.site_id == site.id)))
            for k, asset in enumerate(assets[:4]):
                severity = "critical" if (k == 0 and i % 5 == 0) else SEVERITIES[k]
                s.add(
                    Alarm(
                        site_id=site.id,
                        episode_id=f"{site.id}/{asset.code}/bench/{k}",
                        asset_code=asset.code,
                        alarm_type="bench",
                        severity=severity,
                        rule_id="bench-overview",
                        message="压测告警",
                        raised_at=NOW - timedelta(minutes=k),
                        acknowledged_at=NOW if k % 2 else None,
                        acknowledged_by="duty" if k % 2 else None,
                    )
                )
                counts["alarms"] += 1
            for k, asset in enumerate(assets):
                if asset.kind == "lighting_panel":
                    values: dict[str, object] = {"command": True, "current": 2.0}
                    asset.state, asset.state_at = {"online": True, "values": values}, NOW
                elif (i * 50 + k) % 50 == 7:
                    asset.state, asset.state_at = {"online": False, "values": {}}, NOW
                    counts["offline"] += 1
    return counts


def _timed(db: Database, runs: int, work: Callable[[Session], object]) -> tuple[float, float, int]:
    """(median ms, slowest ms, statements per run)."""
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine, "before_cursor_execute", count)
    took = []
    try:
        for _ in range(runs):
            with db.session() as s:
                t0 = time.perf_counter()
                work(s)
                took.append((time.perf_counter() - t0) * 1000)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return statistics.median(took), max(took), statements // runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the PostgreSQL cluster in this folder")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = (args.keep or Path(tempfile.mkdtemp(prefix="propwatch-overview-"))) / "sites"
        generated = write_sites(folder, args.sites, args.assets)
        t0 = time.perf_counter()
        sites = [load_site(g.path) for g in generated]
        print(
            f"{len(sites)} sites x {args.assets} assets loaded in {time.perf_counter() - t0:.1f} s"
        )
        pg = stack.enter_context(cluster(args.keep))
        url = ensure_database(pg)
        took = build(url, sites, args.orders)
        if took:
            print("database built: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))
        db = Database(url)
        stack.callback(db.dispose)
        seeded = _seed_state(db, sites)
        if seeded:
            print(f"seeded {seeded['alarms']} active alarms, {seeded['offline']} devices offline")
        region = sites[0].spec.site.region
        in_region = [s for s in sites if s.spec.site.region == region]
        local = NOW.astimezone(sites[0].spec.site.tz)
        month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        figures: list[tuple[str, Callable[[Session], object]]] = [
            (
                f"overview, {len(sites)} sites",
                lambda s: sites_overview(s, sites, NOW),
            ),
            (
                f"overview, one region ({len(in_region)} sites)",
                lambda s: sites_overview(s, in_region, NOW),
            ),
            (
                f"league {month[0]}-{month[1]:02d}, {len(sites)} sites",
                lambda s: league_report(s, [x.spec for x in sites], month[0], month[1], NOW),
            ),
        ]
        with db.session() as s:
            view = sites_overview(s, sites, NOW)
        worst = view.sites[0]
        print(
            f"worst first: {worst.name} (紧急 {worst.alarms.critical}, 超时 {worst.overdue_orders},"
            f" 离线 {worst.devices_offline}); open orders in all: "
            f"{sum(r.open_orders for r in view.sites)}"
        )
        for name, work in figures:
            median, slowest, statements = _timed(db, args.runs, work)
            print(
                f"{name}: median {median:.0f} ms, slowest {slowest:.0f} ms of {args.runs}, "
                f"{statements} statements"
            )


if __name__ == "__main__":
    main()
