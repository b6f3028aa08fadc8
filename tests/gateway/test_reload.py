"""SIGHUP reloads the site file into a running gateway without dropping what it holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import gateway.service
from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from propwatch.check_config import check_config
from propwatch.clock import SystemClock
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from simulators.modbus_server import ModbusSimServer
from tests.gateway.modbus_support import simulated_pump, until
from tests.support.servers import Mosquitto, free_port


def _site_doc(port: int, devices: list[str]) -> dict[str, Any]:
    return {
        "site": {"id": "hexie", "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-a", "name": "A区"}],
        "assets": [
            {"id": d, "name": f"{d}号水泵", "kind": "water_pump", "zone": "zone-a", "device": d}
            for d in devices
        ],
        "devices": [
            {
                "id": d,
                "protocol": "modbus_tcp",
                "profile": "water_pump",
                "port": port,
                "unit_id": int(d[-1]),
                "poll_interval": "0.1s",
            }
            for d in devices
        ],
        "rules": [
            {
                "id": "pump-outlet-pressure-low",
                "asset_kind": "water_pump",
                "metric": "outlet_pressure",
                "below": 0.15,
                "alarm_type": "low_outlet_pressure",
            }
        ],
    }


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


def _break(path: Path) -> None:
    path.write_text("site: [unclosed", encoding="utf-8")


async def _with_gateway(tmp_path: Path, mosquitto: Mosquitto, port: int, body: Any) -> None:
    clock = SystemClock()
    path = tmp_path / "site.yaml"
    _write(path, _site_doc(port, ["pump-1"]))
    settings = Settings(var_dir=tmp_path / "var")
    sink = LocalStore(tmp_path / "var" / "telemetry.db")
    sims = [simulated_pump(1, clock), simulated_pump(2, clock)]
    async with (
        ModbusSimServer("127.0.0.1", port, sims),
        Gateway(load_site(path), settings, clock, mosquitto.url, sink=sink) as gw,
    ):
        await until(lambda: gw.pollers[0].health.polls >= 2, "pump-1 polls")
        await body(gw, path)


def _polls(gw: Gateway, device_id: str) -> int:
    return next((p.health.polls for p in gw.pollers if p.device.id == device_id), 0)


def test_sighup_starts_an_added_device_and_keeps_the_running_poller(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()

    async def body(gw: Gateway, path: Path) -> None:
        first, writer = gw.pollers[0], gw.writer
        _write(path, _site_doc(port, ["pump-1", "pump-2"]))
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: _polls(gw, "pump-2") >= 2, "pump-2 polls after the reload")
        assert gw.reloads == 1
        assert gw.pollers[0] is first and gw.writer is writer
        assert len(gw.connections) == 1  # both units share the one host:port link

    asyncio.run(_with_gateway(tmp_path, mosquitto, port, body))


def test_a_removed_device_stops_polling_and_its_link_closes(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()

    async def body(gw: Gateway, path: Path) -> None:
        _write(path, _site_doc(port, []))
        summary = await gw.reload_from_file()
        assert summary is not None and summary["pollers_stopped"] == 1
        assert gw.pollers == [] and gw.connections == {}

    asyncio.run(_with_gateway(tmp_path, mosquitto, port, body))


def test_a_broken_site_file_is_refused_and_the_gateway_keeps_running(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()

    async def body(gw: Gateway, path: Path) -> None:
        poller = gw.pollers[0]
        _break(path)
        assert await gw.reload_from_file() is None
        polls = poller.health.polls
        await until(lambda: poller.health.polls > polls, "polls after the refused reload")
        assert gw.reload_failures == 1 and gw.pollers == [poller]

    asyncio.run(_with_gateway(tmp_path, mosquitto, port, body))


def test_a_reload_reads_the_file_off_the_event_loop_and_refuses_it_as_check_config_does(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    port = free_port()
    monkeypatch.setenv("PROPWATCH_LANG", "zh")
    on_loop: list[bool] = []

    def watched_load_site(path: Path) -> Site:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return load_site(path)

    monkeypatch.setattr(gateway.service, "load_site", watched_load_site)

    async def body(gw: Gateway, path: Path) -> None:
        poller = gw.pollers[0]
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        second_rules = text + "rules: []\n"  # a second rules: section
        await asyncio.to_thread(path.write_text, second_rules, encoding="utf-8")
        assert await gw.reload_from_file() is None
        _, expected = await asyncio.to_thread(check_config, path)
        assert len(expected) == 1 and "重复的键 rules" in expected[0]
        assert expected[0] in caplog.text
        assert gw.reload_failures == 1 and gw.pollers == [poller]
        await asyncio.to_thread(path.write_text, text, encoding="utf-8")
        assert await gw.reload_from_file() is not None

    asyncio.run(_with_gateway(tmp_path, mosquitto, port, body))
    assert on_loop == [False, False]


def _with_doors(doc: dict[str, Any], doors: list[str]) -> dict[str, Any]:
    doc["assets"] += [
        {"id": d, "name": f"{d}门禁", "kind": "access_controller", "zone": "zone-a", "device": d}
        for d in doors
    ]
    doc["devices"] += [{"id": d, "protocol": "mqtt", "profile": "access_controller"} for d in doors]
    return doc


async def _publish_until(pub: MqttConnection, door: str, done: Callable[[], bool]) -> None:
    """Publish a door event until the gateway has mapped it: a subscription made by a reload
    becomes active at the broker a moment later, and QoS 1 keeps nothing for no subscriber."""
    body = json.dumps({"door": {"open": True}, "counters": {"granted": 1}})
    for _ in range(100):
        await asyncio.to_thread(pub.publish(f"devices/{door}/events", body).wait_for_publish, 5)
        try:
            await until(done, f"{door} mapped", within=0.2)
            return
        except TimeoutError:
            continue
    raise AssertionError(f"{door} never mapped")


def test_reload_subscribes_added_mqtt_devices_and_drops_removed_ones(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()

    async def body(gw: Gateway, path: Path) -> None:
        pub = MqttConnection(mosquitto.url, "reload-test-publisher")
        pub.start()
        await pub.wait_connected()
        try:
            _write(path, _with_doors(_site_doc(port, ["pump-1"]), ["door-1", "door-2"]))
            summary = await gw.reload_from_file()
            assert summary is not None and summary["mqtt_topics_added"] == 2
            ingest = gw.ingest
            assert ingest is not None
            await _publish_until(pub, "door-1", lambda: ingest.mapped >= 1)
            await _publish_until(pub, "door-2", lambda: ingest.mapped >= 2)

            _write(path, _with_doors(_site_doc(port, ["pump-1"]), ["door-2"]))
            summary = await gw.reload_from_file()
            assert summary is not None and summary["mqtt_topics_removed"] == 1
            assert gw.ingest is ingest and "devices/door-1/events" not in ingest.by_topic
            mapped = ingest.mapped
            body = json.dumps({"door": {"open": False}})
            await asyncio.to_thread(pub.publish("devices/door-1/events", body).wait_for_publish, 5)
            await _publish_until(pub, "door-2", lambda: ingest.mapped > mapped)
            # door-1's event was either not delivered any more or kept as a dead letter.
            assert ingest.mapped == mapped + 1
        finally:
            pub.stop()

    asyncio.run(_with_gateway(tmp_path, mosquitto, port, body))
