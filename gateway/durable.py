"""What the gateway's own SQLite files (outbox, dead letters) share: transactions that report the
real cause of a failure, and telling a full disk from other storage errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """`BEGIN IMMEDIATE` … `COMMIT`, rolled back on any error without hiding that error.

    On a full disk SQLite rolls the transaction back by itself; a `ROLLBACK` after that fails
    with "cannot rollback - no transaction is active", which would replace "database or disk is
    full" in the traceback and the log. So roll back only an open transaction, and attach a
    failed rollback to the original error as a note instead of raising it.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException as exc:
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error as rollback:
                exc.add_note(f"rollback failed too: {rollback}")
        raise


def is_disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL: the file system (or the file's page limit) has no room left."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_FULL


def describe(exc: BaseException) -> str:
    """The error with SQLite's own code name, e.g. `SQLITE_FULL: database or disk is full`."""
    name = getattr(exc, "sqlite_errorname", None)
    return f"{name}: {exc}" if name else f"{type(exc).__name__}: {exc}"
