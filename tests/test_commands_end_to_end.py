"""遥控 end to end: the duty room's POST → the command table → the maintenance service → real
mosquitto (QoS 1) → the gateway → real Modbus TCP to the simulated lighting panel → read-back →
the result on the row, which `GET …?wait=` answers; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.auth import ApiRole, TokenRegistry, issue_token
from api.deps import AppContext
from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from maintenance.commands.models import DeviceCommand
from maintenance.db import Database
from maintenance.registry.service import sync_registry
from maintenance.service import MaintenanceService
from propwatch.clock import SystemClock
from propwatch.commands import command_topic
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from simulators.fleet import Fleet
from simulators.lighting import LightingPanel
from tests.api.conftest import bearer
from tests.api.integration import db, migrated_template  # noqa: F401  (both backends)
from tests.conftest import EXAMPLE_SITE
from tests.maintenance.helpers import directory_of
from tests.support.servers import Mosquitto, free_port

SITE = "cmd-e2e"
"""The example site under an id of this test alone (the session's broker keeps the sessions
of other tests' gateways, which must not take these commands)."""


class ShiftedClock(SystemClock):
    """The system clock, `shift` ahead: a gateway that comes back a while later."""

    def __init__(self, shift: timedelta) -> None:
        self.shift = shift

    def now(self) -> datetime:
        return super().now() + self.shift


def _site(tmp_path: Path) -> Site:
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["site"]["id"] = SITE
    ports: dict[int, int] = {}
    for d in doc["devices"]:
        if "port" in d:
            d["port"] = ports.setdefault(d["port"], free_port())
            d["poll_interval"] = "0.2s"
    doc["plans"] = []
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


async def _eventually(check: Callable[[], Any], what: str, within: float = 15) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if result := await asyncio.to_thread(check):
            return result
        await asyncio.sleep(0.05)
    raise TimeoutError(f"timed out after {within}s waiting for {what}")


def test_a_duty_room_switches_a_lighting_circuit_through_every_real_peer(
    tmp_path: Path,
    mosquitto: Mosquitto,
    db: Database,  # noqa: F811
) -> None:
    site = _site(tmp_path)
    clock = SystemClock()
    with db.session() as s:
        sync_registry(s, site, clock.now())
        duty = issue_token(
            s, name="值班室", role=ApiRole.DUTY, sites=[SITE], person=None, now=clock.now()
        )
    ctx = AppContext(db=db, sites={SITE: site}, clock=clock, tokens=TokenRegistry())
    settings = Settings(var_dir=tmp_path / "var", database_url=db.url)
    base = f"/api/v1/assets/{SITE}/lighting-b/commands"
    sent: list[dict[str, Any]] = []

    def rows() -> int:
        with db.session() as s:
            return int(s.scalar(select(func.count()).select_from(DeviceCommand)) or 0)

    async def scenario(client: TestClient) -> None:
        spy = MqttConnection(mosquitto.url, "test-command-spy")
        spy.on_message = lambda m: sent.append(json.loads(m.payload))
        spy.subscribe(command_topic(SITE))
        spy.start()
        await spy.wait_connected()

        def post(body: dict[str, Any], **headers: str) -> Any:
            return client.post(base, json=body, headers={**bearer(duty), **headers})

        def state(url: str, wait: float = 8) -> dict[str, Any]:
            r = client.get(url, params={"wait": wait}, headers=bearer(duty))
            assert r.status_code == 200, r.text
            answer: dict[str, Any] = r.json()
            return answer

        sink = LocalStore(tmp_path / "var" / "telemetry.db")
        async with (
            Fleet(site, clock, mosquitto.url) as fleet,
            MaintenanceService(directory_of(site, clock), settings, clock, mosquitto.url, db),
        ):
            panel = fleet.models["lighting-b"]
            assert isinstance(panel, LightingPanel)
            circuit = panel.circuits[0]
            wanted = not circuit.command
            async with Gateway(site, settings, clock, mosquitto.url, sink=sink) as gw:
                await _eventually(lambda: all(p.health.polls for p in gw.pollers), "polls")
                # 合闸: kept, sent, written, read back
                r = await asyncio.to_thread(post, {"point": "circuit_1_command", "value": wanted})
                assert r.status_code == 202, r.text
                made = r.json()
                assert made["state"] == "pending" and r.headers["location"] == made["url"]
                assert (made["asset_name"], made["point_label"]) == (
                    "B区公共照明配电箱",
                    "第1回路合闸命令",
                )
                done = await asyncio.to_thread(state, made["url"])
                assert (done["state"], done["state_zh"], done["read_back"]) == (
                    "done",
                    "已执行",
                    wanted,
                )
                assert done["requested_by"] == "值班室" and done["final"] is True
                assert circuit.command is wanted  # the simulated contactor

                # out of range and not writable: 422 naming the field, nothing kept or sent
                before = len(sent)
                r = await asyncio.to_thread(
                    post, {"point": "circuit_2_rated_current", "value": 250}
                )
                assert r.status_code == 422, r.text
                assert r.json()["errors"][0]["loc"] == ["body", "value"]
                assert r.json()["detail"].startswith("「第2回路额定电流」的值 250A 高于上限 100A")
                r = await asyncio.to_thread(post, {"point": "circuit_2_current", "value": 1})
                assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "point"]
                r = client.post(
                    f"/api/v1/assets/{SITE}/no-such/commands",
                    json={"point": "circuit_1_command", "value": True},
                    headers=bearer(duty),
                )
                assert r.status_code == 404 and "no-such" in r.json()["detail"]
                assert await asyncio.to_thread(rows) == 1

                # the same Idempotency-Key twice: one command, one message
                key = {"Idempotency-Key": "switch-c2-on-1"}
                body = {"point": "circuit_2_command", "value": True, "ttl_seconds": 30}
                first = await asyncio.to_thread(post, body, **key)
                again = await asyncio.to_thread(post, body, **key)
                assert first.status_code == again.status_code == 202
                assert first.json()["id"] == again.json()["id"]
                assert (await asyncio.to_thread(state, first.json()["url"]))["state"] == "done"
                assert await asyncio.to_thread(rows) == 2
                await _eventually(lambda: len(sent) >= 2, "the spy's copy")
                assert [m["command_id"] for m in sent] == [made["id"], first.json()["id"]]
                assert before == 1  # the refusals sent nothing

            # the gateway is away: the command waits in its persistent session on the broker
            r = await asyncio.to_thread(
                post, {"point": "circuit_1_command", "value": not wanted, "ttl_seconds": 60}
            )
            away = r.json()
            await _eventually(
                lambda: state(away["url"], 0)["state"] == "sent", "the command handed over"
            )
            # …and comes back two minutes later: the switch-off is not executed
            later = ShiftedClock(timedelta(minutes=2))
            second_sink = LocalStore(tmp_path / "var" / "telemetry-2.db")
            async with Gateway(site, settings, later, mosquitto.url, sink=second_sink):
                expired = await asyncio.to_thread(state, away["url"])
            assert expired["state"] == "expired", expired
            assert expired["reason"].startswith("命令已过有效期")
            assert circuit.command is wanted

        listed = client.get(base, headers=bearer(duty)).json()
        assert [c["id"] for c in listed] == [away["id"], first.json()["id"], made["id"]]
        assert [c["state"] for c in listed] == ["expired", "done", "done"]
        spy.stop()

    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        asyncio.run(scenario(client))
