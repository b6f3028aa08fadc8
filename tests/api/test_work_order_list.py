"""The work-order list, on SQLite and PostgreSQL: filters, every sort paged by cursor, tokens of
one, a few and many sites, its JSON against the schema, and how long a token found in the
database is remembered."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select, update

from api.auth import ApiRole, issue_token
from api.deps import AppContext
from api.models import ApiToken, ExternalRef
from api.schemas import WorkOrderPage
from api.work_order_list import MERGE_SITES_UP_TO
from maintenance.registry.models import Asset
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.conftest import MONDAY_10H, Tokens, bearer
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

PRIORITY_RANK = {"emergency": 0, "important": 1, "general": 2}


@pytest.fixture
def orders(ctx: AppContext, example_site: Site) -> list[dict[str, Any]]:
    """40 orders with ties in time, missing due times, both zones, three people, one asset and
    one ticket id; the rows as inserted, ids included."""
    return _insert(ctx, example_site.id, 40, seed=11, linked=True)


def _insert(
    ctx: AppContext, site_id: str, count: int, seed: int, linked: bool = False
) -> list[dict[str, Any]]:
    """`count` orders of a site; `linked`: the 4th has an asset, the 5th a ticket id."""
    rng = random.Random(seed)
    prefix = f"GD-{site_id[:3].upper()}"
    rows: list[dict[str, Any]] = []
    for i in range(count):
        at = MONDAY_10H - timedelta(hours=rng.randrange(8))  # many orders share a time
        rows.append(
            {
                "site_id": site_id,
                "code": f"{prefix}{i:04d}",
                "source": "manual",
                "source_key": f"test:{site_id}:{i}",
                "category": rng.choice(("elevator", "lighting", "general")),
                "priority": rng.choice(("emergency", "important", "general")),
                "status": rng.choice(("dispatched", "accepted", "on_hold", "closed")),
                "title": f"工单 {i}",
                "description": "",
                "assignee": rng.choice(("wang-gong", "li-shifu", None)),
                "zone_code": rng.choice(("zone-a", "zone-b")),
                "reported_at": at,
                "created_at": at,
                "updated_at": at,
                "resolve_due": None if i % 5 == 0 else at + timedelta(hours=rng.choice((4, 24))),
                "occurrences": 1,
                "details": {},
                "chattering": False,
                "paused_seconds": 0.0,
                "reopen_count": 0,
            }
        )
    with ctx.db.session() as s:
        s.execute(insert(WorkOrder), rows)
        stored = s.execute(select(WorkOrder.id, WorkOrder.code).order_by(WorkOrder.id)).all()
        ids = {code: wid for wid, code in stored}
        if linked:
            pump = s.scalar(select(Asset.id).where(Asset.code == "pump-1"))
            s.execute(update(WorkOrder).where(WorkOrder.code == "GD-HEX0003").values(asset_id=pump))
            s.add(ExternalRef(site_id=site_id, external_id="TK-9", work_order_id=ids["GD-HEX0004"]))
    for row in rows:
        row["id"] = ids[row["code"]]
    return rows


def _pages(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of every page, following `next_cursor` with the same filters."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/v1/work-orders", params=query, headers=bearer(token))
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _expected(orders: list[dict[str, Any]], sort: str) -> list[int]:
    if sort == "-reported_at":
        ordered = sorted(orders, key=lambda o: (o["reported_at"], o["id"]), reverse=True)
    elif sort == "reported_at":
        ordered = sorted(orders, key=lambda o: (o["reported_at"], o["id"]))
    elif sort == "resolve_due":
        due = [o for o in orders if o["resolve_due"] is not None]
        ordered = sorted(due, key=lambda o: (o["resolve_due"], o["id"]))
    else:
        ordered = sorted(orders, key=lambda o: (PRIORITY_RANK[o["priority"]], -o["id"]))
    return [o["id"] for o in ordered]


@pytest.mark.parametrize("sort", ["-reported_at", "reported_at", "resolve_due", "priority"])
def test_every_sort_pages_through_the_orders_once_in_its_order(
    client: TestClient, tokens: Tokens, orders: list[dict[str, Any]], sort: str
) -> None:
    listed = _pages(client, tokens.duty, sort=sort, limit=7)
    assert [w["id"] for w in listed] == _expected(orders, sort)


def test_priority_sort_lists_emergencies_then_important_then_general(
    client: TestClient, tokens: Tokens, orders: list[dict[str, Any]]
) -> None:
    listed = _pages(client, tokens.duty, sort="priority", limit=4)
    ranks = [PRIORITY_RANK[w["priority"]] for w in listed]
    assert ranks == sorted(ranks) and set(ranks) == {0, 1, 2}


@pytest.mark.parametrize(
    "params",
    [
        {"status": ["accepted", "on_hold"], "zone": "zone-a"},
        {"assignee": "li-shifu", "status": "dispatched"},
        {"priority": "emergency", "sort": "priority"},
        {"category": "lighting", "sort": "resolve_due"},
        {"asset": "pump-1"},
        {"external_id": "TK-9"},
    ],
)
def test_filters_pick_exactly_the_matching_orders(
    client: TestClient, tokens: Tokens, orders: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    statuses = params.get("status")
    wanted = [
        o
        for o in orders
        if (
            statuses is None
            or o["status"] in ([statuses] if isinstance(statuses, str) else statuses)
        )
        and params.get("zone", o["zone_code"]) == o["zone_code"]
        and params.get("assignee", o["assignee"]) == o["assignee"]
        and params.get("priority", o["priority"]) == o["priority"]
        and params.get("category", o["category"]) == o["category"]
        and ("asset" not in params or o["code"] == "GD-HEX0003")
        and ("external_id" not in params or o["code"] == "GD-HEX0004")
    ]
    listed = _pages(client, tokens.duty, limit=3, **params)
    assert [w["id"] for w in listed] == _expected(wanted, params.get("sort", "-reported_at"))
    assert listed, "a filter that matches nothing proves little"


def test_technician_pages_hold_only_their_own_tasks(
    client: TestClient, tokens: Tokens, orders: list[dict[str, Any]]
) -> None:
    listed = _pages(client, tokens.technician, sort="priority", limit=5)
    mine = [o for o in orders if o["assignee"] == "wang-gong"]
    assert [w["id"] for w in listed] == _expected(mine, "priority")


@pytest.mark.parametrize("sort", ["-reported_at", "resolve_due", "priority"])
def test_a_token_of_several_sites_pages_through_them_merged_in_order(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    orders: list[dict[str, Any]],
    sort: str,
) -> None:
    elsewhere = _insert(ctx, "another-site", 25, seed=12)
    with ctx.db.session() as s:
        both = issue_token(
            s,
            name="both",
            role=ApiRole.DUTY,
            sites=[example_site.id, "another-site"],
            person=None,
            now=MONDAY_10H,
        )
    for token in (both, tokens.admin):  # the admin's token sees every site
        listed = _pages(client, token, sort=sort, limit=6)
        assert [w["id"] for w in listed] == _expected(orders + elsewhere, sort)


@pytest.mark.parametrize("sort", ["-reported_at", "reported_at", "resolve_due", "priority"])
def test_a_token_of_many_sites_pages_through_them_in_order_in_one_query_a_page(
    client: TestClient,
    ctx: AppContext,
    example_site: Site,
    orders: list[dict[str, Any]],
    sort: str,
) -> None:
    """Past a few sites (a region) the list walks the every-site index once a page and keeps
    the token's sites, instead of asking each site in turn."""
    region = [f"r{n}-site" for n in range(MERGE_SITES_UP_TO + 2)]
    inside = [o for n, sid in enumerate(region) for o in _insert(ctx, sid, 6 + n, seed=20 + n)]
    outside = _insert(ctx, "outside-site", 30, seed=40)
    with ctx.db.session() as s:
        token = issue_token(
            s,
            name="region",
            role=ApiRole.DUTY,
            sites=[example_site.id, *region],
            person=None,
            now=MONDAY_10H,
        )
    statements: list[str] = []

    def count(*args: Any) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT") and "work_order" in str(args[2]):
            statements.append(str(args[2]))

    listed = _pages(client, token, sort=sort, limit=9)
    assert [w["id"] for w in listed] == _expected(orders + inside, sort)
    assert not {w["id"] for w in listed} & {o["id"] for o in outside}
    pages = -(-len(listed) // 9)
    event.listen(ctx.read_engine(), "before_cursor_execute", count)
    try:
        _pages(client, token, sort=sort, limit=9)
    finally:
        event.remove(ctx.read_engine(), "before_cursor_execute", count)
    lists = [q for q in statements if "ORDER BY" in q.upper()]
    per_priority = 3 if sort == "priority" else 1  # the priority sort asks each priority
    assert len(lists) <= (pages + 1) * per_priority, lists


def test_page_json_is_exactly_the_schemas_serialisation(
    client: TestClient, tokens: Tokens, orders: list[dict[str, Any]]
) -> None:
    r = client.get("/api/v1/work-orders", params={"limit": 40}, headers=bearer(tokens.duty))
    page = WorkOrderPage.model_validate_json(r.content)
    assert page.model_dump_json().encode() == r.content
    by_code = {w.code: w for w in page.items}
    assert (by_code["GD-HEX0003"].asset, by_code["GD-HEX0003"].asset_name) == (
        "pump-1",
        "1号生活水泵",
    )
    assert by_code["GD-HEX0004"].external_id == "TK-9"
    assert page.items[0].status_zh and page.items[0].priority_zh


def test_times_come_out_as_stored_to_the_microsecond_in_utc(
    ctx: AppContext, client: TestClient, tokens: Tokens, orders: list[dict[str, Any]]
) -> None:
    # the list reads the driver's rows and writes SQLite's text of a time without parsing it
    odd = {0: 123456, 1: 5, 2: 999999, 3: 120000}
    with ctx.db.session() as s:
        for i, micro in odd.items():
            at = MONDAY_10H + timedelta(minutes=i, microseconds=micro)
            s.execute(
                update(WorkOrder)
                .where(WorkOrder.id == orders[i]["id"])
                .values(reported_at=at, updated_at=at, resolve_due=at + timedelta(hours=4))
            )
    with ctx.db.session() as s:
        stored = {w.id: w for w in s.scalars(select(WorkOrder))}
    for sort in ("-reported_at", "resolve_due", "updated_at"):
        pages, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 7, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            r = client.get("/api/v1/work-orders", params=params, headers=bearer(tokens.duty))
            page = WorkOrderPage.model_validate_json(r.content)
            assert page.model_dump_json().encode() == r.content
            pages += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = (
            len(stored)
            if sort != "resolve_due"
            else sum(1 for w in stored.values() if w.resolve_due is not None)
        )
        assert len({w.id for w in pages}) == len(pages) == expected
        for item in pages:
            w = stored[item.id]
            assert (item.reported_at, item.updated_at, item.resolve_due) == (
                w.reported_at,
                w.updated_at,
                w.resolve_due,
            )
            assert item.reported_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("cursor", "sort"),
    [
        ("WyJ1cmdlbnQiLDFd", "priority"),  # ["urgent",1]: not a priority
        ("WyIyMDI2LTExLTIzVDAyOjAwOjAwKzAwOjAwIiwiMSJd", "-reported_at"),  # the id is a string
        ("WyIyMDI2LTExLTIzVDAyOjAwOjAwKzAwOjAwIiwxXQ", "priority"),  # a time for the priority sort
        ("WyIyMDI2LTExLTIzVDAyOjAwOjAwIiwxXQ", "resolve_due"),  # a time without its zone
    ],
)
def test_a_cursor_that_does_not_fit_the_sort_is_a_422(
    client: TestClient, tokens: Tokens, cursor: str, sort: str
) -> None:
    r = client.get(
        "/api/v1/work-orders", params={"cursor": cursor, "sort": sort}, headers=bearer(tokens.duty)
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


def test_a_revoked_token_is_refused_at_once(client: TestClient, tokens: Tokens) -> None:
    assert client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).status_code == 200
    r = client.delete("/api/v1/tokens/duty", headers=bearer(tokens.admin))
    assert r.status_code == 204
    assert client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).status_code == 401


