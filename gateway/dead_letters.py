"""Dead letters (死信): every input we could not use, kept with topic, time, reason and bytes.

`keep` is called on the event loop for each bad MQTT payload or refused reading and must never
wait on the disk: it only appends to an in-memory queue. One thread drains the queue in batches
(one SQLite transaction each, WAL, `synchronous=NORMAL`), so a flood of bad payloads costs the
loop a list append per payload instead of an fsync.

Both sides are bounded and prune oldest first, counted: the store keeps at most `max_bytes`
(payload, topic and reason bytes) and deletes its oldest letters past it; the in-memory queue
holds at most `max_pending_bytes` while the disk cannot keep up or is failing, and discards its
oldest letters past that. A letter's `then` callback (the MQTT acknowledgement) runs once the
letter is committed, or once it is pruned from the queue, so a gateway killed earlier leaves the
message unacknowledged and the broker delivers it again.

A flood is logged at most once a minute, with the count of letters since the last line.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway import durable
from gateway.readings import Refusal
from propwatch.clock import Clock, SystemClock

log = logging.getLogger(__name__)

OVERHEAD_BYTES = 64
"""Counted per letter on top of its payload, topic and reason: the row's own cost."""
LOG_EVERY_S = 60.0
BATCH = 2000
"""Letters per transaction at most: long enough to amortise the commit, short enough that a
reader (`recent`) never waits long."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY, received_at TEXT, topic TEXT, reason TEXT, payload BLOB
);
CREATE TABLE IF NOT EXISTS dead_letter_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

Then = Callable[[], None]


@dataclass(frozen=True, slots=True)
class _Letter:
    received_at: str
    topic: str
    reason: str
    payload: bytes
    size: int
    then: Then | None


@dataclass(frozen=True)
class DeadLetterStats:
    received: int
    """Letters handed to `keep` since start."""
    kept: int
    """Letters committed to the store, over the store's whole life."""
    pruned: int
    """Letters deleted oldest first (store past `max_bytes`, queue past `max_pending_bytes`)."""
    stored: int
    stored_bytes: int
    max_bytes: int
    pending: int
    refused_values: int
    """Reading values refused as unstorable (out-of-range time, integer or non-finite float)."""
    write_errors: int
    last_error: str


