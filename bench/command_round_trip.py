"""遥控 round trip while the gateway polls a fleet: command published → result received.

    .venv/bin/python bench/command_round_trip.py --devices 100,500,1000 --commands 200

A separate process serves `--devices` simulated water pumps (`bench/gateway_polling.py`'s
simulator, `--units-per-port` unit ids per TCP port). This process runs the real
`gateway.service.Gateway` polling all of them every `--interval` (rules, telemetry writer to the
local store, alarms and state over a real mosquitto), and after `--settle` seconds sends
`--commands` commands one after another, each to a pump picked at random, as the maintenance
service sends them (QoS 1 on `propwatch/<site>/gateway/commands`): `run_command` true, written
with FC 5 and read back from `running`. A command's round trip is from its publish to the
arrival of its result on `propwatch/<site>/command-results/<asset>`: both broker hops, the wait
for the poll under way on the pump's link, the write and the read-back. Every command must come
back `done`, or the run fails. The p50, p99 and max of each fleet are printed with the gateway's
poll rate and the load average.

With `--through-service` the maintenance service runs too (on a SQLite file): each command is
kept as the API's POST keeps it (one transaction, `pending`) and timed until its row is final,
so the round trip also holds the dispatcher's look for pending commands (every 50 ms), its claim
and the event consumer's commit of the result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_polling import (  # noqa: E402
    free_ports,
    load_average,
    percentile,
    site_doc,
)


def start_mosquitto(tmp: Path, nodelay: bool) -> tuple[subprocess.Popen[bytes], str]:
    """As `bench/gateway_polling.py` starts it (persistent, no queue limits), with
    `set_tcp_nodelay` as asked."""
    port = free_ports(1)[0]
    conf = tmp / "mosquitto.conf"
    data = tmp / "mosquitto-data"
    data.mkdir(exist_ok=True)
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
        f"persistence true\npersistence_location {data}/\nautosave_interval 1\n"
        f"user {getpass.getuser()}\n" + ("set_tcp_nodelay true\n" if nodelay else "")
    )
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"mqtt://127.0.0.1:{port}"
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


async def through_service(
    site: Any, path: Path, tmp: Path, settings: Any, clock: Any, url: str
) -> tuple[Any, Callable[[str], Awaitable[tuple[str, str]]]]:
    """The maintenance service on a SQLite file, and a sender that keeps a command as the API's
    POST does (one transaction) and waits for its row to be final (read every 2 ms)."""
    from sqlalchemy.orm import Session

    from maintenance.commands.models import DeviceCommand
    from maintenance.commands.service import record_command
    from maintenance.db import Database
    from maintenance.registry.service import sync_registry
    from maintenance.service import MaintenanceService
    from propwatch.commands import FINAL
    from propwatch.site_directory import SiteDirectory

    db = Database(f"sqlite:///{tmp}/maintenance.db")
    await asyncio.to_thread(db.upgrade)
    with db.session() as s:
        sync_registry(s, site, clock.now())
    directory = SiteDirectory.of_file(path, clock)
    directory.sites = {site.id: site}

    def record(asset: str) -> int:
        with db.session() as s:
            command = record_command(
                s,
                site,
                asset,
                "run_command",
                True,
                timedelta(seconds=30),
                requested_by="bench",
                requested_role="duty",
                now=clock.now(),
            )
            return command.id

    def settled(command_id: int) -> tuple[str, str] | None:
        with Session(db.reader) as s:
            row = s.get(DeviceCommand, command_id)
            assert row is not None
            return (row.state, row.reason) if row.state in FINAL else None

    async def send(asset: str) -> tuple[str, str]:
        command_id = await asyncio.to_thread(record, asset)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (done := await asyncio.to_thread(settled, command_id)) is not None:
                return done
            await asyncio.sleep(0.002)
        return ("timeout", "no final state in 30 s")

    return MaintenanceService(directory, settings, clock, url, db), send


async def run_fleet(args: argparse.Namespace, tmp: Path, ports: list[int], devices: int) -> int:
    from gateway.service import Gateway
    from gateway.sinks.local_store import LocalStore
    from propwatch.clock import SystemClock
    from propwatch.commands import CommandResult, command_topic, result_topic
    from propwatch.mqtt import MqttConnection
    from propwatch.settings import Settings
    from propwatch.site import load_site

    broker, url = start_mosquitto(tmp, args.broker_nodelay)
    try:
        doc = site_doc(devices, args.units_per_port, ports, args.interval)
        path = tmp / "site.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        site = load_site(path)
        clock = SystemClock()
        settings = Settings(var_dir=tmp / "var")
        sink = LocalStore(tmp / "var" / "telemetry.db")
        loop = asyncio.get_running_loop()
        arrived: dict[int, tuple[float, CommandResult]] = {}
        waiting: dict[int, asyncio.Future[None]] = {}

        def on_result(msg: Any) -> None:
            at = time.perf_counter()
            result = CommandResult.model_validate_json(msg.payload)
            arrived[result.command_id] = (at, result)
            future = waiting.get(result.command_id)
            if future is not None:
                loop.call_soon_threadsafe(future.set_result, None)

        commander = MqttConnection(url, "bench-commander")
        commander.on_message = on_result
        commander.subscribe(result_topic(site.id, "+"), qos=1)
        commander.start()
        await commander.wait_connected()
        rng = random.Random(devices)
        trips: list[float] = []
        failed: list[str] = []
        service: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
        if args.through_service:
            service, send = await through_service(site, path, tmp, settings, clock, url)
        async with Gateway(site, settings, clock, url, sink=sink) as gw, service:
            await asyncio.sleep(args.settle)
            polls_before = sum(p.health.polls for p in gw.pollers)
            started = time.monotonic()
            for n in range(1, args.commands + 1):
                pump = rng.randrange(devices)
                if args.through_service:
                    sent = time.perf_counter()
                    state, reason = await send(f"pump-{pump}")
                    trips.append(time.perf_counter() - sent)
                    if state != "done":
                        failed.append(f"{n}: {state} {reason}")
                    await asyncio.sleep(args.gap)
                    continue
                now = clock.now()
                body = {
                    "command_id": n,
                    "site_id": site.id,
                    "asset_id": f"pump-{pump}",
                    "device_id": f"pump-{pump}",
                    "point": "run_command",
                    "value": True,
                    "issued_at": now.isoformat(),
                    "expires_at": (now + timedelta(seconds=30)).isoformat(),
                }
                waiting[n] = loop.create_future()
                sent = time.perf_counter()
                commander.publish(command_topic(site.id), json.dumps(body), qos=1)
                await asyncio.wait_for(waiting[n], 30)
                at, result = arrived[n]
                trips.append(at - sent)
                if result.state != "done":
                    failed.append(f"{n}: {result.state} {result.reason}")
                await asyncio.sleep(args.gap)
            elapsed = time.monotonic() - started
            polls = sum(p.health.polls for p in gw.pollers) - polls_before
            offline = sum(1 for p in gw.pollers if p.health.online is False)
        commander.stop()
    finally:
        broker.terminate()
        broker.wait(timeout=10)
    ms = [t * 1000 for t in trips]
    path_name = "API row → final row" if args.through_service else "publish → result"
    print(
        f"[{path_name}] {devices} pumps at {args.interval} s "
        f"({polls / elapsed:.0f} polls/s, {offline} offline): "
        f"{len(ms)} commands, round trip p50 {percentile(ms, 0.5):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms; load {load_average()}",
        flush=True,
    )
    if failed:
        print(f"  {len(failed)} commands not done: {failed[:5]}", flush=True)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--devices", type=lambda s: [int(x) for x in s.split(",") if x], default=[100, 500, 1000]
    )
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--units-per-port", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between commands")
    parser.add_argument(
        "--through-service",
        action="store_true",
        help="keep each command in the database as the API does and time it to its final row, "
        "through the maintenance service's dispatcher and event consumer",
    )
    parser.add_argument(
        "--broker-nodelay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mosquitto's set_tcp_nodelay (the shipped config sets it)",
    )
    args = parser.parse_args()
    largest = max(args.devices)
    ports = free_ports((largest + args.units_per_port - 1) // args.units_per_port)
    sim = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "gateway_polling.py"),
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
    status = 0
    try:
        assert sim.stdout is not None
        if sim.stdout.readline().strip() != b"ready":
            raise RuntimeError("the simulator did not start")
        for devices in args.devices:
            with tempfile.TemporaryDirectory() as tmp:
                status |= asyncio.run(run_fleet(args, Path(tmp), ports, devices))
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    return status


if __name__ == "__main__":
    sys.exit(main())
