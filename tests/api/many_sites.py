"""Three properties in two regions of one company, for tests of token scopes and isolation.

甲秀苑 and 乙清园 are in 华东区域, 丙湖湾 in 华北区域. Each is the example site under another id
and name, its asset names prefixed with the site's name, so anything of one site that shows in
an answer for another is recognised by its id, its name or an asset's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import ApiRole, Principal, TokenRegistry
from api.deps import AppContext
from maintenance.db import Database
from maintenance.registry.service import sync_registry
from propwatch.clock import ManualClock
from propwatch.organisation import Organisation, load_organisation
from propwatch.site import Site, load_site
from tests.api.conftest import ADMIN_TOKEN, MONDAY_10H
from tests.api.integration import migrated_database, migrated_template
from tests.support.sites import copy_example_site

ORGANISATION = """\
company: {id: lvyuan, name: 绿苑物业集团}
regions:
  - {id: east, name: 华东区域}
  - {id: north, name: 华北区域}
"""

# (site id, name, region)
SITES = (
    ("jiaxiu", "甲秀苑", "east"),
    ("yiqing", "乙清园", "east"),
    ("binghu", "丙湖湾", "north"),
)


def write_sites(folder: Path) -> tuple[Organisation, dict[str, Site]]:
    """The organisation file and the three site files in `folder`, loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "organisation.yaml").write_text(ORGANISATION, encoding="utf-8")
    sites = {
        sid: load_site(copy_example_site(folder, sid, name, region=region))
        for sid, name, region in SITES
    }
    return load_organisation(folder / "organisation.yaml"), sites


def add_site(ctx: AppContext, folder: Path, site_id: str, name: str, region: str | None) -> Site:
    """A site file dropped in while running: registered, and a new snapshot of the sites."""
    site = load_site(copy_example_site(folder, site_id, name, region=region))
    with ctx.db.session() as s:
        sync_registry(s, site, ctx.clock.now())
    ctx.sites = {**ctx.sites, site_id: site}
    return site


def many_sites_ctx(db: Database, folder: Path, clock: ManualClock, var_dir: Path) -> AppContext:
    organisation, sites = write_sites(folder)
    with db.session() as s:
        for site in sites.values():
            sync_registry(s, site, clock.now())
    registry = TokenRegistry()
    registry.add(ADMIN_TOKEN, Principal("admin", ApiRole.ADMIN, frozenset({"*"})))
    return AppContext(
        db=db,
        sites=sites,
        clock=clock,
        tokens=registry,
        stream_poll_seconds=0.05,
        var_dir=var_dir,
        organisation=organisation,
    )


__all__ = ["migrated_template"]  # sites_db's template: import it beside the fixtures below


@pytest.fixture(params=["sqlite", "postgresql"])
def sites_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The migrated schema on a SQLite file and on a PostgreSQL database (a template copy)."""
    yield from migrated_database(request, tmp_path)


@pytest.fixture
def sites_ctx(sites_db: Database, tmp_path: Path) -> AppContext:
    return many_sites_ctx(sites_db, tmp_path / "sites", ManualClock(MONDAY_10H), tmp_path / "var")


@pytest.fixture
def sites_client(sites_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(sites_ctx), raise_server_exceptions=False) as c:
        yield c
