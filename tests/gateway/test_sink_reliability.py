"""Store and forward against real outages: victoria-metrics stopped under load, the gateway
killed with SIGKILL while the sink is down, mosquitto restarted while alarms flow.

The outage length is `PROPWATCH_OUTAGE_SECONDS` (5 s here; `bench/sink_outage_soak.py` runs the
issue's 60 s one and records memory and outbox figures in docs/performance.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from gateway.event_publisher import EventPublisher
from gateway.outbox import Outbox
from gateway.sinks.influx import InfluxSink
from gateway.writer import TelemetryWriter
from propwatch.clock import SystemClock
from propwatch.events import AlarmAction, AlarmEvent, Severity, alarm_topic
from propwatch.mqtt import MqttConnection
from tests.conftest import ROOT
from tests.gateway.outbox_driver import soak_sample
from tests.support.servers import VictoriaMetrics, start_mosquitto, start_victoria_metrics

OUTAGE_S = float(os.environ.get("PROPWATCH_OUTAGE_SECONDS", "5"))
RATE = 5000


async def _until(check: Callable[[], bool], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


def _stored_seqs(vm: VictoriaMetrics, expected: int, within: float = 60) -> list[float]:
    deadline = time.monotonic() + within
    while True:
        vm.flush()
        values = [v for s in vm.export('{__name__="soak_seq"}') for v in s["values"]]
        if len(values) >= expected or time.monotonic() > deadline:
            return sorted(values)
        time.sleep(0.2)


def test_sink_outage_under_load_loses_no_accepted_point_and_memory_stays_flat(
    tmp_path: Path,
) -> None:
    vm = start_victoria_metrics(tmp_path)
    outbox = Outbox(tmp_path / "outbox.db")
    writer = TelemetryWriter(
        InfluxSink(vm.url, "t", "o", "b", timeout_ms=1000),
        SystemClock(),
        outbox,
        flush_interval=0.1,
        retry_min=0.1,
        retry_max=0.5,
    )
    peak_queue = 0
    peak_outbox = 0
    accepted = 0

    async def load(seconds: float) -> None:
        nonlocal accepted, peak_queue, peak_outbox
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            for _ in range(RATE // 50):
                accepted += writer.offer(soak_sample(accepted))
            peak_queue = max(peak_queue, writer.queue_depth)
            peak_outbox = max(peak_outbox, outbox.stats().pending_points)
            await asyncio.sleep(max(0.0, started + accepted / RATE - time.monotonic()))

    async def run() -> None:
        task = asyncio.create_task(writer.run())
        await load(1)
        await asyncio.to_thread(vm.stop)
        await load(OUTAGE_S)
        await asyncio.gather(load(2), asyncio.to_thread(vm.start))
        await _until(lambda: writer.direct and writer.queue_depth == 0, "the replay", 60)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(run())
        stored = _stored_seqs(vm, accepted)
    finally:
        vm.stop()

    assert writer.stats.dropped == 0
    assert stored == [float(i) for i in range(accepted)]
    # The outage went to disk, not to memory: the queue never held more than a few batches.
    assert peak_outbox >= RATE * OUTAGE_S * 0.6
    assert peak_queue <= RATE


def _driver(
    tmp: Path, vm: VictoriaMetrics, points: int, hold_after_store: int = 0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.gateway.outbox_driver",
            "--var",
            str(tmp),
            "--influx",
            vm.url,
            "--points",
            str(points),
            "--rate",
            str(RATE),
            "--hold-after-store",
            str(hold_after_store),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_gateway_killed_while_the_sink_is_down_loses_nothing_it_had_made_safe(
    tmp_path: Path,
) -> None:
    vm = start_victoria_metrics(tmp_path)
    vm.stop()
    first = _driver(tmp_path, vm, points=RATE * 10)
    safe = 0
    try:
        assert first.stdout is not None
        for line in first.stdout:
            safe = int(line.split()[1])
            if safe >= RATE * 2:  # mid-stream: more is being offered as it dies
                break
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        vm.start()
        second = _driver(tmp_path, vm, points=0)
        out, _ = second.communicate(timeout=60)
        stored = _stored_seqs(vm, safe)
    finally:
        if first.poll() is None:
            first.kill()
        vm.stop()

    assert first.returncode == -signal.SIGKILL
    assert out.splitlines()[-1].startswith("DRAINED")
    assert set(range(safe)) <= {int(v) for v in stored}
    assert len(stored) == len(set(stored)), "a replayed batch is stored once"


def test_victoria_metrics_keeps_a_batch_written_twice_once_only_with_dedup(
    tmp_path: Path,
) -> None:
    batch = [soak_sample(seq) for seq in range(100)]
    exported: dict[bool, list[float]] = {}
    for dedup in (True, False):
        vm = start_victoria_metrics(tmp_path / f"dedup-{dedup}", dedup=dedup)
        try:
            sink = InfluxSink(vm.url, "t", "o", "b")
            sink.write_samples(batch)
            sink.write_samples(batch)  # the replay of a batch whose delete never happened
            exported[dedup] = _stored_seqs(vm, 200 if not dedup else 100, within=20)
        finally:
            vm.stop()

    assert exported[True] == [float(i) for i in range(100)]
    assert exported[False] == sorted([float(i) for i in range(100)] * 2)


def test_replay_killed_again_and_again_between_store_and_delete_stores_each_point_once(
    tmp_path: Path,
) -> None:
    """Every life stores a batch, and is killed before the outbox deletes it; the next life
    sends that batch again. Only the store's idempotence keeps the count exact."""
    points = RATE * 4
    vm = start_victoria_metrics(tmp_path)
    vm.stop()
    lives: list[subprocess.Popen[str]] = []
    stored_then_killed: list[int] = []
    try:
        first = _driver(tmp_path, vm, points=points)
        lives.append(first)
        assert first.stdout is not None
        for line in first.stdout:
            if line.split() == ["SAFE", str(points)]:
                break
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        vm.start()
        for hold_after in (1, 3, 2, 5, 1):
            life = _driver(tmp_path, vm, points=0, hold_after_store=hold_after)
            lives.append(life)
            assert life.stdout is not None
            stores = 0
            for line in life.stdout:
                if line.startswith("STORED"):
                    stores += 1
                    if stores == hold_after:
                        break
            life.send_signal(signal.SIGKILL)
            life.wait(10)
            stored_then_killed.append(stores)
        last = _driver(tmp_path, vm, points=0)
        lives.append(last)
        out, _ = last.communicate(timeout=60)
        stored = _stored_seqs(vm, points)
    finally:
        for life in lives:
            if life.poll() is None:
                life.kill()
        vm.stop()

    assert stored_then_killed == [1, 3, 2, 5, 1]
    assert all(life.returncode == -signal.SIGKILL for life in lives[:-1])
    assert out.splitlines()[-1].startswith("DRAINED")
    assert stored == [float(i) for i in range(points)], "every point, each exactly once"


