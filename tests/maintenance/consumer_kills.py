"""Kill and stop a real `propwatch maintenance` process while it works through a backlog of alarm
events, restart it each time, and read from its database what came of every event.

Shared by tests/maintenance/test_consumer_kills.py and bench/consumer_kills.py. The backlog is
raise and clear events of distinct episodes on four assets of the example site (和谐花园), plus a
few malformed messages, all QoS 1 on the site's alarm topics. The service's persistent session
exists before the first event is published (as after any earlier run), so the broker queues the
backlog for it; a part is published while the service runs and is being killed.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import DBAPIError

from maintenance.alarms.models import Alarm, ProcessedEvent
from maintenance.db import Database
from maintenance.dead_letters import DeadLetter
from maintenance.work_orders.models import Source, WorkOrder, WorkOrderTransition
from propwatch.events import (
    TOPIC_ROOT,
    AlarmAction,
    AlarmEvent,
    Severity,
    alarm_topic,
)
from propwatch.mqtt import MqttConnection
from propwatch.site import Site
from tests.conftest import ROOT
from tests.support.servers import wait_until

# (asset, alarm type, rule, severity, message): one fault each on four assets of the example site
FAULTS = (
    (
        "pump-1",
        "low_outlet_pressure",
        "pump-outlet-pressure-low",
        Severity.CRITICAL,
        "出水压力过低",
    ),
    ("lift-1-1", "elevator_leveling", "lift-fault-code", Severity.MAJOR, "电梯平层误差超限"),
    ("door-north", "door_forced_open", "door-forced", Severity.MAJOR, "北门被强行打开"),
    ("lighting-b", "lighting_undervoltage", "lighting-undervoltage", Severity.MINOR, "照明欠压"),
)


def malformed(site_id: str) -> list[tuple[str, bytes]]:
    """Messages no consumer can apply: each must end as exactly one dead letter."""
    topic = alarm_topic(site_id, "pump-1")
    return [
        (topic, b"not json at all"),
        (topic, b'{"type": "alarm", "version": 99}'),
        (topic, b'{"type": "alarm", "site_id": "' + site_id.encode() + b'", "action": "raise"}'),
        (topic, b"\xff\xfe binary noise"),
        (
            topic,
            AlarmEvent(
                site_id="another-site",
                occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                action=AlarmAction.RAISE,
                episode_id="another-site/pump-1/x",
                asset_id="pump-1",
                alarm_type="low_outlet_pressure",
                severity=Severity.CRITICAL,
                rule_id="r",
            )
            .model_dump_json()
            .encode(),
        ),
    ]


def backlog(site: Site, episodes_per_fault: int, start: datetime) -> list[AlarmEvent]:
    """A raise and a clear for each episode, episodes of the four faults interleaved."""
    events: list[AlarmEvent] = []
    at = start
    for n in range(episodes_per_fault):
        for asset, alarm_type, rule, severity, message in FAULTS:
            episode = f"{site.id}/{asset}/{alarm_type}/kill-{n}"
            for action in (AlarmAction.RAISE, AlarmAction.CLEAR):
                at += timedelta(milliseconds=200)
                events.append(
                    AlarmEvent(
                        event_id=f"kill-{n}-{asset}-{action.value}",
                        site_id=site.id,
                        occurred_at=at,
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


class MaintenanceProcess:
    """`python -m propwatch.cli maintenance --site …` with PROPWATCH_* settings, restartable."""

    def __init__(self, site: Site, env: dict[str, str], logs: Path) -> None:
        self.site = site
        self.env = env
        self.logs = logs
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        log = (self.logs / f"maintenance-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "propwatch.cli", "maintenance", "--site", str(self.site.path)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def signal(self, sig: signal.Signals, within: float = 60) -> int:
        """Send `sig` and wait for the process to end; its exit code (negative: killed by)."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(within)

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@dataclass
class Interruption:
    signal: str
    applied_before: int  # events applied when the signal was sent
    exit_code: int


@dataclass
class Outcome:
    published: int
    applied: int  # published event ids found in processed_event
    lost: int
    unexpected: int  # processed ids that were never published
    episodes: int
    alarms_wrong: int  # episodes whose alarm row is missing, not cleared, or raised twice
    work_orders: int
    duplicated_work_orders: int  # alarm orders beyond one per asset and alarm type
    doubled_occurrences: int  # occurrences counted beyond one per episode
    doubled_clear_notes: int  # "告警已恢复" notes beyond one per episode
    malformed_published: int
    dead_letters: int
    drain_seconds: float  # from the first start until every event was applied
    interruptions: list[Interruption] = field(default_factory=list)


class AppliedCount:
    """processed_event rows, read from outside while the service writes. A plain engine: the
    service's own begins SQLite transactions IMMEDIATE, and a poll must not take its lock."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def __call__(self) -> int:
        try:
            with self.engine.connect() as conn:
                return int(conn.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)
        except DBAPIError:
            return 0  # the first start has not made the tables yet

    def at_least(self, count: int) -> Callable[[], bool]:
        return lambda: self() >= count


def _prepare_session(mqtt_url: str, site: Site) -> None:
    """The service's persistent session with its subscriptions, as an earlier run leaves it."""
    conn = MqttConnection(mqtt_url, f"propwatch-maintenance-{site.id}", clean_start=False)
    for stream in ("alarms", "state"):
        conn.subscribe(f"{TOPIC_ROOT}/{site.id}/{stream}/#", qos=1)
    conn.start()
    try:
        if not conn.connected.wait(10):
            raise TimeoutError("no MQTT connection for the maintenance session")
    finally:
        conn.stop()  # SUBSCRIBE was sent on connect, before this DISCONNECT


