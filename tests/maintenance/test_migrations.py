"""The Alembic chain builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import maintenance.models  # noqa: F401  (registers every table)
from maintenance.db import Base, Database, migration_config
from maintenance.work_orders.search import include_name


def test_upgrade_head_on_an_empty_database_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(
                    conn, opts={"compare_type": True, "include_name": include_name}
                ),
                Base.metadata,
            )
    finally:
        db.dispose()
    assert diff == [], f"models and migrations differ; add a revision for: {diff}"


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.upgrade()
        db.upgrade()
        head = ScriptDirectory.from_config(migration_config()).get_current_head()
        assert db.revision() == head
    finally:
        db.dispose()


def test_the_revision_chain_has_one_head() -> None:
    heads = ScriptDirectory.from_config(migration_config()).get_heads()
    assert len(heads) == 1, f"migration branches need a merge revision: {heads}"


def test_db_upgrade_command_works_from_any_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    env = {**os.environ, "PROPWATCH_DATABASE_URL": url, "PROPWATCH_VAR_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "propwatch.cli", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    db = Database(url)
    try:
        assert db.revision() is not None
    finally:
        db.dispose()


def test_a_database_built_without_migrations_is_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/legacy.db")
    db.create_all()
    try:
        with pytest.raises(RuntimeError, match="alembic_version"):
            db.upgrade()
    finally:
        db.dispose()
