"""The event consumer acknowledges a message only once what it carried is committed or kept as a
dead letter, on a real mosquitto and a real database (SQLite and PostgreSQL) that goes away.

A second service on the same persistent session is the witness: whatever the first one did not
acknowledge, the broker delivers to it again; whatever it acknowledged, never."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlalchemy import func, select

from maintenance.alarms.models import Alarm, ProcessedEvent
from maintenance.db import Database
from maintenance.dead_letters import DeadLetter, DeadLetterKind
from maintenance.service import MaintenanceService
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.events import (
    AlarmAction,
    AlarmEvent,
    AssetStateEvent,
    Severity,
    alarm_topic,
    state_topic,
)
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from tests.conftest import EXAMPLE_SITE
from tests.maintenance.helpers import directory_of
from tests.support.postgres import Postgres
from tests.support.servers import Mosquitto


@dataclass
class AwayDatabase:
    """A real database that can be taken away and brought back while a service uses it."""

    url: str
    away: Callable[[Database], None]
    back: Callable[[], None]


@pytest.fixture(params=["sqlite", "postgresql"])
def away_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AwayDatabase]:
    if request.param == "sqlite":
        # Its directory moved away, as an unmounted volume: new connections cannot open it.
        home = tmp_path / "db"
        home.mkdir()

        def sqlite_away(db: Database) -> None:
            db.dispose()
            home.rename(tmp_path / "db-away")

        def sqlite_back() -> None:
            (tmp_path / "db-away").rename(home)

        yield AwayDatabase(f"sqlite:///{home}/propwatch.db", sqlite_away, sqlite_back)
        shutil.rmtree(tmp_path / "db-away", ignore_errors=True)
        return
    pg: Postgres = request.getfixturevalue("postgres")
    url = pg.create_database()
    name = url.rsplit("/", 1)[1]

    def admin(sql: str) -> None:
        with psycopg.connect(
            f"host=127.0.0.1 port={pg.port} user=propwatch dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    def pg_away(db: Database) -> None:
        # Refuses every new connection, superusers' too, and ends the open ones.
        admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")

    def pg_back() -> None:
        admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    yield AwayDatabase(url, pg_away, pg_back)
    pg_back()
    pg.drop_database(url)


@pytest.fixture
def lone_site(tmp_path: Path) -> Site:
    """The example site under an id of its own: its session and events are this test's alone."""
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["site"]["id"] = f"acks-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


