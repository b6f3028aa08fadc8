"""Measure the alarm-system KPIs: one site's month (the 月报 section) and one `/metrics` scrape
over every site, on a table of many alarm episodes; with and without the index on
(site_id, raised_at) they would want.

    .venv/bin/python -m bench.alarm_kpi                      # SQLite file in a temp dir
    .venv/bin/python -m bench.alarm_kpi --postgres           # a throwaway PostgreSQL 15 cluster
    .venv/bin/python -m bench.alarm_kpi --database-url postgresql+psycopg://...

Prints figures (median of `--repeat` runs); asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from maintenance.alarms.kpi import alarm_system_kpis, rolling_kpis
from maintenance.alarms.models import Alarm
from maintenance.db import Database
from maintenance.reports import month_bounds
from propwatch.site import SiteFile, load_site

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "examples" / "hexie-garden" / "site.yaml"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
INDEX = "ix_bench_alarm_site_raised"


def _specs(sites: int) -> list[SiteFile]:
    spec = load_site(SITE).spec
    return [
        spec.model_copy(update={"site": spec.site.model_copy(update={"id": f"site-{i}"})})
        for i in range(sites)
    ]


def _fill(
    db: Database, specs: list[SiteFile], alarms: int, unacked: float, rng: random.Random
) -> None:
    """`alarms` episodes spread over 60 days before NOW, with a flood now and then; 5 % still
    active, 3 % suppressed, 10 % flagged chattering; a share `unacked` of the cleared ones was
    never acknowledged (已恢复未确认, counted on every scrape)."""
    rows: list[dict[str, object]] = []
    span = 60 * 24 * 3600
    for i in range(alarms):
        site = rng.choice(specs).site.id
        at = NOW - timedelta(seconds=rng.random() * span)
        if rng.random() < 0.1:  # bursts: floods and chattering
            at = NOW - timedelta(seconds=(rng.randrange(span // 600) * 600 + rng.random() * 120))
        active = rng.random() < 0.05
        acked = not active and rng.random() >= unacked
        rows.append(
            {
                "site_id": site,
                "episode_id": f"bench-{i}",
                "asset_code": f"asset-{rng.randrange(300)}",
                "alarm_type": rng.choice(("low_outlet_pressure", "door_fault", "dark", "trip")),
                "severity": rng.choice(("critical", "major", "minor", "warning")),
                "rule_id": "bench",
                "message": "",
                "state": "raised" if active else "cleared",
                "raised_at": at,
                "cleared_at": None if active else at + timedelta(seconds=rng.randint(10, 3600)),
                "raise_count": 1,
                "evidence": {},
                "acknowledged_at": at + timedelta(minutes=5) if acked else None,
                "acknowledged_by": "duty" if acked else None,
                "chattering": rng.random() < 0.1,
                "stale": False,
                "late": False,
                "suppressed_reason": "计划保养中" if rng.random() < 0.03 else None,
            }
        )
    with db.session() as s:
        for i in range(0, len(rows), 5000):
            s.execute(insert(Alarm), rows[i : i + 5000])


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def run(url: str, sites: int, alarms: int, unacked: float, repeat: int) -> None:
    db = Database(url)
    db.upgrade()
    specs = _specs(sites)
    _fill(db, specs, alarms, unacked, random.Random(7))
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    start, end = month_bounds(specs[0], 2026, 11)

    def month() -> object:
        with db.sessions() as s:
            return alarm_system_kpis(s, specs[0], start, end, NOW)

    def scrape() -> object:
        with db.sessions() as s:
            return rolling_kpis(s, specs, NOW)

    backend = url.split(":", 1)[0].split("+", 1)[0]
    print(
        f"{backend}: {alarms} alarm episodes over 60 days, {sites} sites, "
        f"{unacked:.0%} of the cleared ones never acknowledged"
    )
    for label in ("without", "with"):
        if label == "with":
            with db.engine.begin() as conn:
                conn.execute(text(f"CREATE INDEX {INDEX} ON alarm (site_id, raised_at)"))
                conn.execute(text("ANALYZE"))
        print(f"  {label} an index on alarm (site_id, raised_at)")
        print(f"    one site's month (月报 section)   {_median_ms(month, repeat):8.1f} ms")
        print(f"    /metrics, every site            {_median_ms(scrape, repeat):8.1f} ms")
    kpis = month()
    print(f"  site-0 November: {getattr(kpis, 'load', None)}")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--alarms", type=int, default=200_000)
    parser.add_argument("--unacknowledged", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway cluster")
    args = parser.parse_args()
    if args.database_url:
        run(args.database_url, args.sites, args.alarms, args.unacknowledged, args.repeat)
    elif args.postgres:
        from tests.support.postgres import start_postgres

        pg = start_postgres()
        try:
            run(pg.create_database(), args.sites, args.alarms, args.unacknowledged, args.repeat)
        finally:
            pg.stop()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(
                f"sqlite:///{tmp}/bench.db",
                args.sites,
                args.alarms,
                args.unacknowledged,
                args.repeat,
            )


if __name__ == "__main__":
    main()
