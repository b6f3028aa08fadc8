"""MQTT flow control: the gateway holds each QoS 1 acknowledgement until what the message carried
is safe, and a broker sends no more than its in-flight window (Mosquitto's stock
`max_inflight_messages 20`) unacknowledged; past that it queues (`max_queued_messages 1000`,
counted beyond the in-flight ones) and past the queue it drops, connected subscriber or not.
So once the window is full the gateway writes its batch at once instead of at the deadline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from gateway.service import Gateway
from gateway.sinks.influx import InfluxSink
from propwatch.clock import SystemClock
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from tests.support.servers import (
    SHIPPED_LIMITS,
    STOCK_LIMITS,
    BrokerLimits,
    Mosquitto,
    VictoriaMetrics,
    start_mosquitto,
    wait_until,
)

DEVICES = 10
T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(params=[STOCK_LIMITS, SHIPPED_LIMITS], ids=["stock-limits", "shipped-config"])
def limited_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mosquitto]:
    limits: BrokerLimits = request.param
    broker = start_mosquitto(tmp_path, limits=limits)
    yield broker
    broker.stop()


def _site(tmp: Path, site_id: str) -> Site:
    ids = [f"door-{i}" for i in range(DEVICES)]
    doc = {
        "site": {"id": site_id, "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-b", "name": "B区"}],
        "assets": [
            {"id": d, "name": f"门禁{i}", "kind": "access_controller", "zone": "zone-b"}
            | {"device": d}
            for i, d in enumerate(ids)
        ],
        "devices": [{"id": d, "protocol": "mqtt", "profile": "access_controller"} for d in ids],
    }
    path = tmp / f"{site_id}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


def _payload(i: int) -> bytes:
    """Message i: its own counter value and its own instant, so each is a point of its own."""
    at = T0 + timedelta(milliseconds=i)
    return json.dumps({"counters": {"granted": i}, "ts": at.isoformat()}).encode()


def _settings(tmp: Path, **kw: object) -> Settings:
    # The batch deadline is an hour away: only the window can get messages acknowledged.
    given: dict[str, object] = {"var_dir": tmp / "var", "gateway_flush_interval": 3600.0} | kw
    return Settings(**given)  # type: ignore[arg-type]


async def _publish(
    url: str, count: int, lead: int | None = None, taken: Callable[[], int] | None = None
) -> None:
    """`count` messages round robin over the devices; with `lead`, never more than that many
    ahead of what the gateway has acknowledged (a fleet the broker's queue can hold)."""
    pub = MqttConnection(url, f"fleet-{time.monotonic_ns()}")
    pub.start()
    await pub.wait_connected()
    infos = []
    for i in range(count):
        if lead is not None and taken is not None:
            deadline = time.monotonic() + 30
            while i - taken() >= lead:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the gateway settled {taken()} of {i}, then stalled")
                await asyncio.sleep(0.005)
        infos.append(pub.publish(f"devices/door-{i % DEVICES}/events", _payload(i), qos=1))
    for info in infos:
        await asyncio.to_thread(info.wait_for_publish, 10)
    pub.stop()


async def _taken(gw: Gateway, count: int, within: float = 10) -> None:
    assert gw.ingest is not None
    ingest = gw.ingest
    await asyncio.to_thread(wait_until, lambda: ingest.received >= count, within, "messages")


async def _settled(gw: Gateway, count: int, within: float = 30, residue: int = 0) -> None:
    """All `count` received and at most `residue` still held unacknowledged."""
    assert gw.ingest is not None
    deadline = time.monotonic() + within
    while gw.ingest.received < count or gw.ingest.unacknowledged > residue:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{gw.ingest.received} of {count} messages received, "
                f"{gw.ingest.unacknowledged} unacknowledged"
            )
        await asyncio.sleep(0.01)


def _stored(vm: VictoriaMetrics, site_id: str, at_least: int, within: float = 30) -> int:
    deadline = time.monotonic() + within
    while True:
        vm.flush()
        series = vm.export(f'access_controller_swipes_granted{{site="{site_id}"}}')
        values = sorted(v for s in series for v in s["values"])
        if len(values) >= at_least or time.monotonic() > deadline:
            return len(values)
        time.sleep(0.2)


def test_a_fleet_is_stored_whole_through_broker_limits_without_waiting_for_the_deadline(
    limited_broker: Mosquitto, victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    site_id = f"flow-{time.monotonic_ns()}"
    site = _site(tmp_path, site_id)
    count = 5000
    sink = InfluxSink(victoria_metrics.url, "t", "o", "b")

    async def run() -> int:
        settings = _settings(tmp_path)
        async with Gateway(site, settings, SystemClock(), limited_broker.url, sink) as gw:
            assert gw.ingest is not None
            ingest = gw.ingest
            await asyncio.sleep(0.3)  # the SUBACK
            # The broker's backlog for the session (published, not yet acknowledged) stays
            # under its queue limit; the gateway must keep acknowledging for the fleet to go on.
            await _publish(
                limited_broker.url,
                count,
                lead=500,
                taken=lambda: ingest.received - ingest.unacknowledged,
            )
            # Past the last full window, fewer messages than cut a batch may arrive after the
            # last cut: those wait for the deadline (an hour here), and the exit writes them.
            await _settled(gw, count, residue=ingest.hurry_at - 1)
            return ingest.hurried

    hurried = asyncio.run(run())

    assert _stored(victoria_metrics, site_id, count) == count
    assert hurried > 0, "the window filled and batches were cut before the deadline"


def test_past_its_window_and_queue_a_stock_broker_drops_and_the_session_keeps_the_queue(
    victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    """Why the window must not exceed the broker's: a gateway that holds more unacknowledged
    than the broker sends gets 20, the broker queues 1,000 more for the session and drops the
    rest, silently. A later life on the same session receives the queued 1,000."""
    broker = start_mosquitto(tmp_path, limits=STOCK_LIMITS)
    site_id = f"drop-{time.monotonic_ns()}"
    site = _site(tmp_path, site_id)
    sent = 2000

    async def life(settings: Settings, publish: int) -> int:
        sink = InfluxSink(victoria_metrics.url, "t", "o", "b")
        async with Gateway(site, settings, SystemClock(), broker.url, sink) as gw:
            assert gw.ingest is not None
            await asyncio.sleep(0.3)
            await _publish(broker.url, publish)
            await _taken(gw, 20)
            return gw.ingest.received

    try:
        # No flow control (a window the broker never fills): every ack waits for the deadline.
        first = asyncio.run(life(_settings(tmp_path, gateway_mqtt_receive_window=65535), sent))
        stored_first = _stored(victoria_metrics, site_id, 20)

        async def second() -> tuple[int, int]:
            sink = InfluxSink(victoria_metrics.url, "t", "o", "b")
            # a batch deadline of its own: the last few of the 1,000 may come after a cut
            fast = _settings(tmp_path, gateway_flush_interval=0.5)
            async with Gateway(site, fast, SystemClock(), broker.url, sink) as gw:
                await _settled(gw, 1000)
                stored = await asyncio.to_thread(_stored, victoria_metrics, site_id, 1020)
                return (gw.ingest.received if gw.ingest else 0), stored

        again, stored = asyncio.run(second())
    finally:
        broker.stop()

    assert (first, stored_first) == (20, 20)
    # The 1,000 queued, and those of the first 20 whose ack the first life had not sent yet.
    assert 1000 <= again <= 1020
    assert stored == 1020 < sent
