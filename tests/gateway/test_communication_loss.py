"""A device that stops answering raises a communication-loss alarm on MQTT; recovery clears it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from propwatch.clock import SystemClock
from propwatch.events import AlarmAction, AlarmEvent, Severity, alarm_topic, parse_event
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import load_site
from simulators.modbus_server import CommFault, ModbusSimServer
from tests.gateway.modbus_support import simulated_pump, until
from tests.support.servers import Mosquitto, free_port


def test_a_silent_pump_raises_and_then_clears_the_configured_communication_alarm(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()
    doc = {
        "site": {"id": "hexie", "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-a", "name": "A区"}],
        "assets": [
            {"id": "pump-1", "name": "1号水泵", "kind": "water_pump", "zone": "zone-a"}
            | {"device": "pump-1"}
        ],
        "devices": [
            {"id": "pump-1", "protocol": "modbus_tcp", "profile": "water_pump", "port": port}
            | {"poll_interval": "0.1s", "timeout": "0.2s"}
        ],
        "rules": [
            {"id": "pump-comm", "kind": "communication_loss", "asset_kind": "water_pump"}
            | {"offline_after": 2, "severity": "critical", "message": "水泵通信中断"}
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    events: list[AlarmEvent] = []

    def on_message(msg: object) -> None:
        event = parse_event(msg.payload)  # type: ignore[attr-defined]
        if isinstance(event, AlarmEvent):
            events.append(event)

    async def scenario() -> None:
        clock = SystemClock()
        spy = MqttConnection(mosquitto.url, "test-comm-spy")
        spy.on_message = on_message
        spy.subscribe(alarm_topic("hexie", "+"))
        spy.start()
        await spy.wait_connected()
        sim = simulated_pump(1, clock)
        settings = Settings(var_dir=tmp_path / "var")
        sink = LocalStore(tmp_path / "var" / "telemetry.db")
        async with (
            ModbusSimServer("127.0.0.1", port, [sim]),
            Gateway(load_site(path), settings, clock, mosquitto.url, sink=sink) as gw,
        ):
            await until(lambda: gw.pollers[0].health.polls >= 1, "a first poll")
            sim.comm_fault = CommFault.SILENT
            await until(lambda: len(events) >= 1, "the communication-loss raise")
            sim.comm_fault = CommFault.NONE
            await until(lambda: len(events) >= 2, "the clear", within=30)
        spy.stop()

    asyncio.run(scenario())
    raised, cleared = events
    assert (raised.action, cleared.action) == (AlarmAction.RAISE, AlarmAction.CLEAR)
    assert raised.episode_id == cleared.episode_id
    assert (raised.alarm_type, raised.severity, raised.message) == (
        "communication_loss",
        Severity.CRITICAL,
        "水泵通信中断",
    )
    assert raised.evidence["errors"] == {"timeout": 2}
