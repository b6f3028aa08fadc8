"""`GET /api/v1/overview` and `GET /api/v1/reports/league` over three sites in two regions,
with company, region and site tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import ApiRole, issue_token
from api.deps import AppContext
from maintenance.work_orders.models import Status
from maintenance.work_orders.service import transition
from propwatch.events import Severity
from tests.api import many_sites
from tests.api.conftest import bearer
from tests.maintenance.helpers import order
from tests.support.three_sites import raise_on

# three sites in two regions, on SQLite and PostgreSQL (see tests/api/many_sites.py)
sites_db, sites_ctx, sites_client, migrated_template = (
    many_sites.sites_db,
    many_sites.sites_ctx,
    many_sites.sites_client,
    many_sites.migrated_template,
)


_names = count(1)


def _token(ctx: AppContext, scopes: list[str], role: ApiRole = ApiRole.DUTY) -> str:
    with ctx.db.session() as s:
        return issue_token(
            s,
            name=f"{role}-{next(_names)}",
            role=role,
            sites=scopes,
            person=None,
            now=ctx.clock.now(),
        )


def _get(client: TestClient, path: str, token: str, **params: str) -> Any:
    r = client.get(path, params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def seeded(sites_ctx: AppContext) -> AppContext:
    """丙湖湾 has an emergency, 乙清园 an order 30 hours old, 甲秀苑 is quiet."""
    ctx, now = sites_ctx, sites_ctx.clock.now()
    with ctx.db.session() as s:
        raise_on(s, ctx.sites["binghu"], "pump-1", Severity.CRITICAL, "出水压力过低", now)
        order(s, ctx.sites["yiqing"], now - timedelta(hours=30))
    return ctx


def test_a_company_token_sees_every_site_the_worst_first_with_region_names(
    seeded: AppContext, sites_client: TestClient
) -> None:
    view = _get(sites_client, "/api/v1/overview", _token(seeded, ["*"]))
    assert [(r["site_id"], r["name"], r["region_name"]) for r in view["sites"]] == [
        ("binghu", "丙湖湾", "华北区域"),
        ("yiqing", "乙清园", "华东区域"),
        ("jiaxiu", "甲秀苑", "华东区域"),
    ]
    binghu, yiqing, _ = view["sites"]
    assert binghu["alarms"]["critical"] == 1 and binghu["alarms"]["unacknowledged"] == 1
    assert binghu["open_orders"] == 1  # the emergency's own order
    assert (yiqing["open_orders"], yiqing["overdue_orders"]) == (1, 1)
    # at 10:00 "tonight" is the night that began yesterday, whose check made no patrol here
    assert binghu["lighting"]["state_zh"] == "尚无巡查工单"
    assert binghu["devices"] == 4


def test_a_region_token_sees_its_regions_sites_and_nothing_of_the_other(
    seeded: AppContext, sites_client: TestClient
) -> None:
    east = _token(seeded, ["region:east"])
    view = _get(sites_client, "/api/v1/overview", east)
    assert [r["site_id"] for r in view["sites"]] == ["yiqing", "jiaxiu"]
    assert "丙湖湾" not in str(view) and "binghu" not in str(view)
    north = sites_client.get("/api/v1/overview?region=north", headers=bearer(east))
    unknown = sites_client.get("/api/v1/overview?region=nowhere", headers=bearer(east))
    assert north.status_code == unknown.status_code == 404
    assert north.json()["detail"].replace("north", "?") == unknown.json()["detail"].replace(
        "nowhere", "?"
    )
    assert north.headers["content-type"].startswith("application/problem+json")


def test_the_region_filter_narrows_a_company_token(
    seeded: AppContext, sites_client: TestClient
) -> None:
    view = _get(sites_client, "/api/v1/overview", _token(seeded, ["*"]), region="north")
    assert [r["site_id"] for r in view["sites"]] == ["binghu"]


def test_a_site_token_sees_only_its_site_and_a_technician_is_refused(
    seeded: AppContext, sites_client: TestClient
) -> None:
    view = _get(sites_client, "/api/v1/overview", _token(seeded, ["jiaxiu"]))
    assert [r["site_id"] for r in view["sites"]] == ["jiaxiu"]
    tech = _token(seeded, ["*"], ApiRole.TECHNICIAN)
    assert sites_client.get("/api/v1/overview", headers=bearer(tech)).status_code == 403


def _fix(ctx: AppContext, site_id: str, hours: float) -> None:
    site = ctx.sites[site_id]
    reported = ctx.clock.now() - timedelta(days=10)
    with ctx.db.session() as s:
        wo = order(s, site, reported, alarm_type="low_outlet_pressure")
        for to in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
            transition(
                s, site.spec, wo.id, to, actor="wang-gong", now=reported + timedelta(hours=hours)
            )


def test_the_league_ranks_the_visible_sites_and_their_zones_for_the_month(
    sites_ctx: AppContext, sites_client: TestClient
) -> None:
    _fix(sites_ctx, "jiaxiu", 2)
    _fix(sites_ctx, "binghu", 30)  # late
    league = _get(sites_client, "/api/v1/reports/league", _token(sites_ctx, ["*"]), month="2026-11")
    assert league["month"] == "2026-11"
    assert [(r["rank"], r["site_id"]) for r in league["sites"]] == [
        (1, "jiaxiu"),
        (2, "yiqing"),  # nothing decided yet: counts as on time, no MTTR
        (3, "binghu"),
    ]
    assert league["sites"][2]["resolve_on_time_rate"] == 0.0 and league["sites"][2]["overdue"] == 1
    assert len(league["zones"]) == 6
    assert league["zones"][0]["site_name"] == "甲秀苑" and league["zones"][0]["name"] == "A区"

    east = _get(
        sites_client, "/api/v1/reports/league", _token(sites_ctx, ["region:east"]), month="2026-11"
    )
    assert [r["site_id"] for r in east["sites"]] == ["jiaxiu", "yiqing"]
    assert {z["site_id"] for z in east["zones"]} == {"jiaxiu", "yiqing"}
    north = _get(
        sites_client,
        "/api/v1/reports/league",
        _token(sites_ctx, ["*"]),
        month="2026-11",
        region="north",
    )
    assert [r["region_name"] for r in north["sites"]] == ["华北区域"]


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "11-2026", "1999-12", ""])
def test_a_malformed_month_is_a_422_problem(
    sites_ctx: AppContext, sites_client: TestClient, month: str
) -> None:
    r = sites_client.get(
        "/api/v1/reports/league", params={"month": month}, headers=bearer(_token(sites_ctx, ["*"]))
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
