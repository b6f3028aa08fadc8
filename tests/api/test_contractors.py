"""维保单位 and 维保合同 on SQLite and PostgreSQL: the contract's response terms replace the
site's time limits for its assets' orders (due times worked out here on the working-day
calendar), a contractor's technician token sees the orders of its contract's assets only and
takes no other, plan orders of covered assets go to the contractor, and a contract or licence
about to expire is notified once and listed in the daily stocktake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.deps import AppContext
from maintenance.contracts import expiry_reminders
from maintenance.notifications import Notification
from maintenance.plans.service import materialize_due
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.contract_site import contract_site
from tests.api.integration import create_order, db, migrated_template

__all__ = ["db", "migrated_template"]  # both backends for every test here

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY_10H = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def example_site(tmp_path: Path) -> Site:
    return contract_site(tmp_path)


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _token(client: TestClient, tokens: Tokens, person: str) -> str:
    body = {"name": person, "role": "technician", "sites": ["hexie"], "person": person}
    made = _ok(client.post("/api/v1/tokens", json=body, headers=bearer(tokens.admin)), 201)
    token: str = made["token"]
    return token


def _due(order: dict[str, Any], name: str) -> datetime | None:
    value = order[f"{name}_due"]
    return datetime.fromisoformat(value).astimezone(SHANGHAI) if value else None


def test_the_contract_terms_replace_the_site_time_limits_for_its_assets(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    clock.set(FRIDAY_10H.astimezone(UTC))
    general = create_order(
        client, tokens.duty, example_site, asset="lift-1-1", category="elevator", priority="general"
    )
    # 2wd from Friday 27 Nov: Monday 30 Nov and Tuesday 1 Dec are the two working days after it
    assert _due(general, "resolve") == datetime(2026, 12, 1, 23, 59, 59, tzinfo=SHANGHAI)
    assert _due(general, "respond") == FRIDAY_10H + timedelta(hours=8)  # the site's, kept
    urgent = create_order(
        client,
        tokens.duty,
        example_site,
        asset="lift-1-1",
        category="elevator",
        priority="emergency",
    )
    assert (_due(urgent, "respond"), _due(urgent, "arrive"), _due(urgent, "resolve")) == (
        FRIDAY_10H + timedelta(minutes=15),  # not in the contract: the site's 15m
        FRIDAY_10H + timedelta(minutes=30),  # the contract's, not the site's 1h
        FRIDAY_10H + timedelta(hours=2),  # the contract's, not the site's 4h
    )
    pump = create_order(client, tokens.duty, example_site, asset="pump-1", category="water_supply")
    assert _due(pump, "resolve") == FRIDAY_10H + timedelta(hours=24)  # no contract: the site's

    # after the contract's end (31 Dec) the lift's orders keep the site's limits again
    clock.set(datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI).astimezone(UTC))
    later = create_order(client, tokens.duty, example_site, asset="lift-1-1", category="elevator")
    assert _due(later, "resolve") == datetime(2027, 1, 5, 10, 0, tzinfo=SHANGHAI)


def test_a_contractor_token_sees_and_takes_only_its_contract_assets(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    qian = _token(client, tokens, "qian-wb")
    lift = create_order(
        client, tokens.duty, example_site, asset="lift-1-1", category="elevator", assignee="qian-wb"
    )
    pump = create_order(client, tokens.duty, example_site, asset="pump-1", assignee="wang-gong")
    # another asset's order, or one without an asset, is not theirs to take: 422 naming assignee
    for fields in ({"asset": "pump-1"}, {}):
        r = client.post(
            "/api/v1/work-orders",
            json={"site_id": "hexie", "title": "漏水", "assignee": "qian-wb", **fields},
            headers=bearer(tokens.duty),
        )
        assert r.status_code == 422 and r.json()["code"] == "not_under_contract", r.text
        assert r.json()["errors"][0]["loc"] == ["body", "assignee"]
    moved = client.post(
        f"/api/v1/work-orders/{pump['id']}/assign",
        json={"assignee": "qian-wb"},
        headers=bearer(tokens.duty),
    )
    assert moved.status_code == 422 and moved.json()["code"] == "not_under_contract"

    listed = _ok(client.get("/api/v1/work-orders", headers=bearer(qian)))
    assert [o["id"] for o in listed["items"]] == [lift["id"]]
    _ok(client.get(f"/api/v1/work-orders/{lift['id']}", headers=bearer(qian)))
    _ok(client.get(f"/api/v1/work-orders/{lift['id']}/costs", headers=bearer(qian)))
    assert client.get(f"/api/v1/work-orders/{pump['id']}", headers=bearer(qian)).status_code == 403
    # the site's own technician is not limited by the contract
    _ok(client.get(f"/api/v1/work-orders/{pump['id']}", headers=bearer(tokens.technician)))

    # once the contract has ended, its order is out of the contractor's sight (same token)
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=SHANGHAI).astimezone(UTC))
    gone = client.get(f"/api/v1/work-orders/{lift['id']}", headers=bearer(qian))
    assert gone.status_code == 403 and gone.json()["code"] == "not_under_contract"
    step = client.post(
        f"/api/v1/work-orders/{lift['id']}/transitions",
        json={"to": "accepted"},
        headers=bearer(qian),
    )
    assert step.status_code == 403


def test_plan_orders_of_covered_assets_go_to_the_contractor(
    ctx: AppContext, example_site: Site, clock: ManualClock
) -> None:
    with ctx.db.session() as s:
        materialize_due(s, example_site, clock.now())  # cursors start now
    clock.advance(timedelta(days=40))
    with ctx.db.session() as s:
        materialize_due(s, example_site, clock.now())
    with ctx.db.session() as s:
        rows = s.execute(
            select(WorkOrder.details, WorkOrder.assignee, WorkOrder.asset_id).where(
                WorkOrder.source == "plan"
            )
        ).all()
    lift = {
        (str(d["plan_id"]), str(d["role"]), who) for d, who, _ in rows if "lift" in d["plan_id"]
    }
    pump = {(str(d["plan_id"]), who) for d, who, _ in rows if str(d["plan_id"]).startswith("pump-")}
    # the technician's plans of the lift go to the contractor; 消毒 and 巡查 stay with the zone
    assert {p for p, role, _ in lift if role == "technician"} >= {"lift-half-monthly"}
    assert {who for _, role, who in lift if role == "technician"} == {"qian-wb"}
    assert {(p, who) for p, role, who in lift if role != "technician"} == {
        ("lift-disinfection", "chen-kf"),
        ("lift-patrol", "zhao-ba"),
    }
    assert pump and {who for _, who in pump} == {"wang-gong"}  # zone-a's own technician


def test_expiring_contracts_and_licences_are_notified_once_and_listed(
    client: TestClient, tokens: Tokens, ctx: AppContext, example_site: Site, clock: ManualClock
) -> None:
    now = clock.now()  # Monday 23 Nov 2026: the contract ends in 38 days, the licence in 17
    with ctx.db.session() as s:
        assert expiry_reminders(s, example_site.spec, now) == 2
    with ctx.db.session() as s:
        assert expiry_reminders(s, example_site.spec, now + timedelta(hours=1)) == 0
        rows = s.scalars(
            select(Notification)
            .where(Notification.topic.like("contract%"))
            .order_by(Notification.id)
        ).all()
    assert [(n.topic, n.recipient) for n in rows] == [
        ("contractor.licence_expiring", "zhou-zg"),
        ("contract.expiring", "zhou-zg"),
    ]
    assert "12月10日" in rows[0].message and "剩余 17 天" in rows[0].message
    assert "西子电梯维保有限公司" in rows[1].message and "12月31日" in rows[1].message

    stocktake = _ok(client.get("/api/v1/reports/hexie/stocktake", headers=bearer(tokens.duty)))
    assert [(n["kind"], n["days_left"]) for n in stocktake["contracts_expiring"]] == [
        ("licence", 17),
        ("contract", 38),
    ]

    contractors = _ok(
        client.get("/api/v1/sites/hexie/contractors", headers=bearer(tokens.technician))
    )
    assert contractors["items"] == [
        {
            "id": "xizi-lift",
            "name": "西子电梯维保有限公司",
            "licence_no": "TS3133001-2027",
            "licence_expiry": "2026-12-10",
            "licence_days_left": 17,
            "contact": "钱经理",
            "phone": "0571-88880000",
            "people": ["qian-wb"],
            "contracts": ["lift-2026"],
        }
    ]
    [contract] = _ok(client.get("/api/v1/sites/hexie/contracts", headers=bearer(tokens.duty)))[
        "items"
    ]
    assert (contract["in_force"], contract["days_left"], contract["technician_name"]) == (
        True,
        38,
        "钱师傅",
    )
    assert [(t["priority_zh"], t["arrive"], t["resolve"]) for t in contract["response"]] == [
        ("紧急", "0.5h", "2h"),
        ("一般", None, "2wd"),
    ]
    other = client.get("/api/v1/sites/hexie/contracts", headers=bearer(tokens.other_site))
    assert other.status_code == 403
