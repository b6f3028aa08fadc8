"""API fixtures: a migrated SQLite database with the example site, tokens of each role."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import ApiRole, Principal, TokenRegistry, issue_token
from api.deps import AppContext
from maintenance.db import Database
from maintenance.registry.service import sync_registry
from propwatch.clock import ManualClock
from propwatch.site import Site

MONDAY_10H = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a workday
ADMIN_TOKEN = "pw_test-admin-token"


@dataclass
class Tokens:
    admin: str
    duty: str
    technician: str  # wang-gong
    other_technician: str  # li-shifu
    integration: str
    other_site: str  # a duty token for a site that is not this one


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_10H)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path}/api.db")
    d.upgrade()
    yield d
    d.dispose()


@pytest.fixture
def ctx(db: Database, example_site: Site, clock: ManualClock, tmp_path: Path) -> AppContext:
    return make_ctx(db, example_site, clock, tmp_path / "var")


def make_ctx(
    db: Database, example_site: Site, clock: ManualClock, var_dir: Path | None = None
) -> AppContext:
    with db.session() as s:
        sync_registry(s, example_site, clock.now())
    registry = TokenRegistry()
    registry.add(ADMIN_TOKEN, Principal("admin", ApiRole.ADMIN, frozenset({"*"})))
    return AppContext(
        db=db,
        sites={example_site.id: example_site},
        clock=clock,
        tokens=registry,
        stream_poll_seconds=0.05,
        var_dir=var_dir or Path(tempfile.mkdtemp(prefix="propwatch-var-")),
    )


@pytest.fixture
def tokens(ctx: AppContext, example_site: Site) -> Tokens:
    return make_tokens(ctx, example_site)


def make_tokens(ctx: AppContext, example_site: Site) -> Tokens:
    site, clock = example_site.id, ctx.clock
    with ctx.db.session() as s:

        def make(name: str, role: ApiRole, sites: list[str], person: str | None = None) -> str:
            return issue_token(s, name=name, role=role, sites=sites, person=person, now=clock.now())

        return Tokens(
            admin=ADMIN_TOKEN,
            duty=make("duty", ApiRole.DUTY, [site]),
            technician=make("wang", ApiRole.TECHNICIAN, [site], "wang-gong"),
            other_technician=make("li", ApiRole.TECHNICIAN, [site], "li-shifu"),
            integration=make("tickets", ApiRole.INTEGRATION, [site]),
            other_site=make("elsewhere", ApiRole.DUTY, ["another-site"]),
        )


@pytest.fixture
def app(ctx: AppContext) -> FastAPI:
    return create_app(ctx)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
