"""The priority lane to MQTT: alarm raise/clear and asset-state events, durable and in order.

Every event is first committed to the outbox's priority lane (`gateway/outbox.py`), then
published with QoS 1 oldest first, a window at a time; it leaves the lane only once the broker
has acknowledged it. A broker outage or a gateway restart therefore delays events, never loses
them. Delivery is at least once: a window cut short by a disconnect is published again, and the
maintenance side is idempotent on `event_id`. Once acknowledged, an event is the broker's to keep
(mosquitto saves it on a clean stop; after a crash it has only what it last saved, so production
brokers set a low `autosave_interval`).
"""

from __future__ import annotations

import asyncio
import logging

import paho.mqtt.client as paho

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
        self._wake = asyncio.Event()

    def submit(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Commit the event to disk now; it is published as soon as the broker can take it."""
        body = payload.encode() if isinstance(payload, str) else payload
        self.outbox.append_event(topic, body, retain)
        self.submitted += 1
        self._wake.set()

    @property
    def pending(self) -> int:
        return self.outbox.stats().priority_pending

    async def run(self) -> None:
        while True:
            self._wake.clear()
            events = await asyncio.to_thread(self.outbox.oldest_events, self.window)
            if not events:
                await self._wake.wait()
                continue
            if not self.mqtt.connected.is_set():
                await self.clock.sleep(0.1)
                continue
            if await self._publish_window(events):
                await asyncio.to_thread(self.outbox.remove_events, [e.id for e in events])
                self.published += len(events)
            else:
                self.retried_windows += 1
                log.warning("%d events not acknowledged by the broker; will resend", len(events))

    async def _publish_window(self, events: list[StoredEvent]) -> bool:
        infos = [self.mqtt.publish(e.topic, e.payload, qos=1, retain=e.retain) for e in events]
        deadline = self.clock.monotonic() + self.ack_timeout
        while True:
            waiting = [i for i in infos if not _acknowledged(i)]
            if not waiting:
                return True
            if any(_failed(i) for i in waiting) or self.clock.monotonic() > deadline:
                return False
            await self.clock.sleep(0.005)


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
