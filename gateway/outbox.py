"""The durable outbox (断点续传): what the sink or the broker cannot take now waits here, on disk.

One SQLite file in WAL mode with two lanes:

- **telemetry**: whole batches of samples, replayed oldest first when the sink returns. The lane
  is bounded in bytes; past the bound the *oldest* telemetry batches are dropped and counted
  (`dropped_batches`, `dropped_points`), so the newest readings survive a long outage.
- **priority**: alarm raise/clear and asset-state events bound for MQTT. They are never counted
  against the telemetry bound and never evicted by telemetry overflow; they leave only once the
  broker has acknowledged them. Alarm events are all kept: each is an episode's history. A
  retained state event replaces the unsent state event of the same topic (`superseded_states`),
  since the broker would keep only the last one anyway; so a broker outage of any length holds
  at most one state event per asset, and the lane grows only with alarms.

Every append is one committed transaction before the call returns, so a gateway killed with
SIGKILL loses nothing that was appended (WAL with `synchronous=NORMAL` survives a process crash;
`sync="full"` also survives a power cut, at the cost of an fsync per commit). A failed
transaction raises SQLite's own error (`gateway.durable.transaction`), e.g. SQLITE_FULL.

The counter table also keeps the writer's loss counters (queue full, rejected, lost to a disk
error) and the count of storage errors, so they survive restarts. `count` works while the disk
is full: the figure is kept in memory and saved with the next transaction that succeeds.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from gateway.durable import transaction
from gateway.readings import Quality, Sample

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

COUNTERS = (
    "dropped_batches",
    "dropped_points",
    "superseded_states",
    "queue_full_points",
    "rejected_points",
    "disk_lost_points",
    "storage_errors",
)
"""Kept in `outbox_counter`; the last four are counted by the writer through `Outbox.count`."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS telemetry_batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    points INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS priority_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS priority_event_retained ON priority_event (topic) WHERE retain = 1;
CREATE TABLE IF NOT EXISTS outbox_counter (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def encode_samples(samples: list[Sample]) -> bytes:
    """A compact, exact JSON form: microsecond timestamps, bool/int/float/str kept apart."""
    rows = [
        [
            s.site_id,
            s.asset_id,
            s.device_id,
            s.kind,
            (s.at - EPOCH) // MICROSECOND,
            s.values,
            s.units,
            s.quality.value,
        ]
        for s in samples
    ]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()


def decode_samples(body: bytes) -> list[Sample]:
    return [
        Sample(site, asset, device, kind, EPOCH + us * MICROSECOND, values, units, Quality(q))
        for site, asset, device, kind, us, values, units, q in json.loads(body)
    ]


@dataclass(frozen=True)
class StoredBatch:
    id: int
    samples: list[Sample]


@dataclass(frozen=True)
class StoredEvent:
    id: int
    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True)
class OutboxStats:
    pending_batches: int
    pending_points: int
    pending_bytes: int
    dropped_batches: int
    dropped_points: int
    priority_pending: int
    superseded_states: int
    queue_full_points: int = 0
    rejected_points: int = 0
    disk_lost_points: int = 0
    storage_errors: int = 0


