"""A fleet of simulated pumps in a process of its own, `units_per_port` unit ids per TCP port.

The gateway under test then polls real Modbus TCP servers that do not share its event loop, as
on a site. Run as a module it serves the fleet and prints `ready` once every port listens.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports (all bound at once, so none is handed out twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def pump_site_doc(ports: list[int], devices: int, units_per_port: int, **device: Any) -> Any:
    """A site of `devices` pumps, pump-i being unit 1 + i % units_per_port of its port."""
    return {
        "site": {"id": "fleet", "name": "压测小区", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-a", "name": "A区"}],
        "assets": [
            {
                "id": f"pump-{i}",
                "name": f"{i}号水泵",
                "kind": "water_pump",
                "zone": "zone-a",
                "device": f"pump-{i}",
            }
            for i in range(devices)
        ],
        "devices": [
            {
                "id": f"pump-{i}",
                "protocol": "modbus_tcp",
                "profile": "water_pump",
                "port": ports[i // units_per_port],
                "unit_id": 1 + i % units_per_port,
                "poll_interval": "1s",
            }
            | device
            for i in range(devices)
        ],
    }


@contextmanager
def pump_fleet(devices: int, units_per_port: int = 10) -> Iterator[list[int]]:
    """Serve `devices` pumps from a child process; yields the ports, in order."""
    ports = free_ports((devices + units_per_port - 1) // units_per_port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.gateway.modbus_fleet", str(devices), json.dumps(ports)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the simulated fleet did not start")
        yield ports
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _serve(devices: int, ports: list[int]) -> None:
    from propwatch.clock import SystemClock
    from simulators.modbus_server import ModbusSimServer
    from tests.gateway.modbus_support import simulated_pump

    clock = SystemClock()
    per_port = (devices + len(ports) - 1) // len(ports)
    for p, port in enumerate(ports):
        units = range(1, 1 + min(per_port, devices - p * per_port))
        await ModbusSimServer("127.0.0.1", port, [simulated_pump(u, clock) for u in units]).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), json.loads(sys.argv[2])))
