"""MQTT ingestion against a raw paho QoS 1 subscriber, through stock and shipped broker limits.

    .venv/bin/python -m bench.mqtt_ingest [--messages 10000] [--pairs 3] [--devices 20]
        [--broker stock|shipped|both] [--publisher-inflight 20] [--profile FILE]

Starts victoria-metrics and, per `--broker`, a real mosquitto with Mosquitto's stock limits
(`max_inflight_messages 20`, `max_queued_messages 1000`) and/or those of
deploy/site/mosquitto/mosquitto.conf (100, 1,000,000). For each broker it runs `--pairs` pairs,
the two sides of a pair one after the other in alternating order, each in a process of its own:

- raw: a paho QoS 1 subscriber on `devices/+/events` (persistent session, paho's automatic
  acknowledgement) that counts what it receives;
- gateway: `gateway.service.Gateway` on a site of `--devices` MQTT access controllers, writing
  to victoria-metrics through the InfluxDB v2 write API (acknowledgements held until the sink's
  204, as in production).

The gateway runs on the event loop `propwatch gateway` runs on (`PROPWATCH_EVENT_LOOP`, uvloop
by default). Each side first takes one warm-up message (the sink's first write costs some 30 ms
of connection and client set-up, a cold start that is not what is measured). Then this process
publishes a burst of `--messages` QoS 1 payloads (round robin over the devices, each with its
own counter and timestamp) as fast as paho sends them (`--publisher-inflight`, paho's 20). Each
side reports what it received and the CPU time its process used from subscribing to the end;
the gateway's points are then read back from victoria-metrics. Printed: per run the counts, the
CPU per message and the burst's pace; per broker the median of the per-pair ratios gateway/raw;
the load average. A side that receives or stores fewer messages than were published fails the
run (exit status 1, the short runs listed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import (  # noqa: E402
    SHIPPED_LIMITS,
    STOCK_LIMITS,
    BrokerLimits,
    start_mosquitto,
    start_victoria_metrics,
    wait_until,
)

IDLE_S = 5.0
"""A side that has received nothing new for this long is done (and short, if not all came)."""
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def site_doc(site_id: str, devices: int) -> dict[str, Any]:
    ids = [f"door-{i:03d}" for i in range(devices)]
    return {
        "site": {"id": site_id, "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-b", "name": "B区"}],
        "assets": [
            {"id": d, "name": f"门禁 {d}", "kind": "access_controller", "zone": "zone-b"}
            | {"device": d}
            for d in ids
        ],
        "devices": [{"id": d, "protocol": "mqtt", "profile": "access_controller"} for d in ids],
    }


def payload(i: int) -> bytes:
    at = T0 + timedelta(milliseconds=i)
    return json.dumps({"counters": {"granted": i}, "ts": at.isoformat()}).encode()


# the two sides, each run as `--side raw|gateway` in a process of its own


def wait_for_go() -> None:
    print("WARM", flush=True)
    sys.stdin.readline()


def raw_side(url: str, client_id: str, expect: int) -> dict[str, float]:
    host, port = url.removeprefix("mqtt://").split(":")
    got = 0
    last = time.monotonic()

    def on_message(c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        nonlocal got, last
        got += 1
        last = time.monotonic()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_message = on_message
    client.connect(host, int(port))
    client.subscribe("devices/+/events", 1)
    client.loop_start()
    time.sleep(0.5)  # the SUBACK
    print("READY", flush=True)
    while got < 1:  # the warm-up message
        time.sleep(0.01)
    got = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    wait_for_go()
    while got < expect and time.monotonic() - last < IDLE_S:
        time.sleep(0.01)
    cpu, wall = time.process_time() - cpu0, last - wall0
    client.disconnect()
    client.loop_stop()
    return {"received": got, "stored": got, "cpu_s": cpu, "wall_s": wall}


async def gateway_side(url: str, site_id: str, devices: int, vm: str, tmp: Path) -> dict[str, Any]:
    from gateway.service import Gateway
    from gateway.sinks.influx import InfluxSink
    from propwatch.clock import SystemClock
    from propwatch.settings import Settings
    from propwatch.site import load_site

    path = tmp / f"{site_id}.yaml"
    path.write_text(yaml.safe_dump(site_doc(site_id, devices), allow_unicode=True), "utf-8")
    site = load_site(path)
    settings = Settings(var_dir=tmp / f"var-{site_id}")
    sink = InfluxSink(vm, "token", "org", "bucket")
    async with Gateway(site, settings, SystemClock(), url, sink) as gw:
        assert gw.ingest is not None
        ingest = gw.ingest
        await asyncio.sleep(0.5)  # the SUBACK
        print("READY", flush=True)
        # The warm-up message: the sink's first write (connection, the client's first call)
        # takes some 30 ms, a cold start the burst should not measure.
        await asyncio.to_thread(
            wait_until,
            lambda: (
                ingest.received >= 1 and not ingest.unacknowledged and not gw.writer.queue_depth
            ),
            30,
            "the warm-up message",
        )
        warmed = ingest.received
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.to_thread(wait_for_go)
        seen, last = -1, time.monotonic()
        while time.monotonic() - last < IDLE_S:
            settled = ingest.unacknowledged == 0 and gw.writer.queue_depth == 0
            if ingest.received != seen:
                seen, last = ingest.received, time.monotonic()
            elif settled and ingest.received > 0 and time.monotonic() - last > 0.5:
                break
            await asyncio.sleep(0.01)
        cpu, wall = time.process_time() - cpu0, last - wall0
        stats = {
            "received": ingest.received - warmed,
            "cpu_s": cpu,
            "wall_s": wall,
            "hurried": ingest.hurried,
            "written": gw.writer.stats.written,
        }
    return stats


# the conductor


def run_side(
    side: str, url: str, limits: BrokerLimits, args: argparse.Namespace, vm: str, tmp: Path, n: int
) -> dict[str, Any]:
    site_id = f"bench{n:02d}"
    cmd = [
        sys.executable,
        "-m",
        "bench.mqtt_ingest",
        "--side",
        side,
        "--url",
        url,
        "--site-id",
        site_id,
        "--vm",
        vm,
        "--tmp",
        str(tmp),
        "--devices",
        str(args.devices),
        "--messages",
        str(args.messages),
    ]
    if side == "gateway" and args.profile:
        cmd = [
            "py-spy",
            "record",
            "--gil",
            "-r",
            "500",
            "--format",
            "raw",
            "-o",
            args.profile,
            "--",
            *cmd,
        ]
    # The gateway's receive window is the broker's in-flight window, as docs/configuration.md
    # says to set it (20 for a stock Mosquitto, 100 for the shipped config).
    env = os.environ | {"PROPWATCH_GATEWAY_MQTT_RECEIVE_WINDOW": str(limits.max_inflight_messages)}
    child = subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdin is not None and child.stdout is not None

    def until(word: str) -> None:
        assert child.stdout is not None
        while (line := child.stdout.readline()).strip() != word:  # py-spy may talk first
            if not line:
                raise SystemExit(f"{side} side did not get to {word}")

    host, port = url.removeprefix("mqtt://").split(":")
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{n}")
    pub.max_inflight_messages_set(args.publisher_inflight)
    pub.connect(host, int(port))
    pub.loop_start()
    until("READY")
    pub.publish("devices/door-000/events", payload(-1), qos=1).wait_for_publish(10)
    until("WARM")
    child.stdin.write("go\n")
    child.stdin.flush()
    t0 = time.monotonic()
    infos = [
        pub.publish(f"devices/door-{i % args.devices:03d}/events", payload(i), qos=1)
        for i in range(args.messages)
    ]
    for info in infos:
        info.wait_for_publish(60)
    burst = time.monotonic() - t0
    pub.disconnect()
    pub.loop_stop()
    out, _ = child.communicate(timeout=600)
    result: dict[str, Any] = json.loads([x for x in out.splitlines() if x.startswith("{")][-1])
    result["burst_s"] = burst
    if side == "gateway":  # the warm-up message is a point too
        result["stored"] = stored_points(vm, site_id, args.messages + 1) - 1
    return result


def stored_points(vm: str, site_id: str, expect: int) -> int:
    import urllib.parse
    import urllib.request

    query = f'access_controller_swipes_granted{{site="{site_id}"}}'
    count = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        urllib.request.urlopen(f"{vm}/internal/force_flush", timeout=5).read()
        data = urllib.parse.urlencode({"match[]": query, "start": "0"}).encode()
        with urllib.request.urlopen(f"{vm}/api/v1/export", data=data, timeout=30) as r:
            series = [json.loads(line) for line in r.read().decode().splitlines() if line]
        count = sum(len(s["values"]) for s in series)
        if count >= expect:
            break
        time.sleep(0.5)
    return count


def conduct(args: argparse.Namespace) -> int:
    brokers = {"stock": STOCK_LIMITS, "shipped": SHIPPED_LIMITS}
    chosen = list(brokers) if args.broker == "both" else [args.broker]
    failures = []
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as d:
        tmp = Path(d)
        vm = start_victoria_metrics(tmp / "vm")
        n = 0
        try:
            for name in chosen:
                (tmp / name).mkdir()
                broker = start_mosquitto(tmp / name, limits=brokers[name])
                ratios = []
                try:
                    for pair in range(args.pairs):
                        order = ["raw", "gateway"] if pair % 2 == 0 else ["gateway", "raw"]
                        per: dict[str, dict[str, Any]] = {}
                        for side in order:
                            n += 1
                            r = per[side] = run_side(
                                side, broker.url, brokers[name], args, vm.url, tmp, n
                            )
                            us = r["cpu_s"] / max(1, r["received"]) * 1e6
                            print(
                                f"{name:7} pair {pair + 1} {side:7}: received {r['received']:>6}"
                                f" stored {r['stored']:>6} of {args.messages}; "
                                f"{us:5.1f} µs CPU/message; burst {r['burst_s']:.2f} s "
                                f"({args.messages / r['burst_s']:,.0f}/s), taken at "
                                f"{r['received'] / r['wall_s']:,.0f}/s"
                                + (f"; hurried {r['hurried']}" if side == "gateway" else ""),
                                flush=True,
                            )
                            if r["received"] < args.messages or r["stored"] < args.messages:
                                failures.append(f"{name} pair {pair + 1} {side}: {r}")
                        raw, gw = per["raw"], per["gateway"]
                        ratios.append(
                            (gw["cpu_s"] / max(1, gw["received"]))
                            / (raw["cpu_s"] / max(1, raw["received"]))
                        )
                finally:
                    broker.stop()
                print(
                    f"{name}: CPU per message gateway/raw, median of {len(ratios)} pairs "
                    f"{statistics.median(ratios):.2f} (pairs: "
                    + ", ".join(f"{r:.2f}" for r in ratios)
                    + ")",
                    flush=True,
                )
        finally:
            vm.stop()
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if failures:
        print("LOST MESSAGES:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--publisher-inflight", type=int, default=20, help="paho's default")
    ap.add_argument("--broker", choices=["stock", "shipped", "both"], default="both")
    ap.add_argument("--profile", help="py-spy the gateway side into this file (raw format)")
    ap.add_argument("--side", choices=["raw", "gateway"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--site-id", help=argparse.SUPPRESS)
    ap.add_argument("--vm", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side == "raw":
        print(json.dumps(raw_side(args.url, f"bench-raw-{args.site_id}", args.messages)))
        return 0
    if args.side == "gateway":
        from propwatch.cli import _loop_factory  # the loop `propwatch gateway` runs on
        from propwatch.settings import Settings

        with asyncio.Runner(loop_factory=_loop_factory(Settings())) as runner:
            stats = runner.run(
                gateway_side(args.url, args.site_id, args.devices, args.vm, args.tmp)
            )
        print(json.dumps(stats))
        return 0
    return conduct(args)


if __name__ == "__main__":
    raise SystemExit(main())
