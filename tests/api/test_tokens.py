"""Tokens: an optional expiry (有效期), the demo's 30-day phone links, weak admin tokens refused at
start, and a rate limit per token (限流)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import ApiRole, Principal
from api.deps import AppContext
from api.rate_limit import RateLimiter
from propwatch.clock import ManualClock
from propwatch.runtime import StartRefused, _technician_links, given_admin_token
from propwatch.settings import Settings
from propwatch.site import Site
from tests.api.conftest import ADMIN_TOKEN, Tokens, bearer
from tests.conftest import EXAMPLE_SITE, ROOT
from tests.support.servers import free_port, port_open

ORDERS = "/api/v1/work-orders"


def _issue(client: TestClient, **body: Any) -> Any:
    return client.post(
        "/api/v1/tokens",
        json={"role": "integration", "sites": ["hexie"], **body},
        headers=bearer(ADMIN_TOKEN),
    )


# --- 有效期: expiry ----------------------------------------------------------------------------


def test_a_token_is_refused_once_its_expiry_has_passed(
    client: TestClient, ctx: AppContext, clock: ManualClock
) -> None:
    expires = clock.now() + timedelta(days=7)
    issued = _issue(client, name="tickets-trial", expires_at=expires.isoformat())
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert client.get(ORDERS, headers=bearer(token)).status_code == 200

    clock.advance(timedelta(days=7))  # remembered by the registry a moment ago: refused anyway
    refused = client.get(ORDERS, headers=bearer(token))

    assert refused.status_code == 401
    assert refused.json()["code"] == "token_expired"
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_an_integration_token_without_expiry_keeps_working(
    client: TestClient, tokens: Tokens, clock: ManualClock
) -> None:
    clock.advance(timedelta(days=3650))
    assert client.get(ORDERS, headers=bearer(tokens.integration)).status_code == 200


def test_the_expiry_is_listed_and_survives_a_rotation(
    client: TestClient, clock: ManualClock
) -> None:
    expires = clock.now() + timedelta(days=30)
    _issue(client, name="tickets-rot", expires_at=expires.isoformat())
    rotated = client.post("/api/v1/tokens/tickets-rot/rotate", headers=bearer(ADMIN_TOKEN))
    listed = client.get("/api/v1/tokens", headers=bearer(ADMIN_TOKEN)).json()
    (row,) = [t for t in listed if t["name"] == "tickets-rot"]
    assert (
        rotated.json()["expires_at"]
        == row["expires_at"]
        == expires.isoformat().replace("+00:00", "Z")
    )
    clock.advance(timedelta(days=30))
    again = client.get(ORDERS, headers=bearer(rotated.json()["token"]))
    assert again.status_code == 401


@pytest.mark.parametrize(
    "expires_at",
    [
        "2026-11-23T01:59:59+00:00",  # a second before now
        "2026-12-01T00:00:00",  # no UTC offset
        "2200-01-01T00:00:00+00:00",
    ],
)
def test_an_expiry_in_the_past_without_offset_or_too_far_is_refused(
    client: TestClient, expires_at: str
) -> None:
    answer = _issue(client, name="tickets-bad", expires_at=expires_at)
    assert answer.status_code == 422, answer.text
    listed = client.get("/api/v1/tokens", headers=bearer(ADMIN_TOKEN)).json()
    assert "tickets-bad" not in [t["name"] for t in listed]


def test_demo_phone_links_stop_working_after_30_days(
    client: TestClient, ctx: AppContext, example_site: Site, clock: ManualClock
) -> None:
    text = _technician_links(example_site, ctx.tokens, "http://127.0.0.1:8000", clock.now())
    token = re.findall(r"#token=(\S+)", text)[0]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200

    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


# --- weak admin tokens --------------------------------------------------------------------------


def _env_example_admin_token() -> str:
    text = (ROOT / "deploy" / "systemd" / "propwatch.env.example").read_text()
    found = re.search(r"^PROPWATCH_ADMIN_TOKEN=(.*)$", text, re.MULTILINE)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(
    "token",
    [
        _env_example_admin_token(),
        "change-me",
        "CHANGEME",
        "admin",
        "s3cret-but-short",  # under 24 characters
        "a" * 40,
        "1234567890" * 4,
        "abcdefghijklmnopqrstuvwxyz",
        "adminadminadminadminadmin",
    ],
)
def test_an_example_or_weak_admin_token_is_refused_at_start(token: str) -> None:
    with pytest.raises(StartRefused, match="openssl rand -hex 32"):
        given_admin_token(Settings(admin_token=token))


@pytest.mark.parametrize(
    "token",
    [
        "9f1c2e7a4b6d8e0f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b",  # openssl rand -hex 24
        "pw_hWcocJvYpStSO91QXC0I3VL2CQXsA4Nk",  # what propwatch generates
        "correct-horse-battery-staple-lamp",
    ],
)
def test_a_random_admin_token_is_accepted(token: str) -> None:
    assert given_admin_token(Settings(admin_token=token)) == token


def test_propwatch_api_refuses_to_start_with_the_example_admin_token(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PROPWATCH_ADMIN_TOKEN": "change-me",
        "PROPWATCH_VAR_DIR": str(tmp_path / "var"),
        "PROPWATCH_API_PORT": str(port),
    }
    env.pop("PROPWATCH_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "propwatch.cli", "api", "--site", str(EXAMPLE_SITE)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "PROPWATCH_ADMIN_TOKEN 不安全, 拒绝启动" in done.stderr
    assert "Traceback" not in done.stderr
    assert not port_open(port)


# --- 限流: a rate limit per token ---------------------------------------------------------------


def test_a_token_past_its_rate_gets_429_with_retry_after(
    client: TestClient, ctx: AppContext, tokens: Tokens, clock: ManualClock
) -> None:
    ctx.rate_limiter = RateLimiter(per_second=0.5, burst=3)
    answers = [client.get(ORDERS, headers=bearer(tokens.duty)) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["code"] == "rate_limited"
    assert limited.headers["content-type"] == "application/problem+json"


def test_another_token_is_not_slowed_by_a_busy_one(
    client: TestClient, ctx: AppContext, tokens: Tokens
) -> None:
    ctx.rate_limiter = RateLimiter(per_second=1, burst=2)
    for _ in range(3):
        client.get(ORDERS, headers=bearer(tokens.duty))
    assert client.get(ORDERS, headers=bearer(tokens.integration)).status_code == 200


def test_the_rate_refills_as_time_passes(
    client: TestClient, ctx: AppContext, tokens: Tokens, clock: ManualClock
) -> None:
    ctx.rate_limiter = RateLimiter(per_second=2, burst=2)
    for _ in range(2):
        client.get(ORDERS, headers=bearer(tokens.duty))
    assert client.get(ORDERS, headers=bearer(tokens.duty)).status_code == 429
    clock.advance(0.5)
    assert client.get(ORDERS, headers=bearer(tokens.duty)).status_code == 200
    assert client.get(ORDERS, headers=bearer(tokens.duty)).status_code == 429


def test_an_unknown_token_does_not_spend_a_known_ones_rate(
    client: TestClient, ctx: AppContext, tokens: Tokens
) -> None:
    ctx.rate_limiter = RateLimiter(per_second=1, burst=1)
    for _ in range(5):
        assert client.get(ORDERS, headers=bearer("pw_forged")).status_code == 401
    assert client.get(ORDERS, headers=bearer(tokens.duty)).status_code == 200


def test_rate_limit_figures_come_from_the_settings() -> None:
    settings = Settings(api_rate_limit=5, api_rate_burst=7)
    assert (settings.api_rate_limit, settings.api_rate_burst) == (5.0, 7)
    assert Settings().api_rate_limit > 0  # on unless turned off


def test_a_limited_principal_is_the_token_not_the_role() -> None:
    limiter = RateLimiter(per_second=1, burst=1)
    a = Principal("tech-a", ApiRole.TECHNICIAN, frozenset({"x"}), "a")
    b = Principal("tech-b", ApiRole.TECHNICIAN, frozenset({"x"}), "b")
    assert limiter.take(a.name, 0.0) is None
    assert limiter.take(a.name, 0.0) == pytest.approx(1.0)
    assert limiter.take(b.name, 0.0) is None
