"""The dead-letter store: `keep` never touches the disk, the store and the queue are bounded and
prune oldest first, counters survive restarts, a flood is logged once a minute, a full disk is
survived. Real SQLite files; the disk is held up by a real lock from another connection."""

from __future__ import annotations

import functools
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.dead_letters import OVERHEAD_BYTES, DeadLetters
from propwatch.clock import ManualClock
from tests.gateway.small_disk import small_disk
from tests.support.servers import wait_until

AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TOPIC = "devices/door-north/events"


def _locked(path: Path) -> sqlite3.Connection:
    """Another connection holding the file's write lock: the writer thread cannot commit."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_keep_never_waits_for_the_disk_and_acknowledges_only_after_the_commit(
    tmp_path: Path,
) -> None:
    dead = DeadLetters(tmp_path / "dead.db", retry_s=0.05)
    acked: list[int] = []
    holder = _locked(tmp_path / "dead.db")

    for i in range(1000):  # each would fail or wait on "database is locked" if it wrote
        dead.keep(TOPIC, b"{bad", AT, "not JSON", then=functools.partial(acked.append, i))
    waiting = dead.stats().pending
    acked_while_locked = len(acked)
    holder.rollback()
    holder.close()
    assert dead.flush(30)

    assert (waiting, acked_while_locked) == (1000, 0)
    assert sorted(acked) == list(range(1000))
    assert dead.stats().stored == 1000 and dead.stats().pending == 0
    dead.close()


def test_past_its_byte_bound_the_store_prunes_its_oldest_letters_and_counts_them(
    tmp_path: Path,
) -> None:
    size = 100 + len(TOPIC) + len("bad") + OVERHEAD_BYTES
    dead = DeadLetters(tmp_path / "dead.db", max_bytes=50 * size)

    for i in range(1000):
        dead.keep(TOPIC, f"{i:0100d}".encode(), AT, "bad")
        if i % 100 == 99:
            assert dead.flush()
    stats = dead.stats()
    newest = dead.recent(1000)
    dead.close()
    reopened = DeadLetters(tmp_path / "dead.db", max_bytes=50 * size).stats()

    assert stats.stored_bytes <= 50 * size and stats.stored == len(newest)
    assert stats.kept == 1000 and stats.stored + stats.pruned == 1000
    assert int(newest[0][3]) == 999 and int(newest[-1][3]) == 1000 - stats.stored
    assert (reopened.kept, reopened.pruned, reopened.stored) == (1000, stats.pruned, stats.stored)


def test_while_the_disk_cannot_keep_up_the_queue_drops_its_oldest_and_acknowledges_them(
    tmp_path: Path,
) -> None:
    size = 10 + len(TOPIC) + len("bad") + OVERHEAD_BYTES
    dead = DeadLetters(tmp_path / "dead.db", max_pending_bytes=100 * size, retry_s=0.05)
    acked: list[int] = []
    holder = _locked(tmp_path / "dead.db")

    for i in range(300):
        dead.keep(TOPIC, f"{i:010d}".encode(), AT, "bad", then=functools.partial(acked.append, i))
    pruned_while_locked = sorted(acked)
    holder.rollback()
    holder.close()
    assert dead.flush(30)
    kept = [int(r[3]) for r in dead.recent(1000)]
    stats = dead.stats()
    dead.close()

    # The writer thread may have taken a first batch before the lock stopped it; the queue
    # itself never held more than 100 letters, and what it gave up was the oldest.
    assert len(kept) + len(pruned_while_locked) == 300
    assert kept[:100] == list(range(299, 199, -1))
    assert stats.pruned == len(pruned_while_locked) >= 100
    assert sorted(acked) == list(range(300))


def test_a_flood_is_logged_once_a_minute_with_its_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(AT)
    dead = DeadLetters(tmp_path / "dead.db", clock=clock)

    with caplog.at_level(logging.WARNING, logger="gateway.dead_letters"):
        for _ in range(5000):
            dead.keep(TOPIC, b"{bad", AT, "not JSON: Expecting value")
        assert dead.flush()
        first_minute = [r.getMessage() for r in caplog.records]
        clock.advance(61)
        dead.keep(TOPIC, b"{bad", AT, "not JSON: Expecting value")
        assert dead.flush()
        wait_until(lambda: len(caplog.records) == 2, 10, "the second minute's report")
    dead.close()

    assert len(first_minute) == 1
    counts = [int(r.getMessage().split()[0]) for r in caplog.records]
    assert sum(counts) == 5001 and len(counts) == 2
    assert "not JSON ×" in caplog.records[1].getMessage()


def test_a_full_disk_keeps_letters_in_memory_says_so_and_writes_them_when_room_returns(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        dead = DeadLetters(disk.path / "dead.db", retry_s=0.05)
        dead.keep(TOPIC, b"first", AT, "bad")
        assert dead.flush()
        disk.fill()
        for _ in range(200):
            dead.keep(TOPIC, b"x" * 200, AT, "bad")
        wait_until(lambda: dead.write_errors > 0, 10, "a failed write")
        problems = dead.problems()
        disk.make_room()
        assert dead.flush(30)
        stats = dead.stats()
        dead.close()

    assert problems[0]["code"] == "dead_letters_unwritable"
    assert "死信库" in problems[0]["zh"] and "SQLITE_FULL" in problems[0]["error"]
    assert (stats.stored, stats.kept, stats.pending) == (201, 201, 0)
    assert not dead.failing
