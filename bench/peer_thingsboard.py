"""ThingsBoard IoT Gateway's Modbus connector against our gateway, on the same simulated pumps.

    .venv/bin/python bench/peer_thingsboard.py --devices 100,300,1000 --pairs 3

The peer runs from PyPI in a venv of its own (`--peer-venv`, created and reused; our .venv is
never touched): `thingsboard-gateway` pinned to `TB_VERSION`, with the pymodbus its Modbus
connector asks for installed up front (it would otherwise pip-install it on first start). When
the package cannot be installed the bench says so and exits; `bench/gateway_polling.py` does not
depend on it.

A separate process serves the largest fleet's water pumps (`bench/gateway_polling.py --serve`:
`SimulatedModbusDevice` + `WaterPump`, `--units-per-port` unit ids per TCP port). For each fleet
size and `--pairs` times, the two gateways take turns on the first N pumps (the one going first
alternates), each in a process of its own, measured over a `--seconds` window after settling:

- **ours**: `bench/gateway_polling.py`'s run of the real `Gateway` (coalesced reads, rules,
  alarms and state over a real mosquitto, telemetry to the local store, read back after it stops
  and failing on a short count); a reading is one successful device poll.
- **ThingsBoard**: its Modbus connector with one slave per pump (same host, port and unit id,
  one shared connection per port as it does by itself), a timeseries tag for each point of our
  `water_pump` profile (same function, address, type, byte order and scale), `pollPeriod` =
  `--interval`; publishing to a mosquitto this bench starts, with no rate limits (this bench
  answers its `getSessionLimits` request with none), statistics and remote configuration off
  and logs at WARNING. A reading is one device's `{"ts", "values"}` entry on
  `v1/gateway/telemetry` (one per device and `ts`), counted by a subscriber in this process when
  its `ts` falls in the window and it arrives within `GRACE` after it (the peer delivers in
  bursts); its age is arrival minus `ts`, which is taken after the poll's last read, so it
  leaves out how late the poll started.
  Decoded values are checked for sense (a bool for `running`, a frequency in 0-60 Hz), so a
  wrong byte order fails the run.

Per side: readings per second and their share of the scheduled polls (N / interval), p99 reading
age, CPU per 1,000 readings/s (process tree, psutil) and RSS; a side *holds* N at ≥ 97 % of the
scheduled polls and p99 age < 2 s. Then per fleet size the medians over the pairs of each side
and of the per-pair ratios (ours / ThingsBoard readings, TB / ours CPU per reading), with the
load average printed on every line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_polling import (  # noqa: E402
    free_ports,
    load_average,
    percentile,
    start_mosquitto,
)

GRACE = 3.0
"""Seconds after the window in which the peer's readings polled in the window still count."""
TB_VERSION = "3.8.5"
TB_PYMODBUS = "3.9.2"
"""The pymodbus version thingsboard-gateway 3.8.5's Modbus connector installs if it is missing."""
DEFAULT_VENV = ROOT / "var" / "peers" / f"thingsboard-gateway-{TB_VERSION}"
GATEWAY_POLLING = ROOT / "bench" / "gateway_polling.py"


class PeerUnavailable(Exception):
    """The peer cannot be installed or started here; the message says why."""


@dataclass
class SideResult:
    side: str
    devices: int
    readings_per_s: float
    share: float
    """Of the scheduled polls."""
    p99_age: float
    cpu: float
    """Share of one core over the window (the process tree)."""
    rss: int
    values_per_s: float
    load: str

    @property
    def holds(self) -> bool:
        return self.share >= 0.97 and self.p99_age < 2.0

    @property
    def cpu_per_1000(self) -> float:
        return 1000 * self.cpu / self.readings_per_s if self.readings_per_s else float("nan")

    def line(self) -> str:
        return (
            f"  {self.side:11s} {self.devices:5d} devices: {self.readings_per_s:.0f} readings/s "
            f"({100 * self.share:.1f} % of {self.devices} scheduled), p99 age "
            f"{self.p99_age:.3f} s"
            + (
                f", {self.values_per_s:.0f} values/s"
                if self.values_per_s == self.values_per_s
                else ""
            )
            + f"; CPU "
            f"{100 * self.cpu:.0f} % of a core ({100 * self.cpu_per_1000:.1f} % per 1,000 "
            f"readings/s), RSS {self.rss / 2**20:.0f} MiB; load {self.load}; "
            f"{'holds' if self.holds else 'does NOT hold'}"
        )