def test_a_token_revoked_by_another_process_works_only_until_it_is_no_longer_remembered(
    client: TestClient, tokens: Tokens, ctx: AppContext, clock: ManualClock
) -> None:
    assert client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).status_code == 200
    with ctx.db.session() as s:  # as another API replica would
        s.execute(update(ApiToken).where(ApiToken.name == "duty").values(revoked_at=clock.now()))
    clock.advance(ctx.tokens.remember_seconds - 1)
    assert client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).status_code == 200
    clock.advance(1)
    assert client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).status_code == 401


def test_a_building_filter_takes_the_assets_building_or_the_start_of_the_location(
    client: TestClient, tokens: Tokens, ctx: AppContext, example_site: Site
) -> None:
    rows = _insert(ctx, example_site.id, 8, seed=5)
    by_code = {r["code"]: r["id"] for r in rows}
    # (asset, location) of each of the first six; the last two have neither
    where = [
        ("pump-1", None),  # 水泵房 by its asset
        ("pump-1", "1栋门口"),  # still 水泵房: an asset's building wins over the text
        ("lift-1-1", "水泵房旁"),  # 1栋 by its asset
        (None, "水泵房西侧阀门"),  # 水泵房 by its location
        (None, "1栋3单元"),
        (None, "10栋_1栋"),  # neither: "1栋" is not its start, and `_` is no wildcard
    ]
    with ctx.db.session() as s:
        assets = dict(s.execute(select(Asset.code, Asset.id)).all())
        for i, (asset, location) in enumerate(where):
            s.execute(
                update(WorkOrder)
                .where(WorkOrder.id == by_code[f"GD-HEX{i:04d}"])
                .values(asset_id=assets[asset] if asset else None, location=location)
            )

    def listed(**params: Any) -> set[str]:
        return {o["code"] for o in _pages(client, tokens.duty, limit=2, **params)}

    assert listed(building="水泵房") == {"GD-HEX0000", "GD-HEX0001", "GD-HEX0003"}
    assert listed(building="1栋") == {"GD-HEX0002", "GD-HEX0004"}
    assert listed(building="1_栋") == set()
    assert listed(building="水泵房", sort="priority") == {"GD-HEX0000", "GD-HEX0001", "GD-HEX0003"}
    r = client.get(
        "/api/v1/work-orders", params={"building": "栋" * 101}, headers=bearer(tokens.duty)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "building"]
