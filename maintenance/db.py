"""Database: SQLAlchemy 2 engine and sessions; SQLite by default, PostgreSQL in production.

The schema belongs to the Alembic migrations in `maintenance/migrations/` (`upgrade()`,
`propwatch db upgrade`); `create_all()` is a shortcut for throwaway databases in tests.

SQLite runs in WAL mode (readers never wait for the writer) with a busy timeout, and its
transactions begin IMMEDIATE: writers queue on the database lock (up to `SQLITE_BUSY_TIMEOUT`)
instead of failing when two of them read first and then both try to write, the SQLite shape of
two replicas racing for the same alarm. Reads that need no lock take `Database.reader`, an engine
whose transactions begin DEFERRED. PostgreSQL runs READ COMMITTED; unique constraints settle
races there.

Connection pools are sized by `PoolOptions` (from the `PROPWATCH_DATABASE_POOL_*` settings): a
caller that finds every connection busy waits at most `timeout` seconds and then gets
`sqlalchemy.exc.TimeoutError`, which the API answers with 503 and `Retry-After` (连接池已满)
rather than queueing without end.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

    from propwatch.settings import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for the database lock before `database is locked`."""

SQLITE_LOCK_POLL = 0.002
"""The longest pause between a SQLite writer's attempts at the lock. SQLite's own busy handler
sleeps up to 100 ms between attempts, so a writer of another process (a second API process, the
maintenance service) waited about half that after each commit it queued behind; at 33 writes a
second from two API processes, creates took 2 s instead of 70 ms (`bench.api_load --replicas
2`). An attempt costs microseconds, so polling this often costs nothing worth counting."""


@dataclass(frozen=True)
class PoolOptions:
    """连接池: connections kept open, extra ones allowed under load, and how long a caller waits
    for a free one before `sqlalchemy.exc.TimeoutError`; the defaults are the settings'."""

    size: int = 10
    max_overflow: int = 10
    timeout: float = 5.0


def _sqlite_pragmas(engine: Engine, *, immediate: bool, synchronous: str | None) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        if synchronous is not None:
            cur.execute(f"PRAGMA synchronous={synchronous}")
        if immediate:
            # the writer's wait for the lock is `_take_write_lock`'s, not SQLite's busy handler
            cur.execute("PRAGMA busy_timeout=0")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # straight to the driver: through `exec_driver_sql` this one statement cost a tenth of
        # the API's CPU under load (statement cache, events, result set for nothing)
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        try:
            if immediate:
                _take_write_lock(driver)
            else:
                driver.execute(begin)
        except sqlite3.Error as exc:  # wrapped as SQLAlchemy would (`database is locked`: 503)
            raise DBAPIError.instance(begin, None, exc, sqlite3.Error) from exc


def _take_write_lock(driver: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, trying again every `SQLITE_LOCK_POLL` at most while another connection
    writes, for up to `SQLITE_BUSY_TIMEOUT` (then SQLite's `database is locked`)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    pause = 0.0002
    while True:
        try:
            driver.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # BUSY_RECOVERY too
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, SQLITE_LOCK_POLL)


def make_engine(
    url: str,
    pool: PoolOptions | None = None,
    *,
    immediate: bool = True,
    synchronous: str | None = None,
) -> Engine:
    """An engine for `url`; on SQLite, `immediate=False` makes one for reads (no write lock) and
    `synchronous` sets the pragma of its connections (default: SQLite's, FULL)."""
    pool = pool or PoolOptions()
    sizing: dict[str, Any] = {
        "pool_size": pool.size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.timeout,
    }
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # every connection kept: an overflow connection is closed on return and the next one
        # pays the file open and the pragmas again, which under load was 7 % of the API's CPU
        sizing |= {"pool_size": pool.size + pool.max_overflow, "max_overflow": 0}
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT},
            **sizing,
        )
        _sqlite_pragmas(engine, immediate=immediate, synchronous=synchronous)
        return engine
    if url.startswith("sqlite:"):  # in memory: one connection, no pool to size
        engine = create_engine(url, connect_args={"check_same_thread": False})
        _sqlite_pragmas(engine, immediate=immediate, synchronous=synchronous)
        return engine
    return create_engine(url, pool_pre_ping=True, **sizing)


class Database:
    """An engine and its session factory, and on SQLite a second engine for reads."""

    def __init__(self, url: str, pool: PoolOptions | None = None) -> None:
        self.url = url
        self.pool = pool or PoolOptions()
        self.engine = make_engine(url, self.pool)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reader: Engine | None = None
        self._bookkeeping: Engine | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database of `PROPWATCH_DATABASE_URL`, pools sized by `PROPWATCH_DATABASE_POOL_*`."""
        return cls(
            settings.resolved_database_url(),
            PoolOptions(
                size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
                timeout=settings.database_pool_timeout,
            ),
        )

    @property
    def reader(self) -> Engine:
        """The engine for reads. On SQLite the main engine begins every transaction IMMEDIATE
        (the write lock); reads need no lock in WAL mode, so they get an engine of their own that
        lets any number of them run beside one writer. On PostgreSQL it is the main engine."""
        if self._reader is None:
            if self.url.startswith("sqlite:///"):
                self._reader = make_engine(self.url, self.pool, immediate=False)
            else:
                self._reader = self.engine
        return self._reader

    def create_all(self) -> None:
        import maintenance.models  # noqa: F401  (registers every table)

        Base.metadata.create_all(self.engine)

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema to `revision` (Alembic); a no-op when already there.

        A database made by `create_all()` before migrations existed is refused rather than
        guessed at: it has tables but no `alembic_version`.
        """
        from alembic import command

        with self.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        if tables and "alembic_version" not in tables:
            raise RuntimeError(
                f"数据库 {self.url} 不是由迁移创建的，无法升级 "
                f"(database has tables but no alembic_version; start from an empty database)"
            )
        with self.engine.begin() as conn:
            config = migration_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)

    def revision(self) -> str | None:
        """The migration revision the database is at (None before the first upgrade)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @property
    def bookkeeping(self) -> Engine:
        """The engine for small bookkeeping writes (the API's idempotency keys). On SQLite its
        commits do not wait for the disk (synchronous=NORMAL): the next ordinary commit makes
        them durable, and the log keeps their order, so a power cut can lose the last few but
        never one whose later work survived. On PostgreSQL it is the main engine (its
        transactions set `synchronous_commit` off, to the same effect)."""
        if self._bookkeeping is None:
            if self.url.startswith("sqlite:///"):
                self._bookkeeping = make_engine(self.url, self.pool, synchronous="NORMAL")
            else:
                self._bookkeeping = self.engine
        return self._bookkeeping

    @contextmanager
    def bookkeeping_session(self) -> Iterator[Session]:
        """A unit of bookkeeping (see `bookkeeping`): committed on success, rolled back on error."""
        with Session(self.bookkeeping, expire_on_commit=False) as s, s.begin():
            if self.bookkeeping.dialect.name == "postgresql":
                s.execute(text("SET LOCAL synchronous_commit TO OFF"))
            yield s

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        with self.sessions() as s, s.begin():
            yield s

    def dispose(self) -> None:
        for extra in (self._reader, self._bookkeeping):
            if extra is not None and extra is not self.engine:
                extra.dispose()
        self.engine.dispose()


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migration_config() -> Config:
    """Alembic's config for the packaged migrations, wherever the package is installed."""
    from alembic.config import Config

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