# ---- the peer's venv ----------------------------------------------------------------------


def ensure_peer_venv(venv: Path) -> Path:
    """The venv's python with thingsboard-gateway TB_VERSION in it, installing it if needed."""
    python = venv / "bin" / "python"
    probe = (
        "import thingsboard_gateway.version as v, pymodbus; print(v.VERSION, pymodbus.__version__)"
    )
    if python.exists():
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.split() == [TB_VERSION, TB_PYMODBUS]:
            return python
    base = getattr(sys, "_base_executable", sys.executable)
    print(f"creating {venv} and installing thingsboard-gateway=={TB_VERSION} (a few minutes)")
    steps = [
        [base, "-m", "venv", str(venv)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            f"thingsboard-gateway=={TB_VERSION}",
            f"pymodbus=={TB_PYMODBUS}",
            "pyserial",
            "pyserial-asyncio",
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise PeerUnavailable(
                f"could not install the ThingsBoard gateway into {venv} ({' '.join(step[:4])}"
                f" ... exited {done.returncode}):\n{tail}"
            )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    if done.returncode != 0:
        raise PeerUnavailable(f"thingsboard-gateway installed but does not import: {done.stderr}")
    return python


# ---- the peer's configuration --------------------------------------------------------------

TB_TYPES = {
    "bool": "bits",
    "uint16": "16uint",
    "int16": "16int",
    "uint32": "32uint",
    "int32": "32int",
    "float32": "32float",
    "float64": "64float",
}
TB_FUNCTIONS = {"coil": 1, "discrete_input": 2, "holding": 3, "input": 4}


def tb_timeseries() -> list[dict[str, Any]]:
    """One tag per point of our water_pump profile: same function, address, type and scale."""
    from propwatch.profiles import ModbusProfile, load_profile

    profile = load_profile("water_pump")
    assert isinstance(profile, ModbusProfile)
    tags: list[dict[str, Any]] = []
    for p in profile.points:
        if str(p.order) != "ABCD" or p.offset:
            raise ValueError(f"{p.name}: this peer config maps ABCD points without offset only")
        tag: dict[str, Any] = {
            "tag": p.name,
            "type": TB_TYPES[str(p.type)],
            "functionCode": TB_FUNCTIONS[str(p.function)],
            "objectsCount": 1 if str(p.type) == "bool" else p.width,
            "address": p.address,
        }
        if str(p.type) == "bool":
            tag["bitTargetType"] = "bool"
        if p.scale != 1:
            tag["multiplier"] = p.scale
        tags.append(tag)
    return tags


def tb_modbus_config(devices: int, units_per_port: int, ports: list[int], interval: float) -> Any:
    tags = tb_timeseries()
    return {
        "logLevel": "WARNING",
        "master": {
            "slaves": [
                {
                    "host": "127.0.0.1",
                    "port": ports[i // units_per_port],
                    "type": "tcp",
                    "method": "socket",
                    "unitId": 1 + i % units_per_port,
                    "deviceName": f"pump-{i}",
                    "deviceType": "water_pump",
                    "timeout": 3,
                    "byteOrder": "BIG",
                    "wordOrder": "BIG",
                    "retries": 0,
                    "pollPeriod": int(interval * 1000),
                    "attributes": [],
                    "timeseries": tags,
                    "attributeUpdates": [],
                    "rpc": [],
                }
                for i in range(devices)
            ]
        },
    }


def tb_gateway_config(mqtt_port: int) -> Any:
    return {
        "thingsboard": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "remoteShell": False,
            "remoteConfiguration": False,
            "latencyDebugMode": False,
            "statistics": {
                "enable": False,
                "statsSendPeriodInSeconds": 3600,
                "customStatsSendPeriodInSeconds": 3600,
            },
            "deviceFiltering": {"enable": False, "filterFile": "list.json"},
            "maxPayloadSizeBytes": 65536,
            "minPackSendDelayMS": 50,
            "minPackSizeToSend": 500,
            "checkConnectorsConfigurationInSeconds": 3600,
            "handleDeviceRenaming": False,
            "security": {"type": "accessToken", "accessToken": "bench-peer"},
            "qos": 1,
            "reportStrategy": {"type": "ON_RECEIVED"},
            "checkingDeviceActivity": {"checkDeviceInactivity": False},
            "rateLimits": "0:0,",
            "dpRateLimits": "0:0,",
            "messagesRateLimits": "0:0,",
            "deviceMessagesRateLimits": "0:0,",
            "deviceRateLimits": "0:0,",
            "deviceDpRateLimits": "0:0,",
        },
        "storage": {"type": "memory", "read_records_count": 100, "max_records_count": 1000000},
        "grpc": {"enabled": False},
        "connectors": [{"type": "modbus", "name": "Modbus", "configuration": "modbus.json"}],
    }


def write_tb_config(python: Path, config_dir: Path, mqtt_port: int, modbus: Any) -> None:
    """The package's own config folder, with our gateway, connector and logging files."""
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import thingsboard_gateway, os; print(os.path.dirname(thingsboard_gateway.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.copytree(Path(found.stdout.strip()) / "config", config_dir)
    # the package's example devices would be reconnected at start
    (config_dir / "connected_devices.json").unlink(missing_ok=True)
    (config_dir / "tb_gateway.json").write_text(json.dumps(tb_gateway_config(mqtt_port)))
    (config_dir / "modbus.json").write_text(json.dumps(modbus))
    logs = json.loads((config_dir / "logs.json").read_text())
    for logger in logs["loggers"].values():
        logger["level"] = "WARNING"
    (config_dir / "logs.json").write_text(json.dumps(logs))


# ---- counting what the peer delivers ----------------------------------------------------------


class TelemetryCounter:
    """Subscribes to the gateway topics; answers the peer's `getSessionLimits` with no limits."""

    NO_LIMITS: ClassVar[dict[str, str]] = {
        "messages": "0:0,",
        "telemetryMessages": "0:0,",
        "telemetryDataPoints": "0:0,",
    }

    def __init__(self, port: int, devices: set[str]) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.devices = devices
        self.lock = threading.Lock()
        self.recording = False
        self.received: list[tuple[str, float, float, int]] = []
        """(device, poll time from `ts`, arrival, values) of each reading while recording."""
        self.bad: list[str] = []
        self.session_limits_asked = 0
        self.arrived = 0
        """Readings since the start, recording or not: tells when the peer has ramped up."""
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-peer-counter")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([("v1/gateway/telemetry", 1), ("v1/devices/me/rpc/request/+", 1)])
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if msg.topic.startswith("v1/devices/me/rpc/request/"):
            request = json.loads(msg.payload)
            if request.get("method") == "getSessionLimits":
                self.session_limits_asked += 1
                answer = {
                    "maxPayloadSize": 65536,
                    "maxInflightMessages": 10000,
                    "rateLimits": self.NO_LIMITS,
                    "gatewayRateLimits": self.NO_LIMITS,
                }
                request_id = msg.topic.rsplit("/", 1)[1]
                client.publish(f"v1/devices/me/rpc/response/{request_id}", json.dumps(answer), 1)
            return
        now = time.time()
        doc = json.loads(msg.payload)
        with self.lock:
            for device, entries in doc.items():
                if device not in self.devices:
                    continue
                for entry in entries if isinstance(entries, list) else [entries]:
                    self.arrived += 1
                    if not self.recording:
                        continue
                    values = entry.get("values", entry)
                    polled = entry["ts"] / 1000 if "ts" in entry else now
                    self.received.append((device, polled, now, len(values)))
                    self._check(device, values)

    def _check(self, device: str, values: dict[str, Any]) -> None:
        running = values.get("running")
        frequency = values.get("frequency")
        if running is not None and not isinstance(running, bool):
            self.bad.append(f"{device}: running {running!r} is not a bool")
        if frequency is not None and not 0 <= frequency <= 60:
            self.bad.append(f"{device}: frequency {frequency!r} outside 0-60 Hz")

    def start(self) -> None:
        with self.lock:
            self.received.clear()
            self.recording = True

    def stop(self) -> list[tuple[str, float, float, int]]:
        with self.lock:
            self.recording = False
            return list(self.received)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def tree_usage(proc: psutil.Process) -> tuple[float, int]:
    """CPU seconds and RSS of a process and its descendants."""
    cpu = 0.0
    rss = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss
    return cpu, rss


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def settle_peer(
    args: argparse.Namespace, counter: TelemetryCounter, proc: subprocess.Popen[bytes], n: int
) -> str:
    """Wait `--settle`, then until the peer's delivery rate stops growing (or reaches the
    schedule), at most `--peer-settle` seconds more: it connects its devices one by one."""
    time.sleep(args.settle)
    started = time.monotonic()
    last = counter.arrived
    rates: list[float] = []
    while time.monotonic() - started < args.peer_settle and proc.poll() is None:
        time.sleep(1.0)
        now = counter.arrived
        rates.append(now - last)
        last = now
        if rates[-1] >= 0.97 * n / args.interval or (
            len(rates) >= 4 and 0 < sum(rates[-2:]) <= 1.02 * sum(rates[-4:-2])
        ):
            break
    waited = args.settle + time.monotonic() - started
    return f"settled {waited:.0f} s, last second {rates[-1] if rates else 0:.0f} readings"


def run_thingsboard(args: argparse.Namespace, python: Path, ports: list[int], n: int) -> SideResult:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        mosquitto, url = start_mosquitto(tmp)
        mqtt_port = int(url.rsplit(":", 1)[1])
        counter = TelemetryCounter(mqtt_port, {f"pump-{i}" for i in range(n)})
        config_dir = tmp / "config"
        write_tb_config(
            python,
            config_dir,
            mqtt_port,
            tb_modbus_config(n, args.units_per_port, ports, args.interval),
        )
        workdir = tmp / "work"
        workdir.mkdir()
        log = (tmp / "tb.out").open("wb")
        env = {**os.environ, "TB_GW_CONFIG_DIR": str(config_dir) + "/"}
        proc = subprocess.Popen(
            [str(python), "-c", "from thingsboard_gateway.tb_gateway import main; main()"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ps = psutil.Process(proc.pid)
            ramp = settle_peer(args, counter, proc, n)
            if proc.poll() is not None:
                raise PeerUnavailable(
                    f"the ThingsBoard gateway exited ({proc.returncode}):\n"
                    + (tmp / "tb.out").read_text(errors="replace")[-2000:]
                )
            counter.start()
            cpu0, _ = tree_usage(ps)
            t0, w0 = time.monotonic(), time.time()
            time.sleep(args.seconds)
            cpu1, rss = tree_usage(ps)
            span, w1 = time.monotonic() - t0, time.time()
            # its delivery comes in bursts: the readings polled in the window are counted,
            # whenever they arrive within GRACE after it
            time.sleep(GRACE)
            received = counter.stop()
        finally:
            stopping = time.monotonic()
            stop_tree(proc)
            stopped_in = time.monotonic() - stopping
            log.close()
            counter.close()
            mosquitto.terminate()
            mosquitto.wait(timeout=10)
        if counter.bad:
            raise SystemExit(
                f"THINGSBOARD DECODED {len(counter.bad)} IMPLAUSIBLE VALUES, "
                f"first: {counter.bad[0]}"
            )
        output = (tmp / "tb.out").read_text(errors="replace")
        # the update check fails offline at every start; say what else it complained of
        complaints = [
            ln.split(" - ", 6)[-1][:200]
            for ln in output.splitlines()
            if ("|WARNING|" in ln or "|ERROR|" in ln) and "tb_updater" not in ln
        ]
        kinds = Counter(re.sub(r"\d+", "N", c) for c in complaints).most_common(3)
        print(
            f"    ThingsBoard: {ramp}; session limits asked {counter.session_limits_asked}x "
            f"(answered with no limits); stopped in {stopped_in:.1f} s; {len(complaints)} "
            "warnings/errors logged (the update check aside)"
            + "".join(f"; {count}x {kind}" for kind, count in kinds),
            flush=True,
        )
        # a reading is one (device, ts): a resent one counts once
        unique = {(d, t): (a, v) for d, t, a, v in received if w0 <= t < w1}
        polled = [(a - t, v) for (_, t), (a, v) in unique.items()]
        ages = [age for age, _ in polled]
        values = sum(v for _, v in polled)
        if not polled:
            print(f"    ThingsBoard delivered nothing; its output ends:\n{output[-2000:]}")
        rate = len(polled) / (w1 - w0)
        return SideResult(
            "ThingsBoard",
            n,
            rate,
            rate / (n / args.interval),
            percentile(ages, 0.99),
            (cpu1 - cpu0) / span,
            rss,
            values / span,
            load_average(),
        )


# ---- ours, in a process of its own -------------------------------------------------------------


def run_ours_child(args: argparse.Namespace) -> int:
    """`--ours N`: bench/gateway_polling.py's run of our gateway on N pumps, then a RESULT
    line."""
    from bench.gateway_polling import ours

    ports = json.loads(args.ports)
    ns = argparse.Namespace(
        steps=[args.ours],
        units_per_port=args.units_per_port,
        interval=args.interval,
        seconds=args.seconds,
        settle=args.settle,
        sink="local",
    )
    window: dict[str, Any] = {}
    me = psutil.Process()

    async def run() -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            return await ours(ns, Path(tmp), ports, args.sim_pid)

    started = time.monotonic()
    steps = asyncio.run(run())
    step = steps[-1]
    window["rss"] = me.memory_info().rss
    window["elapsed"] = time.monotonic() - started
    print(
        "RESULT "
        + json.dumps(
            {
                "readings_per_s": step.polls_per_s,
                "cpu": step.cpu,
                **window,
            }
        ),
        flush=True,
    )
    return 0


def run_ours(args: argparse.Namespace, ports: list[int], sim_pid: int, n: int) -> SideResult:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--ours",
            str(n),
            "--ports",
            json.dumps(ports),
            "--sim-pid",
            str(sim_pid),
            "--units-per-port",
            str(args.units_per_port),
            "--interval",
            str(args.interval),
            "--seconds",
            str(args.seconds),
            "--settle",
            str(args.settle),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = None
    p99 = float("nan")
    for line in done.stdout.splitlines():
        if found := re.search(r"reading age p50 [\d.]+ s, p99 ([\d.]+) s", line):
            p99 = float(found.group(1))
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
        elif line.strip():
            print("  " + line)
    if done.returncode != 0 or result is None:
        raise SystemExit(f"our gateway's run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rate = float(result["readings_per_s"])
    return SideResult(
        "ours",
        n,
        rate,
        rate / (n / args.interval),
        p99,
        float(result["cpu"]),
        int(result["rss"]),
        float("nan"),
        load_average(),
    )


# ---- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--devices",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[100, 300, 1000],
        help="fleet sizes, each polled by both gateways in turn",
    )
    parser.add_argument("--pairs", type=int, default=3, help="ours/ThingsBoard pairs per size")
    parser.add_argument("--units-per-port", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=4.0)
    parser.add_argument(
        "--peer-settle",
        type=float,
        default=30.0,
        help="at most this much more settling for the peer, until its rate stops growing",
    )
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--json", type=Path, help="write every side's result here")
    parser.add_argument("--ours", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sim-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours:
        return run_ours_child(args)
    try:
        python = ensure_peer_venv(args.peer_venv)
    except PeerUnavailable as e:
        print(f"ThingsBoard peer unavailable: {e}", file=sys.stderr)
        return 2
    largest = max(args.devices)
    ports = free_ports((largest + args.units_per_port - 1) // args.units_per_port)
    sim = subprocess.Popen(
        [
            sys.executable,
            str(GATEWAY_POLLING),
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
    results: list[SideResult] = []
    try:
        assert sim.stdout is not None
        if sim.stdout.readline().strip() != b"ready":
            raise RuntimeError("the simulator did not start")
        print(
            f"simulator: {largest} pumps on {len(ports)} ports ({args.units_per_port} unit ids "
            f"each); ThingsBoard IoT Gateway {TB_VERSION} from {args.peer_venv}; interval "
            f"{args.interval} s, window {args.seconds} s; {os.cpu_count()} cores, load "
            f"{load_average()}",
            flush=True,
        )
        for n in args.devices:
            for pair in range(1, args.pairs + 1):
                print(f"{n} devices, pair {pair}:", flush=True)
                order = ["ours", "tb"] if pair % 2 else ["tb", "ours"]
                for side in order:
                    if side == "ours":
                        r = run_ours(args, ports, sim.pid, n)
                    else:
                        try:
                            r = run_thingsboard(args, python, ports, n)
                        except PeerUnavailable as e:
                            print(f"ThingsBoard peer unavailable: {e}", file=sys.stderr)
                            return 2
                    print(r.line(), flush=True)
                    results.append(r)
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    summarize(args, results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


def summarize(args: argparse.Namespace, results: list[SideResult]) -> None:
    print(f"medians over {args.pairs} pairs; load {load_average()}")
    for n in args.devices:
        ours = [r for r in results if r.devices == n and r.side == "ours"]
        tb = [r for r in results if r.devices == n and r.side == "ThingsBoard"]
        if not ours or not tb:
            continue

        def med(values: Any) -> float:
            known = [v for v in values if v == v]  # not nan
            return statistics.median(known) if known else float("nan")

        readings = [
            o.readings_per_s / t.readings_per_s if t.readings_per_s else float("inf")
            for o, t in zip(ours, tb, strict=True)
        ]
        cpu = [
            t.cpu_per_1000 / o.cpu_per_1000
            for o, t in zip(ours, tb, strict=True)
            if t.readings_per_s and o.readings_per_s
        ]
        print(
            f"  {n:5d} devices: ours {med(o.share for o in ours) * 100:.1f} % of scheduled "
            f"({med(o.readings_per_s for o in ours):.0f}/s), "
            f"{med(o.cpu_per_1000 for o in ours) * 100:.1f} % CPU per 1,000/s, "
            f"RSS {med(o.rss for o in ours) / 2**20:.0f} MiB; ThingsBoard "
            f"{med(t.share for t in tb) * 100:.1f} % ({med(t.readings_per_s for t in tb):.0f}/s), "
            f"{med(t.cpu_per_1000 for t in tb) * 100:.1f} %, RSS "
            f"{med(t.rss for t in tb) / 2**20:.0f} MiB, p99 age "
            f"{med(t.p99_age for t in tb):.2f} s; ratios (medians of pairs): readings "
            f"ours/TB {med(readings):.2f}, CPU per reading TB/ours "
            f"{med(cpu) if cpu else float('nan'):.2f}; CPU of a core ours "
            f"{med(o.cpu for o in ours) * 100:.0f} %, TB {med(t.cpu for t in tb) * 100:.0f} %"
        )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
