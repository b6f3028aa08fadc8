"""Maintenance replicas share one MQTT subscription group on a real mosquitto: the broker splits
the events between them and the idempotent writes keep one work order per alarm episode."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from maintenance.alarms.models import Alarm
from maintenance.db import Database
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
from tests.support.servers import Mosquitto


async def _eventually(check: Callable[[], bool], what: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out after {within}s waiting for {what}")


def _raise(site: Site, episode: str, clock: ManualClock, event_id: str) -> AlarmEvent:
    return AlarmEvent(
        event_id=event_id,
        site_id=site.id,
        occurred_at=clock.now(),
        action=AlarmAction.RAISE,
        episode_id=episode,
        asset_id="pump-1",
        device_id="pump-1",
        alarm_type="low_outlet_pressure",
        severity=Severity.CRITICAL,
        rule_id="pump-outlet-pressure-low",
        message="出水压力过低，可能停水",
        evidence={"metric": "outlet_pressure", "value": 0.05, "limit": 0.15},
    )


@pytest.fixture
def lone_site(tmp_path: Path) -> Site:
    """The example site under an id of its own: its events reach no other test's MQTT session."""
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["site"]["id"] = f"shared-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


def _run_replicas(
    site: Site, mosquitto: Mosquitto, db: Database, events: list[AlarmEvent]
) -> list[int]:
    """Two replicas in one group receive `events`; returns how many each one handled."""
    group = f"maint-{uuid.uuid4().hex[:8]}"
    clock = ManualClock()

    def replica(name: str) -> MaintenanceService:
        settings = Settings(
            database_url=db.url, instance_id=f"{group}-{name}", mqtt_shared_group=group
        )
        return MaintenanceService(directory_of(site, clock), settings, clock, mosquitto.url, db)

    seen: dict[int, int] = {}
    alarms: dict[int, int] = {}

    def counting(m: MaintenanceService) -> None:
        """Count what this replica handles: anything (subscribed yet?) and alarm events."""
        handle = m.consumer.handle

        def counted(topic: str, payload: bytes) -> None:
            handle(topic, payload)
            seen[id(m)] = seen.get(id(m), 0) + 1
            if "/alarms/" in topic:
                alarms[id(m)] = alarms.get(id(m), 0) + 1

        m.consumer.handle = counted  # type: ignore[method-assign]

    async def run() -> list[int]:
        publisher = MqttConnection(mosquitto.url, f"test-publisher-{group}")
        publisher.start()
        await publisher.wait_connected()
        async with replica("a") as a, replica("b") as b:
            counting(a)
            counting(b)
            # Asset-state probes until both replicas handled something: both subscriptions are
            # in place (earlier tests' retained states may arrive too; they count the same).
            probe = AssetStateEvent(site_id=site.id, occurred_at=clock.now(), asset_id="pump-1")
            while min(seen.get(id(a), 0), seen.get(id(b), 0)) == 0:
                publisher.publish(state_topic(site.id, "pump-1"), probe.model_dump_json(), qos=1)
                await asyncio.sleep(0.05)
            for e in events:
                publisher.publish(alarm_topic(site.id, e.asset_id), e.model_dump_json(), qos=1)
            await _eventually(lambda: sum(alarms.values()) >= len(events), "every event")
            counts = [alarms.get(id(a), 0), alarms.get(id(b), 0)]
        publisher.stop()
        return counts

    return asyncio.run(run())


def test_shared_group_splits_events_between_replicas(
    tmp_path: Path, mosquitto: Mosquitto, lone_site: Site
) -> None:
    db = Database(f"sqlite:///{tmp_path}/wo.db")
    clock = ManualClock()
    events = []
    for i in range(10):
        clock.advance(timedelta(minutes=1))
        events.append(_raise(lone_site, f"{lone_site.id}/pump-1/episode-{i}", clock, f"event-{i}"))

    counts = _run_replicas(lone_site, mosquitto, db, events)

    assert sum(counts) == len(events)
    assert all(c > 0 for c in counts), f"one replica got nothing: {counts}"


def test_duplicated_raise_across_replicas_keeps_one_work_order(
    tmp_path: Path, mosquitto: Mosquitto, lone_site: Site
) -> None:
    db = Database(f"sqlite:///{tmp_path}/wo.db")
    clock = ManualClock()
    first = _raise(lone_site, f"{lone_site.id}/pump-1/burst", clock, "burst-1")
    # Broker redeliveries of the same event and repeated raises of the same episode.
    events = [first, first, first]
    events += [first.model_copy(update={"event_id": f"burst-{i}"}) for i in range(2, 6)]

    counts = _run_replicas(lone_site, mosquitto, db, events)

    assert all(c > 0 for c in counts), f"one replica got nothing: {counts}"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrder)) == 1
        alarm = s.scalars(select(Alarm)).one()
    assert alarm.raise_count == 5