class DeadLetters:
    """A bounded SQLite store of unusable inputs, written by its own thread."""

    def __init__(
        self,
        path: Path,
        max_bytes: int = 64 << 20,
        clock: Clock | None = None,
        max_pending_bytes: int = 16 << 20,
        retry_s: float = 1.0,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.max_pending_bytes = max_pending_bytes
        self.clock = clock or SystemClock()
        self.retry_s = retry_s
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db_lock = threading.Lock()
        counters = dict(self._db.execute("SELECT name, value FROM dead_letter_counter").fetchall())
        self._kept = int(counters.get("kept", 0))
        self._pruned = int(counters.get("pruned", 0))
        self._refused = int(counters.get("refused_values", 0))
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(payload) + length(CAST(topic AS BLOB)) "
            f"+ length(CAST(reason AS BLOB)) + {OVERHEAD_BYTES}), 0) FROM dead_letter"
        ).fetchone()
        self._stored, self._stored_bytes = int(row[0]), int(row[1])
        # The loop's side: appends only, under a lock held for a few list operations.
        self._queue: deque[_Letter] = deque()
        self._queue_lock = threading.Lock()
        self._queue_bytes = 0
        self._pruned_unsaved = 0
        self._refused_unsaved = 0
        self._wake = threading.Condition(self._queue_lock)
        self._idle = threading.Condition(self._queue_lock)
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.count = 0
        """Letters handed to `keep` since start (the `dead_letters_total` counter)."""
        self.write_errors = 0
        self.last_error = ""
        self.failing = False
        """True from a failed write to the next one that succeeds."""
        self._unlogged = 0
        self._unlogged_reasons: Counter[str] = Counter()
        self._last_log = float("-inf")

    # the event loop's side

    def keep(
        self, topic: str, payload: bytes, at: datetime, reason: str, then: Then | None = None
    ) -> None:
        """Queue a letter; never waits on the disk. `then` runs once it is committed."""
        size = len(payload) + len(topic.encode()) + len(reason.encode()) + OVERHEAD_BYTES
        letter = _Letter(at.isoformat(), topic, reason, payload, size, then)
        pruned: list[_Letter] = []
        with self._queue_lock:
            self._queue.append(letter)
            self._queue_bytes += size
            while self._queue_bytes > self.max_pending_bytes and len(self._queue) > 1:
                old = self._queue.popleft()
                self._queue_bytes -= old.size
                pruned.append(old)
            self._pruned_unsaved += len(pruned)
            self._wake.notify()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name=f"dead-letters:{self.path.name}", daemon=True
                )
                self._thread.start()
        self.count += 1
        for old in pruned:  # the disk is not keeping up: the oldest give way, acknowledged
            if old.then is not None:
                old.then()

    def refuse(
        self, topic: str, payload: bytes, at: datetime, refusal: Refusal, then: Then | None = None
    ) -> None:
        """Keep a reading's unstorable values (see `gateway.readings.split_storable`)."""
        with self._queue_lock:
            self._refused_unsaved += refusal.values
        self.keep(topic, payload, at, refusal.describe(), then)

    # the writer thread

    def _drain(self) -> None:
        while True:
            with self._queue_lock:
                if not self._queue and not self._stopping:
                    self._wake.wait(timeout=self._until_log())
                if not self._queue and self._stopping:
                    return
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                self._queue_bytes -= sum(letter.size for letter in batch)
                pruned_q, refused = self._pruned_unsaved, self._refused_unsaved
                self._pruned_unsaved = self._refused_unsaved = 0
                self._in_flight = len(batch)
            if not batch:  # woken to log a quiet flood's last count
                self._log_summary()
                continue
            try:
                with self._db_lock:
                    self._write(batch, pruned_q, refused)
            except sqlite3.Error as exc:
                self._failed(batch, pruned_q, refused, exc)
                with self._queue_lock:
                    self._in_flight = 0
                    self._idle.notify_all()
                    if self._stopping:
                        return  # closing on a broken disk: what is left stays unacknowledged
                    self._wake.wait(timeout=self.retry_s)
                continue
            self.failing = False
            with self._queue_lock:
                self._in_flight = 0
                self._idle.notify_all()
            for letter in batch:
                if letter.then is not None:
                    letter.then()
            self._unlogged += len(batch)
            self._unlogged_reasons.update(x.reason.split(":", 1)[0] for x in batch)
            self._log_summary()

    def _write(self, batch: list[_Letter], pruned_q: int, refused: int) -> None:
        db = self._db
        with durable.transaction(db):
            db.executemany(
                "INSERT INTO dead_letter (received_at, topic, reason, payload) VALUES (?,?,?,?)",
                [(x.received_at, x.topic, x.reason, x.payload) for x in batch],
            )
            stored = self._stored + len(batch)
            stored_bytes = self._stored_bytes + sum(x.size for x in batch)
            pruned_rows = pruned_bytes = 0
            if stored_bytes > self.max_bytes:
                pruned_rows, pruned_bytes = self._prune(stored_bytes - self.max_bytes * 9 // 10)
            for name, add in (
                ("kept", len(batch)),
                ("pruned", pruned_rows + pruned_q),
                ("refused_values", refused),
            ):
                if add:
                    db.execute(
                        "INSERT INTO dead_letter_counter (name, value) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                        (name, add),
                    )
        self._stored = stored - pruned_rows
        self._stored_bytes = stored_bytes - pruned_bytes
        self._kept += len(batch)
        self._pruned += pruned_rows + pruned_q
        self._refused += refused

    def _prune(self, excess: int) -> tuple[int, int]:
        """Delete the oldest letters until `excess` bytes are freed (down to 90 % of the bound,
        so that a full store prunes once per many batches, not on every one)."""
        freed = rows = 0
        last_id = None
        cursor = self._db.execute(
            "SELECT id, length(payload) + length(CAST(topic AS BLOB)) "
            f"+ length(CAST(reason AS BLOB)) + {OVERHEAD_BYTES} FROM dead_letter ORDER BY id"
        )
        for letter_id, size in cursor:
            if freed >= excess:
                break
            freed += int(size)
            rows += 1
            last_id = letter_id
        cursor.close()
        if last_id is not None:
            self._db.execute("DELETE FROM dead_letter WHERE id <= ?", (last_id,))
        return rows, freed

    def _failed(
        self, batch: list[_Letter], pruned_q: int, refused: int, exc: sqlite3.Error
    ) -> None:
        """Count the error and put the batch back at the head of the queue for a retry."""
        self.write_errors += 1
        self.last_error = durable.describe(exc)
        self.failing = True
        with self._queue_lock:
            self._queue.extendleft(reversed(batch))
            self._queue_bytes += sum(x.size for x in batch)
            self._pruned_unsaved += pruned_q
            self._refused_unsaved += refused
        if self.write_errors == 1 or self.clock.monotonic() - self._last_log >= LOG_EVERY_S:
            self._last_log = self.clock.monotonic()
            log.error(
                "dead letters cannot be written to %s (%d errors so far, %d letters waiting in "
                "memory): %s",
                self.path,
                self.write_errors,
                len(self._queue),
                self.last_error,
            )

    def _until_log(self) -> float | None:
        if not self._unlogged:
            return None
        return max(0.0, self._last_log + LOG_EVERY_S - self.clock.monotonic())

    def _log_summary(self) -> None:
        if not self._unlogged or self.clock.monotonic() - self._last_log < LOG_EVERY_S:
            return
        self._last_log = self.clock.monotonic()
        top = ", ".join(f"{why} ×{n}" for why, n in self._unlogged_reasons.most_common(3))
        log.warning(
            "%d payloads kept as dead letters since the last report (%s); %d stored, %d pruned",
            self._unlogged,
            top,
            self._stored,
            self._pruned,
        )
        self._unlogged = 0
        self._unlogged_reasons.clear()

    # readers, from any thread but the event loop

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every letter kept so far is committed (or has failed); False on timeout."""
        with self._queue_lock:
            return self._idle.wait_for(
                lambda: (not self._queue or self._thread is None) and not self._in_flight,
                timeout=timeout,
            )

    def recent(self, limit: int = 100) -> list[tuple[str, str, str, bytes]]:
        """The newest letters, newest first: (received_at, topic, reason, payload)."""
        self.flush()
        with self._db_lock:
            rows = self._db.execute(
                "SELECT received_at, topic, reason, payload FROM dead_letter "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def stats(self) -> DeadLetterStats:
        return DeadLetterStats(
            received=self.count,
            kept=self._kept,
            pruned=self._pruned + self._pruned_unsaved,
            stored=self._stored,
            stored_bytes=self._stored_bytes,
            max_bytes=self.max_bytes,
            pending=len(self._queue) + self._in_flight,
            refused_values=self._refused + self._refused_unsaved,
            write_errors=self.write_errors,
            last_error=self.last_error,
        )

    def problems(self) -> list[dict[str, str]]:
        """The store failing, in Chinese for the duty room and in English."""
        if not self.failing:
            return []
        pending = len(self._queue) + self._in_flight
        return [
            {
                "code": "dead_letters_unwritable",
                "zh": (
                    f"网关死信库 {self.path} 写入失败（{self.last_error}），{pending} 条死信暂存"
                    "在内存中，超出上限后丢弃最旧的；请检查磁盘。"
                ),
                "en": (
                    f"The gateway's dead-letter store {self.path} cannot be written "
                    f"({self.last_error}); {pending} letters wait in memory, the oldest pruned "
                    "past its bound. Check the disk."
                ),
                "error": self.last_error,
            }
        ]

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (waiting up to `timeout`), then close the store."""
        with self._queue_lock:
            self._stopping = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._db_lock:
            self._db.close()
