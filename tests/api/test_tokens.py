"""Tokens: an optional expiry (有效期), the demo's 30-day phone links, weak admin tokens refused at
start, a rate limit per token (限流), and scopes: the company, regions (区域) and sites."""

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
from api.scopes import describe, resolve
from propwatch.clock import ManualClock
from propwatch.runtime import StartRefused, _technician_links, given_admin_token
from propwatch.settings import Settings
from propwatch.site import Site
from tests.api import many_sites
from tests.api.conftest import ADMIN_TOKEN, Tokens, bearer
from tests.api.many_sites import SITES, add_site
from tests.conftest import EXAMPLE_SITE, ROOT
from tests.support.servers import free_port, port_open

ORDERS = "/api/v1/work-orders"

# three sites in two regions, on SQLite and PostgreSQL (see tests/api/many_sites.py)
sites_db, sites_ctx, sites_client, migrated_template = (
    many_sites.sites_db,
    many_sites.sites_ctx,
    many_sites.sites_client,
    many_sites.migrated_template,
)


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


# --- 范围: company, region and site scopes over three sites ---------------------------------


def _scoped(
    client: TestClient, name: str, scopes: list[str], by: str = ADMIN_TOKEN, **body: Any
) -> Any:
    return client.post(
        "/api/v1/tokens",
        json={"name": name, "role": "duty", "sites": scopes, **body},
        headers=bearer(by),
    )


def _token(
    client: TestClient, name: str, scopes: list[str], by: str = ADMIN_TOKEN, **body: Any
) -> str:
    r = _scoped(client, name, scopes, by, **body)
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def _order(client: TestClient, site_id: str, **fields: Any) -> int:
    r = client.post(
        ORDERS,
        json={"site_id": site_id, "title": f"{site_id} 报修", **fields},
        headers=bearer(ADMIN_TOKEN),
    )
    assert r.status_code == 201, r.text
    made: int = r.json()["id"]
    return made


def _order_sites(client: TestClient, token: str) -> list[str]:
    r = client.get(ORDERS, headers=bearer(token))
    assert r.status_code == 200, r.text
    return sorted({o["site_id"] for o in r.json()["items"]})


def test_a_region_token_sees_the_sites_of_its_region_and_no_other(
    sites_client: TestClient,
) -> None:
    for site_id, _, _ in SITES:
        _order(sites_client, site_id)
    east = _token(sites_client, "east-duty", ["region:east"])

    assert _order_sites(sites_client, east) == ["jiaxiu", "yiqing"]
    refused = sites_client.get(ORDERS, params={"site_id": "binghu"}, headers=bearer(east))
    assert refused.status_code == 403
    assert "binghu" not in refused.text


def test_scopes_mix_a_region_and_a_site(sites_client: TestClient) -> None:
    for site_id, _, _ in SITES:
        _order(sites_client, site_id)
    mixed = _token(sites_client, "north-and-jiaxiu", ["region:north", "jiaxiu"])

    assert _order_sites(sites_client, mixed) == ["binghu", "jiaxiu"]


def test_a_region_token_covers_a_site_added_to_its_region_while_running(
    sites_client: TestClient, sites_ctx: AppContext, tmp_path: Path
) -> None:
    east = _token(sites_client, "east-duty", ["region:east"])
    assert _order_sites(sites_client, east) == []  # remembered by the registry from here on

    add_site(sites_ctx, tmp_path / "sites", "dingxiang", "丁香里", "east")
    _order(sites_client, "dingxiang")
    assert _order_sites(sites_client, east) == ["dingxiang"]

    add_site(sites_ctx, tmp_path / "sites", "dingxiang", "丁香里", "north")  # moved away
    assert _order_sites(sites_client, east) == []


def test_a_token_for_an_unknown_region_is_refused_naming_the_field(
    sites_client: TestClient,
) -> None:
    r = _scoped(sites_client, "west", ["jiaxiu", "region:west"])

    assert r.status_code == 422
    assert r.json()["code"] == "unknown_reference"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "sites", "1"]]
    assert "west" in r.json()["errors"][0]["msg"]


def test_a_region_admin_issues_tokens_only_within_its_region(sites_client: TestClient) -> None:
    east_admin = _token(sites_client, "east-admin", ["region:east"], role="admin")

    assert _scoped(sites_client, "e2", ["region:east"], east_admin).status_code == 201
    assert _scoped(sites_client, "y1", ["yiqing"], east_admin).status_code == 201
    for scopes in (["*"], ["region:north"], ["binghu"], ["jiaxiu", "binghu"]):
        refused = _scoped(sites_client, "wider", scopes, east_admin)
        assert refused.status_code == 403, scopes