class Outbox:
    """Thread-safe; call it through `asyncio.to_thread` from the event loop."""

    def __init__(
        self,
        path: Path,
        max_bytes: int = 1 << 30,
        sync: Literal["normal", "full"] = "normal",
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={sync.upper()}")
        self._db.executescript(SCHEMA)
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(points), 0), COALESCE(SUM(bytes), 0) "
            "FROM telemetry_batch"
        ).fetchone()
        self._batches, self._points, self._bytes = int(row[0]), int(row[1]), int(row[2])
        self._priority = int(self._db.execute("SELECT COUNT(*) FROM priority_event").fetchone()[0])
        saved = dict(self._db.execute("SELECT name, value FROM outbox_counter").fetchall())
        self._totals = {name: int(saved.get(name, 0)) for name in COUNTERS}
        # Counts not yet in the table; their own lock, so `count` never waits on a transaction.
        self._unsaved: dict[str, int] = {}
        self._count_lock = threading.Lock()

    # counters

    def count(self, name: str, n: int = 1) -> None:
        """Add to a persistent counter without touching the disk now (safe on the event loop)."""
        if name not in self._totals:
            raise KeyError(f"unknown outbox counter {name!r}")
        with self._count_lock:
            self._totals[name] += n
            self._unsaved[name] = self._unsaved.get(name, 0) + n

    def counters(self) -> dict[str, int]:
        """Every counter, saved or not yet saved."""
        with self._count_lock:
            return dict(self._totals)

    @property
    def unsaved_counts(self) -> bool:
        return bool(self._unsaved)

    def save_counts(self) -> None:
        """Write counts made since the last transaction (one small transaction)."""
        with self._lock:
            if not self._unsaved:
                return
            with transaction(self._db):
                saved = self._save_counts()
            self._saved(saved)

    def _save_counts(self) -> dict[str, int]:
        """Inside a transaction: upsert the unsaved counts; `_saved` after the commit."""
        with self._count_lock:
            unsaved = dict(self._unsaved)
        for name, add in unsaved.items():
            self._add_counter(name, add)
        return unsaved

    def _saved(self, saved: dict[str, int]) -> None:
        with self._count_lock:
            for name, add in saved.items():
                left = self._unsaved.get(name, 0) - add
                if left:
                    self._unsaved[name] = left
                else:
                    self._unsaved.pop(name, None)

    def _add_counter(self, name: str, add: int) -> None:
        self._db.execute(
            "INSERT INTO outbox_counter (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, add),
        )

    def _bump(self, name: str, add: int) -> None:
        """After a commit that already saved `add` in the table."""
        with self._count_lock:
            self._totals[name] += add

    # telemetry lane

    def append_batch(self, samples: list[Sample]) -> int:
        """Keep a batch (committed before returning); evict the oldest past the byte bound."""
        body = encode_samples(samples)
        with self._lock:
            with transaction(self._db):
                cur = self._db.execute(
                    "INSERT INTO telemetry_batch (points, bytes, body) VALUES (?,?,?)",
                    (len(samples), len(body), body),
                )
                batches, points = self._batches + 1, self._points + len(samples)
                size = self._bytes + len(body)
                dropped_b, dropped_p, freed = self._evict(batches, size)
                saved = self._save_counts()
            self._saved(saved)
            self._batches = batches - dropped_b
            self._points = points - dropped_p
            self._bytes = size - freed
            self._bump("dropped_batches", dropped_b)
            self._bump("dropped_points", dropped_p)
            assert cur.lastrowid is not None
            return cur.lastrowid

    def _evict(self, batches: int, size: int) -> tuple[int, int, int]:
        """Drop oldest telemetry until under the bound; the newest batch always stays."""
        dropped_b = dropped_p = freed = 0
        while size - freed > self.max_bytes and batches - dropped_b > 1:
            row = self._db.execute(
                "SELECT id, points, bytes FROM telemetry_batch ORDER BY id LIMIT 1"
            ).fetchone()
            self._db.execute("DELETE FROM telemetry_batch WHERE id = ?", (row[0],))
            dropped_b += 1
            dropped_p += int(row[1])
            freed += int(row[2])
        if dropped_b:
            self._add_counter("dropped_batches", dropped_b)
            self._add_counter("dropped_points", dropped_p)
        return dropped_b, dropped_p, freed

    def oldest_batch(self) -> StoredBatch | None:
        return self.batch_after(0)

    def batch_after(self, batch_id: int) -> StoredBatch | None:
        """The oldest batch newer than `batch_id` (ids only grow, never reused)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, body FROM telemetry_batch WHERE id > ? ORDER BY id LIMIT 1",
                (batch_id,),
            ).fetchone()
        if row is None:
            return None
        return StoredBatch(int(row[0]), decode_samples(bytes(row[1])))

    def remove_batch(self, batch_id: int) -> None:
        self.remove_batches([batch_id])

    def remove_batches(self, ids: list[int]) -> None:
        """Delete stored batches in one transaction; ids already gone are no-ops."""
        if not ids:
            return
        with self._lock:
            batches = points = size = 0
            with transaction(self._db):
                for batch_id in ids:
                    row = self._db.execute(
                        "DELETE FROM telemetry_batch WHERE id = ? RETURNING points, bytes",
                        (batch_id,),
                    ).fetchone()
                    if row is not None:
                        batches += 1
                        points += int(row[0])
                        size += int(row[1])
                saved = self._save_counts()
            self._saved(saved)
            self._batches -= batches
            self._points -= points
            self._bytes -= size

    # priority lane

    def append_event(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """Commit an event; a retained one replaces the unsent retained event of its topic."""
        with self._lock:
            superseded = 0
            with transaction(self._db):
                if retain:
                    superseded = self._db.execute(
                        "DELETE FROM priority_event WHERE topic = ? AND retain = 1", (topic,)
                    ).rowcount
                    if superseded:
                        self._add_counter("superseded_states", superseded)
                cur = self._db.execute(
                    "INSERT INTO priority_event (topic, payload, retain) VALUES (?,?,?)",
                    (topic, payload, int(retain)),
                )
            self._priority += 1 - superseded
            self._bump("superseded_states", superseded)
            assert cur.lastrowid is not None
            return cur.lastrowid

    def oldest_events(self, limit: int = 100) -> list[StoredEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, retain FROM priority_event ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredEvent(int(r[0]), r[1], bytes(r[2]), bool(r[3])) for r in rows]

    def remove_events(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            removed = 0
            with transaction(self._db):
                for event_id in ids:
                    removed += self._db.execute(
                        "DELETE FROM priority_event WHERE id = ?", (event_id,)
                    ).rowcount
            self._priority -= removed

    # both

    def stats(self) -> OutboxStats:
        return OutboxStats(
            pending_batches=self._batches,
            pending_points=self._points,
            pending_bytes=self._bytes,
            priority_pending=self._priority,
            **self.counters(),
        )

    def file_bytes(self) -> int:
        """Size on disk including the write-ahead log."""
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def describe(self) -> dict[str, Any]:
        s = self.stats()
        return {**s.__dict__, "path": str(self.path), "max_bytes": self.max_bytes}

    def close(self) -> None:
        """Save pending counts if the disk allows (they are lost otherwise), then close."""
        with self._lock:
            if self._unsaved:
                try:
                    with transaction(self._db):
                        saved = self._save_counts()
                    self._saved(saved)
                except sqlite3.Error as exc:
                    log.error("outbox counters not saved on close, %s: %s", self._unsaved, exc)
            self._db.close()
