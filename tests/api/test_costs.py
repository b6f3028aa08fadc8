"""工单费用 over the API on SQLite and PostgreSQL: time on site from the steps, manual labour
entries, parts and extras add up to the order's cost (worked out here from the rates, minutes
and prices), each labour row's share of it, 有偿维修 on the order, the monthly report's rollup
per asset, zone and site, the order's ETag and Idempotency-Key, names instead of ids, every
change announced on the outbox for the pages, and refusals that name the field and keep
nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.deps import AppContext
from maintenance.costs.models import ExtraCost, LabourEntry, PaidRepair
from maintenance.costs.service import COSTS_CHANGED
from maintenance.notifications import Notification
from maintenance.notify.routing import Subject, resolve
from propwatch.clock import ManualClock
from propwatch.notification_channels import Audience, NotificationRoute
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.contract_site import contract_site
from tests.api.integration import create_order, db, migrated_template

__all__ = ["db", "migrated_template"]  # both backends for every test here

BASE = "/api/v1/sites/hexie"
RATE = {"wang-gong": Decimal(60), "li-shifu": Decimal(60), "qian-wb": Decimal(45)}  # 元/h


@pytest.fixture
def example_site(tmp_path: Path) -> Site:
    return contract_site(tmp_path)


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _step(client: TestClient, token: str, order: int, to: str) -> None:
    r = client.post(
        f"/api/v1/work-orders/{order}/transitions", json={"to": to}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text


def _yuan(minutes: Decimal, rate: Decimal) -> Decimal:
    return (minutes * rate / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _counts(ctx: AppContext) -> list[int]:
    with ctx.db.session() as s:
        return [
            s.scalar(select(func.count()).select_from(t)) or 0
            for t in (LabourEntry, ExtraCost, PaidRepair)
        ]


def test_the_cost_of_an_order_is_labour_parts_and_extras(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock, ctx: AppContext
) -> None:
    # a part at 12.80, three of them on the order
    _ok(
        client.post(
            f"{BASE}/parts",
            json={"code": "LB-20W", "name": "LED 灯泡", "unit": "个", "unit_price": "12.80"},
            headers=bearer(tokens.duty),
        ),
        201,
    )
    _ok(
        client.post(
            f"{BASE}/parts/LB-20W/receipts", json={"quantity": "10"}, headers=bearer(tokens.duty)
        ),
        201,
    )
    order = create_order(client, tokens.duty, example_site, assignee="wang-gong")["id"]
    _ok(
        client.post(
            f"/api/v1/work-orders/{order}/parts",
            json={"part": "LB-20W", "quantity": "3"},
            headers=bearer(tokens.technician),
        ),
        201,
    )
    _step(client, tokens.technician, order, "accepted")
    clock.advance(timedelta(minutes=20))
    _step(client, tokens.technician, order, "on_site")
    clock.advance(timedelta(minutes=47, seconds=30))  # 47.5 minutes on site
    _step(client, tokens.technician, order, "resolved")

    # the technician adds their own time (a second visit to fetch a ladder), not another's
    url = f"/api/v1/work-orders/{order}/labour"
    mine = {"minutes": 15, "work_date": "2026-11-23", "note": "取梯子"}
    own = client.post(url, json=mine, headers=bearer(tokens.technician))
    _ok(own, 201)
    stale = own.headers["ETag"]  # the order has changed since
    theirs = client.post(
        url, json={**mine, "person": "li-shifu"}, headers=bearer(tokens.technician)
    )
    assert theirs.status_code == 403 and theirs.json()["code"] == "not_your_labour"
    # the duty room records 李师傅's half hour helping; sent twice with one key, kept once
    helper = {"person": "li-shifu", "minutes": 30, "work_date": "2026-11-23", "note": "协助"}
    keyed = {**bearer(tokens.duty), "Idempotency-Key": "labour-li-1"}
    first = _ok(client.post(url, json=helper, headers=keyed), 201)
    again = _ok(client.post(url, json=helper, headers=keyed), 201)
    assert first == again and len(again["entries"]) == 2
    costs = _ok(
        client.post(
            f"/api/v1/work-orders/{order}/extra-costs",
            json={"description": "高空作业车租赁", "amount": "200.00"},
            headers=bearer(tokens.duty),
        ),
        201,
    )

    wang = _yuan(Decimal("47.5") + 15, RATE["wang-gong"])  # 62.5 min at 60 元/h = 62.50
    li = _yuan(Decimal(30), RATE["li-shifu"])
    parts = Decimal("3") * Decimal("12.80")
    total = wang + li + parts + Decimal("200.00")
    assert total == Decimal("330.90")
    assert [
        (p["person"], p["on_site_minutes"], p["manual_minutes"], p["cost"]) for p in costs["labour"]
    ] == [
        ("li-shifu", 0, 30, str(li)),
        ("wang-gong", 47.5, 15, str(wang)),
    ]
    assert [(s["person_name"], s["minutes"]) for s in costs["on_site"]] == [("王工", 47.5)]
    assert (costs["labour_cost"], costs["parts_cost"], costs["extras_cost"], costs["total"]) == (
        str(wang + li),
        str(parts),
        "200.00",
        str(total),
    )
    assert costs["labour_hours"] == round((47.5 + 15 + 30) / 60, 2)
    detail = _ok(client.get(f"/api/v1/work-orders/{order}", headers=bearer(tokens.technician)))
    assert detail["costs"]["total"] == str(total) and detail["costs"]["paid_repair"] is None

    # a change under a stale ETag is refused and keeps nothing; the current one goes through
    assert detail["etag"] != stale
    entry = costs["entries"][0]["id"]
    r = client.patch(
        f"{url}/{entry}", json={"minutes": 20}, headers={**bearer(tokens.duty), "If-Match": stale}
    )
    assert r.status_code == 412
    current = client.get(f"/api/v1/work-orders/{order}/costs", headers=bearer(tokens.duty))
    assert current.json()["total"] == str(total)
    changed = client.patch(
        f"{url}/{entry}",
        json={"minutes": 20},
        headers={**bearer(tokens.duty), "If-Match": current.headers["ETag"]},
    )
    wang = _yuan(Decimal("47.5") + 20, RATE["wang-gong"])
    assert _ok(changed)["total"] == str(wang + li + parts + 200)
    assert changed.headers["ETag"] != current.headers["ETag"]
    extra = costs["extras"][0]["id"]
    dropped = client.delete(
        f"/api/v1/work-orders/{order}/extra-costs/{extra}", headers=bearer(tokens.duty)
    )
    assert _ok(dropped)["total"] == str(wang + li + parts)
    assert _counts(ctx) == [2, 0, 0]


def test_a_paid_repair_is_on_the_order_and_in_the_monthly_report(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    lift = create_order(
        client, tokens.duty, example_site, assignee="qian-wb", asset="lift-1-1", category="elevator"
    )["id"]
    pump = create_order(
        client,
        tokens.duty,
        example_site,
        assignee="wang-gong",
        asset="pump-1",
        category="water_supply",
    )["id"]
    door = create_order(client, tokens.duty, example_site, assignee="li-shifu")["id"]
    qian = _qian_token(client, tokens)
    for order, token in ((lift, qian), (pump, tokens.technician)):
        _step(client, token, order, "accepted")
        _step(client, token, order, "on_site")
    clock.advance(timedelta(minutes=90))
    _step(client, qian, lift, "resolved")
    clock.advance(timedelta(minutes=30))
    _step(client, tokens.technician, pump, "resolved")  # 120 minutes on site
    # a resident's own tap replaced: quoted, then paid
    url = f"/api/v1/work-orders/{pump}/paid-repair"
    refused = client.put(url, json={"quoted": "80"}, headers=bearer(tokens.technician))
    assert refused.status_code == 403
    quoted = _ok(
        client.put(
            url, json={"quoted": "80.00", "note": "更换入户阀门"}, headers=bearer(tokens.duty)
        )
    )
    assert quoted["paid_repair"] == {
        **quoted["paid_repair"],
        "quoted": "80.00",
        "paid": False,
        "paid_at": None,
    }
    clock.advance(timedelta(minutes=5))
    paid = _ok(client.put(url, json={"quoted": "80.00", "paid": True}, headers=bearer(tokens.duty)))
    assert paid["paid_repair"]["paid"] is True and paid["paid_repair"]["paid_at"] is not None
    door_quote = f"/api/v1/work-orders/{door}/paid-repair"
    _ok(client.put(door_quote, json={"quoted": "35.5"}, headers=bearer(tokens.duty)))
    _ok(
        client.post(
            f"/api/v1/work-orders/{pump}/extra-costs",
            json={"description": "阀门", "amount": "45.20"},
            headers=bearer(tokens.duty),
        ),
        201,
    )
    detail = _ok(client.get(f"/api/v1/work-orders/{pump}", headers=bearer(tokens.duty)))
    assert detail["costs"]["paid_repair"]["quoted"] == "80.00"

    report = _ok(
        client.get(
            "/api/v1/reports/hexie/monthly",
            params={"year": 2026, "month": 11},
            headers=bearer(tokens.duty),
        )
    )["costs"]
    lift_cost = _yuan(Decimal(90), RATE["qian-wb"])  # a contractor's rate
    pump_cost = _yuan(Decimal(120), RATE["wang-gong"]) + Decimal("45.20")
    assert report["currency"] == "CNY"
    assert [(r["key"], r["orders"], r["total"]) for r in report["by_asset"]] == [
        ("pump-1", 1, str(pump_cost)),  # 165.20: dearest first
        ("lift-1-1", 1, str(lift_cost)),  # 67.50
    ]
    assert [(r["key"], r["name"], r["total"]) for r in report["by_zone"]] == [
        ("zone-a", "A区", str(pump_cost + lift_cost)),
    ]  # the door order is not completed: not in the month's costs
    assert report["site"]["total"] == str(pump_cost + lift_cost)
    assert report["site"]["labour_hours"] == 3.5
    # only the completed order's quote counts; the door's is still open
    assert report["paid_repairs"] == {
        "orders": 1,
        "quoted": "80.00",
        "paid": "80.00",
        "unpaid": "0.00",
    }


def test_bad_labour_and_costs_are_refused_naming_the_field_and_keep_nothing(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    order = create_order(client, tokens.duty, example_site, assignee="wang-gong")["id"]
    before = _counts(ctx)
    labour = f"/api/v1/work-orders/{order}/labour"
    cases = [
        (labour, {"person": "wang-gong", "minutes": 0, "work_date": "2026-11-23"}, "minutes"),
        (labour, {"person": "wang-gong", "minutes": 1441, "work_date": "2026-11-23"}, "minutes"),
        (labour, {"person": "wang-gong", "minutes": 10, "work_date": "23/11"}, "work_date"),
        (labour, {"person": "nobody", "minutes": 10, "work_date": "2026-11-23"}, "person"),
        (labour, {"minutes": 10, "work_date": "2026-11-23"}, "person"),  # duty: whose?
        (
            f"/api/v1/work-orders/{order}/extra-costs",
            {"description": "吊车", "amount": "1.234"},
            "amount",
        ),
        (
            f"/api/v1/work-orders/{order}/extra-costs",
            {"description": "", "amount": "1"},
            "description",
        ),
        (
            f"/api/v1/work-orders/{order}/extra-costs",
            {"description": "吊车", "amount": "-1"},
            "amount",
        ),
    ]
    for url, body, field in cases:
        r = client.post(url, json=body, headers=bearer(tokens.duty))
        assert r.status_code == 422, (body, r.text)
        assert any(e["loc"][-1] == field for e in r.json()["errors"]), (body, r.json())
    r = client.put(
        f"/api/v1/work-orders/{order}/paid-repair",
        json={"quoted": "abc"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "quoted"
    missing = client.patch(f"{labour}/999", json={"minutes": 5}, headers=bearer(tokens.duty))
    assert missing.status_code == 404
    other = client.get(
        f"/api/v1/work-orders/{order}/costs", headers=bearer(tokens.other_technician)
    )
    assert other.status_code == 403  # not their task
    assert _counts(ctx) == before


def _qian_token(client: TestClient, tokens: Tokens) -> str:
    made = _ok(
        client.post(
            "/api/v1/tokens",
            json={"name": "qian", "role": "technician", "sites": ["hexie"], "person": "qian-wb"},
            headers=bearer(tokens.admin),
        ),
        201,
    )
    token: str = made["token"]
    return token


def _transition(client: TestClient, token: str, order: int, to: str, note: str = "") -> None:
    r = client.post(
        f"/api/v1/work-orders/{order}/transitions",
        json={"to": to, "note": note},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text


def test_each_labour_row_has_its_rate_day_and_share_adding_up_to_the_persons_cost(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    # two ten-second stretches on site and a minute entered, at 60 元/h: 1/6 元 each stretch;
    # rounded alone each would be 0.17 (0.34 for both), but the person's 20 s are 0.33
    order = create_order(client, tokens.duty, example_site, assignee="wang-gong")["id"]
    _transition(client, tokens.technician, order, "accepted")
    clock.advance(timedelta(hours=15))  # 01:00 on the next local day, past UTC's midnight
    arrived = clock.now()
    _transition(client, tokens.technician, order, "on_site")
    clock.advance(timedelta(seconds=10))
    _transition(client, tokens.technician, order, "on_hold", "等待配件")
    _transition(client, tokens.technician, order, "on_site")
    clock.advance(timedelta(seconds=10))
    _transition(client, tokens.technician, order, "resolved")
    url = f"/api/v1/work-orders/{order}/labour"
    entry = {"minutes": 1, "work_date": "2026-11-24", "note": "复查"}
    costs = _ok(client.post(url, json=entry, headers=bearer(tokens.technician)), 201)
    extra = {"description": "垃圾清运", "amount": "5"}
    extras_url = f"/api/v1/work-orders/{order}/extra-costs"
    costs = _ok(client.post(extras_url, json=extra, headers=bearer(tokens.duty)), 201)

    local_day = arrived.astimezone(example_site.spec.site.tz).date().isoformat()
    assert arrived.date().isoformat() != local_day  # the local day, not UTC's
    assert [(s["person_name"], s["work_date"], s["rate"], s["cost"]) for s in costs["on_site"]] == [
        ("王工", local_day, "60.00", "0.17"),
        ("王工", local_day, "60.00", "0.16"),
    ]
    assert [
        (e["person_name"], e["rate"], e["cost"], e["created_by_name"]) for e in costs["entries"]
    ] == [("王工", "60.00", "1.00", "王工")]
    person = costs["labour"][0]
    assert (person["cost"], costs["labour_cost"]) == ("1.33", "1.33")  # 80 s at 60 元/h
    assert [(x["amount"], x["created_by_name"]) for x in costs["extras"]] == [("5.00", "值班员")]


def test_a_part_line_names_who_added_it_and_what_it_amounts_to(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    part = {"code": "CABLE", "name": "电线", "unit": "米", "unit_price": "3.45"}
    _ok(client.post(f"{BASE}/parts", json=part, headers=bearer(tokens.duty)), 201)
    receipt = {"quantity": "100"}
    _ok(client.post(f"{BASE}/parts/CABLE/receipts", json=receipt, headers=bearer(tokens.duty)), 201)
    order = create_order(client, tokens.duty, example_site, assignee="wang-gong")["id"]
    line = {"part": "CABLE", "quantity": "2.5"}
    url = f"/api/v1/work-orders/{order}/parts"
    added = _ok(client.post(url, json=line, headers=bearer(tokens.technician)), 201)
    # 2.5 × 3.45 = 8.625: what it would cost now, before 完成 makes it a cost
    assert [
        (x["added_by_name"], x["state_zh"], x["amount"], x["cost"]) for x in added["lines"]
    ] == [("王工", "已预留", "8.63", None)]
    for to in ("accepted", "on_site", "resolved"):
        _transition(client, tokens.technician, order, to)
    detail = _ok(client.get(f"/api/v1/work-orders/{order}", headers=bearer(tokens.duty)))
    assert [
        (x["added_by_name"], x["state_zh"], x["amount"], x["cost"]) for x in detail["parts"]
    ] == [("王工", "已领用", "8.63", "8.63")]


def _announced(ctx: AppContext) -> list[tuple[str | None, str, bool]]:
    with ctx.db.session() as s:
        rows = s.scalars(
            select(Notification)
            .where(Notification.topic == "work_order.costs_changed")
            .order_by(Notification.id)
        )
        return [(n.recipient, n.message, n.payload["page"]) for n in rows]


def test_every_change_to_the_costs_is_announced_to_the_screens_and_pages_nobody(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    part = {"code": "LB", "name": "LED 灯泡", "unit": "个", "unit_price": "12.80"}
    _ok(client.post(f"{BASE}/parts", json=part, headers=bearer(tokens.duty)), 201)
    receipt = {"quantity": "10"}
    _ok(client.post(f"{BASE}/parts/LB/receipts", json=receipt, headers=bearer(tokens.duty)), 201)
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    base, code = f"/api/v1/work-orders/{made['id']}", made["code"]
    duty, wang = bearer(tokens.duty), bearer(tokens.technician)
    line = _ok(client.post(f"{base}/parts", json={"part": "LB", "quantity": 3}, headers=wang), 201)
    _ok(client.delete(f"{base}/parts/{line['lines'][0]['id']}", headers=duty))
    entry = {"person": "li-shifu", "minutes": 30, "work_date": "2026-11-23"}
    costs = _ok(client.post(f"{base}/labour", json=entry, headers=duty), 201)
    _ok(client.delete(f"{base}/labour/{costs['entries'][0]['id']}", headers=duty))
    extra = {"description": "吊车", "amount": "200"}
    _ok(client.post(f"{base}/extra-costs", json=extra, headers=duty), 201)
    _ok(client.put(f"{base}/paid-repair", json={"quoted": 80, "paid": True}, headers=duty))
    refused = client.post(f"{base}/parts", json={"part": "LB", "quantity": 11}, headers=wang)
    assert refused.status_code == 409  # refused: nothing kept, nothing announced

    assert _announced(ctx) == [
        ("wang-gong", f"工单 {code} 添加备件：LED 灯泡 3 个", False),
        ("wang-gong", f"工单 {code} 移除备件：LED 灯泡 3 个", False),
        ("wang-gong", f"工单 {code} 登记工时：李师傅 30 分钟", False),
        ("wang-gong", f"工单 {code} 删除工时：李师傅 30 分钟", False),
        ("wang-gong", f"工单 {code} 其他费用：吊车 200.00 元", False),
        ("wang-gong", f"工单 {code} 有偿维修：向住户收取 80.00 元，已收款", False),
    ]
    # on the assignee's stream and the duty room's, and on no channel, even one taking every
    # topic: a change of the costs is for the screens, not a message to anybody
    spec = example_site.spec
    every = NotificationRoute(topics=["*"], to=[Audience.ASSIGNEE], channels=["wecom"])
    greedy = spec.model_copy(
        update={"notifications": spec.notifications.model_copy(update={"routes": [every]})}
    )
    with ctx.db.session() as s:
        n = s.scalars(select(Notification).where(Notification.topic == COSTS_CHANGED)).first()
        assert n is not None
        assert resolve(greedy, n, Subject(assignee="wang-gong")) == {}
        n.payload = {**n.payload, "page": True}  # the same row as any other would be sent
        assert list(resolve(greedy, n, Subject(assignee="wang-gong"))) == ["wecom"]
        s.rollback()