async def _eventually(check: Callable[[], bool], what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


def _raise(site: Site, n: int, clock: ManualClock, event_id: str | None = None) -> AlarmEvent:
    return AlarmEvent(
        event_id=event_id or f"{site.id}-raise-{n}",
        site_id=site.id,
        occurred_at=clock.now(),
        action=AlarmAction.RAISE,
        episode_id=f"{site.id}/pump-1/episode-{n}",
        asset_id="pump-1",
        device_id="pump-1",
        alarm_type="low_outlet_pressure",
        severity=Severity.CRITICAL,
        rule_id="pump-outlet-pressure-low",
        message="出水压力过低，可能停水",
    )


class Harness:
    def __init__(self, site: Site, mosquitto: Mosquitto, db: Database, clock: ManualClock):
        self.site, self.mosquitto, self.db, self.clock = site, mosquitto, db, clock
        self.publisher = MqttConnection(mosquitto.url, f"test-publisher-{site.id}")

    @asynccontextmanager
    async def service(self, capacity: int = 1000) -> AsyncIterator[MaintenanceService]:
        """A maintenance service on the site's one persistent session, subscribed."""
        settings = Settings(database_url=self.db.url, maintenance_queue_capacity=capacity)
        async with MaintenanceService(
            directory_of(self.site, self.clock), settings, self.clock, self.mosquitto.url, self.db
        ) as m:
            # Asset-state probes until one is acknowledged: subscribed, and whatever the broker
            # had to deliver again on this session (it comes first) is through.
            probe = AssetStateEvent(
                site_id=self.site.id, occurred_at=self.clock.now(), asset_id="x"
            )
            while m.consumer.acknowledged == 0:
                self.publish(state_topic(self.site.id, "x"), probe.model_dump_json().encode())
                await asyncio.sleep(0.05)
            yield m

    def publish(self, topic: str, payload: bytes) -> None:
        self.publisher.publish(topic, payload, qos=1).wait_for_publish(10)

    def publish_event(self, event: AlarmEvent) -> None:
        self.publish(alarm_topic(self.site.id, event.asset_id), event.model_dump_json().encode())

    def count(self, model: type[ProcessedEvent] | type[DeadLetter] | type[Alarm]) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _run(harness: Harness, scenario: Callable[[], object]) -> None:
    async def main() -> None:
        harness.publisher.start()
        await harness.publisher.wait_connected()
        try:
            await scenario()  # type: ignore[misc]
        finally:
            harness.publisher.stop()

    asyncio.run(main())


def test_an_event_waits_unacknowledged_while_the_database_is_away_and_survives_a_stop(
    mosquitto: Mosquitto, lone_site: Site, away_db: AwayDatabase
) -> None:
    db = Database(away_db.url)
    h = Harness(lone_site, mosquitto, db, ManualClock())
    event = _raise(lone_site, 1, h.clock)

    async def scenario() -> None:
        async with h.service() as first:
            away_db.away(db)
            h.publish_event(event)
            await _eventually(lambda: first.consumer.db_retries >= 1, "a retry")
            h.clock.advance(timedelta(seconds=31))
            await _eventually(lambda: first.consumer.db_retries >= 2, "a second retry")
            # stopped while the database is still away: the event stays with the broker
        assert first.consumer.applied == 0
        away_db.back()
        async with h.service() as second:
            await _eventually(lambda: second.consumer.applied == 1, "the event delivered again")

    try:
        _run(h, scenario)
        with db.session() as s:
            assert s.scalars(select(ProcessedEvent.event_id)).all() == [event.event_id]
            assert s.scalars(select(Alarm.episode_id)).all() == [event.episode_id]
    finally:
        db.dispose()


def test_rejected_and_failing_events_are_kept_once_then_acknowledged(
    mosquitto: Mosquitto, lone_site: Site, away_db: AwayDatabase
) -> None:
    db = Database(away_db.url)
    h = Harness(lone_site, mosquitto, db, ManualClock())
    bug = _raise(lone_site, 1, h.clock, event_id="trips-a-bug")
    good = _raise(lone_site, 2, h.clock)
    garbage = b'{"type": "alarm", "version": 1, "site_id": "' + lone_site.id.encode() + b'"}'

    async def scenario() -> None:
        async with h.service() as first:
            apply = first.consumer._apply

            def buggy(topic: str, payload: bytes) -> str | None:
                """Our own code failing on one event: the case a dead letter is for."""
                if b"trips-a-bug" in payload:
                    raise RuntimeError("a bug in applying this event")
                return apply(topic, payload)

            first.consumer._apply = buggy  # type: ignore[method-assign]
            done = first.consumer.acknowledged
            h.publish_event(bug)
            h.publish(alarm_topic(lone_site.id, "pump-1"), garbage)
            h.publish(alarm_topic(lone_site.id, "pump-1"), garbage)  # sent twice by its source
            h.publish_event(good)
            await _eventually(lambda: first.consumer.acknowledged == done + 4, "four acks")
        assert (first.consumer.failed, first.consumer.rejected) == (1, 2)
        assert first.consumer.dead_letters == 2
        async with h.service() as second:
            pass  # its probe came through: nothing was left to deliver again before it
        assert second.consumer.rejected == second.consumer.failed == 0
        assert second.consumer.applied == second.consumer.duplicates == 0

    try:
        _run(h, scenario)
        with db.session() as s:
            kept = {d.kind: d for d in s.scalars(select(DeadLetter))}
            assert s.scalars(select(ProcessedEvent.event_id)).all() == [good.event_id]
        assert set(kept) == {DeadLetterKind.FAILED, DeadLetterKind.REJECTED}
        assert kept[DeadLetterKind.FAILED].payload == bug.model_dump_json().encode()
        assert "a bug in applying this event" in kept[DeadLetterKind.FAILED].reason
        assert kept[DeadLetterKind.REJECTED].payload == garbage
        assert "occurred_at" in kept[DeadLetterKind.REJECTED].reason
    finally:
        db.dispose()


def test_a_full_consumer_leaves_the_rest_to_the_broker_and_applies_all_in_order(
    mosquitto: Mosquitto, lone_site: Site, away_db: AwayDatabase
) -> None:
    db = Database(away_db.url)
    h = Harness(lone_site, mosquitto, db, ManualClock())
    events = [_raise(lone_site, n, h.clock) for n in range(40)]
    order: list[str] = []
    most_held = 0

    async def scenario() -> None:
        nonlocal most_held
        async with h.service(capacity=8) as m:
            handle = m.consumer.handle

            def recording(topic: str, payload: bytes) -> None:
                nonlocal most_held
                most_held = max(most_held, m.consumer.held)
                if "/alarms/" in topic:
                    order.append(json.loads(payload)["event_id"])
                handle(topic, payload)

            m.consumer.handle = recording  # type: ignore[method-assign]
            # The database stalls on the first event while the broker pushes all of them: the
            # test broker has no in-flight window (max_inflight_messages 0).
            away_db.away(db)
            for e in events:
                h.publish_event(e)
            await _eventually(lambda: m.consumer.refused >= len(events) - 8, "refusals")
            away_db.back()
            h.clock.advance(timedelta(seconds=31))
            await _eventually(lambda: m.consumer.applied == len(events), "every event")
        assert m.consumer.session_renewals >= 1
        assert m.consumer.duplicates == 0

    try:
        _run(h, scenario)
        assert list(dict.fromkeys(order)) == [e.event_id for e in events]
        assert most_held <= 8
        assert h.count(ProcessedEvent) == len(events)
        with db.session() as s:
            (order_row,) = s.scalars(select(WorkOrder)).all()
            assert order_row.occurrences == len(events)
    finally:
        db.dispose()
