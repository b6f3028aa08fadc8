"""门禁 events read by `mosquitto_sub`, an independent MQTT client, through a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from propwatch.clock import ScaledClock
from propwatch.site import load_site
from simulators.fleet import Fleet
from simulators.scenario import Step
from tests.simulators.conftest import write_site
from tests.support.servers import Mosquitto, require_binary

# 08:00 in Hangzhou, the morning rush at the north gate; a simulated minute per real second.
RUSH = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


class Subscriber:
    """mosquitto_sub printing `topic payload` lines for the door controllers' events."""

    def __init__(self, broker: Mosquitto) -> None:
        self.binary = require_binary("mosquitto_sub")
        self.broker = broker
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Subscriber:
        self.proc = await asyncio.create_subprocess_exec(
            self.binary, "-h", "127.0.0.1", "-p", str(self.broker.port),
            "-t", "devices/+/events", "-v", "-q", "1",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        await self.proc.wait()

    async def next(self, within: float = 5.0) -> tuple[str, bytes]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        topic, _, payload = line.rstrip(b"\n").partition(b" ")
        return topic.decode(), payload

    async def until(self, event: str, within: float = 5.0) -> dict[str, object]:
        deadline = time.monotonic() + within
        while True:
            _, payload = await self.next(max(0.01, deadline - time.monotonic()))
            doc: dict[str, object] = json.loads(payload)
            if doc["event"] == event:
                return doc


def _fleet(tmp_path: Path, broker: Mosquitto) -> Fleet:
    site = load_site(write_site(tmp_path, mqtt=True))
    return Fleet(site, ScaledClock(60, RUSH), broker.url, mqtt_step_seconds=0.05)


def test_swipes_open_and_close_the_door_and_heartbeats_arrive(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async def run() -> list[dict[str, object]]:
        async with Subscriber(mosquitto) as sub, _fleet(tmp_path, mosquitto):
            return [
                await sub.until("heartbeat"),
                await sub.until("card_granted"),
                await sub.until("door_opened"),
                await sub.until("door_closed"),
            ]

    heartbeat, granted, opened, closed = asyncio.run(run())
    assert heartbeat["device"] == "door-north"
    assert opened["door"] == {"open": True, "forced": False, "held_open": False}
    assert closed["door"] == {"open": False, "forced": False, "held_open": False}
    assert isinstance(granted["counters"], dict) and granted["counters"]["granted"] >= 1


def test_forced_door_is_announced_once_with_its_state(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async def run() -> dict[str, object]:
        async with Subscriber(mosquitto) as sub, _fleet(tmp_path, mosquitto) as fleet:
            await sub.until("heartbeat")
            fleet.apply(Step(after=0, device="door-north", fault="door_forced"))
            return await sub.until("door_forced")

    forced = asyncio.run(run())
    assert forced["door"] == {"open": True, "forced": True, "held_open": False}


@pytest.mark.parametrize("mode", ["malformed", "truncated"])
def test_comm_fault_publishes_payloads_that_are_not_json(
    tmp_path: Path, mosquitto: Mosquitto, mode: str
) -> None:
    async def run() -> bytes:
        async with Subscriber(mosquitto) as sub, _fleet(tmp_path, mosquitto) as fleet:
            await sub.until("heartbeat")
            fleet.apply(Step(after=0, device="door-north", comm=mode))
            while True:
                _, payload = await sub.next()
                try:
                    json.loads(payload)
                except ValueError:
                    return payload

    bad = asyncio.run(run())
    assert bad  # something arrived, and it does not parse
