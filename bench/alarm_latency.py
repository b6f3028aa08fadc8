"""Latency from a fault injected in a simulated pump to the alarm event on MQTT.

    .venv/bin/python bench/alarm_latency.py --devices 200 --trials 40

A separate process serves `--devices` simulated water pumps over Modbus TCP and takes fault
commands on stdin, answering with the wall-clock instant each fault took effect. This process
runs the gateway (pollers every `--interval`, a `fault_flags` rule mapping the pump's 缺水干转
flag to an alarm, alarms published QoS 1 to a real mosquitto) and a subscriber that timestamps
each alarm raise as it arrives. Each trial injects `dry_run` into a different pump, waits for
that pump's raise, then clears the fault. Latency includes the wait for the next poll (uniform
over the interval), the read, rule evaluation and the trip through the broker; the target is
p95 < 1 s + the poll interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_polling import free_ports, percentile, start_mosquitto  # noqa: E402


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
    models: dict[str, WaterPump] = {}
    for p, port in enumerate(ports):
        sims = []
        for u in range(units_per_port):
            i = p * units_per_port + u
            if i < devices:
                models[f"pump-{i}"] = WaterPump(f"pump-{i}", tz, clock.now())
                sims.append(SimulatedModbusDevice(u + 1, profile, models[f"pump-{i}"], clock))
        await ModbusSimServer("127.0.0.1", port, sims).start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, device, fault = line.split()
        if command == "inject":
            # trip at once: the pump's own protection delay is not the gateway's latency
            models[device].inject(fault, {"trip_after": 0})
        else:
            models[device].clear(fault)
        print(json.dumps({"device": device, "at": time.time()}), flush=True)


def site_doc(devices: int, units_per_port: int, ports: list[int], interval: float) -> Any:
    return {
        "site": {"id": "bench", "name": "压测小区", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-a", "name": "A区"}],
        "assets": [
            {"id": f"pump-{i}", "name": f"{i}号水泵", "kind": "water_pump", "zone": "zone-a"}
            | {"device": f"pump-{i}"}
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
                "id": "pump-faults",
                "kind": "fault_flags",
                "asset_kind": "water_pump",
                "flags": {
                    "fault_dry_run": {
                        "alarm_type": "pump_dry_run",
                        "message": "水泵缺水干转",
                        "severity": "critical",
                    }
                },
            }
        ],
    }


async def measure(args: argparse.Namespace, tmp: Path, ports: list[int], sim: Any) -> None:
    from gateway.service import Gateway
    from gateway.sinks.local_store import LocalStore
    from propwatch.clock import SystemClock
    from propwatch.events import AlarmAction, alarm_topic, parse_event
    from propwatch.mqtt import MqttConnection
    from propwatch.settings import Settings
    from propwatch.site import load_site

    site_path = tmp / "site.yaml"
    doc = site_doc(args.devices, args.units_per_port, ports, args.interval)
    site_path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    mosquitto, mqtt_url = start_mosquitto(tmp)
    raised: dict[str, float] = {}
    arrived = threading.Condition()

    def on_alarm(msg: Any) -> None:
        at = time.time()
        event = parse_event(msg.payload)
        if getattr(event, "action", None) is AlarmAction.RAISE:
            with arrived:
                raised.setdefault(event.asset_id, at)
                arrived.notify_all()

    spy = MqttConnection(mqtt_url, "bench-alarm-spy")
    spy.on_message = on_alarm
    spy.subscribe(alarm_topic("bench", "+"))
    spy.start()
    await spy.wait_connected()
    latencies: list[float] = []
    decided: dict[str, float] = {}
    decisions: list[float] = []
    missed = 0

    def command(line: str) -> float:
        sim.stdin.write(f"{line}\n".encode())
        sim.stdin.flush()
        return float(json.loads(sim.stdout.readline())["at"])

    def wait_raise(device: str, within: float) -> float | None:
        with arrived:
            arrived.wait_for(lambda: device in raised, timeout=within)
            return raised.get(device)

    try:
        settings = Settings(var_dir=tmp / "var")
        sink = LocalStore(tmp / "var" / "telemetry.db")
        async with Gateway(
            load_site(site_path), settings, SystemClock(), mqtt_url, sink=sink
        ) as gw:
            publish = gw.publish_alarm

            def timed_publish(event: Any) -> None:
                if event.action is AlarmAction.RAISE:
                    decided.setdefault(event.asset_id, time.time())
                publish(event)

            gw.publish_alarm = timed_publish  # type: ignore[method-assign]
            await asyncio.sleep(args.interval * 3)  # every device online
            rng = random.Random(4)
            order = rng.sample(range(args.devices), min(args.trials, args.devices))
            for i in order:
                device = f"pump-{i}"
                await asyncio.sleep(rng.uniform(0, args.interval))  # any phase of the poll
                injected = await asyncio.to_thread(command, f"inject {device} dry_run")
                got = await asyncio.to_thread(wait_raise, device, 10 * args.interval + 5)
                await asyncio.to_thread(command, f"clear {device} dry_run")
                if got is None:
                    missed += 1
                else:
                    latencies.append(got - injected)
                    decisions.append(decided.get(device, got) - injected)
                if args.verbose:
                    print(f"  {device}: {'missed' if got is None else f'{got - injected:.3f} s'}")
            report(args, latencies, missed)
            print(
                f"of which fault → alarm decided in the gateway: "
                f"p50 {percentile(decisions, 0.5):.3f} s, p95 {percentile(decisions, 0.95):.3f} s",
                flush=True,
            )  # before shutdown, which may take a while
    finally:
        spy.stop()
        mosquitto.terminate()
        mosquitto.wait(timeout=10)


def report(args: argparse.Namespace, latencies: list[float], missed: int) -> None:
    target = 1.0 + args.interval
    p95 = percentile(latencies, 0.95)
    print(
        f"{len(latencies)} trials on {args.devices} pumps polled every {args.interval} s "
        f"({missed} missed): fault → alarm on MQTT p50 {percentile(latencies, 0.5):.3f} s, "
        f"p95 {p95:.3f} s, max {max(latencies, default=float('nan')):.3f} s; "
        f"target p95 < {target:.1f} s: {'met' if p95 < target else 'NOT met'}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--units-per-port", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--verbose", action="store_true", help="print every trial")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.devices, args.units_per_port, json.loads(args.ports)))
        return 0
    ports = free_ports((args.devices + args.units_per_port - 1) // args.units_per_port)
    sim = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--devices",
            str(args.devices),
            "--units-per-port",
            str(args.units_per_port),
            "--ports",
            json.dumps(ports),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert sim.stdout is not None
        if sim.stdout.readline().strip() != b"ready":
            raise RuntimeError("the simulator did not start")
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(measure(args, Path(tmp), ports, sim))
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
