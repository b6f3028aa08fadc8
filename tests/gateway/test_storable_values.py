"""Values that parse but cannot be stored are refused at the reading, dead-lettered with the
reason, and never reach a batch: the rest of the batch is stored.

End to end through a real gateway: MQTT payloads through a real mosquitto into a real
victoria-metrics (the InfluxDB v2 write API), and Modbus polls of a real simulated pump.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from gateway.dead_letters import DeadLetters
from gateway.modbus.connection import ModbusConnection
from gateway.modbus.poller import ModbusDevicePoller
from gateway.readings import STORABLE_FROM, STORABLE_UNTIL, Sample, split_storable, to_line
from gateway.service import Gateway
from gateway.sinks.influx import InfluxSink
from propwatch.clock import SystemClock
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from simulators.modbus_server import ModbusSimServer, SimulatedModbusDevice
from simulators.pump import WaterPump
from tests.gateway.modbus_support import pump_device, pump_profile, until
from tests.support.servers import Mosquitto, VictoriaMetrics, free_port, wait_until

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def _sample(at: datetime = T0, **values: Any) -> Sample:
    return Sample("hexie", "pump-1", "pump-1", "water_pump", at, dict(values), {"a": "MPa"})


def test_a_clean_sample_passes_as_it_is() -> None:
    sample = _sample(a=1.5, b=2**63 - 1, c=-(2**63), d=True, e="自动")

    assert split_storable(sample) == (sample, None)
    assert split_storable(sample)[0] is sample


def test_timestamps_are_storable_exactly_within_the_int64_nanosecond_range() -> None:
    first, last = STORABLE_FROM, STORABLE_UNTIL

    assert first.isoformat() == "1677-09-21T00:12:43.145225+00:00"
    assert last.isoformat() == "2262-04-11T23:47:16.854775+00:00"
    for ok in (first, last):
        assert split_storable(_sample(ok, a=1.0))[1] is None
        assert -(2**63) <= int(to_line(_sample(ok, a=1.0)).rsplit(" ", 1)[1]) < 2**63
    for bad in (
        first - US,
        last + US,
        datetime(1, 1, 1, tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
    ):
        kept, refusal = split_storable(_sample(bad, a=1.0, b=2))
        assert kept is None and refusal is not None
        assert refusal.values == 2 and "outside the store's range" in refusal.whole


def test_an_unstorable_value_is_refused_and_the_others_kept() -> None:
    sample = _sample(a=1.0, big=2**63, small=-(2**63) - 1, nan=math.nan, inf=-math.inf, ok=3)

    kept, refusal = split_storable(sample)

    assert kept is not None and refusal is not None
    assert kept.values == {"a": 1.0, "ok": 3} and kept.units == {"a": "MPa"}
    assert set(refusal.fields) == {"big", "small", "nan", "inf"}
    assert "signed 64-bit" in refusal.fields["big"] and "not a finite" in refusal.fields["nan"]
    assert refusal.values == 4 and refusal.describe().startswith("values refused: big:")


def test_a_sample_with_only_unstorable_values_is_refused_whole() -> None:
    kept, refusal = split_storable(_sample(n=math.nan))

    assert (
        kept is None
        and refusal is not None
        and refusal.fields == {"n": "nan is not a finite number"}
    )


def _door_site(tmp: Path, site_id: str) -> Site:
    doc = {
        "site": {"id": site_id, "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-b", "name": "B区"}],
        "assets": [
            {"id": "door-north", "name": "北门门禁", "kind": "access_controller"}
            | {"zone": "zone-b", "device": "door-north"}
        ],
        "devices": [{"id": "door-north", "protocol": "mqtt", "profile": "access_controller"}],
    }
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


async def _until(check: Callable[[], bool], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


def _exported(vm: VictoriaMetrics, name: str) -> dict[int, float]:
    """Value by millisecond timestamp of one series of the test's site."""
    vm.flush()
    series = vm.export(f'{{__name__="{name}",site="storable"}}')
    return {t: v for s in series for t, v in zip(s["timestamps"], s["values"], strict=True)}


async def _offline_session(url: str, client_id: str, topic: str) -> None:
    """Make the broker keep `topic` for `client_id` while it is away (SUBACK awaited)."""
    subscribed = threading.Event()
    conn = MqttConnection(url, client_id, clean_start=False)
    conn.client.on_subscribe = lambda *_: subscribed.set()
    conn.subscribe(topic, qos=1)
    conn.start()
    await conn.wait_connected()
    await asyncio.to_thread(subscribed.wait, 10)
    conn.stop()
    assert subscribed.is_set(), "no SUBACK from the broker"


