"""Consume gateway events from MQTT and apply them in order, one transaction each."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import timedelta

import paho.mqtt.client as paho
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError

from maintenance.alarms.reconcile import apply_asset_state
from maintenance.alarms.service import LATE_AFTER, apply_alarm_event
from maintenance.db import Database
from propwatch.clock import Clock
from propwatch.events import TOPIC_ROOT, AlarmEvent, AssetStateEvent, parse_event
from propwatch.mqtt import MqttConnection
from propwatch.site import Site

log = logging.getLogger(__name__)


class EventConsumer:
    """Subscribes to alarms and asset state of its site (persistent session, QoS 1).

    With `shared_group`, replicas subscribe through `$share/<group>/...`: the broker gives each
    event to one replica of the group, and the idempotent writes settle any redelivery.
    """

    def __init__(
        self,
        site: Site,
        db: Database,
        connection: MqttConnection,
        clock: Clock,
        *,
        shared_group: str | None = None,
        late_after: timedelta = LATE_AFTER,
    ) -> None:
        self.site = site
        self.late_after = late_after
        self.shared_group = shared_group
        self.db = db
        self.connection = connection
        self.clock = clock
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.applied = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.db_retries = 0
        self.failed_events: deque[tuple[str, bytes]] = deque(maxlen=1000)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.connection.on_message = self._from_paho_thread
        self.connection.subscribe(self.topic_filter("alarms"), qos=1)
        self.connection.subscribe(self.topic_filter("state"), qos=1)

    def topic_filter(self, stream: str) -> str:
        topic = f"{TOPIC_ROOT}/{self.site.id}/{stream}/#"
        return f"$share/{self.shared_group}/{topic}" if self.shared_group else topic

    def _from_paho_thread(self, msg: paho.MQTTMessage) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.queue.put_nowait, (msg.topic, bytes(msg.payload)))

    async def run(self) -> None:
        while True:
            topic, payload = await self.queue.get()
            delay = 0.5
            while True:
                try:
                    await asyncio.to_thread(self.handle, topic, payload)
                    break
                except OperationalError:
                    # The database is away (restart, lock timeout). The broker has had its ack,
                    # so the event exists only here: wait and retry, keeping the order.
                    self.db_retries += 1
                    log.warning("database unavailable; retrying event on %s in %.1fs", topic, delay)
                    await self.clock.sleep(delay)
                    delay = min(delay * 2, 30.0)
                except Exception:
                    # A bug must not stop consumption: count it and keep the payload to inspect.
                    self.failed += 1
                    self.failed_events.append((topic, payload))
                    log.exception("event on %s could not be applied", topic)
                    break

    def handle(self, topic: str, payload: bytes) -> None:
        try:
            self._apply(topic, payload)
        except IntegrityError:
            # Another replica committed the same alarm episode or event first; applying again
            # now takes the duplicate / repeated-raise path against its committed rows.
            self._apply(topic, payload)

    def _apply(self, topic: str, payload: bytes) -> None:
        try:
            event = parse_event(payload)
        except ValidationError as exc:
            self.rejected += 1
            log.warning("rejected event on %s: %s", topic, exc.errors()[0]["msg"])
            return
        if event.site_id != self.site.id:
            self.rejected += 1
            return
        now = self.clock.now()
        with self.db.session() as s:
            if isinstance(event, AlarmEvent):
                if apply_alarm_event(s, self.site.spec, event, now, late_after=self.late_after):
                    self.applied += 1
                else:
                    self.duplicates += 1
            elif isinstance(event, AssetStateEvent):
                apply_asset_state(s, self.site.spec, event, now, late_after=self.late_after)
