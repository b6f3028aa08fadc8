"""遥控 at the gateway over real mosquitto and real Modbus TCP to the simulators: a command is
written with the function its point needs, read back, answered; an expired one is never
written; an offline device is not written; and a command waits for one poll, not the link's
whole queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from propwatch.clock import SystemClock
from propwatch.commands import CommandResult, command_topic, result_topic
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from simulators.fleet import Fleet
from simulators.lighting import LightingPanel
from simulators.modbus_server import CommFault
from simulators.pump import WaterPump
from tests.gateway.modbus_support import until
from tests.support.servers import Mosquitto, free_port

PUMPS = 20
SITE = "cmd-gw"
"""A site id of these tests alone: the session's broker keeps other tests' gateway sessions."""


def _site(tmp_path: Path) -> Site:
    panel_port, pump_port, dead_port = free_port(), free_port(), free_port()
    quick = {"protocol": "modbus_tcp", "host": "127.0.0.1", "poll_interval": "0.1s"}
    devices = [{"id": "light-1", "profile": "lighting_panel", "port": panel_port, "unit_id": 1}]
    devices += [
        {"id": f"pump-{n}", "profile": "water_pump", "port": pump_port, "unit_id": n}
        for n in range(1, PUMPS + 1)
    ]
    # on a port of its own, so that its silence costs the others nothing
    devices.append({"id": "pump-dead", "profile": "water_pump", "port": dead_port, "unit_id": 1})
    assets = [
        {"id": d["id"], "name": f"设备{d['id']}", "zone": "zone-a", "device": d["id"]}
        | {"kind": "lighting_panel" if d["profile"] == "lighting_panel" else "water_pump"}
        for d in devices
    ]
    assets[0]["name"] = "地库照明配电箱"
    doc = {
        "site": {"id": SITE, "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-a", "name": "A区"}],
        "assets": assets,
        "devices": [quick | d | {"timeout": "0.3s"} for d in devices],
        "rules": [
            {"id": "comm", "kind": "communication_loss", "asset_kind": "water_pump"}
            | {"offline_after": 2, "severity": "critical", "message": "水泵通信中断"}
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


class Commander:
    """The maintenance side's end of the command topics, as a plain MQTT client."""

    def __init__(self, url: str) -> None:
        self.results: dict[int, CommandResult] = {}
        self.mqtt = MqttConnection(url, "test-commander")
        self.mqtt.on_message = self._on_message
        self.mqtt.subscribe(result_topic(SITE, "+"), qos=1)
        self.next_id = 1

    def _on_message(self, msg: Any) -> None:
        result = CommandResult.model_validate_json(msg.payload)
        self.results[result.command_id] = result

    def send(self, asset: str, point: str, value: object, ttl: float = 30.0) -> int:
        now = SystemClock().now()
        command_id, self.next_id = self.next_id, self.next_id + 1
        body = {
            "command_id": command_id,
            "site_id": SITE,
            "asset_id": asset,
            "device_id": asset,
            "point": point,
            "value": value,
            "issued_at": now.isoformat(),
            "expires_at": (now + timedelta(seconds=ttl)).isoformat(),
        }
        self.mqtt.publish(command_topic(SITE), json.dumps(body), qos=1)
        return command_id

    async def result(self, command_id: int, within: float = 10.0) -> CommandResult:
        await until(lambda: command_id in self.results, f"result of {command_id}", within)
        return self.results[command_id]


@pytest.fixture
def commander(mosquitto: Mosquitto) -> Iterator[Commander]:
    c = Commander(mosquitto.url)
    c.mqtt.start()
    yield c
    c.mqtt.stop()


