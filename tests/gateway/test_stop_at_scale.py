"""Stopping and reloading a gateway end every poll at any fleet size, whatever the client does.

A thousand pumps answer from a simulator process of their own; the bounds are deadlines that
fail the test (`asyncio.timeout`), not measurements.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from gateway.modbus.connection import ModbusConnection
from gateway.modbus.link import LinkPoller
from gateway.modbus.poller import ModbusDevicePoller
from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from propwatch.clock import SystemClock
from propwatch.profiles import Function
from propwatch.settings import Settings
from propwatch.site import load_site
from simulators.modbus_server import ModbusSimServer
from tests.gateway.modbus_fleet import pump_fleet, pump_site_doc
from tests.gateway.modbus_support import pump_device, pump_profile, simulated_pump, until
from tests.support.servers import Mosquitto, free_port

DEVICES = 1000


def _write(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_a_gateway_of_a_thousand_devices_reloads_and_stops_within_five_seconds(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with pump_fleet(DEVICES) as ports:
        first = load_site(_write(tmp_path / "site.yaml", pump_site_doc(ports, DEVICES, 10)))
        # the reload drops the last 300 pumps and polls the first 100 every 2 s instead
        doc = pump_site_doc(ports, DEVICES - 300, 10)
        for row in doc["devices"][:100]:
            row["poll_interval"] = "2s"
        second = load_site(_write(tmp_path / "site-2.yaml", doc))

        async def scenario() -> tuple[dict[str, int], int, list[bool]]:
            settings = Settings(var_dir=tmp_path / "var")
            sink = LocalStore(tmp_path / "var" / "telemetry.db")
            gw = Gateway(first, settings, SystemClock(), mosquitto.url, sink=sink)
            await gw.__aenter__()
            tasks = [link.task for link in gw.links.values() if link.task is not None]
            try:
                await until(
                    lambda: all(p.health.polls >= 2 for p in gw.pollers),
                    "two polls of every pump",
                    within=60,
                )
                async with asyncio.timeout(5):
                    summary = await gw.reload(second)
                kept = gw.pollers[-1]
                polls = kept.health.polls
                await until(lambda: kept.health.polls > polls, "polls after the reload")
                tasks += [link.task for link in gw.links.values() if link.task is not None]
            finally:
                async with asyncio.timeout(5):
                    await gw.__aexit__(None, None, None)
            return summary, gw.links_left_running, [t.done() for t in tasks]

        summary, left_running, done = asyncio.run(scenario())

    assert summary["pollers_stopped"] == 400 and summary["pollers_started"] == 100
    assert left_running == 0
    assert done and all(done)


class SwallowingConnection(ModbusConnection):
    """A client that, like `asyncio.wait_for` on Python 3.11 when the answer and the cancel
    land together, drops the cancellation and goes on with another request."""

    swallowed = 0

    async def read(
        self, function: Function, address: int, count: int, unit_id: int, reply_within: float
    ) -> list[int] | list[bool]:
        try:
            return await super().read(function, address, count, unit_id, reply_within)
        except asyncio.CancelledError:
            self.swallowed += 1
            return await super().read(function, address, count, unit_id, reply_within)


def test_a_stopped_link_ends_even_when_its_client_drops_the_cancellation() -> None:
    async def scenario() -> tuple[bool, int]:
        clock = SystemClock()
        port = free_port()
        async with ModbusSimServer("127.0.0.1", port, [simulated_pump(1, clock)]):
            conn = SwallowingConnection(f"127.0.0.1:{port}", host="127.0.0.1", port=port)
            samples: list[object] = []
            poller = ModbusDevicePoller(
                "fleet",
                "pump-1",
                pump_device(port, poll_interval=0.001),
                pump_profile(),
                conn,
                clock,
                samples.append,
                lambda *_: None,
            )
            link = LinkPoller(conn, clock, [poller])
            link.start()
            await until(lambda: conn.requests >= 3, "a few requests")
            while conn.swallowed == 0:  # stop until a cancel lands inside a request
                task = link.stop()
                assert task is not None
                async with asyncio.timeout(5):
                    await asyncio.gather(task, return_exceptions=True)
                if conn.swallowed == 0:
                    link.start()
                    requests = conn.requests
                    await until(lambda r=requests: conn.requests > r, "another request")  # type: ignore[misc]
            conn.close()
            return task.done(), conn.swallowed

    done, swallowed = asyncio.run(scenario())

    assert done and swallowed == 1
