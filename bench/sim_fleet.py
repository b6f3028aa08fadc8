"""Measure the simulator at fleet scale: N Modbus devices in one `propwatch simulate` process,
polled every second by a separate load process that reads like the gateway does.

    .venv/bin/python bench/sim_fleet.py --devices 1000 --seconds 60

It writes a site file with N devices (pumps, elevators and lighting panels, `--units-per-port`
unit ids behind each TCP port), starts `propwatch simulate` on it, starts the load process
(one pymodbus client per port, each device read in its coalesced blocks every `--interval`),
and samples the simulator's CPU time and resident memory from /proc. Prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MIX = ("water_pump", "elevator", "elevator", "water_pump", "lighting_panel")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def write_site(path: Path, devices: int, units_per_port: int) -> list[dict[str, object]]:
    ports = free_ports((devices + units_per_port - 1) // units_per_port)
    rows: list[dict[str, object]] = []
    for i in range(devices):
        rows.append(
            {
                "id": f"dev-{i:04d}",
                "protocol": "modbus_tcp",
                "profile": MIX[i % len(MIX)],
                "host": "127.0.0.1",
                "port": ports[i // units_per_port],
                "unit_id": 1 + i % units_per_port,
                "poll_interval": "1s",
            }
        )
    doc = {
        "site": {
            "id": "bench",
            "name": "压测小区",
            "latitude": 30.27,
            "longitude": 120.15,
        },
        "zones": [{"id": "z", "name": "全区"}],
        "devices": rows,
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return rows


def proc_sample(pid: int) -> tuple[float, int]:
    """CPU seconds used so far and resident set size in bytes, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss_kb * 1024


# ---- the load process ---------------------------------------------------------------------


async def _load(rows: list[dict[str, object]], interval: float, seconds: float) -> dict[str, float]:
    from pymodbus.client import AsyncModbusTcpClient
    from pymodbus.exceptions import ModbusException

    from gateway.modbus.coalesce import coalesce_reads
    from propwatch.profiles import Function, ModbusProfile, load_profile

    blocks = {}
    for name in set(MIX):
        profile = load_profile(name)
        assert isinstance(profile, ModbusProfile)
        blocks[name] = coalesce_reads(list(profile.points))
    clients: dict[int, AsyncModbusTcpClient] = {}
    for row in rows:
        port = int(str(row["port"]))
        if port not in clients:
            clients[port] = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
            await clients[port].connect()
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0, "late": 0}
    stop_at = time.monotonic() + seconds

    async def poll(row: dict[str, object], phase: float) -> None:
        client = clients[int(str(row["port"]))]
        unit = int(str(row["unit_id"]))
        await asyncio.sleep(phase)
        next_at = time.monotonic()
        while next_at < stop_at:
            for b in blocks[str(row["profile"])]:
                started = time.monotonic()
                try:
                    if b.function is Function.COIL:
                        r = await client.read_coils(b.address, count=b.count, device_id=unit)
                    elif b.function is Function.DISCRETE_INPUT:
                        r = await client.read_discrete_inputs(
                            b.address, count=b.count, device_id=unit
                        )
                    elif b.function is Function.HOLDING:
                        r = await client.read_holding_registers(
                            b.address, count=b.count, device_id=unit
                        )
                    else:
                        r = await client.read_input_registers(
                            b.address, count=b.count, device_id=unit
                        )
                    counts["errors" if r.isError() else "requests"] += 1
                except ModbusException:
                    counts["errors"] += 1
                latencies.append(time.monotonic() - started)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:
                counts["late"] += 1
                next_at = time.monotonic()
            await asyncio.sleep(max(0.0, delay))

    n = len(rows)
    await asyncio.gather(*(poll(row, interval * i / n) for i, row in enumerate(rows)))
    for c in clients.values():
        c.close()
    latencies.sort()
    return {
        "requests_per_s": counts["requests"] / seconds,
        "errors": counts["errors"],
        "late_polls": counts["late"],
        "latency_p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
        "latency_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0,
    }