def test_refused_mqtt_values_are_dead_lettered_and_the_rest_of_the_batch_is_stored(
    tmp_path: Path, mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics
) -> None:
    site = _door_site(tmp_path, "storable")
    topic = "devices/door-north/events"
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def at(i: int) -> str:
        return (base + timedelta(milliseconds=i)).isoformat()

    good = [
        json.dumps({"door": {"open": i % 2 == 0}, "counters": {"granted": i}, "ts": at(i)})
        for i in range(40)
    ]
    bad = [
        {"door": {"open": True}, "ts": "0001-01-01T00:00:00+00:00"},
        {"door": {"open": True}, "ts": "9999-12-31T23:59:59+00:00"},
        {"counters": {"granted": 2**63}, "ts": at(100)},
    ]
    partly = {"door": {"open": True}, "counters": {"granted": 1.5e308, "denied": 2}, "ts": at(200)}
    payloads = good[:20] + [json.dumps(b) for b in bad] + [json.dumps(partly)] + good[20:]
    settings = Settings(var_dir=tmp_path / "var")
    figures: dict[str, Any] = {}

    async def run() -> None:
        # The messages wait in the gateway's persistent session and arrive in one go, so that
        # the good and the bad ones share batches.
        await _offline_session(mosquitto.url, "propwatch-gateway-storable", topic)
        device = MqttConnection(mosquitto.url, "test-door-north-storable")
        device.start()
        await device.wait_connected()
        for payload in payloads:
            await asyncio.to_thread(device.publish(topic, payload, qos=1).wait_for_publish, 5)
        device.stop()
        sink = InfluxSink(victoria_metrics.url, "t", "o", "b")
        async with Gateway(site, settings, SystemClock(), mosquitto.url, sink) as gw:
            assert gw.ingest is not None
            ingest = gw.ingest
            await _until(lambda: ingest.received == len(payloads), "every payload")
            await _until(lambda: gw.writer.stats.written == 41, "the 41 storable samples")
            figures["letters"] = await asyncio.to_thread(gw.dead_letters.recent)
            figures["refused_values"] = gw.dead_letters.stats().refused_values
            figures["rejected"] = gw.writer.stats.rejected
            figures["refused_samples"] = ingest.refused

    asyncio.run(run())

    def exported(metric: str) -> dict[int, float]:
        return _exported(victoria_metrics, f"access_controller_{metric}")

    wait_until(lambda: len(exported("door_open")) == 41, 30, "41 points in victoria-metrics")
    first_ms = int(base.timestamp() * 1000)
    assert sorted(exported("door_open")) == [first_ms + i for i in range(40)] + [first_ms + 200]
    assert exported("swipes_granted") == {first_ms + i: float(i) for i in range(40)}
    assert exported("swipes_denied") == {first_ms + 200: 2.0}
    assert figures["rejected"] == 0, "no batch was refused by the store"
    assert (figures["refused_samples"], figures["refused_values"]) == (4, 4)
    letters = figures["letters"]
    assert len(letters) == 4 and {topic} == {r[1] for r in letters}
    reason = {json.loads(r[3])["ts"]: r[2] for r in letters}
    assert reason["0001-01-01T00:00:00+00:00"].startswith("sample refused: timestamp 0001-01-01")
    assert reason["9999-12-31T23:59:59+00:00"].startswith("sample refused: timestamp 9999-12-31")
    assert reason[at(100)].startswith(
        "values refused: swipes_granted: integer 9223372036854775808 outside"
    )
    assert reason[at(200)].startswith("values refused: swipes_granted: integer 1500000")


class NaNVibrationPump(WaterPump):
    """A pump whose vibration sensor reads the float32 NaN pattern, as a failed sensor does."""

    def values(self, now: datetime) -> dict[str, Any]:
        return super().values(now) | {"vibration": math.nan}


def test_a_nan_modbus_value_is_dead_lettered_and_the_rest_of_the_poll_goes_on(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[list[Sample], list[tuple[str, str, str, bytes]], int]:
        clock = SystemClock()
        port = free_port()
        model = NaNVibrationPump("pump-1", ZoneInfo("Asia/Shanghai"), clock.now())
        sim = SimulatedModbusDevice(1, pump_profile(), model, clock)
        samples: list[Sample] = []
        dead = DeadLetters(tmp_path / "dead.db")
        async with ModbusSimServer("127.0.0.1", port, [sim]):
            conn = ModbusConnection.tcp("127.0.0.1", port)
            poller = ModbusDevicePoller(
                "hexie",
                "pump-1",
                pump_device(port),
                pump_profile(),
                conn,
                clock,
                samples.append,
                lambda *_: None,
                dead_letters=dead,
            )
            task = asyncio.create_task(poller.run())
            await until(lambda: len(samples) >= 2, "two polls")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            conn.close()
        letters = await asyncio.to_thread(dead.recent)
        return samples, letters, poller.health.refused_values

    samples, letters, refused = asyncio.run(scenario())

    assert all("vibration" not in s.values and "outlet_pressure" in s.values for s in samples)
    assert refused >= len(samples) and len(letters) >= len(samples)
    topic, reason, payload = letters[-1][1], letters[-1][2], json.loads(letters[-1][3])
    assert topic == "modbus/pump-1"
    assert reason == "values refused: vibration: nan is not a finite number"
    assert payload == {"device": "pump-1", "values": {"vibration": "nan"}}
