"""Webhook subscriptions scoped like tokens, over three sites in two regions (SQLite and
PostgreSQL): a `region:<id>` subscription receives the events of the region's sites as they are
when each event goes out (a property added to the region later included), over real HTTP with a
checked signature, and nothing of another region; nobody subscribes wider than their token."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import ApiRole, issue_token
from api.deps import AppContext
from api.webhooks.delivery import WebhookDispatcher
from api.webhooks.targets import WebhookTargets
from tests.api.conftest import ADMIN_TOKEN, bearer
from tests.api.live import Receiver, receiver
from tests.api.many_sites import add_site, migrated_template, sites_client, sites_ctx, sites_db

__all__ = ["migrated_template", "sites_client", "sites_ctx", "sites_db"]

SECRET = "whsec_region-secret-0123456789"
LOOPBACK = WebhookTargets.allowing(["127.0.0.1"])
NOWHERE = "http://127.0.0.1:9/hook"  # allowed below; never posted to in these tests


@pytest.fixture(autouse=True)
def loopback_allowed(sites_ctx: AppContext) -> None:
    """The operator named 127.0.0.1 in PROPWATCH_WEBHOOK_ALLOW_HOSTS: the receiver runs there."""
    sites_ctx.webhook_targets = LOOPBACK


def _token(ctx: AppContext, scopes: list[str]) -> str:
    with ctx.db.session() as s:
        return issue_token(
            s, name=f"t-{'-'.join(scopes)}", role=ApiRole.DUTY, sites=scopes, person=None,
            now=ctx.clock.now(),
        )  # fmt: skip


def _subscribe(client: TestClient, token: str, scopes: list[str], url: str) -> Any:
    return client.post(
        "/api/v1/webhooks",
        json={
            "url": url,
            "event_types": ["work_order.created"],
            "sites": scopes,
            "secret": SECRET,
        },
        headers=bearer(token),
    )


def _order(client: TestClient, site_id: str, title: str) -> int:
    r = client.post(
        "/api/v1/work-orders",
        json={"site_id": site_id, "title": title, "category": "general"},
        headers=bearer(ADMIN_TOKEN),
    )
    assert r.status_code == 201, r.text
    wo_id: int = r.json()["id"]
    return wo_id


def _deliver(ctx: AppContext) -> int:
    async def once() -> int:
        dispatcher = WebhookDispatcher(
            ctx.db,
            ctx.clock,
            targets=LOOPBACK,
            region_of=ctx.region_of_site,
        )
        try:
            return await dispatcher.run_once()
        finally:
            await dispatcher.aclose()

    return asyncio.run(once())


def test_a_region_subscription_gets_its_regions_sites_now_and_later_and_nothing_else(
    sites_client: TestClient, sites_ctx: AppContext, tmp_path: Any
) -> None:
    east = _token(sites_ctx, ["region:east"])
    with receiver(Receiver(SECRET, int(sites_ctx.clock.now().timestamp()))) as hook:
        r = _subscribe(sites_client, east, ["region:east"], hook.url)
        assert r.status_code == 201, r.text
        assert r.json()["sites"] == ["region:east"]
        made = {sid: _order(sites_client, sid, f"{sid} 的工单") for sid in ("jiaxiu", "binghu")}
        made["yiqing"] = _order(sites_client, "yiqing", "乙清园的工单")
        # a property dropped into the region while running: its events go out too
        add_site(sites_ctx, tmp_path / "sites", "dingxiang", "丁香苑", "east")
        made["dingxiang"] = _order(sites_client, "dingxiang", "丁香苑的工单")
        assert _deliver(sites_ctx) == 3
        bodies = [json.loads(body) for _, body, _ in hook.received]
        assert all(ok for _, _, ok in hook.received)
        assert sorted((b["site_id"], b["work_order_id"]) for b in bodies) == sorted(
            (sid, made[sid]) for sid in ("jiaxiu", "yiqing", "dingxiang")
        )


@pytest.mark.parametrize(
    ("caller", "scopes", "status"),
    [
        (["region:north"], ["region:east"], 403),  # another region
        (["region:north"], ["*"], 403),  # the company
        (["jiaxiu"], ["region:east"], 403),  # a site of the region is not the region
        (["region:east"], ["region:west"], 403),  # not its own: refused before looked up
        (["*"], ["region:west"], 422),  # the company asks for a region nobody declared
        (["region:east"], ["region:east", "binghu"], 403),  # a site outside it
        (["region:east"], ["region:east", "jiaxiu"], 201),
        (["*"], ["region:north"], 201),
    ],
)
def test_nobody_subscribes_wider_than_their_token(
    sites_client: TestClient,
    sites_ctx: AppContext,
    caller: list[str],
    scopes: list[str],
    status: int,
) -> None:
    token = ADMIN_TOKEN if caller == ["*"] else _token(sites_ctx, caller)
    r = _subscribe(sites_client, token, scopes, NOWHERE)
    assert r.status_code == status, r.text
    if status == 403:
        assert "不能订阅超出本令牌范围的小区或区域" in r.json()["detail"]


def test_a_region_subscription_is_the_regions_own(
    sites_client: TestClient, sites_ctx: AppContext
) -> None:
    east, jiaxiu = _token(sites_ctx, ["region:east"]), _token(sites_ctx, ["jiaxiu"])
    r = _subscribe(sites_client, east, ["region:east"], NOWHERE)
    assert r.status_code == 201, r.text
    sub = r.json()["id"]
    listed = sites_client.get("/api/v1/webhooks", headers=bearer(jiaxiu))
    assert listed.status_code == 200 and listed.json() == []
    for call in (
        sites_client.delete(f"/api/v1/webhooks/{sub}", headers=bearer(jiaxiu)),
        sites_client.get(f"/api/v1/webhooks/{sub}/deliveries", headers=bearer(jiaxiu)),
    ):
        assert call.status_code == 403, call.text
    mine = sites_client.get("/api/v1/webhooks", headers=bearer(east))
    assert [s["id"] for s in mine.json()] == [sub]
    assert sites_client.delete(f"/api/v1/webhooks/{sub}", headers=bearer(east)).status_code == 204
