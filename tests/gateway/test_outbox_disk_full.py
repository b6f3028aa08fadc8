"""A full disk under the outbox: a real tmpfs filled by a ballast file, a real victoria-metrics.

The writer must keep going on a full disk (the outbox can neither take batches nor delete the
replayed ones), say so, lose nothing it can hold in memory, and be back to normal by itself once
the ballast is deleted, without a restart. victoria-metrics runs without deduplication here, so
the export shows every point the writer sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from gateway import durable
from gateway.outbox import Outbox
from gateway.readings import Sample
from gateway.service import Gateway
from gateway.sinks.influx import InfluxSink
from gateway.writer import TelemetryWriter
from propwatch.clock import SystemClock
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from tests.gateway.small_disk import small_disk
from tests.support.servers import (
    Mosquitto,
    VictoriaMetrics,
    free_port,
    start_victoria_metrics,
    wait_until,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _samples(first: int, n: int) -> list[Sample]:
    return [
        Sample(
            "hexie",
            f"pump-{seq % 5}",
            f"pump-{seq % 5}",
            "water_pump",
            T0 + timedelta(milliseconds=seq),
            {"seq": float(seq)},
        )
        for seq in range(first, first + n)
    ]


def _batch(first: int, n: int = 500) -> list[Sample]:
    return _samples(first, n)


async def _until(check: Callable[[], bool], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


def _stored(vm: VictoriaMetrics) -> list[float]:
    vm.flush()
    return sorted(v for s in vm.export('{__name__="water_pump_seq"}') for v in s["values"])


def test_a_full_disk_fails_with_sqlite_full_not_the_rollback_error(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "2m") as disk:
        outbox = Outbox(disk.path / "outbox.db")
        outbox.append_batch(_batch(0))
        disk.fill()

        with pytest.raises(sqlite3.OperationalError) as append:
            outbox.append_batch(_batch(500))
        with pytest.raises(sqlite3.OperationalError) as remove:
            outbox.remove_batch(1)

        for failure in (append.value, remove.value):
            assert durable.is_disk_full(failure), durable.describe(failure)
            assert "cannot rollback" not in durable.describe(failure)
        assert durable.describe(append.value) == "SQLITE_FULL: database or disk is full"
        assert outbox.stats().pending_points == 500
        outbox.close()


def test_counts_made_while_the_disk_is_full_are_saved_when_room_returns(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "2m") as disk:
        outbox = Outbox(disk.path / "outbox.db")
        outbox.append_batch(_batch(0))
        disk.fill()
        outbox.count("rejected_points", 500)
        outbox.count("disk_lost_points", 7)
        with pytest.raises(sqlite3.OperationalError):
            outbox.save_counts()
        assert outbox.stats().rejected_points == 500  # counted even while it cannot be saved

        disk.make_room()
        outbox.append_batch(_batch(500))  # any transaction that succeeds saves them
        outbox.close()
        reopened = Outbox(disk.path / "outbox.db")

        stats = reopened.stats()
        assert (stats.rejected_points, stats.disk_lost_points) == (500, 7)
        assert not reopened.unsaved_counts
        reopened.close()


def test_the_replay_survives_a_full_disk_and_recovers_without_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vm = start_victoria_metrics(tmp_path, dedup=False)
    vm.stop()
    seen: dict[str, object] = {}
    with small_disk(tmp_path / "disk", "3m") as disk:
        outbox = Outbox(disk.path / "outbox.db")
        writer = TelemetryWriter(
            InfluxSink(vm.url, "t", "o", "b", timeout_ms=1000),
            SystemClock(),
            outbox,
            capacity=200_000,
            batch_size=500,
            flush_interval=0.05,
            retry_min=0.05,
            retry_max=0.2,
        )
        safe: list[int] = []

        def offer(first: int, n: int) -> None:
            for s in _samples(first, n):
                assert writer.offer(s)
            writer.when_safe(lambda: safe.append(first + n))

        async def run() -> None:
            task = asyncio.create_task(writer.run())
            # The store is down: batches go to the outbox until the disk is full.
            offer(0, 5000)
            await _until(lambda: outbox.stats().pending_points == 5000, "the spill")
            await asyncio.to_thread(disk.fill)
            offer(5000, 5000)
            await _until(lambda: writer.held_points == 5000, "batches held in memory")
            seen["problems"] = writer.problems()
            seen["safe_while_held"] = list(safe)
            # The store returns while the disk is still full: the outbox is replayed but its
            # batches cannot be deleted; the held batches and new ones go from memory.
            await asyncio.to_thread(vm.start)
            offer(10_000, 5000)
            await _until(lambda: writer.stats.written == 15_000, "everything in the store", 60)
            seen["full_after_replay"] = (writer.disk_full, writer.direct, writer.held_points)
            seen["undeleted"] = outbox.stats().pending_points
            # Room returns: the stored batches are deleted and writes go straight again.
            await asyncio.to_thread(disk.make_room)
            await _until(lambda: writer.direct and not writer.disk_full, "recovery", 30)
            offer(15_000, 5000)
            await _until(lambda: writer.stats.written == 20_000, "fresh writes")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        try:
            with caplog.at_level(logging.ERROR, logger="gateway.writer"):
                asyncio.run(run())
            wait_until(lambda: len(_stored(vm)) >= 20_000, 30, "20,000 points exported")
            stored = _stored(vm)
        finally:
            vm.stop()
        stats = outbox.stats()
        outbox.close()

    assert stored == [float(i) for i in range(20_000)], "each point exactly once"
    problems = seen["problems"]
    assert isinstance(problems, list) and problems[0]["code"] == "outbox_disk_full"
    assert "磁盘已满" in problems[0]["zh"] and "disk full" in problems[0]["en"]
    assert seen["safe_while_held"] == [5000], "held samples are not acknowledged as safe"
    assert seen["full_after_replay"] == (True, False, 0)
    assert seen["undeleted"] == 5000, "stored but not deletable, and not sent twice"
    assert safe == [5000, 10_000, 15_000, 20_000]
    assert (writer.stats.lost_on_disk_error, stats.disk_lost_points) == (0, 0)
    assert stats.pending_points == 0 and stats.storage_errors == writer.stats.outbox_errors > 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "SQLITE_FULL: database or disk is full" in logged
    assert "cannot rollback" not in logged


def test_past_the_memory_bound_the_oldest_held_batches_are_dropped_and_counted(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk", "2m") as disk:
        outbox = Outbox(disk.path / "outbox.db")
        sink = InfluxSink(f"http://127.0.0.1:{free_port()}", "t", "o", "b", timeout_ms=300)
        writer = TelemetryWriter(
            sink,
            SystemClock(),
            outbox,
            capacity=1000,
            batch_size=500,
            flush_interval=0.05,
            retry_min=0.05,
            retry_max=0.1,
        )

        async def run() -> None:
            task = asyncio.create_task(writer.run())
            writer.offer(_samples(0, 1)[0])
            await _until(lambda: outbox.stats().pending_points == 1, "the first spill")
            await asyncio.to_thread(disk.fill)
            for first in range(1, 3001, 500):  # six batches of 500 against room for two
                for s in _samples(first, 500):
                    writer.offer(s)
                await _until(lambda: writer.queue_depth == 0, "the batch cut")
            await _until(lambda: writer.stats.lost_on_disk_error == 2000, "the drops")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(run())
        disk.make_room()
        outbox.close()  # the counters were counted on a full disk; they are saved now
        reopened = Outbox(disk.path / "outbox.db")
        stats = reopened.stats()
        reopened.close()

    # Four held batches were dropped while running (the oldest first); the last two were
    # neither stored nor on disk at shutdown and count as lost too.
    assert stats.disk_lost_points == 3000
    assert stats.pending_points == 1


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def _door_only_site(tmp: Path) -> Site:
    """One MQTT access controller: no Modbus device goes offline and raises an alarm (whose
    priority-lane append would meet the full disk too) while the test fills the disk. A site id
    of its own: the broker is shared with other tests, whose `hexie` door messages would be
    ingested as points of this run."""
    doc = {
        "site": {"id": "disk-full", "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-b", "name": "B区"}],
        "assets": [
            {"id": "door-north", "name": "北门门禁", "kind": "access_controller"}
            | {"zone": "zone-b", "device": "door-north"}
        ],
        "devices": [{"id": "door-north", "protocol": "mqtt", "profile": "access_controller"}],
    }
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


def test_gateway_healthz_is_degraded_while_the_outbox_disk_is_full_then_ok_again(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    site = _door_only_site(tmp_path)
    replies: dict[str, str] = {}
    with small_disk(tmp_path / "var", "4m") as disk:
        settings = Settings(var_dir=disk.path, gateway_metrics_port=0, gateway_flush_interval=0.05)
        sink = InfluxSink(f"http://127.0.0.1:{free_port()}", "t", "o", "b", timeout_ms=300)

        async def run() -> None:
            async with Gateway(site, settings, SystemClock(), mosquitto.url, sink) as gw:
                assert gw.metrics_server is not None
                base = f"http://127.0.0.1:{gw.metrics_server.port}"
                for s in _samples(0, 100):
                    gw.writer.offer(s)
                await _until(lambda: gw.outbox.stats().pending_points == 100, "the spill")
                replies["before"] = await asyncio.to_thread(_get, base + "/healthz")
                await asyncio.to_thread(disk.fill)
                for s in _samples(100, 100):
                    gw.writer.offer(s)
                await _until(lambda: gw.writer.disk_full, "the full disk to be seen")
                replies["full"] = await asyncio.to_thread(_get, base + "/healthz")
                replies["full_metrics"] = await asyncio.to_thread(_get, base + "/metrics")
                await asyncio.to_thread(disk.make_room)
                await _until(lambda: gw.writer.held_points == 0, "the held batch on disk", 30)
                replies["after"] = await asyncio.to_thread(_get, base + "/healthz")
                replies["after_metrics"] = await asyncio.to_thread(_get, base + "/metrics")

        asyncio.run(run())

    assert '"status": "ok"' in replies["before"] and '"problems": []' in replies["before"]
    assert '"status": "degraded"' in replies["full"]
    assert '"code": "outbox_disk_full"' in replies["full"] and "网关磁盘已满" in replies["full"]
    assert "propwatch_gateway_outbox_disk_full 1\n" in replies["full_metrics"]
    assert "propwatch_gateway_points_held 100\n" in replies["full_metrics"]
    assert '"status": "ok"' in replies["after"]
    assert "propwatch_gateway_outbox_disk_full 0\n" in replies["after_metrics"]
    errors = next(
        line
        for line in replies["after_metrics"].splitlines()
        if line.startswith("propwatch_gateway_outbox_storage_errors_total ")
    )
    assert int(errors.split()[1]) >= 1
