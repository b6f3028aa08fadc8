"""Measure the maintenance core: alarm events applied per second (one transaction each, as the
consumer does), and how long the escalation pass, the 日盘点 and the monthly report take.

    .venv/bin/python -m bench.maintenance_core                 # SQLite file in a temp dir
    .venv/bin/python -m bench.maintenance_core --postgres      # a throwaway PostgreSQL 15 cluster
    .venv/bin/python -m bench.maintenance_core --database-url postgresql+psycopg://...

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from maintenance.alarms.service import apply_alarm_event
from maintenance.db import Database
from maintenance.escalation import escalate_overdue
from maintenance.registry.service import sync_registry
from maintenance.reports import daily_stocktake, monthly_report
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import Asset, Site, load_site

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "examples" / "hexie-garden" / "site.yaml"
START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _big_site(assets: int) -> Site:
    """The example site with `assets` pumps spread over its zones."""
    site = load_site(SITE)
    zones = [z.id for z in site.spec.zones]
    extra = [
        Asset(id=f"pump-x{i}", name=f"{i}号水泵", kind="water_pump", zone=zones[i % len(zones)])
        for i in range(assets)
    ]
    spec = site.spec.model_copy(update={"assets": [*site.spec.assets, *extra]})
    return Site(site.path, spec, site.profiles)


def _events(site: Site, episodes: int, rng: random.Random) -> list[AlarmEvent]:
    """Raises, repeated raises, clears and redeliveries, in time order."""
    assets = [a.id for a in site.spec.assets if a.kind == "water_pump"]
    types = ["low_outlet_pressure", "bearing_overheat"]
    out: list[AlarmEvent] = []
    t = START
    for i in range(episodes):
        t += timedelta(seconds=rng.randint(5, 120))
        base = dict(
            site_id=site.id,
            episode_id=f"ep-{i}",
            asset_id=rng.choice(assets),
            alarm_type=rng.choice(types),
            severity=Severity.CRITICAL,
            rule_id="bench",
            message="bench",
        )
        raise_ = AlarmEvent(event_id=f"r-{i}", occurred_at=t, action=AlarmAction.RAISE, **base)
        out.append(raise_)
        if rng.random() < 0.2:
            out.append(raise_)  # a broker redelivery
        if rng.random() < 0.3:
            out.append(
                AlarmEvent(event_id=f"rr-{i}", occurred_at=t, action=AlarmAction.RAISE, **base)
            )
        out.append(
            AlarmEvent(
                event_id=f"c-{i}",
                occurred_at=t + timedelta(seconds=30),
                action=AlarmAction.CLEAR,
                **base,
            )
        )
    return out


def _timed(label: str, fn: object, *args: object) -> object:
    assert callable(fn)
    t0 = time.perf_counter()
    result = fn(*args)
    print(f"  {label:<34} {1000 * (time.perf_counter() - t0):8.1f} ms")
    return result


def run(url: str, episodes: int, assets: int) -> None:
    rng = random.Random(7)
    site = _big_site(assets)
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        sync_registry(s, site, START)
    events = _events(site, episodes, rng)
    t0 = time.perf_counter()
    for e in events:
        with db.session() as s:
            apply_alarm_event(s, site.spec, e, e.occurred_at)
    elapsed = time.perf_counter() - t0
    backend = url.split(":", 1)[0]
    print(f"{backend}: {len(events)} alarm events ({episodes} episodes, {assets} assets)")
    print(f"  applied one transaction each        {len(events) / elapsed:8.0f} events/s")
    now = START + timedelta(days=3)
    with db.session() as s:
        fired = _timed("escalation pass (first)", escalate_overdue, s, site.spec, now)
    with db.session() as s:
        _timed("escalation pass (nothing new)", escalate_overdue, s, site.spec, now)
    with db.session() as s:
        stock = _timed("daily stocktake", daily_stocktake, s, site.spec, now)
    with db.session() as s:
        _timed("monthly report", monthly_report, s, site.spec, 2026, 11, now)
    assert isinstance(fired, list)
    print(f"  escalations fired: {len(fired)}; stocktake items: {getattr(stock, 'total', '?')}")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3000)
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--database-url")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway cluster")
    args = parser.parse_args()
    if args.database_url:
        run(args.database_url, args.episodes, args.assets)
    elif args.postgres:
        from tests.support.postgres import start_postgres

        pg = start_postgres()
        try:
            run(pg.create_database(), args.episodes, args.assets)
        finally:
            pg.stop()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", args.episodes, args.assets)


if __name__ == "__main__":
    main()
