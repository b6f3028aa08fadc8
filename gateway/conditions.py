"""Active conditions kept on disk, so a restarted gateway reopens the episodes it held.

Without them a restart forgets every open episode: a fault still present is raised again as a
new episode (a second alarm for one fault), and one that ended while the gateway was down is
never cleared. With them the rules start where they stopped, the same episode ids go into the
first snapshot, and a condition that is gone is cleared by the usual rule (or, when its rule no
longer exists, by the maintenance side's reconciliation with that snapshot).

Writes happen only when an episode opens or closes: one small committed row each, in WAL mode
with `synchronous=NORMAL`, which survives a killed process.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from pydantic import ValidationError

from propwatch.events import ActiveCondition

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
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO active_condition (episode_id, asset_id, body) "
                "VALUES (?, ?, ?)",
                (condition.episode_id, asset_id, condition.model_dump_json()),
            )

    def drop(self, episode_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM active_condition WHERE episode_id = ?", (episode_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
