"""Fixtures for the integration calls (PATCH, search, comments, attachments, bulk): the API on a
migrated SQLite file **and** PostgreSQL database, and the example site with tags and custom
fields declared in its site file.

Import `db` and `example_site` into a test module to override the SQLite-only ones of
`tests/api/conftest.py`; its `ctx`, `tokens` and `client` then run on both backends. PostgreSQL
databases are copies of one migrated template, so each test starts from the migrations' schema
(the search indexes included) without running them again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from maintenance.db import Database
from propwatch.site import Site, load_site
from tests.api.conftest import bearer
from tests.conftest import EXAMPLE_SITE
from tests.support.postgres import Postgres

WORK_ORDER_FIELDS = """
work_orders:
  tags: [漏水, 噪音, 业主投诉, 电梯困人, 电梯]
  custom_fields:
    - {id: floor, name: 楼层, type: integer}
    - {id: channel, name: 报修渠道, type: choice, choices: [电话, 微信, 前台]}
    - {id: phone, name: 联系电话, type: text, max_length: 20}
    - {id: visit_on, name: 预约上门日期, type: date}
    - {id: called_back, name: 已回电, type: boolean}
"""


@pytest.fixture(scope="session")
def migrated_template(postgres: Postgres) -> str:
    """A PostgreSQL database migrated to head, only ever copied (CREATE DATABASE … TEMPLATE)."""
    url = postgres.create_database()
    d = Database(url)
    d.upgrade()
    d.dispose()
    return url.rsplit("/", 1)[1]


def migrated_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The migrated schema on the fixture's backend: a SQLite file, or a PostgreSQL database
    copied from `migrated_template`."""
    if request.param == "sqlite":
        d = Database(f"sqlite:///{tmp_path}/api.db")
        d.upgrade()
        yield d
        d.dispose()
        return
    pg: Postgres = request.getfixturevalue("postgres")
    url = pg.create_database(template=request.getfixturevalue("migrated_template"))
    d = Database(url)
    yield d
    d.dispose()
    pg.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The migrated schema, on a SQLite file and on a PostgreSQL database."""
    yield from migrated_database(request, tmp_path)


@pytest.fixture
def example_site(tmp_path: Path) -> Site:
    """和谐花园 with a `work_orders` section: tags and custom fields, loaded from YAML."""
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    path.write_text(EXAMPLE_SITE.read_text(encoding="utf-8") + WORK_ORDER_FIELDS, "utf-8")
    return load_site(path)


def create_order(client: TestClient, token: str, site: Site, **fields: Any) -> dict[str, Any]:
    """A new work order through the API (201), as its detail."""
    body = {"site_id": site.id, "title": "3 号楼 2 单元楼道灯不亮", "category": "lighting"}
    r = client.post("/api/v1/work-orders", json={**body, **fields}, headers=bearer(token))
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


def patch(
    client: TestClient, token: str, order: dict[str, Any], etag: str | None = None, **fields: Any
) -> httpx.Response:
    """PATCH with the order's ETag (or `etag`) as If-Match."""
    headers = {**bearer(token), "If-Match": etag if etag is not None else order["etag"]}
    r: httpx.Response = client.patch(
        f"/api/v1/work-orders/{order['id']}", json=fields, headers=headers
    )
    return r
