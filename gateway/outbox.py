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
`sync="full"` also survives a power cut, at the cost of an fsync per commit).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from gateway.readings import Quality, Sample

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

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
        counters = dict(self._db.execute("SELECT name, value FROM outbox_counter").fetchall())
        self._dropped_batches = int(counters.get("dropped_batches", 0))
        self._dropped_points = int(counters.get("dropped_points", 0))
        self._superseded = int(counters.get("superseded_states", 0))

    # telemetry lane

    def append_batch(self, samples: list[Sample]) -> int:
        """Keep a batch (committed before returning); evict the oldest past the byte bound."""
        body = encode_samples(samples)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT INTO telemetry_batch (points, bytes, body) VALUES (?,?,?)",
                    (len(samples), len(body), body),
                )
                batches, points = self._batches + 1, self._points + len(samples)
                size = self._bytes + len(body)
                dropped_b, dropped_p, freed = self._evict(batches, size)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._batches = batches - dropped_b
            self._points = points - dropped_p
            self._bytes = size - freed
            self._dropped_batches += dropped_b
            self._dropped_points += dropped_p
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
            for name, add in (("dropped_batches", dropped_b), ("dropped_points", dropped_p)):
                self._db.execute(
                    "INSERT INTO outbox_counter (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                    (name, add),
                )
        return dropped_b, dropped_p, freed

    def oldest_batch(self) -> StoredBatch | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, body FROM telemetry_batch ORDER BY id LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return StoredBatch(int(row[0]), decode_samples(bytes(row[1])))

    def remove_batch(self, batch_id: int) -> None:
        with self._lock:
            row = self._db.execute(
                "DELETE FROM telemetry_batch WHERE id = ? RETURNING points, bytes", (batch_id,)
            ).fetchone()
            if row is not None:
                self._batches -= 1
                self._points -= int(row[0])
                self._bytes -= int(row[1])

    # priority lane

    def append_event(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """Commit an event; a retained one replaces the unsent retained event of its topic."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            superseded = 0
            if retain:
                superseded = self._db.execute(
                    "DELETE FROM priority_event WHERE topic = ? AND retain = 1", (topic,)
                ).rowcount
                if superseded:
                    self._db.execute(
                        "INSERT INTO outbox_counter (name, value) VALUES ('superseded_states', ?)"
                        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                        (superseded,),
                    )
            cur = self._db.execute(
                "INSERT INTO priority_event (topic, payload, retain) VALUES (?,?,?)",
                (topic, payload, int(retain)),
            )
            self._db.execute("COMMIT")
            self._priority += 1 - superseded
            self._superseded += superseded
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
            self._db.execute("BEGIN IMMEDIATE")
            removed = 0
            for event_id in ids:
                removed += self._db.execute(
                    "DELETE FROM priority_event WHERE id = ?", (event_id,)
                ).rowcount
            self._db.execute("COMMIT")
            self._priority -= removed

    # both

    def stats(self) -> OutboxStats:
        return OutboxStats(
            pending_batches=self._batches,
            pending_points=self._points,
            pending_bytes=self._bytes,
            dropped_batches=self._dropped_batches,
            dropped_points=self._dropped_points,
            priority_pending=self._priority,
            superseded_states=self._superseded,
        )

    def file_bytes(self) -> int:
        """Size on disk including the write-ahead log."""
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def describe(self) -> dict[str, Any]:
        s = self.stats()
        return {**s.__dict__, "path": str(self.path), "max_bytes": self.max_bytes}

    def close(self) -> None:
        with self._lock:
            self._db.close()
