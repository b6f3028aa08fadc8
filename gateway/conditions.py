"""Active conditions kept on disk, so a restarted gateway reopens the episodes it held.

Without them a restart forgets every open episode: a fault still present is raised again as a
new episode (a second alarm for one fault), and one that ended while the gateway was down is
never cleared. With them the rules start where they stopped, the same episode ids go into the
first snapshot, and a condition that is gone is cleared by the usual rule (or, when its rule no
longer exists, by the maintenance side's reconciliation with that snapshot).

Writes happen only when an episode opens or closes: one small committed row each, in WAL mode
with `synchronous=NORMAL`, which survives a killed process. A write the disk refuses (full) is
counted and logged, never raised into the poll that raised the alarm: the rules keep the state in
memory, and after a restart the first snapshot and reconciliation settle what the file missed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from pydantic import ValidationError

from gateway.durable import describe
from propwatch.events import ActiveCondition

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS active_condition (
    episode_id TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


class ConditionStore:
    """Thread-safe; each call is one short transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.unreadable = 0
        self.write_errors = 0

    def load(self) -> list[tuple[str, ActiveCondition]]:
        """Every held condition with its asset; a row that no longer parses is dropped, counted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT episode_id, asset_id, body FROM active_condition ORDER BY rowid"
            ).fetchall()
        held: list[tuple[str, ActiveCondition]] = []
        for episode_id, asset_id, body in rows:
            try:
                held.append((asset_id, ActiveCondition.model_validate_json(body)))
            except ValidationError:
                self.unreadable += 1
                self.drop(episode_id)
        return held

    def hold(self, asset_id: str, condition: ActiveCondition) -> None:
        self._write(
            "INSERT OR REPLACE INTO active_condition (episode_id, asset_id, body) VALUES (?, ?, ?)",
            (condition.episode_id, asset_id, condition.model_dump_json()),
        )

    def drop(self, episode_id: str) -> None:
        self._write("DELETE FROM active_condition WHERE episode_id = ?", (episode_id,))

    def _write(self, sql: str, args: tuple[str, ...]) -> None:
        try:
            with self._lock:
                self._db.execute(sql, args)
        except sqlite3.Error as exc:
            self.write_errors += 1
            if self.write_errors == 1 or self.write_errors % 100 == 0:
                log.error(
                    "active conditions not saved: %s (%d errors)", describe(exc), self.write_errors
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()
