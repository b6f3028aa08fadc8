"""A gateway's answer to a command goes ahead of the events the consumer holds, which keep
their arrival order: the duty room waits on the answer."""

from __future__ import annotations

import asyncio

import paho.mqtt.client as paho

from maintenance.consumer import EventConsumer
from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.mqtt import MqttConnection
from tests.maintenance.conftest import MONDAY_10H


def _message(topic: str, mid: int) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(mid=mid, topic=topic.encode())
    msg.payload = b"{}"
    msg.qos = 1
    return msg


def test_a_command_result_is_applied_before_the_snapshots_waiting() -> None:
    consumer = EventConsumer(
        lambda: {},
        Database("sqlite://"),
        MqttConnection("mqtt://127.0.0.1:1", "test-lanes"),
        ManualClock(MONDAY_10H),
    )
    topics = [
        "propwatch/hexie/state/pump-1",
        "propwatch/hexie/alarms/pump-1",
        "propwatch/hexie/state/lift-1-1",
        "propwatch/hexie/command-results/lighting-b",
        "propwatch/hexie/state/lighting-b",
        "propwatch/hexie/command-results/pump-1",
    ]

    async def arrive() -> list[str]:
        consumer._loop = asyncio.get_running_loop()
        for mid, topic in enumerate(topics, 1):
            consumer._from_paho_thread(_message(topic, mid))
        await asyncio.sleep(0)  # the hand-over from paho's thread
        return [consumer.queue.get_nowait()[2].topic for _ in topics]

    assert asyncio.run(arrive()) == [
        "propwatch/hexie/command-results/lighting-b",
        "propwatch/hexie/command-results/pump-1",
        "propwatch/hexie/state/pump-1",
        "propwatch/hexie/alarms/pump-1",
        "propwatch/hexie/state/lift-1-1",
        "propwatch/hexie/state/lighting-b",
    ]
    assert consumer.held == len(topics)