def run_load(args: argparse.Namespace) -> int:
    rows = json.loads(Path(args.rows).read_text())
    result = asyncio.run(_load(rows, args.interval, args.seconds))
    print(json.dumps(result))
    return 0


# ---- the driver ---------------------------------------------------------------------------


def wait_listening(ports: set[int], within: float) -> None:
    deadline = time.monotonic() + within
    pending = set(ports)
    while pending and time.monotonic() < deadline:
        for port in list(pending):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    pending.discard(port)
            except OSError:
                pass
        time.sleep(0.1)
    if pending:
        raise TimeoutError(f"simulator did not open ports {sorted(pending)[:5]}...")


def drive(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site.yaml"
        rows = write_site(site, args.devices, args.units_per_port)
        (Path(tmp) / "rows.json").write_text(json.dumps(rows))
        env = {**os.environ, "PROPWATCH_VAR_DIR": str(Path(tmp) / "var")}
        env.pop("PROPWATCH_MQTT_URL", None)
        command = [str(ROOT / ".venv/bin/propwatch"), "simulate", "--site", str(site)]
        if args.profile:
            command = [sys.executable, "-m", "cProfile", "-o", args.profile, *command]
        sim = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            started = time.monotonic()
            wait_listening({int(str(r["port"])) for r in rows}, 60)
            startup_s = time.monotonic() - started
            idle_cpu, idle_rss = proc_sample(sim.pid)
            load = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "load",
                    "--rows",
                    str(Path(tmp) / "rows.json"),
                    "--interval",
                    str(args.interval),
                    "--seconds",
                    str(args.seconds),
                ],
                stdout=subprocess.PIPE,
            )
            time.sleep(min(args.warmup, args.seconds / 3))
            cpu0, _ = proc_sample(sim.pid)
            load0, _ = proc_sample(load.pid)
            t0 = time.monotonic()
            rss_max = 0
            while load.poll() is None:
                time.sleep(1)
                if load.poll() is None:
                    cpu1, rss = proc_sample(sim.pid)
                    load1, _ = proc_sample(load.pid)
                    t1 = time.monotonic()
                    rss_max = max(rss_max, rss)
            out, _ = load.communicate()
            result = json.loads(out)
        finally:
            sim.terminate()
            _, err = sim.communicate(timeout=30)
    ports = len({r["port"] for r in rows})
    print(
        f"devices {args.devices} on {ports} ports ({args.units_per_port} unit ids per port), "
        f"poll every {args.interval}s for {args.seconds}s"
    )
    print(
        f"simulator start-up: {startup_s:.1f} s, idle RSS {idle_rss / 2**20:.0f} MiB "
        f"(CPU {idle_cpu:.1f} s to start)"
    )
    print(
        f"simulator under load: CPU {100 * (cpu1 - cpu0) / (t1 - t0):.0f}% of one core, "
        f"RSS max {rss_max / 2**20:.0f} MiB"
    )
    print(
        f"load process: CPU {100 * (load1 - load0) / (t1 - t0):.0f}% of one core, "
        f"{result['requests_per_s']:.0f} requests/s answered, "
        f"{result['errors']} errors, {result['late_polls']} late polls, "
        f"latency p50 {result['latency_p50_ms']:.1f} ms p99 {result['latency_p99_ms']:.1f} ms"
    )
    if sim.returncode not in (0, -15):
        print(err.decode()[-2000:], file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", nargs="?", default="drive", choices=["drive", "load"])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--units-per-port", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--profile", help="write a cProfile of the simulator to this file")
    parser.add_argument("--rows", help="(load mode) the device rows written by the driver")
    args = parser.parse_args()
    return run_load(args) if args.mode == "load" else drive(args)


if __name__ == "__main__":
    sys.exit(main())
