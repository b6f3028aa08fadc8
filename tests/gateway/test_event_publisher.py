"""The priority lane to MQTT: alarm events wait on disk for the broker and arrive in order."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho

from gateway.event_publisher import EventPublisher
from gateway.outbox import Outbox
from propwatch.clock import ManualClock, SystemClock
from propwatch.mqtt import MqttConnection
from tests.support.servers import Mosquitto, start_mosquitto

TOPIC = "propwatch/hexie/alarms/pump-1"


async def _until(check: Callable[[], bool], what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


class _Consumer:
    """A maintenance-like subscriber on a persistent session, recording sequence numbers."""

    def __init__(self, broker: Mosquitto) -> None:
        self.seen: list[int] = []
        self._lock = threading.Lock()
        self.conn = MqttConnection(broker.url, "consumer", clean_start=False)
        self.conn.on_message = self._on
        self.conn.subscribe(TOPIC, qos=1)
        self.conn.client.reconnect_delay_set(min_delay=0.2, max_delay=1)  # type: ignore[no-untyped-call]

    def _on(self, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.seen.append(json.loads(msg.payload)["seq"])


def _gateway_connection(broker: Mosquitto) -> MqttConnection:
    conn = MqttConnection(broker.url, "gateway", clean_start=False)
    conn.client.reconnect_delay_set(min_delay=0.2, max_delay=1)  # type: ignore[no-untyped-call]
    return conn


async def _connected(broker: Mosquitto) -> tuple[_Consumer, MqttConnection]:
    """The consumer and the gateway's connection, both up, the consumer's subscription held."""
    consumer = _Consumer(broker)
    gateway = _gateway_connection(broker)
    for c in (consumer.conn, gateway):
        c.start()
        await c.wait_connected()
    await asyncio.sleep(0.3)  # the consumer's subscription is in place
    return consumer, gateway


def _disconnect(consumer: _Consumer, gateway: MqttConnection) -> None:
    for c in (consumer.conn, gateway):
        c.stop()


def test_events_raised_while_the_broker_is_down_arrive_in_order_when_it_returns(
    tmp_path: Path,
) -> None:
    broker = start_mosquitto(tmp_path)

    async def run() -> list[int]:
        consumer, gateway = await _connected(broker)
        publisher = EventPublisher(Outbox(tmp_path / "outbox.db"), gateway, SystemClock())
        task = asyncio.create_task(publisher.run())
        await asyncio.to_thread(broker.stop)
        for seq in range(50):
            publisher.submit(TOPIC, json.dumps({"seq": seq}))
        await asyncio.sleep(0.5)
        pending_in_outage = publisher.pending
        await asyncio.to_thread(broker.start)
        await _until(lambda: len(set(consumer.seen)) == 50, "all 50 events")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        _disconnect(consumer, gateway)
        assert pending_in_outage == 50
        return consumer.seen

    try:
        seen = asyncio.run(run())
    finally:
        broker.stop()

    first_seen = list(dict.fromkeys(seen))
    assert first_seen == list(range(50))


def test_a_simulated_clock_that_stands_still_holds_no_event_back(tmp_path: Path) -> None:
    """Acknowledgements come in real time: a publisher on a clock nobody advances (a test's
    ManualClock after its last step) still sends event after event, each acknowledged."""
    broker = start_mosquitto(tmp_path)

    async def run() -> tuple[list[int], int]:
        consumer, gateway = await _connected(broker)
        publisher = EventPublisher(Outbox(tmp_path / "outbox.db"), gateway, ManualClock())
        task = asyncio.create_task(publisher.run())
        for seq in range(3):  # one at a time: each waits for the one before to be acknowledged
            publisher.submit(TOPIC, json.dumps({"seq": seq}))
            await _until(lambda n=seq: len(set(consumer.seen)) == n + 1, f"event {seq}", 10)
        await _until(lambda: publisher.published == 3, "three acknowledged", 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        _disconnect(consumer, gateway)
        return consumer.seen, publisher.published

    try:
        seen, published = asyncio.run(run())
    finally:
        broker.stop()
    assert list(dict.fromkeys(seen)) == [0, 1, 2]
    assert published == 3
