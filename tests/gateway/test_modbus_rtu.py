"""Modbus RTU through the same profiles: a serial client, over a pty pair and over a socket."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from gateway.modbus.connection import ModbusConnection, link_key
from gateway.modbus.poller import ModbusDevicePoller
from propwatch.clock import SystemClock
from propwatch.site import Device
from tests.gateway.modbus_support import pump_profile, simulated_pump, until
from tests.support.servers import free_port, require_binary


def _rtu_device(serial_port: str, **extra: object) -> Device:
    fields: dict[str, object] = {
        "id": "pump-rtu",
        "protocol": "modbus_rtu",
        "profile": "water_pump",
        "serial_port": serial_port,
        "baudrate": 19200,
        "parity": "E",
        "unit_id": 7,
        "timeout": 1.0,
    }
    return Device.model_validate(fields | extra)


def test_an_rtu_device_without_a_serial_port_is_refused() -> None:
    with pytest.raises(ValidationError, match="serial_port"):
        Device.model_validate({"id": "p", "protocol": "modbus_rtu", "profile": "water_pump"})


def test_rtu_devices_on_one_serial_line_share_one_connection_key() -> None:
    a = _rtu_device("/dev/ttyUSB0", unit_id=1)
    b = _rtu_device("/dev/ttyUSB0", unit_id=2, id="pump-2")
    assert link_key(a) == link_key(b) == ("/dev/ttyUSB0", 0)


def test_an_rtu_device_gets_a_serial_client_with_its_line_settings() -> None:
    async def build() -> ModbusConnection:
        return ModbusConnection.for_device(_rtu_device("/dev/ttyUSB0"))

    conn = asyncio.run(build())
    assert isinstance(conn.client, AsyncModbusSerialClient)
    params = conn.client.ctx.comm_params
    assert (params.baudrate, params.parity, params.stopbits, params.bytesize) == (19200, "E", 1, 8)


async def _poll_rtu(
    serial_port: str, server_factory: object, parity: str = "E"
) -> dict[str, object]:
    clock = SystemClock()
    sim = simulated_pump(7, clock)
    server = server_factory(sim.sim_device())  # type: ignore[operator]
    await server.serve_forever(background=True)
    try:
        device = _rtu_device(serial_port, parity=parity)
        conn = ModbusConnection.for_device(device)
        poller = ModbusDevicePoller(
            "hexie", "pump-rtu", device, pump_profile(), conn, clock, print, print
        )
        sample = await poller.poll_once()
        conn.close()
    finally:
        await server.shutdown()
    return dict(sample.values)


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    socat = require_binary("socat")
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    proc = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stderr=subprocess.DEVNULL,
    )

    async def ready() -> None:
        await until(lambda: a.exists() and b.exists(), "socat's pty pair")

    asyncio.run(ready())
    yield str(a), str(b)
    proc.terminate()
    proc.wait(timeout=5)


def test_a_pump_is_read_over_rtu_on_a_serial_line(pty_pair: tuple[str, str]) -> None:
    master, slave = pty_pair

    def server(device: object) -> ModbusSerialServer:
        return ModbusSerialServer(
            device,  # type: ignore[arg-type]
            framer=FramerType.RTU,
            port=slave,
            baudrate=19200,
        )

    # a pty refuses parity settings; 8N1 is the common wiring anyway
    values = asyncio.run(_poll_rtu(master, server, parity="N"))
    assert values.keys() == {p.name for p in pump_profile().points}
    assert 0.3 < float(values["outlet_pressure"]) < 0.45  # type: ignore[arg-type]


def test_a_pump_is_read_over_rtu_framing_tunnelled_through_tcp() -> None:
    port = free_port()

    def server(device: object) -> ModbusTcpServer:
        return ModbusTcpServer(
            device,  # type: ignore[arg-type]
            framer=FramerType.RTU,
            address=("127.0.0.1", port),
        )

    values = asyncio.run(_poll_rtu(f"socket://127.0.0.1:{port}", server))
    assert values["running"] is True
