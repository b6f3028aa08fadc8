"""Alembic environment: the maintenance metadata, on the caller's connection when given.

`Database.upgrade()` passes its own connection (`config.attributes["connection"]`); the plain
`alembic` command builds one from PROPWATCH_DATABASE_URL. On PostgreSQL an advisory lock makes
replicas that start together migrate one after the other.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

import maintenance.models  # noqa: F401  (registers every table)
from maintenance.db import Base, make_engine
from maintenance.work_orders.search import include_name
from propwatch.settings import Settings

MIGRATION_LOCK = 0x70726F70  # "prop"


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,  # the search index lives outside the metadata
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        context.run_migrations()


def run_online() -> None:
    given: Connection | None = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_online()
