"""备品备件 over the API on SQLite and PostgreSQL: the catalogue, reservations on work orders,
deduction at 完成 and return at 取消 (figures worked out here from the receipts and lines), the
movements with their balances, the reorder alert once, 盘点 differences, two reservations racing
for the last units, and refusals that name the field and keep nothing."""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from api.deps import AppContext
from api.webhooks.delivery import WebhookDispatcher
from api.webhooks.targets import WebhookTargets
from maintenance.notifications import Notification
from maintenance.parts import service
from maintenance.parts.errors import InsufficientStock
from maintenance.parts.models import Movement, Part, PartLine, Stock, StockCount, Store
from maintenance.work_orders.models import WorkOrder
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.integration import create_order, db, example_site, migrated_template
from tests.api.live import Receiver, receiver

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

BASE = "/api/v1/sites/hexie"


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _part(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    fields = {"code": "LB-20W", "name": "LED 灯泡", "spec": "E27 20W", "unit": "个"}
    r = client.post(
        f"{BASE}/parts", json={**fields, "unit_price": "12.80", **body}, headers=bearer(token)
    )
    made: dict[str, Any] = _ok(r, 201)
    assert r.headers["Location"] == f"{BASE}/parts/{made['code']}"
    return made


def _receive(client: TestClient, token: str, code: str, qty: str, store: str | None = None) -> Any:
    body: dict[str, Any] = {"quantity": qty, "note": "供应商送货"}
    if store is not None:
        body["store"] = store
    return _ok(client.post(f"{BASE}/parts/{code}/receipts", json=body, headers=bearer(token)), 201)


def _stock(client: TestClient, token: str, code: str, store: str = "main") -> dict[str, Any]:
    part = _ok(client.get(f"{BASE}/parts/{code}", headers=bearer(token)))
    row: dict[str, Any] = next(s for s in part["stores"] if s["store"] == store)
    return row


def _add(client: TestClient, token: str, order: int, part: str, qty: str, **kw: Any) -> Any:
    return client.post(
        f"/api/v1/work-orders/{order}/parts",
        json={"part": part, "quantity": qty, **kw},
        headers=bearer(token),
    )


def _step(client: TestClient, token: str, order: int, *steps: str, note: str = "") -> None:
    for to in steps:
        r = client.post(
            f"/api/v1/work-orders/{order}/transitions",
            json={"to": to, "note": note},
            headers=bearer(token),
        )
        assert r.status_code == 200, r.text


def _counts(ctx: AppContext) -> list[int]:
    """Rows of every parts table (and the outbox): what a refusal must leave as it was."""
    with ctx.db.session() as s:
        return [
            s.scalar(select(func.count()).select_from(t)) or 0
            for t in (Part, Stock, PartLine, Movement, StockCount, Notification)
        ]


def test_the_catalogue_is_created_listed_and_searched(client: TestClient, tokens: Tokens) -> None:
    _ok(
        client.post(
            f"{BASE}/stores",
            json={"code": "b2", "name": "2号楼库房"},
            headers=bearer(tokens.duty),
        ),
        201,
    )
    stores = _ok(client.get(f"{BASE}/stores", headers=bearer(tokens.technician)))["items"]
    assert stores == [
        {"code": "main", "name": "总仓", "default": True},
        {"code": "b2", "name": "2号楼库房", "default": False},
    ]
    bulb = _part(client, tokens.duty, stores=[{"minimum": 5}, {"store": "b2", "minimum": "2"}])
    assert (bulb["unit_price"], bulb["on_hand"], bulb["below_minimum"]) == ("12.80", "0", True)
    assert [(s["store"], s["minimum"]) for s in bulb["stores"]] == [("main", "5"), ("b2", "2")]
    _part(
        client,
        tokens.duty,
        code="CB-2.5",
        name="电缆",
        spec="BV 2.5mm²",
        unit="米",
        unit_price="3.35",
    )
    _receive(client, tokens.duty, "LB-20W", "6")
    _receive(client, tokens.duty, "LB-20W", "2", store="b2")

    def codes(**query: Any) -> list[str]:
        page = _ok(client.get(f"{BASE}/parts", params=query, headers=bearer(tokens.integration)))
        return [p["code"] for p in page["items"]]

    assert codes() == ["CB-2.5", "LB-20W"]
    assert codes(q="灯泡") == ["LB-20W"]
    assert codes(q="cb-") == ["CB-2.5"]  # case-blind on both databases
    assert codes(q="%") == []  # a wildcard is searched as itself
    assert codes(below_minimum=True) == []  # 6 ≥ 5 in 总仓, 2 ≥ 2 in 2号楼库房; cable: minimum 0
    assert codes(store="b2") == ["LB-20W"]
    page = _ok(client.get(f"{BASE}/parts", params={"limit": 1}, headers=bearer(tokens.duty)))
    assert page["next_after"] == "CB-2.5"

    r = client.get(f"{BASE}/parts/LB-20W", headers=bearer(tokens.duty))
    etag = r.headers["ETag"]
    changed = client.patch(
        f"{BASE}/parts/LB-20W",
        json={"unit_price": "13.50", "stores": [{"minimum": 7}]},
        headers={**bearer(tokens.duty), "If-Match": etag},
    )
    assert _ok(changed)["unit_price"] == "13.50"
    assert codes(below_minimum=True) == ["LB-20W"]  # 6 < 7 now
    stale = client.patch(
        f"{BASE}/parts/LB-20W",
        json={"name": "灯泡"},
        headers={**bearer(tokens.duty), "If-Match": etag},
    )
    assert stale.status_code == 412
    assert (
        client.post(f"{BASE}/parts", json={}, headers=bearer(tokens.technician)).status_code == 403
    )


def test_a_reservation_is_deducted_at_completion_and_returned_at_cancellation(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    _part(client, tokens.duty)  # 12.80 a piece
    _part(client, tokens.duty, code="CB-2.5", name="电缆", unit="米", unit_price="3.35")
    _receive(client, tokens.duty, "LB-20W", "10")
    _receive(client, tokens.duty, "CB-2.5", "50")
    done = create_order(client, tokens.duty, example_site, assignee="wang-gong")["id"]
    cancelled = create_order(client, tokens.duty, example_site, assignee="wang-gong")["id"]

    # the technician puts parts on their own order
    lines = _ok(_add(client, tokens.technician, done, "LB-20W", "3"), 201)["lines"]
    assert [(ln["quantity"], ln["state"], ln["cost"]) for ln in lines] == [("3", "reserved", None)]
    _ok(_add(client, tokens.technician, done, "CB-2.5", "2.5"), 201)
    spare = _ok(_add(client, tokens.technician, done, "LB-20W", "1"), 201)["lines"][-1]
    _ok(_add(client, tokens.duty, cancelled, "LB-20W", "4"), 201)
    # reserved 3 + 1 + 4 of 10
    bulb = _stock(client, tokens.duty, "LB-20W")
    assert (bulb["on_hand"], bulb["reserved"], bulb["available"]) == ("10", "8", "2")
    removed = client.delete(
        f"/api/v1/work-orders/{done}/parts/{spare['id']}", headers=bearer(tokens.technician)
    )
    assert [ln["part"] for ln in _ok(removed)["lines"]] == ["LB-20W", "CB-2.5"]
    assert _stock(client, tokens.duty, "LB-20W")["available"] == "3"

    _step(client, tokens.technician, done, "accepted", "on_site", "resolved")
    _step(client, tokens.duty, cancelled, "cancelled", note="业主已自行修好")
    bulb, cable = _stock(client, tokens.duty, "LB-20W"), _stock(client, tokens.duty, "CB-2.5")
    assert (bulb["on_hand"], bulb["reserved"]) == ("7", "0")  # 10 − 3 issued; 4 returned
    assert (cable["on_hand"], cable["reserved"]) == ("47.5", "0")

    # the cost keeps the price at issue, whatever the catalogue says later
    client.patch(f"{BASE}/parts/LB-20W", json={"unit_price": "99"}, headers=bearer(tokens.duty))
    expected = Decimal("3") * Decimal("12.80") + (Decimal("2.5") * Decimal("3.35")).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    detail = _ok(client.get(f"/api/v1/work-orders/{done}", headers=bearer(tokens.duty)))
    assert detail["parts_cost"] == str(expected) == "46.78"
    assert [(ln["part"], ln["state"], ln["unit_price"], ln["cost"]) for ln in detail["parts"]] == [
        ("LB-20W", "issued", "12.80", "38.40"),
        ("CB-2.5", "issued", "3.35", "8.38"),
    ]
    other = _ok(client.get(f"/api/v1/work-orders/{cancelled}/parts", headers=bearer(tokens.duty)))
    assert (other["parts_cost"], other["lines"][0]["state"]) == ("0.00", "returned")

    # no lines once completed or cancelled
    late = _add(client, tokens.duty, done, "LB-20W", "1")
    assert late.status_code == 409 and late.json()["code"] == "order_not_open"

    moves = _ok(client.get(f"{BASE}/parts/LB-20W/movements", headers=bearer(tokens.duty)))["items"]
    assert [(m["kind"], m["quantity"], m["on_hand_after"], m["reserved_after"]) for m in moves] == [
        ("receipt", "10", "10", "0"),
        ("reserve", "3", "10", "3"),
        ("reserve", "1", "10", "4"),
        ("reserve", "4", "10", "8"),
        ("return", "-1", "10", "7"),  # the removed line
        ("issue", "-3", "7", "4"),
        ("return", "-4", "7", "0"),  # the cancelled order
    ]
    assert moves[1]["work_order_id"] == done and moves[1]["actor_name"] == "王工"
    assert moves[0]["at_local"] == "11月23日 10:00"


def test_a_line_beyond_what_is_available_is_refused_naming_the_part(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    _part(client, tokens.duty)
    _receive(client, tokens.duty, "LB-20W", "2")
    order = create_order(client, tokens.duty, example_site)["id"]
    before = _counts(ctx)
    r = _add(client, tokens.duty, order, "LB-20W", "3")
    assert r.status_code == 409
    assert r.json()["code"] == "insufficient_stock"
    assert "备件「LED 灯泡」（LB-20W）在总仓可用 2 个，不足 3 个" in r.json()["detail"]
    assert _counts(ctx) == before
    unknown = _add(client, tokens.duty, order, "NO-SUCH", "1")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "part"]


def test_two_reservations_of_the_last_units_from_two_threads_one_wins(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    _part(client, tokens.duty)
    _receive(client, tokens.duty, "LB-20W", "5")
    orders = [create_order(client, tokens.duty, example_site)["id"] for _ in range(2)]
    barrier = threading.Barrier(2)
    won: list[int] = []
    lost: list[str] = []

    def reserve(order_id: int) -> None:
        barrier.wait()
        try:
            with ctx.db.session() as s:
                wo = s.get(WorkOrder, order_id, with_for_update=True)
                assert wo is not None
                service.add_line(s, wo, "LB-20W", None, 5000, actor="duty", now=ctx.clock.now())
            won.append(order_id)
        except InsufficientStock as e:
            lost.append(e.zh)

    threads = [threading.Thread(target=reserve, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1 and len(lost) == 1, (won, lost)
    assert "可用 0 个，不足 5 个" in lost[0]
    with ctx.db.session() as s:
        stock = s.scalars(select(Stock)).one()
        assert (stock.on_hand_milli, stock.reserved_milli) == (5000, 5000)
        assert s.scalar(select(func.count()).select_from(PartLine)) == 1
    # and the database itself refuses more reserved than on hand, or a negative stock
    for values in ({"reserved_milli": 6000}, {"on_hand_milli": -1, "reserved_milli": 0}):
        with pytest.raises(IntegrityError), ctx.db.session() as s:
            s.execute(update(Stock).values(**values))


def test_the_reorder_alert_goes_once_until_stock_is_back_at_the_minimum(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    _part(client, tokens.duty, stores=[{"minimum": 5}])
    _receive(client, tokens.duty, "LB-20W", "8")
    order = create_order(client, tokens.duty, example_site)["id"]

    def alerts() -> list[Notification]:
        with ctx.db.session() as s:
            rows = s.scalars(
                select(Notification)
                .where(Notification.topic == "parts.low_stock")
                .order_by(Notification.id)
            ).all()
            s.expunge_all()
            return list(rows)

    _ok(_add(client, tokens.duty, order, "LB-20W", "3"), 201)  # available 5: at the minimum
    assert alerts() == []
    _ok(_add(client, tokens.duty, order, "LB-20W", "1"), 201)  # available 4 < 5
    _ok(_add(client, tokens.duty, order, "LB-20W", "2"), 201)  # available 2: still low
    first = alerts()
    assert len(first) == 1
    assert first[0].message == (
        "备件库存不足：「LED 灯泡」（LB-20W）总仓可用 4 个，低于最低库存 5 个，请及时补货"
    )
    assert (first[0].payload["available"], first[0].payload["minimum"]) == ("4", "5")
    assert first[0].work_order_id == order
    _receive(client, tokens.duty, "LB-20W", "3")  # available 5: back at the minimum
    assert len(alerts()) == 1
    _ok(_add(client, tokens.duty, order, "LB-20W", "1"), 201)  # 4 again: a new alert
    assert len(alerts()) == 2


def test_a_stock_count_records_the_differences_as_movements(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    _part(client, tokens.duty)
    _part(client, tokens.duty, code="CB-2.5", name="电缆", unit="米", unit_price="3.35")
    _part(client, tokens.duty, code="VL-50", name="闸阀", unit="个", unit_price="85")
    _receive(client, tokens.duty, "LB-20W", "10")
    _receive(client, tokens.duty, "CB-2.5", "40")
    _receive(client, tokens.duty, "VL-50", "3")
    order = create_order(client, tokens.duty, example_site)["id"]
    _ok(_add(client, tokens.duty, order, "VL-50", "2"), 201)

    before = _counts(ctx)
    below = client.post(
        f"{BASE}/stores/main/counts",
        json={"lines": [{"part": "LB-20W", "counted": 8}, {"part": "VL-50", "counted": 1}]},
        headers=bearer(tokens.duty),
    )
    assert below.status_code == 422
    assert below.json()["errors"][0]["loc"] == ["body", "lines", "1", "counted"]
    unknown = client.post(
        f"{BASE}/stores/main/counts",
        json={"lines": [{"part": "LB-20W", "counted": 8}, {"part": "XX", "counted": 1}]},
        headers=bearer(tokens.duty),
    )
    assert unknown.json()["errors"][0]["loc"] == ["body", "lines", "1", "part"]
    assert _counts(ctx) == before

    counted = _ok(
        client.post(
            f"{BASE}/stores/main/counts",
            json={
                "lines": [
                    {"part": "LB-20W", "counted": 8},  # 2 missing
                    {"part": "CB-2.5", "counted": "41.5"},  # 1.5 found
                    {"part": "VL-50", "counted": 3},  # as booked
                ],
                "note": "年末盘点",
            },
            headers=bearer(tokens.duty),
        ),
        201,
    )
    assert counted["lines_counted"] == 3
    assert [
        (d["part"], d["book"], d["counted"], d["difference"]) for d in counted["differences"]
    ] == [
        ("LB-20W", "10", "8", "-2"),
        ("CB-2.5", "40", "41.5", "1.5"),
    ]
    assert (counted["counted_by_name"], counted["counted_local"]) == ("值班员", "11月23日 10:00")
    assert _stock(client, tokens.duty, "LB-20W")["on_hand"] == "8"
    assert _stock(client, tokens.duty, "CB-2.5")["on_hand"] == "41.5"
    valve = _stock(client, tokens.duty, "VL-50")
    assert (valve["on_hand"], valve["reserved"]) == ("3", "2")
    last = _ok(client.get(f"{BASE}/parts/LB-20W/movements", headers=bearer(tokens.duty)))
    assert [(m["kind"], m["quantity"], m["on_hand_after"], m["count_id"]) for m in last["items"]][
        -1
    ] == ("count", "-2", "8", counted["id"])
    assert (
        client.post(
            f"{BASE}/stores/nowhere/counts",
            json={"lines": [{"part": "LB-20W", "counted": 1}]},
            headers=bearer(tokens.duty),
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("parts", {"code": "X1", "name": "灯", "unit": "箱", "unit_price": 1}, ["body", "unit"]),
        (
            "parts",
            {"code": "X1", "name": "灯", "unit": "个", "unit_price": "1.234"},
            ["body", "unit_price"],
        ),
        (
            "parts",
            {"code": "X1", "name": "灯", "unit": "个", "unit_price": -1},
            ["body", "unit_price"],
        ),
        ("parts", {"code": "X 1", "name": "灯", "unit": "个", "unit_price": 1}, ["body", "code"]),
        (
            "parts",
            {
                "code": "X1",
                "name": "灯",
                "unit": "个",
                "unit_price": 1,
                "stores": [{"store": "nowhere"}],
            },
            ["body", "stores", "0", "store"],
        ),
        (
            "parts",
            {
                "code": "X1",
                "name": "灯",
                "unit": "个",
                "unit_price": 1,
                "stores": [{"minimum": "0.0001"}],
            },
            ["body", "stores", "0", "minimum"],
        ),
        ("parts/LB-20W/receipts", {"quantity": 0}, ["body", "quantity"]),
        ("parts/LB-20W/receipts", {"quantity": "1.2345"}, ["body", "quantity"]),
        ("parts/LB-20W/receipts", {"quantity": 2_000_000}, ["body", "quantity"]),  # 2 on hand
        ("parts/LB-20W/receipts", {"quantity": 1, "store": "nowhere"}, ["body", "store"]),
        ("parts/LB-20W/adjustments", {"quantity": -1, "reason": ""}, ["body", "reason"]),
        ("parts/LB-20W/adjustments", {"quantity": 0, "reason": "破损"}, ["body", "quantity"]),
        ("parts/LB-20W/adjustments", {"quantity": -3, "reason": "破损"}, ["body", "quantity"]),
        ("stores", {"code": "b2", "name": ""}, ["body", "name"]),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_kept(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    path: str,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    _part(client, tokens.duty)
    _receive(client, tokens.duty, "LB-20W", "2")
    before = _counts(ctx)
    r = client.post(f"{BASE}/{path}", json=body, headers=bearer(tokens.duty))
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["errors"]], r.json()
    assert _counts(ctx) == before
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Store)) == 1  # the default store only


def test_a_duplicate_code_and_another_technicians_order_are_refused(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    _part(client, tokens.duty)
    again = client.post(
        f"{BASE}/parts",
        json={"code": "LB-20W", "name": "灯", "unit": "个", "unit_price": 1},
        headers=bearer(tokens.duty),
    )
    assert (again.status_code, again.json()["code"]) == (409, "part_exists")
    _receive(client, tokens.duty, "LB-20W", "2")
    order = create_order(client, tokens.duty, example_site, assignee="wang-gong")["id"]
    assert _add(client, tokens.other_technician, order, "LB-20W", "1").status_code == 403
    stale = client.post(
        f"/api/v1/work-orders/{order}/parts",
        json={"part": "LB-20W", "quantity": 1},
        headers={**bearer(tokens.duty), "If-Match": '"stale"'},
    )
    assert stale.status_code == 412


def test_the_reorder_alert_reaches_a_webhook_subscribed_to_it(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    """A purchasing system subscribes to `parts.low_stock` and gets the alert, signed, with the
    part's figures; one not subscribed to it gets nothing."""
    ctx.webhook_targets = WebhookTargets.allowing(["127.0.0.1"])
    now = int(ctx.clock.now().timestamp())
    with (
        receiver(Receiver("whsec_parts-secret-0123", now)) as buyer,
        receiver(Receiver("whsec_other-secret-01234", now)) as other,
    ):
        for r, events in ((buyer, ["parts.low_stock"]), (other, ["work_order.changed"])):
            _ok(
                client.post(
                    "/api/v1/webhooks",
                    json={
                        "url": r.url,
                        "event_types": events,
                        "sites": [example_site.id],
                        "secret": r.secret,
                    },
                    headers=bearer(tokens.integration),
                ),
                201,
            )
        _part(client, tokens.duty, stores=[{"minimum": 5}])
        _receive(client, tokens.duty, "LB-20W", "6")
        order = create_order(client, tokens.duty, example_site)["id"]
        _ok(_add(client, tokens.duty, order, "LB-20W", "2"), 201)  # available 4 < 5

        async def deliver() -> None:
            dispatcher = WebhookDispatcher(ctx.db, ctx.clock, targets=ctx.webhook_targets)
            try:
                await dispatcher.run_once()
            finally:
                await dispatcher.aclose()

        asyncio.run(deliver())
    assert other.received == []
    [(headers, body, signed)] = buyer.received
    assert signed and headers["Propwatch-Event"] == "parts.low_stock"
    event = json.loads(body)
    assert event["type"] == "parts.low_stock" and event["work_order_id"] == order
    assert (event["data"]["part"], event["data"]["available"], event["data"]["minimum"]) == (
        "LB-20W",
        "4",
        "5",
    )
