"""Our gateway's largest fleet at 1 s against a raw pymodbus client's ceiling, interleaved.

    .venv/bin/python bench/gateway_polling.py --steps 1000,1500,2000,2500,3000 --pairs 3

A separate process serves the largest step's simulated water pumps (`SimulatedModbusDevice` +
`WaterPump` behind `ModbusSimServer`, `--units-per-port` unit ids per TCP port). This process
then runs, `--pairs` times in turn:

- **ours**: the real `gateway.service.Gateway` (link pollers, rules, telemetry writer to the local
  store — or, with `--sink null`, to a sink that keeps nothing — alarms and state over a real
  mosquitto) on the first step's pumps polled every `--interval`, grown by `Gateway.reload` (the
  SIGHUP path) to each further step until one does not hold. Over a `--seconds` window after
  `--settle`, a step *holds* when the p99 reading age (from the moment a poll was due to the
  moment its reading reached the writer) is under 2 s and at least 97 % of the scheduled polls
  happened. After the gateway stops, every value offered to the writer is read back from the
  local store; a count that differs fails the run.
- **raw**: one pymodbus `AsyncModbusTcpClient` per port, each reading its units' coalesced blocks
  back to back as fast as it can (the slow block every tenth poll, as the gateway does), over the
  pumps of the last step ours tried (the one that did not hold: the same links, plus those that
  broke ours) for `--seconds`; every answer is checked for its register or bit count. A link
  carries one request at a time, so the ceiling grows with the ports polled: a raw client over
  all 3,000 pumps would be measured on twice the links of a 1,500-pump gateway.

Per pair: ours' largest fleet held (devices at 1 s), the raw ceiling (device polls per second)
and their ratio, each side's CPU per 1,000 readings/s, and the best poll rate ours reached at
any step against the ceiling (it tells a loaded machine, where no step holds, from a slow
gateway); then the medians of the per-pair ratios.
The load average is printed with each side, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import socket
import statistics
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


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class StepResult:
    def __init__(self, devices: int, holds: bool, polls_per_s: float, cpu: float) -> None:
        self.devices = devices
        self.holds = holds
        self.polls_per_s = polls_per_s
        self.cpu = cpu
        """Share of one core over the window."""


async def ours(
    args: argparse.Namespace, tmp: Path, ports: list[int], sim_pid: int
) -> list[StepResult]:
    """Grow the gateway's fleet step by step until a step does not hold; read the store back."""
    from gateway.readings import Sample
    from gateway.service import Gateway
    from gateway.sinks.local_store import LocalStore
    from propwatch.clock import SystemClock
    from propwatch.settings import Settings
    from propwatch.site import load_site

    site_path = tmp / "site.yaml"

    def write_site(n: int) -> None:
        doc = site_doc(n, args.units_per_port, ports, args.interval)
        site_path.write_text(yaml.safe_dump(doc, allow_unicode=True))

    write_site(args.steps[0])
    clock = SystemClock()
    settings = Settings(var_dir=tmp / "var")
    store = LocalStore(tmp / "var" / "telemetry.db") if args.sink == "local" else None
    ages: list[float] = []
    recording = False
    offered_values = 0
    results: list[StepResult] = []
    mosquitto, mqtt_url = start_mosquitto(tmp)
    try:
        gateway = Gateway(load_site(site_path), settings, clock, mqtt_url, sink=store or NullSink())
        async with gateway as gw:
            due = {p.device.id: p for p in gw.pollers}
            offer = gw.writer.offer

            def timed_offer(sample: Sample) -> bool:
                nonlocal offered_values
                if recording:
                    poller = due.get(sample.device_id)
                    if poller is not None:
                        ages.append(clock.monotonic() - poller.due_at)
                accepted = offer(sample)
                if accepted:
                    offered_values += len(sample.values)
                return accepted

            gw.writer.offer = timed_offer  # type: ignore[method-assign]
            for n in args.steps:
                if n != len(gw.pollers):
                    write_site(n)
                    site = await asyncio.to_thread(load_site, site_path)
                    started = time.monotonic()
                    await gw.reload(site)
                    due = {p.device.id: p for p in gw.pollers}
                    print(f"    reload to {n} devices took {time.monotonic() - started:.2f} s")
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
                rate = (polls - fails) / span
                holds = p99 < 2.0 and rate >= 0.97 * n / args.interval
                cpu = (cpu1 - cpu0) / span
                results.append(StepResult(n, holds, rate, cpu))
                print(
                    f"  ours {n:5d} devices: reading age p50 {percentile(ages, 0.5):.3f} s, "
                    f"p99 {p99:.3f} s, max {max(ages, default=float('nan')):.3f} s; "
                    f"{rate:.0f} polls/s of {n / args.interval:.0f} scheduled, {fails} failed; "
                    f"CPU {100 * cpu:.0f}% of a core "
                    f"({100 * cpu / rate * 1000 if rate else float('nan'):.1f}% per 1,000/s), "
                    f"RSS {rss_bytes() / 2**20:.0f} MiB; simulator CPU "
                    f"{100 * (sim1 - sim0) / span:.0f}%; load {load_average()}; "
                    f"{'holds' if holds else 'does NOT hold'}",
                    flush=True,
                )
                if not holds:
                    break
        if store is not None:
            reader = LocalStore(tmp / "var" / "telemetry.db")
            stored = await asyncio.to_thread(reader.count)
            await reader.close()
            if stored != offered_values:
                raise SystemExit(
                    f"READ-BACK MISMATCH: {offered_values} values offered to the writer, "
                    f"{stored} in the local store"
                )
            print(f"    read back: {stored} values in the local store, as offered")
    finally:
        mosquitto.terminate()
        mosquitto.wait(timeout=10)
    return results