def test_mosquitto_restart_under_load_loses_no_alarm_event(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path)
    received: set[str] = set()
    lock = threading.Lock()
    total = 600

    def on_alarm(msg: object) -> None:
        event_id = json.loads(msg.payload)["event_id"]  # type: ignore[attr-defined]
        with lock:
            received.add(event_id)

    async def run() -> list[str]:
        maint = MqttConnection(broker.url, "maintenance-spy", clean_start=False)
        maint.on_message = on_alarm
        maint.subscribe(alarm_topic("hexie", "+"), qos=1)
        gateway = MqttConnection(broker.url, "propwatch-gateway-hexie", clean_start=False)
        for c in (maint, gateway):
            c.client.reconnect_delay_set(min_delay=0.2, max_delay=1)  # type: ignore[arg-type]
            c.start()
            await c.wait_connected()
        publisher = EventPublisher(Outbox(tmp_path / "outbox.db"), gateway, SystemClock())
        task = asyncio.create_task(publisher.run())
        sent: list[str] = []
        for i in range(total):
            event = AlarmEvent(
                site_id="hexie",
                occurred_at=datetime.now(UTC),
                action=AlarmAction.RAISE if i % 2 == 0 else AlarmAction.CLEAR,
                episode_id=f"hexie/pump-1/{i // 2}",
                asset_id="pump-1",
                alarm_type="pressure_low",
                severity=Severity.CRITICAL,
                rule_id="pump-pressure-low",
            )
            publisher.submit(alarm_topic("hexie", "pump-1"), event.model_dump_json())
            sent.append(event.event_id)
            if i == total // 3:
                await asyncio.to_thread(broker.stop)
            if i == total // 2:
                await asyncio.to_thread(broker.start)
            await asyncio.sleep(0.002)
        await _until(lambda: publisher.pending == 0, "the broker to take every event")
        await _until(lambda: len(received) >= total, "every event at the consumer")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for c in (maint, gateway):
            c.stop()
        assert gateway.connect_count >= 2, "the broker restart was seen"
        return sent

    try:
        sent = asyncio.run(run())
    finally:
        broker.stop()

    assert set(sent) <= received
