"""Dead letters: every payload we could not use, kept with topic, time, reason and bytes."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path


class DeadLetters:
    """A small SQLite table; counted, never silently dropped."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letter (id INTEGER PRIMARY KEY, received_at TEXT, "
            "topic TEXT, reason TEXT, payload BLOB)"
        )
        self._lock = threading.Lock()
        self.count = 0

    def keep(self, topic: str, payload: bytes, at: datetime, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO dead_letter (received_at, topic, reason, payload) VALUES (?,?,?,?)",
                (at.isoformat(), topic, reason, payload),
            )
        self.count += 1

    def recent(self, limit: int = 100) -> list[tuple[str, str, str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT received_at, topic, reason, payload FROM dead_letter "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