def _publish(conn: MqttConnection, messages: list[tuple[str, bytes]]) -> None:
    infos = [conn.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(60)
        if not info.is_published():
            raise TimeoutError("the broker did not acknowledge a publish within 60 s")


def run_kills(
    *,
    site: Site,
    mqtt_url: str,
    database_url: str,
    var: Path,
    episodes_per_fault: int,
    signals: list[signal.Signals],
    queue_capacity: int | None = None,
    drain_within: float = 300,
) -> Outcome:
    """Publish the backlog, interrupt the service once per entry of `signals` while it works
    through it (restarting it each time), let it finish, and count what the database shows.

    With `queue_capacity` below the backlog and a broker without an in-flight window, the
    service also fills up and renews its session to have the rest delivered again."""
    events = backlog(site, episodes_per_fault, datetime.now(UTC) - timedelta(minutes=1))
    ids = {e.event_id for e in events}
    messages = [(alarm_topic(site.id, e.asset_id), e.model_dump_json().encode()) for e in events]
    bad = malformed(site.id)
    # Most of the backlog waits in the broker; the rest arrives while the service is at work,
    # the malformed messages among it.
    queued = len(messages) * 2 // 3
    early, late = messages[:queued], messages[queued:]
    late = late[: len(late) // 2] + bad + late[len(late) // 2 :]

    env = {
        **os.environ,
        "PROPWATCH_MQTT_URL": mqtt_url,
        "PROPWATCH_DATABASE_URL": database_url,
        "PROPWATCH_VAR_DIR": str(var),
    }
    if queue_capacity is not None:
        env["PROPWATCH_MAINTENANCE_QUEUE_CAPACITY"] = str(queue_capacity)
    env.pop("PROPWATCH_INSTANCE_ID", None)
    env.pop("PROPWATCH_MQTT_SHARED_GROUP", None)
    var.mkdir(parents=True, exist_ok=True)
    applied = AppliedCount(database_url)
    service = MaintenanceProcess(site, env, var)
    publisher = MqttConnection(mqtt_url, f"consumer-kills-publisher-{os.getpid()}")
    interruptions: list[Interruption] = []
    try:
        _prepare_session(mqtt_url, site)
        publisher.start()
        if not publisher.connected.wait(10):
            raise TimeoutError("no MQTT connection for the publisher")
        _publish(publisher, early)

        started = time.monotonic()
        service.start()
        live = threading.Thread(target=_publish, args=(publisher, late), daemon=True)
        live.start()
        step = len(events) // (len(signals) + 2)
        last = 0
        for n, sig in enumerate(signals, start=1):
            # spread over the backlog, and each after the restarted service is at work
            target = max(n * step, last + step // 2)
            wait_until(applied.at_least(target), 120, f"{target} events applied")
            last = applied()
            interruptions.append(Interruption(sig.name, last, service.signal(sig)))
            service.start()
        live.join(120)
        wait_until(applied.at_least(len(events)), drain_within, "the whole backlog")
        drained = time.monotonic() - started
        interruptions.append(Interruption("SIGTERM", applied(), service.signal(signal.SIGTERM)))
    finally:
        service.ensure_stopped()
        publisher.stop()
        applied.engine.dispose()
    db = Database(database_url)
    try:
        return _outcome(db, events, ids, len(bad), drained, interruptions)
    finally:
        db.dispose()


def _outcome(
    db: Database,
    events: list[AlarmEvent],
    ids: set[str],
    malformed_published: int,
    drained: float,
    interruptions: list[Interruption],
) -> Outcome:
    episodes = {e.episode_id: e for e in events if e.action is AlarmAction.CLEAR}
    with db.session() as s:
        processed = set(s.scalars(select(ProcessedEvent.event_id)))
        alarms = {a.episode_id: a for a in s.scalars(select(Alarm))}
        orders = list(s.scalars(select(WorkOrder).where(WorkOrder.source == Source.ALARM)))
        clear_notes = int(
            s.scalar(
                select(func.count())
                .select_from(WorkOrderTransition)
                .where(WorkOrderTransition.note.like("告警已恢复%"))
            )
            or 0
        )
        dead = int(s.scalar(select(func.count()).select_from(DeadLetter)) or 0)
    wrong = 0
    for episode, clear in episodes.items():
        alarm = alarms.get(episode)
        if (
            alarm is None
            or alarm.state != "cleared"
            or alarm.raise_count != 1
            or alarm.cleared_at != clear.occurred_at
        ):
            wrong += 1
    per_fault = Counter((wo.asset_id, wo.alarm_type) for wo in orders)
    applied = len(processed & ids)
    return Outcome(
        published=len(events),
        applied=applied,
        lost=len(ids - processed),
        unexpected=len(processed - ids),
        episodes=len(episodes),
        alarms_wrong=wrong,
        work_orders=len(orders),
        duplicated_work_orders=sum(c - 1 for c in per_fault.values()),
        doubled_occurrences=sum(wo.occurrences for wo in orders) - len(episodes),
        doubled_clear_notes=clear_notes - len(episodes),
        malformed_published=malformed_published,
        dead_letters=dead,
        drain_seconds=drained,
        interruptions=interruptions,
    )


def alternating(kills: int) -> list[signal.Signals]:
    """SIGKILL, SIGTERM, SIGKILL, …: `kills` interruptions, both kinds when there are two."""
    return list(itertools.islice(itertools.cycle((signal.SIGKILL, signal.SIGTERM)), kills))