def test_a_site_admin_cannot_issue_a_token_for_its_own_region(sites_client: TestClient) -> None:
    site_admin = _token(sites_client, "jiaxiu-admin", ["jiaxiu"], role="admin")

    assert _scoped(sites_client, "j2", ["jiaxiu"], site_admin).status_code == 201
    assert _scoped(sites_client, "e", ["region:east"], site_admin).status_code == 403


def test_a_region_admin_lists_and_manages_only_tokens_within_its_scope(
    sites_client: TestClient,
) -> None:
    east_admin = _token(sites_client, "east-admin", ["region:east"], role="admin")
    _token(sites_client, "jiaxiu-duty", ["jiaxiu"])
    _token(sites_client, "binghu-duty", ["binghu"])
    _token(sites_client, "company-duty", ["*"])

    listed = sites_client.get("/api/v1/tokens", headers=bearer(east_admin))
    assert sorted(t["name"] for t in listed.json()) == ["east-admin", "jiaxiu-duty"]
    assert "binghu" not in listed.text
    rotate = "/api/v1/tokens/{}/rotate"
    assert (
        sites_client.post(rotate.format("jiaxiu-duty"), headers=bearer(east_admin)).status_code
        == 200
    )
    for name in ("binghu-duty", "company-duty"):
        assert sites_client.post(rotate.format(name), headers=bearer(east_admin)).status_code == 403
        r = sites_client.delete(f"/api/v1/tokens/{name}", headers=bearer(east_admin))
        assert r.status_code == 403
    assert sites_client.get("/api/v1/audit", headers=bearer(east_admin)).status_code == 403
    assert sites_client.get("/api/v1/audit", headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_a_technician_of_two_sites_sees_and_works_their_own_tasks_in_each(
    sites_client: TestClient,
) -> None:
    mine = [_order(sites_client, s, assignee="wang-gong") for s in ("jiaxiu", "binghu")]
    _order(sites_client, "jiaxiu", assignee="li-shifu")
    _order(sites_client, "yiqing", assignee="wang-gong")  # the same person id, a site not theirs
    r = sites_client.post(
        "/api/v1/tokens",
        json={
            "name": "wang-two-sites",
            "role": "technician",
            "sites": ["jiaxiu", "binghu"],
            "person": "wang-gong",
        },
        headers=bearer(ADMIN_TOKEN),
    )
    assert r.status_code == 201, r.text
    wang = r.json()["token"]

    listed = sites_client.get(ORDERS, headers=bearer(wang)).json()["items"]
    assert sorted(o["id"] for o in listed) == sorted(mine)
    for order_id in mine:
        accepted = sites_client.post(
            f"{ORDERS}/{order_id}/transitions", json={"to": "accepted"}, headers=bearer(wang)
        )
        assert accepted.status_code == 200, accepted.text


def test_a_technician_token_needs_the_person_on_a_roster_of_its_scope(
    sites_client: TestClient,
) -> None:
    r = sites_client.post(
        "/api/v1/tokens",
        json={"name": "t", "role": "technician", "sites": ["region:north"], "person": "nobody"},
        headers=bearer(ADMIN_TOKEN),
    )
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "person"]]
    ok = sites_client.post(
        "/api/v1/tokens",
        json={"name": "t", "role": "technician", "sites": ["region:north"], "person": "li-shifu"},
        headers=bearer(ADMIN_TOKEN),
    )
    assert ok.status_code == 201, ok.text


def test_the_scope_is_described_with_names_for_the_pages(sites_ctx: AppContext) -> None:
    def described(*scopes: str) -> Any:
        raw = Principal("p", ApiRole.DUTY, frozenset(scopes))
        caller = resolve(raw, sites_ctx.organisation, sites_ctx.sites)
        return describe(caller, sites_ctx.organisation, sites_ctx.sites).model_dump()

    region = described("region:east", "binghu")
    assert (region["kind"], region["company"]) == ("regions", "绿苑物业集团")
    assert region["regions"] == [{"id": "east", "name": "华东区域"}]
    assert [(s["id"], s["name"], s["region"]) for s in region["sites"]] == [
        ("binghu", "丙湖湾", "north"),
        ("jiaxiu", "甲秀苑", "east"),
        ("yiqing", "乙清园", "east"),
    ]
    company = described("*")
    assert company["kind"] == "company"
    assert [r["name"] for r in company["regions"]] == ["华东区域", "华北区域"]
    assert len(company["sites"]) == 3
    site = described("yiqing")
    assert (site["kind"], site["regions"], [s["id"] for s in site["sites"]]) == (
        "sites",
        [],
        ["yiqing"],
    )
