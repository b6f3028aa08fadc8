"""Real Modbus peers for poller tests: simulated pumps behind a pymodbus server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from zoneinfo import ZoneInfo

from propwatch.clock import Clock
from propwatch.profiles import ModbusProfile, load_profile
from propwatch.site import Device
from simulators.modbus_server import SimulatedModbusDevice
from simulators.pump import WaterPump


def pump_profile() -> ModbusProfile:
    profile = load_profile("water_pump")
    assert isinstance(profile, ModbusProfile)
    return profile


def simulated_pump(unit_id: int, clock: Clock) -> SimulatedModbusDevice:
    model = WaterPump(f"pump-{unit_id}", ZoneInfo("Asia/Shanghai"), clock.now())
    return SimulatedModbusDevice(unit_id, pump_profile(), model, clock)


def pump_device(port: int, unit_id: int = 1, **extra: object) -> Device:
    fields: dict[str, object] = {
        "id": f"pump-{unit_id}",
        "protocol": "modbus_tcp",
        "profile": "water_pump",
        "host": "127.0.0.1",
        "port": port,
        "unit_id": unit_id,
        "poll_interval": 0.1,
        "timeout": 0.3,
    }
    return Device.model_validate(fields | extra)


async def until(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait on a condition with a deadline, never a fixed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise TimeoutError(f"no {what} within {within}s")
        await asyncio.sleep(0.01)
