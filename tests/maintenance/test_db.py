"""The SQLite engines: writers begin IMMEDIATE, a held lock is SQLAlchemy's `database is locked`
(which the API answers 503), and the pool keeps every connection it opens."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

import maintenance.db
from maintenance.db import PoolOptions, make_engine


def test_a_lock_held_by_another_process_is_sqlalchemys_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance.db, "SQLITE_BUSY_TIMEOUT", 0.2)
    path = tmp_path / "site.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(OperationalError, match="database is locked"),
            engine.begin() as conn,
        ):
            conn.execute(text("INSERT INTO t VALUES (1)"))
        reader = make_engine(f"sqlite:///{path}", immediate=False)
        with reader.begin() as conn:  # WAL: a reader needs no lock
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        other.rollback()
        other.close()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
    engine.dispose()


def test_the_pool_keeps_every_connection_instead_of_reopening_overflow_ones(
    tmp_path: Path,
) -> None:
    engine = make_engine(
        f"sqlite:///{tmp_path / 'site.db'}", PoolOptions(size=2, max_overflow=4), immediate=False
    )
    opened: list[Any] = []
    event.listen(engine, "connect", lambda conn, _: opened.append(conn))

    def read(_: int) -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT 1")).scalar_one())

    with ThreadPoolExecutor(6) as pool:
        for _ in range(20):
            assert sum(pool.map(read, range(60))) == 60
    assert len(opened) <= 6
    engine.dispose()


def test_a_writer_waiting_for_another_connections_lock_gets_it_once_released(
    tmp_path: Path,
) -> None:
    path = tmp_path / "site.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, in effect
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")

    def write() -> int:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(write)
        # our writer polls the lock: it cannot begin while the other holds it
        assert not waiting.done()
        other.execute("COMMIT")
        assert waiting.result(timeout=10) == 2  # it saw the other's row: it began after
    other.close()
    engine.dispose()
