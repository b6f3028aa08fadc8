"""Acknowledging received QoS 1 messages in bulk (`MqttConnection.ack_many`) against a real
mosquitto: what was acknowledged is never delivered again, what was not (or was acknowledged
for a connection that has ended) comes back on the persistent session's next connection."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from propwatch.mqtt import MqttConnection
from tests.support.servers import Mosquitto, start_mosquitto

TOPIC = "test/bulk-ack"
CLIENT = "propwatch-bulk-ack"


class Life:
    """One connection of the persistent session, keeping what it receives by payload."""

    def __init__(self, broker: Mosquitto) -> None:
        self.conn = MqttConnection(broker.url, CLIENT, clean_start=False, manual_ack=True)
        self.got: dict[int, tuple[int, int, int]] = {}  # index → (mid, qos, connection)
        self.lock = threading.Lock()
        self.conn.on_message = self._receive
        self.conn.subscribe(TOPIC, qos=1)

    def _receive(self, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.got[int(msg.payload)] = (msg.mid, msg.qos, self.conn.connection_number)

    def wait_for(self, count: int, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while len(self.got) < count:
            assert time.monotonic() < deadline, f"{len(self.got)} of {count} messages"
            time.sleep(0.01)


def _publish(broker: Mosquitto, count: int) -> None:
    async def run() -> None:
        pub = MqttConnection(broker.url, "bulk-ack-device")
        pub.start()
        await pub.wait_connected()
        infos = [pub.publish(TOPIC, str(i).encode(), qos=1) for i in range(count)]
        for info in infos:
            await asyncio.to_thread(info.wait_for_publish, 5)
        pub.stop()

    asyncio.run(run())


def _connect(life: Life) -> None:
    life.conn.start()
    assert life.conn.connected.wait(10)


def test_acknowledged_in_bulk_is_settled_and_the_rest_comes_back(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path)
    try:
        first = Life(broker)
        _connect(first)
        time.sleep(0.3)  # the broker confirms the subscription
        _publish(broker, 300)
        first.wait_for(300)
        even = [first.got[i] for i in range(0, 300, 2)]
        odd = [first.got[i] for i in range(1, 300, 2)]
        stale = [(mid, qos, connection - 1) for mid, qos, connection in odd]
        assert first.conn.ack_many(stale) == 0  # a connection that has ended: nothing sent
        assert first.conn.ack_many(even[:1]) == 1
        assert first.conn.ack_many(even[1:]) == 149
        first.conn.stop()  # the PUBACKs queued before the DISCONNECT go first

        second = Life(broker)
        _connect(second)
        second.wait_for(150)
        time.sleep(0.3)  # room for a message acknowledged above to come again
        assert sorted(second.got) == list(range(1, 300, 2))
        assert second.conn.ack_many(second.got.values()) == 150
        second.conn.stop()

        third = Life(broker)
        _connect(third)
        time.sleep(0.5)
        third.conn.stop()
        assert third.got == {}
    finally:
        broker.stop()
