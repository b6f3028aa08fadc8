"""Store and forward: straight to the sink while it is up, through the outbox while it is down."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.outbox import Outbox
from gateway.readings import Sample
from gateway.sinks.influx import InfluxSink
from gateway.sinks.local_store import LocalStore
from gateway.writer import TelemetryWriter
from propwatch.clock import SystemClock
from tests.support.servers import free_port, start_victoria_metrics, wait_until

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _samples(n: int, first: int = 0) -> list[Sample]:
    return [
        Sample(
            "hexie",
            "pump-1",
            "pump-1",
            "water_pump",
            T0 + timedelta(milliseconds=i),
            {"seq": float(i)},
        )
        for i in range(first, first + n)
    ]


async def _until(check: Callable[[], bool], what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


def _writer(
    sink: InfluxSink | LocalStore, outbox: Outbox, capacity: int = 100_000, batch_size: int = 5000
) -> TelemetryWriter:
    return TelemetryWriter(
        sink,
        SystemClock(),
        outbox,
        capacity=capacity,
        batch_size=batch_size,
        flush_interval=0.05,
        retry_min=0.05,
        retry_max=0.2,
    )


def test_samples_reach_the_store_straight_while_it_is_up(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "telemetry.db")
    writer = _writer(store, Outbox(tmp_path / "outbox.db"), batch_size=100)

    async def run() -> None:
        task = asyncio.create_task(writer.run())
        for s in _samples(250):
            writer.offer(s)
        await _until(lambda: writer.stats.written == 250, "the writes")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())

    assert store.count("pump-1") == 250
    assert writer.stats.spilled == 0


def test_batches_spill_to_the_outbox_while_the_sink_is_down(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    sink = InfluxSink(f"http://127.0.0.1:{free_port()}", "t", "o", "b", timeout_ms=500)
    writer = _writer(sink, outbox)

    async def run() -> None:
        task = asyncio.create_task(writer.run())
        for s in _samples(300):
            writer.offer(s)
        await _until(lambda: outbox.stats().pending_points == 300, "the spill")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())

    assert writer.stats.written == 0 and not writer.direct
    assert writer.queue_depth == 0


def test_when_safe_fires_only_after_the_samples_are_on_disk(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    sink = InfluxSink(f"http://127.0.0.1:{free_port()}", "t", "o", "b", timeout_ms=500)
    writer = _writer(sink, outbox)
    on_disk_when_safe: list[int] = []

    async def run() -> None:
        for s in _samples(40):
            writer.offer(s)
        writer.when_safe(lambda: on_disk_when_safe.append(outbox.stats().pending_points))
        task = asyncio.create_task(writer.run())
        await _until(lambda: bool(on_disk_when_safe), "the safe callback")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())

    assert on_disk_when_safe == [40]


def test_a_full_queue_refuses_new_samples_and_counts_them(tmp_path: Path) -> None:
    writer = _writer(LocalStore(tmp_path / "t.db"), Outbox(tmp_path / "o.db"), capacity=10)

    async def offer_all() -> list[bool]:
        return [writer.offer(s) for s in _samples(12)]

    accepted = asyncio.run(offer_all())

    assert accepted.count(False) == 2 and writer.stats.dropped == 2


def test_the_outbox_replays_in_order_when_the_sink_returns_then_goes_straight_again(
    tmp_path: Path,
) -> None:
    vm = start_victoria_metrics(tmp_path)
    try:
        vm.stop()
        outbox = Outbox(tmp_path / "outbox.db")
        writer = _writer(InfluxSink(vm.url, "t", "o", "b", timeout_ms=1000), outbox)

        async def run() -> None:
            task = asyncio.create_task(writer.run())
            for s in _samples(500):
                writer.offer(s)
            await _until(lambda: outbox.stats().pending_points == 500, "the spill")
            await asyncio.to_thread(vm.start)
            await _until(lambda: writer.direct, "the replay", within=30)
            for s in _samples(100, first=500):
                writer.offer(s)
            await _until(lambda: writer.stats.written == 600, "the fresh writes")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(run())

        def stored() -> list[float]:
            vm.flush()
            series = vm.export('{__name__="water_pump_seq"}')
            return [v for s in series for v in s["values"]]

        wait_until(lambda: len(stored()) == 600, 30, "600 points in victoria-metrics")
        assert sorted(stored()) == [float(i) for i in range(600)]
        assert writer.stats.replayed == 500 and outbox.stats().pending_points == 0
    finally:
        vm.stop()


def test_the_local_store_keeps_a_batch_written_twice_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "telemetry.db")
    batch = _samples(100)

    store.write_sync(batch)
    store.write_sync(batch)  # the replay of a batch whose outbox delete never happened

    assert store.count("pump-1") == 100


def test_a_local_store_file_with_repeated_rows_keeps_one_of_each_when_reopened(
    tmp_path: Path,
) -> None:
    path = tmp_path / "telemetry.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE reading (ts_ns INTEGER NOT NULL, site TEXT NOT NULL, asset TEXT NOT NULL,"
        " device TEXT NOT NULL, kind TEXT NOT NULL, metric TEXT NOT NULL, num REAL, text TEXT);"
        "CREATE INDEX reading_asset_metric_ts ON reading (asset, metric, ts_ns);"
    )
    row = (1, "hexie", "pump-1", "pump-1", "water_pump", "seq", 1.0, None)
    old.executemany("INSERT INTO reading VALUES (?,?,?,?,?,?,?,?)", [row, row, row])
    old.commit()
    old.close()

    store = LocalStore(path)
    store.write_sync(_samples(1))

    assert store.count("pump-1") == 2


def test_samples_refused_by_a_full_queue_are_still_counted_after_a_restart(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "o.db")
    writer = _writer(LocalStore(tmp_path / "t.db"), outbox, capacity=10)

    async def offer_all() -> None:
        for s in _samples(12):
            writer.offer(s)

    asyncio.run(offer_all())
    outbox.close()  # as at shutdown; a running writer saves them after its next batch

    assert Outbox(tmp_path / "o.db").stats().queue_full_points == 2
