"""A real `propwatch maintenance` killed N times (SIGKILL and SIGTERM in turn) during a backlog.

    .venv/bin/python -m bench.consumer_kills [--episodes 300] [--kills 8]
        [--database sqlite|postgresql|both] [--broker-window 100] [--capacity 1000]

Starts its own mosquitto (`max_inflight_messages` = `--broker-window`, 100 as in
deploy/site/mosquitto/mosquitto.conf; 0 is no window, as in the test brokers) and, for
PostgreSQL, its own cluster. Publishes 8 events per episode count (a raise and a clear on each of
four assets of the example site) plus 5 malformed messages, most before the service starts and
the rest while it runs; interrupts it `--kills` times as it works through them, restarting it
each time; then reads the database. Prints events published, applied, lost, duplicated work
orders, doubled effects, dead letters and the time to drain, first without interruptions as the
baseline, then with them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from propwatch.site import load_site
from tests.conftest import EXAMPLE_SITE
from tests.maintenance.consumer_kills import Outcome, alternating, run_kills
from tests.support.postgres import Postgres, start_postgres
from tests.support.servers import start_mosquitto


def _report(database: str, kills: int, o: Outcome) -> None:
    signals = ", ".join(f"{i.signal}@{i.applied_before}→{i.exit_code}" for i in o.interruptions)
    print(
        f"{database:<10} kills={kills:<2} published={o.published} applied={o.applied} "
        f"lost={o.lost} unexpected={o.unexpected} alarms_wrong={o.alarms_wrong} "
        f"work_orders={o.work_orders} duplicated_work_orders={o.duplicated_work_orders} "
        f"doubled_occurrences={o.doubled_occurrences} "
        f"doubled_clear_notes={o.doubled_clear_notes} "
        f"dead_letters={o.dead_letters}/{o.malformed_published} "
        f"drain={o.drain_seconds:.1f}s ({o.published / o.drain_seconds:.0f} events/s)"
    )
    print(f"           interruptions (signal@applied→exit code): {signals}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=300, help="episodes per asset")
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--broker-window", type=int, default=100)
    parser.add_argument("--capacity", type=int, default=None, help="the service's default")
    args = parser.parse_args()
    site = load_site(EXAMPLE_SITE)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    pg: Postgres | None = start_postgres() if "postgresql" in databases else None
    try:
        for database in databases:
            for kills in (0, args.kills):
                tmp = Path(tempfile.mkdtemp(prefix="consumer-kills-"))
                broker = start_mosquitto(tmp, f"max_inflight_messages {args.broker_window}\n")
                url = (
                    pg.create_database()
                    if pg is not None and database == "postgresql"
                    else f"sqlite:///{tmp}/propwatch.db"
                )
                try:
                    outcome = run_kills(
                        site=site,
                        mqtt_url=broker.url,
                        database_url=url,
                        var=tmp / "var",
                        episodes_per_fault=args.episodes,
                        signals=alternating(kills),
                        queue_capacity=args.capacity,
                        drain_within=900,
                    )
                finally:
                    broker.stop()
                _report(database, kills, outcome)
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
