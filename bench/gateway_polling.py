"""Poll a simulated fleet of Modbus pumps with the real gateway and report reading age.

    .venv/bin/python bench/gateway_polling.py --devices 1000 --steps 2000,3000 --seconds 25

A separate process serves `--devices` (the largest step) simulated water pumps
(`SimulatedModbusDevice` + `WaterPump` behind `ModbusSimServer`, `--units-per-port` unit ids per
TCP port). This process runs the gateway (`gateway.service.Gateway`: pollers, rules, telemetry
writer to the local store — or, with `--sink null`, to a sink that keeps nothing — alarms and
state over a real mosquitto) on a site with the first
step's devices polled every `--interval`, then grows the site by SIGHUP-style reloads to each
further step. For each step it reports, over a `--seconds` window after a short settle:

- reading age: from the moment a poll was due to the moment its reading reached the writer,
  p50 / p99 / max; a step holds when p99 < 2 s and at least 97% of the scheduled polls happen
  (a poller that falls behind skips ticks, which keeps ages short but loses readings);
- polls per second achieved against the schedule, and poll errors;
- the gateway process's CPU (share of one core) and RSS; the simulator's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- the simulator process ----------------------------------------------------------------


async def serve(devices: int, units_per_port: int, ports: list[int]) -> None:
    from zoneinfo import ZoneInfo

    from propwatch.clock import SystemClock
    from propwatch.profiles import ModbusProfile, load_profile
    from simulators.modbus_server import ModbusSimServer, SimulatedModbusDevice
    from simulators.pump import WaterPump

    clock = SystemClock()
    profile = load_profile("water_pump")
    assert isinstance(profile, ModbusProfile)
    tz = ZoneInfo("Asia/Shanghai")
    servers = []
    for p, port in enumerate(ports):
        sims = [
            SimulatedModbusDevice(u + 1, profile, WaterPump(f"pump-{i}", tz, clock.now()), clock)
            for u in range(units_per_port)
            if (i := p * units_per_port + u) < devices
        ]
        server = ModbusSimServer("127.0.0.1", port, sims)
        await server.start()
        servers.append(server)
    print("ready", flush=True)
    await asyncio.Event().wait()


# ---- the gateway side ---------------------------------------------------------------------


def site_doc(devices: int, units_per_port: int, ports: list[int], interval: float) -> Any:
    return {
        "site": {"id": "bench", "name": "压测小区", "latitude": 30.27, "longitude": 120.15},
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
                "poll_interval": interval,
            }
            for i in range(devices)
        ],
        "rules": [
            {
                "id": "pressure-low",
                "asset_kind": "water_pump",
                "metric": "outlet_pressure",
                "below": 0.15,
                "hysteresis": 0.05,
                "on_delay": "3s",
                "alarm_type": "low_outlet_pressure",
                "severity": "critical",
                "message": "出水压力过低",
            },
            {
                "id": "vibration-trend",
                "kind": "anomaly",
                "asset_kind": "water_pump",
                "metric": "vibration",
                "alarm_type": "vibration_trend",
                "message": "振动上升趋势",
            },
        ],
    }


class NullSink:
    """Takes every batch and keeps nothing: isolates the polling path from the store."""

    name = "null"

    async def write(self, samples: list[Any]) -> None:
        return None

    async def close(self) -> None:
        return None


def start_mosquitto(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_ports(1)[0]
    conf = tmp / "mosquitto.conf"
    data = tmp / "mosquitto-data"
    data.mkdir(exist_ok=True)
    # As every broker we ship or test against: persistent, saved every second.
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
        f"persistence true\npersistence_location {data}/\nautosave_interval 1\n"
        f"user {getpass.getuser()}\n"
    )
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"mqtt://127.0.0.1:{port}"
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


async def measure(args: argparse.Namespace, tmp: Path, ports: list[int], sim_pid: int) -> None:
    from gateway.service import Gateway
    from gateway.sinks.local_store import LocalStore
    from propwatch.clock import SystemClock
    from propwatch.settings import Settings
    from propwatch.site import load_site

    steps = [args.devices, *args.steps]
    site_path = tmp / "site.yaml"

    def write_site(n: int) -> None:
        doc = site_doc(n, args.units_per_port, ports, args.interval)
        site_path.write_text(yaml.safe_dump(doc, allow_unicode=True))

    write_site(steps[0])
    clock = SystemClock()
    settings = Settings(var_dir=tmp / "var")
    ages: list[float] = []
    recording = False
    mosquitto, mqtt_url = start_mosquitto(tmp)
    try:
        gateway = Gateway(
            load_site(site_path),
            settings,
            clock,
            mqtt_url,
            sink=NullSink() if args.sink == "null" else LocalStore(tmp / "var" / "telemetry.db"),
        )
        async with gateway as gw:
            due = {p.device.id: p for p in gw.pollers}
            offer = gw.writer.offer

            def timed_offer(sample: Any) -> Any:
                if recording:
                    poller = due.get(sample.device_id)
                    if poller is not None:
                        ages.append(clock.monotonic() - poller.due_at)
                return offer(sample)

            gw.writer.offer = timed_offer  # type: ignore[method-assign]
            for n in steps:
                if n != len(gw.pollers):
                    write_site(n)
                    started = time.monotonic()
                    await gw.reload(load_site(site_path))
                    due = {p.device.id: p for p in gw.pollers}
                    print(f"  reload to {n} devices took {time.monotonic() - started:.2f} s")
                await asyncio.sleep(args.settle)
                polls0 = sum(p.health.polls for p in gw.pollers)
                fails0 = sum(p.health.failures for p in gw.pollers)
                ages.clear()
                recording = True
                cpu0, sim0, t0 = time.process_time(), proc_cpu(sim_pid), time.monotonic()
                await asyncio.sleep(args.seconds)
                recording = False
                cpu1, sim1, t1 = time.process_time(), proc_cpu(sim_pid), time.monotonic()
                polls = sum(p.health.polls for p in gw.pollers) - polls0
                fails = sum(p.health.failures for p in gw.pollers) - fails0
                span = t1 - t0
                p99 = percentile(ages, 0.99)
                on_schedule = polls / span >= 0.97 * n / args.interval
                holds = p99 < 2.0 and on_schedule
                print(
                    f"devices {n:5d}: reading age p50 {percentile(ages, 0.5):.3f} s, "
                    f"p99 {p99:.3f} s, max {max(ages, default=float('nan')):.3f} s; "
                    f"{polls / span:.0f} polls/s of {n / args.interval:.0f} scheduled, "
                    f"{fails} failed; gateway CPU {100 * (cpu1 - cpu0) / span:.0f}% of a core, "
                    f"RSS {rss_bytes() / 2**20:.0f} MiB "
                    f"(peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}); "
                    f"simulator CPU {100 * (sim1 - sim0) / span:.0f}%; "
                    f"{'holds' if holds else 'does NOT hold'} (p99 < 2 s, ≥ 97% of polls)",
                    flush=True,
                )
                if not holds:
                    break
    finally:
        mosquitto.terminate()
        mosquitto.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000, help="first (and required) step")
    parser.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",") if x], default=[])
    parser.add_argument("--units-per-port", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument(
        "--sink", choices=["local", "null"], default="local", help="null: measure polling alone"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    largest = max([args.devices, *args.steps])
    if args.serve:
        ports = json.loads(args.ports)
        asyncio.run(serve(largest, args.units_per_port, ports))
        return 0
    ports = free_ports((largest + args.units_per_port - 1) // args.units_per_port)
    sim = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--devices",
            str(largest),
            "--units-per-port",
            str(args.units_per_port),
            "--ports",
            json.dumps(ports),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert sim.stdout is not None
        started = time.monotonic()
        if sim.stdout.readline().strip() != b"ready":
            raise RuntimeError("the simulator did not start")
        print(
            f"simulator: {largest} pumps on {len(ports)} ports "
            f"({args.units_per_port} unit ids each), ready in {time.monotonic() - started:.1f} s; "
            f"poll interval {args.interval} s, window {args.seconds} s per step, sink {args.sink}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(measure(args, Path(tmp), ports, sim.pid))
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