async def raw(args: argparse.Namespace, ports: list[int], sim_pid: int, devices: int) -> StepResult:
    """A raw pymodbus client per port of the first `devices` pumps, polling its units back to
    back as fast as it can."""
    from pymodbus.client import AsyncModbusTcpClient

    from gateway.modbus.coalesce import coalesce_reads
    from propwatch.profiles import Function, ModbusProfile, load_profile

    profile = load_profile("water_pump")
    assert isinstance(profile, ModbusProfile)
    normal = coalesce_reads([p for p in profile.points if p.poll_class != "slow"])
    slow = coalesce_reads([p for p in profile.points if p.poll_class == "slow"])
    polls = [0]
    bad: list[str] = []
    stop = asyncio.Event()

    async def walk(port: int, units: list[int]) -> None:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
        await client.connect()
        tick = 0
        try:
            while not stop.is_set():
                for unit in units:
                    for b in normal + slow if tick % 10 == 0 else normal:
                        if b.function is Function.COIL:
                            r = await client.read_coils(b.address, count=b.count, device_id=unit)
                            ok = not r.isError() and len(r.bits) >= b.count
                        elif b.function is Function.DISCRETE_INPUT:
                            r = await client.read_discrete_inputs(
                                b.address, count=b.count, device_id=unit
                            )
                            ok = not r.isError() and len(r.bits) >= b.count
                        else:
                            r = await client.read_input_registers(
                                b.address, count=b.count, device_id=unit
                            )
                            ok = not r.isError() and len(r.registers) == b.count
                        if not ok:
                            bad.append(f"port {port} unit {unit}: {r}")
                    polls[0] += 1
                tick += 1
        finally:
            client.close()

    per_port = args.units_per_port
    walkers = [
        asyncio.create_task(
            walk(port, [u + 1 for u in range(per_port) if p * per_port + u < devices])
        )
        for p, port in enumerate(ports[: (devices + per_port - 1) // per_port])
    ]
    await asyncio.sleep(args.settle / 2)
    polls0, cpu0, sim0, t0 = polls[0], time.process_time(), proc_cpu(sim_pid), time.monotonic()
    await asyncio.sleep(args.seconds)
    polls1, cpu1, sim1, t1 = polls[0], time.process_time(), proc_cpu(sim_pid), time.monotonic()
    stop.set()
    await asyncio.gather(*walkers)
    if bad:
        raise SystemExit(f"RAW CLIENT GOT {len(bad)} BAD ANSWERS, first: {bad[0]}")
    span = t1 - t0
    rate = (polls1 - polls0) / span
    cpu = (cpu1 - cpu0) / span
    print(
        f"  raw  {devices:5d} devices: {rate:.0f} device polls/s as fast as it can; "
        f"CPU {100 * cpu:.0f}% of a core ({100 * cpu / rate * 1000:.1f}% per 1,000/s); "
        f"simulator CPU {100 * (sim1 - sim0) / span:.0f}%; load {load_average()}",
        flush=True,
    )
    return StepResult(devices, True, rate, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--steps",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[500, 750, 1000, 1250, 1500, 1750, 2000, 2500, 3000],
        help="fleet sizes for our gateway, ascending; the raw client polls the largest",
    )
    parser.add_argument("--pairs", type=int, default=3, help="ours/raw pairs, interleaved")
    parser.add_argument("--units-per-port", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=4.0)
    parser.add_argument(
        "--sink", choices=["local", "null"], default="local", help="null: measure polling alone"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    largest = max(args.steps)
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
            "--steps",
            str(largest),
            "--units-per-port",
            str(args.units_per_port),
            "--ports",
            json.dumps(ports),
        ],
        stdout=subprocess.PIPE,
    )
    ratios: list[float] = []
    throughput_ratios: list[float] = []
    try:
        assert sim.stdout is not None
        started = time.monotonic()
        if sim.stdout.readline().strip() != b"ready":
            raise RuntimeError("the simulator did not start")
        print(
            f"simulator: {largest} pumps on {len(ports)} ports "
            f"({args.units_per_port} unit ids each), ready in {time.monotonic() - started:.1f} s; "
            f"poll interval {args.interval} s, window {args.seconds} s, sink {args.sink}, "
            f"{os.cpu_count()} cores, load {load_average()}",
            flush=True,
        )
        for pair in range(1, args.pairs + 1):
            print(f"pair {pair}:", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                steps = asyncio.run(ours(args, Path(tmp), ports, sim.pid))
            # the raw client polls the pumps ours was last asked to hold, on the same links: each
            # link carries one request at a time, so more pumps (more ports) raise the ceiling
            ceiling = asyncio.run(raw(args, ports, sim.pid, steps[-1].devices))
            held = [s for s in steps if s.holds]
            largest_held = held[-1].devices if held else 0
            if held and held[-1].devices == largest:
                print(f"  (ours held the largest step, {largest}: the ratio is a lower bound)")
            ratio = largest_held / args.interval / ceiling.polls_per_s
            ratios.append(ratio)
            best = max(s.polls_per_s for s in steps)
            throughput_ratios.append(best / ceiling.polls_per_s)
            print(
                f"  pair {pair}: ours holds {largest_held} devices at {args.interval} s, "
                f"raw ceiling {ceiling.polls_per_s:.0f} polls/s: ratio {ratio:.2f}; "
                f"ours' best rate {best:.0f} polls/s, {best / ceiling.polls_per_s:.2f} of raw",
                flush=True,
            )
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    pairs = ", ".join(f"{r:.2f}" for r in ratios)
    rates = ", ".join(f"{r:.2f}" for r in throughput_ratios)
    print(
        f"median ratio over {len(ratios)} pairs (largest fleet held at {args.interval} s / raw "
        f"ceiling): {statistics.median(ratios):.2f} (pairs: {pairs}); of the best poll rates: "
        f"{statistics.median(throughput_ratios):.2f} (pairs: {rates}); load {load_average()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
