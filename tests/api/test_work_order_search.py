"""The list a ticket system searches and syncs with: `q`, `tag`, `updated_since` with
`sort=updated_at`, `reported_from`/`reported_to`, and `updated_at` on every order; SQLite and
PostgreSQL, through the API on migrated databases."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from api.deps import AppContext
from api.work_order_list import ListFilter, SortKey, list_page
from maintenance.db import Database
from maintenance.work_orders import search
from maintenance.work_orders.models import WorkOrder
from maintenance.work_orders.search import terms
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.api.integration import create_order, patch

db, migrated_template, example_site = (
    integration.db,
    integration.migrated_template,
    integration.example_site,
)


def _ids(client: TestClient, token: str, **params: Any) -> list[int]:
    r = client.get("/api/v1/work-orders", params={"limit": 500, **params}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return [w["id"] for w in r.json()["items"]]


def _orders(client: TestClient, tokens: Tokens, site: Site) -> dict[str, dict[str, Any]]:
    return {
        "lamp": create_order(client, tokens.integration, site, title="3号楼2单元楼道灯不亮"),
        "pump": create_order(
            client,
            tokens.integration,
            site,
            title="水泵异响",
            description="地下泵房 Pump-2 bearing noise",
            category="water_supply",
        ),
        "ticket": create_order(
            client, tokens.integration, site, title="门禁刷卡无反应", external_id="TK-2026-000123"
        ),
        "lift": create_order(
            client, tokens.integration, site, title="电梯困人", description="5号楼电梯停在3楼"
        ),
    }


def test_q_finds_a_piece_of_the_title_description_code_or_ticket_id(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    o = _orders(client, tokens, example_site)
    assert _ids(client, tokens.duty, q="楼道灯") == [o["lamp"]["id"]]
    assert _ids(client, tokens.duty, q="bearing") == [o["pump"]["id"]]
    assert _ids(client, tokens.duty, q="pump-2") == [o["pump"]["id"]]  # case-insensitive
    assert _ids(client, tokens.duty, q="tk-2026-000") == [o["ticket"]["id"]]
    code = o["lift"]["code"]
    assert _ids(client, tokens.duty, q=code[-8:]) == [o["lift"]["id"]]
    assert _ids(client, tokens.duty, q="没有这样的工单") == []


def test_q_needs_every_word_and_takes_short_ones(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    o = _orders(client, tokens, example_site)
    assert _ids(client, tokens.duty, q="电梯 3楼") == [o["lift"]["id"]]
    assert _ids(client, tokens.duty, q="电梯 水泵") == []
    assert sorted(_ids(client, tokens.duty, q="楼")) == sorted([o["lamp"]["id"], o["lift"]["id"]])
    assert _ids(client, tokens.duty, q="泵 noise") == [o["pump"]["id"]]


def test_q_takes_wildcards_and_search_syntax_as_plain_text(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    o = _orders(client, tokens, example_site)
    percent = create_order(client, tokens.integration, example_site, title="水压只有 50%_左右")
    for q in ("%", "_", "50%_", '"', 'AND "x', "*", "a OR b", "NEAR(x y)", "\\", "'; --"):
        found = _ids(client, tokens.duty, q=q)
        expected = [percent["id"]] if q in ("%", "_", "50%_") else []
        assert found == expected, q
    assert o  # the others are there and not found


def test_the_tag_filter_follows_edits_of_the_tags(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site, tags=["噪音"])
    assert _ids(client, tokens.duty, tag="噪音") == [made["id"]]
    patch(client, tokens.integration, made, tags=["漏水"])
    assert _ids(client, tokens.duty, tag="噪音") == []
    assert _ids(client, tokens.duty, tag="漏水") == [made["id"]]


def test_the_index_follows_edits_of_title_and_ticket_id(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    o = _orders(client, tokens, example_site)
    r = patch(client, tokens.integration, o["lamp"], title="3号楼地下车库照明故障")
    assert r.status_code == 200
    assert _ids(client, tokens.duty, q="楼道灯") == []
    assert _ids(client, tokens.duty, q="车库照明") == [o["lamp"]["id"]]
    patch(client, tokens.integration, o["ticket"], external_id="ZD-77-ABC")
    assert _ids(client, tokens.duty, q="TK-2026") == []
    assert _ids(client, tokens.duty, q="zd-77") == [o["ticket"]["id"]]
    patch(client, tokens.integration, o["ticket"], etag="*", external_id=None)
    assert _ids(client, tokens.duty, q="ZD-77") == []


@pytest.mark.parametrize("walk_from", [search.WALK_FROM, 2])
def test_q_pages_through_every_match_once(
    client: TestClient,
    tokens: Tokens,
    example_site: Site,
    monkeypatch: pytest.MonkeyPatch,
    walk_from: int,
) -> None:
    # past `walk_from` matches SQLite walks the list's index instead of fetching them by id
    monkeypatch.setattr(search, "WALK_FROM", walk_from)
    made = [
        create_order(client, tokens.integration, example_site, title=f"消防栓检查 {i}")["id"]
        for i in range(7)
    ]
    create_order(client, tokens.integration, example_site, title="其他")
    seen: list[int] = []
    params: dict[str, Any] = {"q": "消防栓", "limit": 3}
    while True:
        page = client.get("/api/v1/work-orders", params=params, headers=bearer(tokens.duty)).json()
        seen += [w["id"] for w in page["items"]]
        if not page.get("next_cursor"):
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted(made)


def test_orders_inserted_by_plain_sql_are_found(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    now = ctx.clock.now()
    with ctx.db.session() as s:
        s.execute(
            insert(WorkOrder),
            [
                {
                    "site_id": example_site.id,
                    "code": f"GD-SQL-{i}",
                    "source": "manual",
                    "source_key": f"sql:{i}",
                    "category": "general",
                    "priority": "general",
                    "status": "registered",
                    "title": f"批量导入的工单 {i}",
                    "description": "",
                    "reported_at": now,
                    "created_at": now,
                    "updated_at": now,
                    "occurrences": 1,
                    "details": {},
                    "chattering": False,
                    "paused_seconds": 0.0,
                    "reopen_count": 0,
                }
                for i in range(3)
            ],
        )
    assert len(_ids(client, tokens.duty, q="批量导入")) == 3
    assert len(_ids(client, tokens.duty, q="gd-sql")) == 3


def test_a_database_made_by_create_all_searches_too(
    tmp_path: Path, example_site: Site, clock: ManualClock
) -> None:
    d = Database(f"sqlite:///{tmp_path}/create-all.db")
    d.create_all()
    try:
        now = clock.now()
        with d.session() as s:
            s.add(
                WorkOrder(
                    site_id=example_site.id,
                    source="manual",
                    source_key="k",
                    category="general",
                    priority="general",
                    status="registered",
                    title="楼顶水箱溢水",
                    description="",
                    reported_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        wanted = ListFilter(site_id=example_site.id, q=tuple(terms("水箱溢")))
        page = json.loads(list_page(d.engine, wanted, SortKey.NEWEST, None, 10))
        assert [w["title"] for w in page["items"]] == ["楼顶水箱溢水"]
    finally:
        d.dispose()


def test_updated_at_is_on_every_order_and_follows_each_change(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    made = create_order(client, tokens.integration, example_site)
    listed = client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).json()["items"]
    assert listed[0]["updated_at"] == made["updated_at"]
    clock.advance(timedelta(minutes=3))
    r = client.post(
        f"/api/v1/work-orders/{made['id']}/comments",
        json={"text": "已电话联系业主"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 201
    listed = client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).json()["items"]
    assert listed[0]["updated_at"] != made["updated_at"]
    detail = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert listed[0]["updated_at"] == detail["updated_at"]


def test_updated_since_with_sort_updated_at_pages_through_the_changes_in_order(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    orders = []
    for i in range(5):
        orders.append(create_order(client, tokens.integration, example_site, title=f"工单 {i}"))
        clock.advance(timedelta(minutes=1))
    since = clock.now()
    for order in (orders[3], orders[0], orders[4]):
        clock.advance(timedelta(minutes=1))
        r = patch(client, tokens.integration, order, title=order["title"] + "（改）")
        assert r.status_code == 200
    params: dict[str, Any] = {"updated_since": since.isoformat(), "sort": "updated_at", "limit": 2}
    first = client.get("/api/v1/work-orders", params=params, headers=bearer(tokens.duty)).json()
    assert [w["id"] for w in first["items"]] == [orders[3]["id"], orders[0]["id"]]
    # changed while the sync pages: it moves past the cursor and comes again, never missed
    clock.advance(timedelta(minutes=1))
    assert patch(client, tokens.integration, orders[1], title="期间修改").status_code == 200
    second = client.get(
        "/api/v1/work-orders",
        params={**params, "cursor": first["next_cursor"]},
        headers=bearer(tokens.duty),
    ).json()
    assert [w["id"] for w in second["items"]] == [orders[4]["id"], orders[1]["id"]]
    assert second["next_cursor"] is None
    assert _ids(client, tokens.duty, updated_since=clock.now().isoformat()) == [orders[1]["id"]]


def test_reported_from_is_inclusive_and_reported_to_exclusive(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    now = clock.now()
    at = [now - timedelta(hours=h) for h in (30, 20, 10, 0)]
    made = [
        create_order(client, tokens.integration, example_site, reported_at=t.isoformat())["id"]
        for t in at
    ]
    got = _ids(client, tokens.duty, reported_from=at[1].isoformat(), reported_to=at[3].isoformat())
    assert got == [made[2], made[1]]
    assert _ids(client, tokens.duty, reported_to=at[0].isoformat()) == []
    assert _ids(client, tokens.duty, reported_from=at[3].isoformat(), sort="reported_at") == [
        made[3]
    ]


def test_tag_filter_needs_every_tag_and_refuses_an_undeclared_one(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    leak = create_order(client, tokens.integration, example_site, tags=["漏水"])
    both = create_order(client, tokens.integration, example_site, tags=["漏水", "业主投诉"])
    create_order(client, tokens.integration, example_site, tags=["噪音"])
    assert _ids(client, tokens.duty, tag="漏水") == [both["id"], leak["id"]]
    assert _ids(client, tokens.duty, tag=["漏水", "业主投诉"]) == [both["id"]]
    assert _ids(client, tokens.duty, tag="电梯困人") == []
    lift = create_order(client, tokens.integration, example_site, tags=["电梯困人"])
    assert _ids(client, tokens.duty, tag="电梯困人") == [lift["id"]]
    assert _ids(client, tokens.duty, tag="电梯") == []  # a tag, not a piece of one
    r = client.get("/api/v1/work-orders", params={"tag": "漏雨"}, headers=bearer(tokens.duty))
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["query", "tag", "0"]]


def test_an_unknown_tag_on_create_is_422_naming_it(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    r = client.post(
        "/api/v1/work-orders",
        json={"site_id": example_site.id, "title": "楼道漏水", "tags": ["漏水", "漏雨"]},
        headers=bearer(tokens.integration),
    )
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_tag"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "tags", "1"]]
    assert _ids(client, tokens.duty) == []
