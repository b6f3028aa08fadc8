"""Two maintenance replica processes over three sites of one folder, on real PostgreSQL and
mosquitto: an alarm storm across the sites while one replica is SIGKILLed and restarted.

Every episode makes exactly one alarm and is counted once on one work order per fault, every
patrol occurrence of the day exists once on every site, the replicas split the sites, and the
survivor holds the killed replica's sites within one pass interval. The replicas share a clock
running 1,200 times faster than real time (tests/maintenance/replica_process.py), so a day's
09:00 and 16:00 lift patrols fall due within the test and a pass interval (an hour) is 3 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from maintenance.alarms.models import Alarm, ProcessedEvent
from maintenance.db import Database
from maintenance.site_leases import SiteLease
from maintenance.work_orders.models import Source, WorkOrder
from propwatch.events import AlarmAction, AlarmEvent, alarm_topic
from propwatch.mqtt import MqttConnection
from tests.conftest import ROOT
from tests.maintenance.consumer_kills import FAULTS
from tests.maintenance.replica_process import SharedClock
from tests.support.postgres import Postgres
from tests.support.servers import start_mosquitto, wait_until
from tests.support.sites import copy_example_site

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORIGIN = datetime(2026, 11, 23, 1, 0, tzinfo=SHANGHAI)  # a Monday, long before 09:00 (start-up)
SPEED = 1200.0
PASS = 3600.0  # simulated seconds: 3 s of real time
SITES = (("north", "北苑"), ("south", "南苑"), ("east", "东苑"))
EPISODES = 15  # per fault and site: 4 x 15 x 3 = 180 episodes, 360 events


class Replica:
    def __init__(self, name: str, folder: Path, env: dict[str, str], logs: Path, epoch: float):
        self.name, self.folder, self.logs, self.epoch = name, folder, logs, epoch
        self.env = {**env, "PROPWATCH_INSTANCE_ID": name}
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        out = (self.logs / f"replica-{self.name}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.maintenance.replica_process",
                str(self.folder),
                f"--origin={ORIGIN.isoformat()}",
                f"--epoch={self.epoch}",
                f"--speed={SPEED}",
                f"--pass-interval={PASS}",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()

    def signal(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(60)

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def _storm(clock: SharedClock) -> list[AlarmEvent]:
    """A raise and a clear for each episode, the sites and faults interleaved."""
    events = []
    for n in range(EPISODES):
        for site_id, _ in SITES:
            for asset, alarm_type, rule, severity, message in FAULTS:
                episode = f"{site_id}/{asset}/{alarm_type}/storm-{n}"
                for action in (AlarmAction.RAISE, AlarmAction.CLEAR):
                    events.append(
                        AlarmEvent(
                            event_id=f"{site_id}-{n}-{asset}-{action.value}",
                            site_id=site_id,
                            occurred_at=clock.now(),
                            action=action,
                            episode_id=episode,
                            asset_id=asset,
                            device_id=asset,
                            alarm_type=alarm_type,
                            severity=severity,
                            rule_id=rule,
                            message=message,
                        )
                    )
    return events


def _publish(conn: MqttConnection, clock: SharedClock, out: list[AlarmEvent]) -> None:
    """The storm over about 6 s of real time, each event stamped when it is sent."""
    for e in _storm(clock):
        event = e.model_copy(update={"occurred_at": clock.now()})
        conn.publish(alarm_topic(event.site_id, event.asset_id), event.model_dump_json(), qos=1)
        out.append(event)
        time.sleep(6 / (EPISODES * len(SITES) * len(FAULTS) * 2))


def test_two_replicas_share_three_sites_through_a_kill_without_doing_anything_twice(
    tmp_path: Path, postgres: Postgres
) -> None:
    url = postgres.create_database()
    db = Database(url)
    db.upgrade()  # once, before the replicas race for it
    broker = start_mosquitto(tmp_path)
    folder = tmp_path / "sites"
    for site_id, name in SITES:
        copy_example_site(folder, site_id, name)
    epoch = time.time()
    clock = SharedClock(ORIGIN, epoch, SPEED)
    env = {
        **os.environ,
        "PROPWATCH_MQTT_URL": broker.url,
        "PROPWATCH_DATABASE_URL": url,
        "PROPWATCH_VAR_DIR": str(tmp_path / "var"),
        "PROPWATCH_MQTT_SHARED_GROUP": "maintenance",
        "PROPWATCH_LATE_EVENT_AFTER": str(30 * 86400),  # simulated time runs fast
    }
    a, b = (Replica(n, folder, env, tmp_path, epoch) for n in ("a", "b"))

    def holders() -> dict[str, str]:
        now = clock.now()
        with db.session() as s:
            return {
                lease.site_id: lease.holder
                for lease in s.scalars(select(SiteLease).where(SiteLease.until > now))
            }

    def split() -> bool:
        held = Counter(holders().values())
        return len(holders()) == 3 and held["a"] >= 1 and held["b"] >= 1

    published: list[AlarmEvent] = []
    publisher = MqttConnection(broker.url, "replicas-test-publisher")
    try:
        a.start()
        b.start()
        wait_until(split, 60, "the replicas to split the three sites")
        publisher.start()
        assert publisher.connected.wait(10)
        storm = threading.Thread(target=_publish, args=(publisher, clock, published))
        storm.start()
        wait_until(lambda: len(published) > 100, 30, "the storm under way")
        killed_at = time.monotonic()
        assert a.signal(signal.SIGKILL) == -signal.SIGKILL
        wait_until(lambda: set(holders().values()) == {"b"} and len(holders()) == 3, 30, "b")
        takeover = (time.monotonic() - killed_at) * SPEED  # simulated seconds
        a.start()
        storm.join(60)
        wait_until(split, 60, "the restarted replica to get its share back")
        wait_until(lambda: _count(db, ProcessedEvent) >= len(published), 120, "every event applied")
        end = ORIGIN.replace(hour=16) + timedelta(seconds=2 * PASS)
        wait_until(lambda: clock.now() > end, 120, "the 16:00 patrols' pass")
        assert a.signal(signal.SIGTERM) == 0 and b.signal(signal.SIGTERM) == 0
    finally:
        a.ensure_stopped()
        b.ensure_stopped()
        publisher.stop()
        broker.stop()

    print(f"b held a's sites {takeover:.0f} simulated s ({takeover / SPEED:.2f} s) after the kill")
    assert takeover <= PASS, f"taken over after {takeover:.0f} simulated s"
    episodes = {e.episode_id for e in published}
    assert len(published) == 360 and len(episodes) == 180
    with db.session() as s:
        processed = set(s.scalars(select(ProcessedEvent.event_id)))
        alarms = list(s.scalars(select(Alarm)))
        orders = list(s.scalars(select(WorkOrder)))
    assert {e.event_id for e in published} <= processed
    by_episode = Counter(alarm.episode_id for alarm in alarms if alarm.episode_id in episodes)
    assert set(by_episode) == episodes and set(by_episode.values()) == {1}
    storm_alarms = [alarm for alarm in alarms if alarm.episode_id in episodes]
    assert all(alarm.raise_count == 1 and alarm.state == "cleared" for alarm in storm_alarms)
    # one work order per site and fault, every episode counted on it once
    alarm_orders = [
        wo
        for wo in orders
        if wo.source == Source.ALARM and any(wo.alarm_type == f[1] for f in FAULTS)
    ]
    per_fault = Counter((wo.site_id, wo.alarm_type) for wo in alarm_orders)
    assert len(per_fault) == 12 and set(per_fault.values()) == {1}
    assert sum(wo.occurrences for wo in alarm_orders) == 180
    # the day's lift patrols, 09:00 and 16:00, once on every site, whoever ran the pass
    patrols = Counter(
        (wo.site_id, wo.reported_at.astimezone(SHANGHAI).hour)
        for wo in orders
        if wo.source == Source.PLAN and ":lift-patrol:" in wo.source_key
    )
    assert patrols == {(site_id, hour): 1 for site_id, _ in SITES for hour in (9, 16)}
    plan_keys = Counter(wo.source_key for wo in orders if wo.source == Source.PLAN)
    assert set(plan_keys.values()) == {1}
    db.dispose()


def _count(db: Database, model: type[ProcessedEvent]) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)
