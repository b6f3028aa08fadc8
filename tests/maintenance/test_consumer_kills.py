"""A real `propwatch maintenance` process, killed with SIGKILL and stopped with SIGTERM while it
works through a backlog of 1,200 alarm events, loses none and applies each exactly once.

Its own mosquitto (no in-flight window, as in every test broker), so the service also fills up
(`PROPWATCH_MAINTENANCE_QUEUE_CAPACITY` 200) and renews its session for the rest along the way.
`bench/consumer_kills.py` runs the same with more kills and prints the figures.
"""

from __future__ import annotations

import signal
from pathlib import Path

from propwatch.site import Site
from tests.maintenance.consumer_kills import alternating, run_kills
from tests.support.servers import start_mosquitto


def test_killed_and_stopped_service_applies_every_event_of_a_backlog_exactly_once(
    tmp_path: Path, database_url: str, example_site: Site
) -> None:
    broker = start_mosquitto(tmp_path)
    try:
        outcome = run_kills(
            site=example_site,
            mqtt_url=broker.url,
            database_url=database_url,
            var=tmp_path / "var",
            episodes_per_fault=150,
            signals=alternating(4),
            queue_capacity=200,
        )
    finally:
        broker.stop()

    during = outcome.interruptions[:-1]  # the last one stops it after the drain
    assert [i.signal for i in during] == ["SIGKILL", "SIGTERM", "SIGKILL", "SIGTERM"]
    assert all(i.applied_before < outcome.published for i in during), "a kill without backlog"
    assert [i.exit_code for i in outcome.interruptions] == [
        -signal.SIGKILL,
        0,
        -signal.SIGKILL,
        0,
        0,
    ]
    assert outcome.published == 1200
    assert (outcome.applied, outcome.lost, outcome.unexpected) == (1200, 0, 0)
    assert outcome.episodes == 600 and outcome.alarms_wrong == 0
    # one work order per asset and alarm type, every episode counted on it once
    assert (outcome.work_orders, outcome.duplicated_work_orders) == (4, 0)
    assert outcome.doubled_occurrences == 0 and outcome.doubled_clear_notes == 0
    assert outcome.dead_letters == outcome.malformed_published == 5