def test_commands_are_written_read_back_and_answered(
    tmp_path: Path, mosquitto: Mosquitto, commander: Commander
) -> None:
    site = _site(tmp_path)

    async def scenario() -> None:
        clock = SystemClock()
        settings = Settings(var_dir=tmp_path / "var")
        sink = LocalStore(tmp_path / "var" / "telemetry.db")
        await commander.mqtt.wait_connected()
        async with (
            Fleet(site, clock) as fleet,
            Gateway(site, settings, clock, mosquitto.url, sink=sink) as gw,
        ):
            panel = fleet.models["light-1"]
            assert isinstance(panel, LightingPanel)
            fleet.modbus["pump-dead"].comm_fault = CommFault.SILENT  # 不应答
            await until(lambda: all(p.health.polls >= 1 for p in gw.pollers[:-1]), "polls")
            circuit = panel.circuits[2]
            before = circuit.command
            on = await commander.result(commander.send("light-1", "circuit_3_command", not before))
            assert (on.state, on.read_back, on.reason) == ("done", not before, "")
            assert circuit.command is (not before)  # the contactor itself, in the simulator
            assert circuit.manual_until is not None  # held until the next dusk or dawn

            rated = await commander.result(
                commander.send("light-1", "circuit_3_rated_current", 2.5)
            )
            assert (rated.state, rated.read_back) == ("done", 2.5)
            assert circuit.rated_setting == 2.5
            assert gw.commands.counts.by_function == {5: 1, 16: 1}

            # refused by the gateway's own profile: nothing reaches the device
            bad = await commander.result(commander.send("light-1", "circuit_3_current", 1.0))
            assert (bad.state, bad.reason) == ("refused", "测点「第3回路电流」只读，不能遥控")
            high = await commander.result(commander.send("light-1", "circuit_3_rated_current", 101))
            assert high.state == "refused"
            assert high.reason == "「第3回路额定电流」的值 101A 高于上限 100A"

            # expired before it arrived: never written
            old = await commander.result(commander.send("light-1", "circuit_3_command", before, -5))
            assert old.state == "expired" and old.reason.startswith("命令已过有效期")
            assert circuit.command is (not before)
            # neither the refusals nor the expiry wrote anything
            assert gw.commands.counts.by_function == {5: 1, 16: 1}

            # a pump that does not start (tripped) fails on its read-back
            pump = fleet.models["pump-1"]
            assert isinstance(pump, WaterPump)
            pump.run_command = False
            pump.tripped.add("overload")
            tripped = await commander.result(commander.send("pump-1", "run_command", True))
            assert tripped.state == "failed"
            assert tripped.reason == "回读「运行」为 False，与命令值 True 不符"
            assert pump.run_command is True
            pump.tripped.clear()
            started = await commander.result(commander.send("pump-1", "run_command", True))
            assert (started.state, started.read_back) == ("done", True)

            # a device that is offline is not written
            dead = next(p for p in gw.pollers if p.device.id == "pump-dead")
            await until(lambda: dead.health.online is False, "pump-dead offline")
            off = await commander.result(commander.send("pump-dead", "run_command", False))
            assert off.state == "failed"
            assert off.reason.startswith("设备 设备pump-dead 通信中断，命令未执行（")

    asyncio.run(scenario())


def test_a_command_waits_for_the_poll_in_progress_not_for_the_link_queue(
    tmp_path: Path, mosquitto: Mosquitto, commander: Commander
) -> None:
    """Twenty pumps share one link and answer each request after 50 ms, so a poll (three
    requests) takes 150 ms and the link is three seconds behind its schedule: a command still
    waits only for the poll under way, then its write and read-back."""
    site = _site(tmp_path)

    async def scenario() -> None:
        clock = SystemClock()
        settings = Settings(var_dir=tmp_path / "var")
        sink = LocalStore(tmp_path / "var" / "telemetry.db")
        await commander.mqtt.wait_connected()
        async with (
            Fleet(site, clock) as fleet,
            Gateway(site, settings, clock, mosquitto.url, sink=sink) as gw,
        ):
            pumps = [
                p
                for p in gw.pollers
                if p.device.id.startswith("pump-") and p.device.id != "pump-dead"
            ]
            await until(lambda: all(p.health.polls >= 1 for p in pumps), "polls")
            for n in range(1, PUMPS + 1):
                sim = fleet.modbus[f"pump-{n}"]
                sim.comm_fault, sim.slow_seconds = CommFault.SLOW, 0.05
            await until(lambda: max(p.health.last_lag_s for p in pumps) > 1.0, "a queue", 20)
            loop = asyncio.get_running_loop()
            took = []
            for n in (3, 9, 17):
                started = loop.time()
                result = await commander.result(commander.send(f"pump-{n}", "run_command", True))
                took.append(loop.time() - started)
                assert result.state == "done", result.reason
            lag = max(p.health.last_lag_s for p in pumps)
            # the poll under way (≤ 150 ms), write and read-back (100 ms), the broker twice
            assert max(took) < 1.0 < lag, (took, lag)

    asyncio.run(scenario())
