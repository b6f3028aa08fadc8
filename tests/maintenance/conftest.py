"""Maintenance fixtures: an empty database on each backend, the example site loaded into it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maintenance.db import Base, Database
from maintenance.registry.service import sync_registry
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.support.postgres import Postgres

MONDAY_10H = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, an ordinary workday


@pytest.fixture(scope="session")
def postgres_db(postgres: Postgres) -> Iterator[Database]:
    """One PostgreSQL database with the current tables for the session, emptied after each test
    (DDL per test would cost more than the tests)."""
    d = Database(postgres.create_database())
    d.create_all()
    yield d
    d.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The current tables on each backend, empty."""
    if request.param == "sqlite":
        d = Database(f"sqlite:///{tmp_path}/propwatch.db")
        d.create_all()
        yield d
        d.dispose()
        return
    shared: Database = request.getfixturevalue("postgres_db")
    yield shared
    with shared.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_10H)


@pytest.fixture
def site(example_site: Site, db: Database, clock: ManualClock) -> Site:
    """The example site (和谐花园) with its registry loaded."""
    with db.session() as s:
        sync_registry(s, example_site, clock.now())
    return example_site
