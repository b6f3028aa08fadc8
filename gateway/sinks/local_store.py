"""The embedded telemetry store: SQLite with bounded retention, for a laptop or a demo.

Like InfluxDB, it keeps one value per series (kind, site, asset, device, metric) and instant: a
batch written again (the outbox replays a batch whose delete a crash cut short) replaces its
own rows instead of doubling them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

from gateway.durable import describe, transaction
from gateway.readings import Sample
from gateway.sinks import SinkUnavailable
from gateway.sinks.reads import Series, SeriesQuery, StoreUnreachable, at_ns, to_ns

SCHEMA = """
CREATE TABLE IF NOT EXISTS reading (
    ts_ns INTEGER NOT NULL,
    site TEXT NOT NULL,
    asset TEXT NOT NULL,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    metric TEXT NOT NULL,
    num REAL,
    text TEXT
);
"""
# One row per series and instant; its prefix serves the per-asset queries. Files made before
# it had a plain index on (asset, metric, ts_ns) and may hold repeated rows: keep the last.
SERIES_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS reading_series_ts "
    "ON reading (asset, metric, ts_ns, device, kind, site)"
)
DEDUPLICATE = (
    "DELETE FROM reading WHERE rowid NOT IN (SELECT MAX(rowid) FROM reading "
    "GROUP BY asset, metric, ts_ns, device, kind, site)"
)


class LocalStore:
    """A readings table; values numeric where they can be (bools as 0/1)."""

    name = "local"

    def __init__(self, path: Path, retention: timedelta = timedelta(days=30)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention = retention
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        try:
            self._db.execute(SERIES_INDEX)
        except sqlite3.IntegrityError:
            self._db.execute(DEDUPLICATE)
            self._db.execute(SERIES_INDEX)
        self._db.execute("DROP INDEX IF EXISTS reading_asset_metric_ts")
        self._writes = 0

    def write_sync(self, samples: list[Sample]) -> None:
        rows: list[tuple[int, str, str, str, str, str, float | None, str | None]] = []
        for s in samples:
            ts = int(s.at.timestamp() * 1e9)
            for metric, v in s.values.items():
                if isinstance(v, str):
                    rows.append((ts, s.site_id, s.asset_id, s.device_id, s.kind, metric, None, v))
                else:
                    rows.append(
                        (ts, s.site_id, s.asset_id, s.device_id, s.kind, metric, float(v), None)
                    )
        with self._lock:
            try:
                with transaction(self._db):
                    self._db.executemany(
                        "INSERT OR REPLACE INTO reading VALUES (?,?,?,?,?,?,?,?)", rows
                    )
                    if (self._writes + 1) % 1000 == 0 and samples:
                        self._expire(samples[-1].at)
            except sqlite3.Error as exc:
                # A full or failing disk: the writer keeps the batch and tries again later.
                raise SinkUnavailable(f"local store write failed: {describe(exc)}") from exc
            self._writes += 1

    def _expire(self, now: datetime) -> None:
        cutoff = int((now - self.retention).timestamp() * 1e9)
        self._db.execute("DELETE FROM reading WHERE ts_ns < ?", (cutoff,))

    async def write(self, samples: list[Sample]) -> None:
        await asyncio.to_thread(self.write_sync, samples)

    def latest(self, asset_id: str) -> dict[str, float | str | None]:
        """The newest value of every metric of an asset."""
        with self._lock:
            rows = self._db.execute(
                "SELECT metric, num, text FROM reading r WHERE asset = ? AND ts_ns = "
                "(SELECT MAX(ts_ns) FROM reading WHERE asset = r.asset AND metric = r.metric)",
                (asset_id,),
            ).fetchall()
        return {m: (t if t is not None else n) for m, n, t in rows}

    def count(self, asset_id: str | None = None) -> int:
        with self._lock:
            if asset_id is None:
                return int(self._db.execute("SELECT COUNT(*) FROM reading").fetchone()[0])
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM reading WHERE asset = ?", (asset_id,)
                ).fetchone()[0]
            )

    async def close(self) -> None:
        with self._lock:
            self._db.close()


class LocalStoreReader:
    """Window means from the local store's file, for the API (which may run in another process
    than the gateway that writes it): a read-only connection per read, in the caller's thread.
    A file not written yet has no readings, not an error."""

    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, query: SeriesQuery) -> list[Series]:
        if not self.path.exists():
            return [Series(p, []) for p in query.points]
        step_ns = query.step * 1_000_000_000
        start_ns, stop_ns = to_ns(query.start), to_ns(query.stop)
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
            try:
                return [
                    Series(point, self._means(db, query, point, start_ns, stop_ns, step_ns))
                    for point in query.points
                ]
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise StoreUnreachable(f"local store read failed: {describe(exc)}") from exc

    @staticmethod
    def _means(
        db: sqlite3.Connection,
        query: SeriesQuery,
        point: str,
        start_ns: int,
        stop_ns: int,
        step_ns: int,
    ) -> list[tuple[datetime, float]]:
        # One index range per window: a GROUP BY over the windows sorts every reading in a
        # temporary B-tree first (48 ms for a day of 1 s readings here, against 15 ms).
        rows = db.execute(
            "WITH RECURSIVE w(t) AS (SELECT ? UNION ALL SELECT t + ? FROM w WHERE t + ? < ?) "
            "SELECT t, (SELECT AVG(num) FROM reading WHERE asset = ? AND metric = ? "
            "AND ts_ns >= t AND ts_ns < t + ? AND site = ? AND num IS NOT NULL) FROM w",
            (start_ns, step_ns, step_ns, stop_ns, query.asset, point, step_ns, query.site),
        ).fetchall()
        return [(at_ns(t), float(mean)) for t, mean in rows if mean is not None]

    def close(self) -> None:
        pass
