"""The priority lane to MQTT: alarm raise/clear and asset-state events, durable and in order.

Every event is first committed to the outbox's priority lane (`gateway/outbox.py`), then
published with QoS 1 oldest first, a window at a time; it leaves the lane only once the broker
has acknowledged it. A broker outage or a gateway restart therefore delays events, never loses
them. Delivery is at least once: a window cut short by a disconnect is published again, and the
maintenance side is idempotent on `event_id`. Once acknowledged, an event is the broker's to keep
(mosquitto saves it on a clean stop; after a crash it has only what it last saved, so production
brokers set a low `autosave_interval`).

A disk that cannot take an event (full, broken) loses nothing either: the event waits in memory,
in order behind everything already on disk, is moved to disk as soon as there is room, and is
published from memory if the broker can take it first. An outbox that cannot be read or cleaned
is retried with backoff; a window published but not yet deleted is not sent again meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import deque

import paho.mqtt.client as paho

from gateway.durable import describe
from gateway.outbox import Outbox, StoredEvent
from propwatch.clock import Clock
from propwatch.mqtt import MqttConnection

log = logging.getLogger(__name__)


class EventPublisher:
    def __init__(
        self,
        outbox: Outbox,
        mqtt: MqttConnection,
        clock: Clock,
        window: int = 200,
        ack_timeout: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self.mqtt = mqtt
        self.clock = clock
        self.window = window
        self.ack_timeout = ack_timeout
        self.submitted = 0
        self.published = 0
        self.retried_windows = 0
        self.storage_errors = 0
        self.last_storage_error = ""
        self._wake = asyncio.Event()
        # Events the disk refused, in submission order (ids are negative, never the outbox's).
        self._held: deque[StoredEvent] = deque()
        self._held_lock = threading.Lock()
        self._next_held_id = -1
        # Published and acknowledged, but their delete failed: not to be sent again meanwhile.
        self._sent_not_removed: set[int] = set()
        self._storage_backoff = 0.0

    def submit(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Commit the event to disk now (or hold it in memory while the disk cannot take it);
        it is published as soon as the broker can take it."""
        body = payload.encode() if isinstance(payload, str) else payload
        self.submitted += 1
        self._wake.set()
        if not self._held:
            try:
                self.outbox.append_event(topic, body, retain)
                return
            except sqlite3.Error as exc:
                self._storage_failed("event not stored; held in memory", exc)
        with self._held_lock:
            self._held.append(StoredEvent(self._next_held_id, topic, body, retain))
        self._next_held_id -= 1

    @property
    def pending(self) -> int:
        return self.outbox.stats().priority_pending + len(self._held)

    @property
    def held(self) -> int:
        return len(self._held)

    def _storage_failed(self, what: str, exc: sqlite3.Error) -> None:
        self.storage_errors += 1
        self.last_storage_error = describe(exc)
        if self.storage_errors == 1 or self.storage_errors % 100 == 0:
            log.error(
                "alarm lane: %s: %s (%d storage errors)", what, describe(exc), self.storage_errors
            )

    def _persist_held(self) -> None:
        """Move held events to disk, oldest first, while it takes them (in a thread)."""
        while True:
            with self._held_lock:
                if not self._held:
                    return
                e = self._held[0]
            self.outbox.append_event(e.topic, e.payload, e.retain)
            with self._held_lock:
                self._held.popleft()

    def _next_window(self) -> list[StoredEvent]:
        """What is on disk first (older), else what is held in memory; in a thread. Only a
        failure to read the disk raises: then nothing is published until it reads again."""
        if self._sent_not_removed:
            try:
                self.outbox.remove_events(sorted(self._sent_not_removed))
                self._sent_not_removed.clear()
            except sqlite3.Error as exc:
                self._storage_failed("published events still not deleted", exc)
        if self._held:
            try:
                self._persist_held()
            except sqlite3.Error as exc:
                self._storage_failed("held events still not stored", exc)
        stored = [
            e for e in self.outbox.oldest_events(self.window) if e.id not in self._sent_not_removed
        ]
        if stored:
            return stored
        with self._held_lock:
            return list(self._held)[: self.window]

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                events = await asyncio.to_thread(self._next_window)
                self._storage_backoff = 0.0
            except sqlite3.Error as exc:
                self._storage_failed("outbox not readable; retrying", exc)
                self._storage_backoff = min(max(self._storage_backoff * 2, 0.5), 30.0)
                await self._sleep_or_wake(self._storage_backoff)
                continue
            if not events:
                if self._sent_not_removed or self._held:
                    await self._sleep_or_wake(1.0)  # the disk owes a delete or a store: retry
                else:
                    await self._wake.wait()
                continue
            if not self.mqtt.connected.is_set():
                await asyncio.sleep(0.1)  # a real connection: real time, not the injected clock
                continue
            if await self._publish_window(events):
                self.published += len(events)
                await self._forget(events)
            else:
                self.retried_windows += 1
                log.warning("%d events not acknowledged by the broker; will resend", len(events))

    async def _forget(self, events: list[StoredEvent]) -> None:
        """Acknowledged by the broker: off the lane (held ones from memory, stored from disk)."""
        with self._held_lock:
            for e in events:
                if e.id < 0 and self._held and self._held[0].id == e.id:
                    self._held.popleft()
        stored = [e.id for e in events if e.id >= 0]
        try:
            await asyncio.to_thread(self.outbox.remove_events, stored)
        except sqlite3.Error as exc:
            self._storage_failed("published events not deleted; will delete later", exc)
            self._sent_not_removed.update(stored)

    async def _sleep_or_wake(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _publish_window(self, events: list[StoredEvent]) -> bool:
        """Publish and wait for the broker's acknowledgements. They come over a real socket, so
        the wait is in real time: on a simulated clock that stopped, a wait on it never ended and
        held every later event (an alarm raised in the last simulated second was never sent)."""
        infos = [self.mqtt.publish(e.topic, e.payload, qos=1, retain=e.retain) for e in events]
        deadline = time.monotonic() + self.ack_timeout
        while True:
            waiting = [i for i in infos if not _acknowledged(i)]
            if not waiting:
                return True
            if any(_failed(i) for i in waiting) or time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)


def _acknowledged(info: paho.MQTTMessageInfo) -> bool:
    try:
        return bool(info.is_published())
    except (ValueError, RuntimeError):
        return False


def _failed(info: paho.MQTTMessageInfo) -> bool:
    try:
        info.is_published()
    except (ValueError, RuntimeError):
        return True
    return False
