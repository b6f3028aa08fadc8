"""schemathesis with every check (`st run --checks all`) against a real uvicorn server on SQLite
and PostgreSQL: no 5xx, and no answer outside the published schema (status codes, bodies,
content types, `Allow` on 405, refusals of invalid data, authentication on every operation).

What a schema-valid request may still be refused with, and why, is in `schemathesis.toml` beside
this file. The seed is fixed so that a run can be repeated; the rows with id 1 exist (an order,
an alarm) so that the boundary values schemathesis tries first reach real rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.deps import AppContext
from maintenance.db import Database
from propwatch.events import Severity
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.live import serve
from tests.api.pages import raise_alarm

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
EXAMPLES_PER_OPERATION = 15
SEED = 20261123


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The migrated schema on each backend (the API's own fixture is SQLite only)."""
    d = Database(database_url)
    d.upgrade()
    yield d
    d.dispose()


def _seed(base: str, ctx: AppContext, site: Site, tokens: Tokens) -> None:
    order = httpx.post(
        f"{base}/api/v1/work-orders",
        json={"site_id": site.id, "title": "水泵异响", "asset": "pump-1"},
        headers=bearer(tokens.duty),
    )
    assert order.status_code == 201 and order.json()["id"] == 1, order.text
    ago = timedelta(minutes=1)
    assert raise_alarm(ctx, site, "pump-1", Severity.MAJOR, "出水压力低", ago=ago) == 1


def test_every_schemathesis_check_passes_on_every_operation(
    ctx: AppContext, tokens: Tokens, example_site: Site, tmp_path: Path
) -> None:
    with serve(create_app(ctx)) as base:
        _seed(base, ctx, example_site, tokens)
        run = subprocess.run(
            [
                *(sys.executable, "-m", "schemathesis.cli"),
                *("--config-file", str(CONFIG)),
                "run",
                f"{base}/openapi.json",
                *("--checks", "all"),
                *("--header", f"Authorization: Bearer {tokens.admin}"),
                # endless by design; tested in test_stream.py
                *("--exclude-path", "/api/v1/stream"),
                *("--max-examples", str(EXAMPLES_PER_OPERATION)),
                *("--seed", str(SEED)),
                *("--workers", "1"),
                *("--request-timeout", "30"),
                "--no-color",
            ],
            cwd=tmp_path,  # schemathesis keeps its cache of failures in the working directory
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    assert run.returncode == 0, run.stdout[-30000:] + run.stderr[-5000:]
