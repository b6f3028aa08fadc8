"""A flood of malformed MQTT payloads at a real gateway: does `/healthz` stay quick?

    .venv/bin/python -m bench.dead_letter_flood [--messages 20000] [--tree DIR]

Starts a real mosquitto and `propwatch gateway` as its own process (a site with one MQTT access
controller, the embedded telemetry store, `/healthz` on a free port), then publishes
`--messages` malformed payloads (not JSON, truncated, wrong types, a bad timestamp) with
QoS 1 from this process as fast as the broker takes them. A third party, a thread of this
process, asks the gateway's `/healthz` every 10 ms, before and during the flood, until the
gateway has committed every payload as a dead letter. Prints the answer times (p50, p99, max),
the flood's length and the dead-letter figures.

`--tree DIR` runs the gateway from another checkout of the source (e.g. `git archive` of an
older commit unpacked in DIR), to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.servers import free_port, start_mosquitto

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "devices/door-north/events"
# Malformed in ways every version of the gateway dead-letters, so `--tree` compares like with
# like (unstorable values are refused too, but only since that check exists).
BAD = [
    b'{"door": {"open": tr',
    b"\xff\xfe not utf-8",
    b'{"door": {"open": "maybe"}}',
    b'["not", "an", "object"]',
    b'{"unknown": 1}',
    b'{"door": {"open": true}, "ts": "yesterday"}',
    b"x" * 2000,
]


def site_file(tmp: Path) -> Path:
    doc = {
        "site": {"id": "flood", "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-b", "name": "B区"}],
        "assets": [
            {"id": "door-north", "name": "北门门禁", "kind": "access_controller"}
            | {"zone": "zone-b", "device": "door-north"}
        ],
        "devices": [{"id": "door-north", "protocol": "mqtt", "profile": "access_controller"}],
    }
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def get(url: str, timeout: float = 300) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return str(r.read().decode())


def metric(body: str, name: str) -> float:
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Prober(threading.Thread):
    """Asks `/healthz` every 10 ms and keeps each answer time (ms) with the phase it fell in;
    a request unanswered after 60 s counts as 60 s and as a timeout."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.phase = "before"
        self.times: dict[str, list[float]] = {"before": [], "flood": []}
        self.timeouts = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            phase = self.phase
            started = time.perf_counter()
            try:
                get(self.url, timeout=60)
            except TimeoutError:
                self.timeouts += 1
            self.times[phase].append((time.perf_counter() - started) * 1000)
            self.stop.wait(0.01)


def flood(broker_port: int, messages: int) -> float:
    """Publish the malformed payloads with QoS 1; seconds until the broker acknowledged all."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="flood-device")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    started = time.perf_counter()
    infos = [client.publish(TOPIC, BAD[i % len(BAD)], qos=1) for i in range(messages)]
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.perf_counter() - started
    client.loop_stop()
    client.disconnect()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree of the gateway")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = start_mosquitto(tmp)
        port = free_port()
        env = os.environ | {
            "PYTHONPATH": str(args.tree.resolve()),
            "PROPWATCH_MQTT_URL": broker.url,
            "PROPWATCH_VAR_DIR": str(tmp / "var"),
            "PROPWATCH_GATEWAY_METRICS_PORT": str(port),
        }
        gateway = subprocess.Popen(
            [sys.executable, "-m", "propwatch.cli", "gateway", "--site", str(site_file(tmp))],
            cwd=args.tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if json.loads(get(base + "/healthz"))["mqtt_connected"]:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the gateway did not come up")
                time.sleep(0.1)
            # The subscription is in place once a payload comes through.
            while metric(get(base + "/metrics"), "propwatch_gateway_mqtt_messages_total") < 1:
                flood(broker.port, 1)
            warm = metric(get(base + "/metrics"), "propwatch_gateway_dead_letters_total")
            prober = Prober(base + "/healthz")
            prober.start()
            time.sleep(2)  # a baseline of answers before the flood
            prober.phase = "flood"
            started = time.perf_counter()
            published_s = flood(broker.port, args.messages)
            target = warm + args.messages
            while True:
                body = get(base + "/metrics")
                if metric(body, "propwatch_gateway_dead_letters_total") >= target:
                    break
                time.sleep(0.05)
            handled_s = time.perf_counter() - started
            while (
                metric(get(base + "/metrics"), "propwatch_gateway_dead_letters_pending") > 0
                and time.perf_counter() - started < 120
            ):
                time.sleep(0.05)
            committed_s = time.perf_counter() - started
            prober.stop.set()
            prober.join()
            health = json.loads(get(base + "/healthz"))
        finally:
            gateway.terminate()
            try:
                gateway.wait(60)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait(10)
            broker.stop()

    before, during = prober.times["before"], prober.times["flood"]
    print(f"gateway tree: {args.tree}")
    print(f"malformed payloads: {args.messages:,} (QoS 1)")
    print(f"published and acknowledged by the broker in {published_s:.2f} s")
    print(f"handled by the gateway in {handled_s:.2f} s ({args.messages / handled_s:,.0f} /s)")
    print(f"all committed as dead letters after {committed_s:.2f} s")
    print(
        f"/healthz before the flood: {len(before)} answers, p50 {statistics.median(before):.1f} ms"
        f", p99 {percentile(before, 0.99):.1f} ms"
    )
    print(
        f"/healthz during the flood: {len(during)} answers, p50 {statistics.median(during):.1f} ms"
        f", p99 {percentile(during, 0.99):.1f} ms, max {max(during):.1f} ms"
        f", {prober.timeouts} unanswered after 60 s"
    )
    print(
        f"dead letters in /healthz: {health.get('dead_letter_store', health.get('dead_letters'))}"
    )


if __name__ == "__main__":
    main()
