"""What the duty room's order drawer reads and does beyond the list: names for every actor, the
linked alarm and plan, the 改派 suggestion and a checklist item marked 不适用; on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.auth import ApiRole, issue_token
from api.deps import AppContext
from maintenance.alarms.models import Alarm
from maintenance.alarms.service import apply_alarm_event
from maintenance.work_orders.models import Source
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import Category, Priority, Site
from tests.api.conftest import Tokens, bearer
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here


def _order(client: TestClient, token: str, **fields: object) -> dict[str, object]:
    body = {"site_id": "hexie", "title": "2栋电梯异响", "category": "elevator", **fields}
    r = client.post("/api/v1/work-orders", json=body, headers=bearer(token))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _plan_order(ctx: AppContext, site: Site, assignee: str = "wang-gong") -> int:
    with ctx.db.session() as s:
        wo, _ = create_work_order(
            s,
            site.spec,
            NewWorkOrder(
                site_id=site.id,
                source=Source.PLAN,
                source_key="plan:gate:2026-11-23",
                category=Category.ACCESS_CONTROL,
                priority=Priority.GENERAL,
                title="门禁月检",
                reported_at=ctx.clock.now(),
                assignee=assignee,
                details={
                    "plan_id": "gate-monthly",
                    "plan_name": "门禁月度保养",
                    "due_at": ctx.clock.now().isoformat(),
                    "checklist": [
                        {"id": "g-01", "text": "出门按钮正常", "measurement": False},
                        {"id": "g-02", "text": "备用电池", "measurement": False},
                    ],
                },
            ),
            ctx.clock.now(),
            actor="plan-scheduler",
        )
        return wo.id


def test_the_detail_names_every_actor_and_the_assignee_in_words(
    client: TestClient, tokens: Tokens, ctx: AppContext, example_site: Site
) -> None:
    with ctx.db.session() as s:
        named = issue_token(
            s,
            name="desk-zhou",
            role=ApiRole.DUTY,
            sites=["hexie"],
            person="zhou-zg",
            now=ctx.clock.now(),
        )
    order_id = _plan_order(ctx, example_site)
    detail = client.get(f"/api/v1/work-orders/{order_id}", headers=bearer(tokens.duty)).json()
    r = client.post(
        f"/api/v1/work-orders/{order_id}/assign",
        json={"assignee": "li-shifu", "note": "王工请假"},
        headers={**bearer(named), "If-Match": detail["etag"]},
    )
    assert r.status_code == 200, r.text
    client.post(
        f"/api/v1/work-orders/{order_id}/comments",
        json={"text": "已电话通知李师傅"},
        headers=bearer(tokens.duty),
    )
    client.post(
        f"/api/v1/work-orders/{order_id}/comments",
        json={"text": "管理员核对"},
        headers=bearer(tokens.admin),
    )

    got = client.get(f"/api/v1/work-orders/{order_id}", headers=bearer(tokens.duty)).json()
    assert got["assignee_name"] == "李师傅"
    actors = [t["actor"] for t in got["transitions"]]
    assert actors[0] == "plan-scheduler" and "zhou-zg" in actors  # the person behind the token
    names = got["actor_names"]
    assert names["plan-scheduler"] == "保养计划"
    assert names["zhou-zg"] == "周主管"
    assert names["duty"] == "值班员"
    assert names["admin"] == "管理员"
    assert set(names) == set(actors)
    assert (got["plan"]["id"], got["plan"]["name"]) == ("gate-monthly", "门禁月度保养")
    assert datetime.fromisoformat(got["plan"]["due_at"]) == ctx.clock.now()
    assert got["alarm"] is None


def test_an_alarms_order_links_back_to_its_alarm(
    client: TestClient, tokens: Tokens, ctx: AppContext, example_site: Site
) -> None:
    now = ctx.clock.now()
    event = AlarmEvent(
        site_id=example_site.id,
        occurred_at=now - timedelta(minutes=3),
        action=AlarmAction.RAISE,
        episode_id="pump-1:outlet_pressure_low:1",
        asset_id="pump-1",
        alarm_type="outlet_pressure_low",
        severity=Severity.CRITICAL,
        rule_id="pump-1-outlet_pressure_low",
        message="出水压力 0.05 MPa（低于下限 0.15）",
    )
    with ctx.db.session() as s:
        apply_alarm_event(s, example_site.spec, event, now)
        alarm = s.scalars(select(Alarm).where(Alarm.episode_id == event.episode_id)).one()
        alarm_id, order_id = alarm.id, alarm.work_order_id
    assert order_id is not None

    got = client.get(f"/api/v1/work-orders/{order_id}", headers=bearer(tokens.duty)).json()
    assert got["alarm"]["id"] == alarm_id
    assert got["alarm"]["message"] == "出水压力 0.05 MPa（低于下限 0.15）"
    assert got["alarm"]["severity"] == "critical" and got["alarm"]["cleared_at"] is None
    assert got["plan"] is None


def test_the_suggestion_is_the_least_loaded_technician_other_than_the_assignee(
    client: TestClient, tokens: Tokens
) -> None:
    # 10:00 on a workday: wang-gong is zone A's technician and on day duty
    order = _order(client, tokens.duty, zone="zone-a", assignee="wang-gong")
    url = f"/api/v1/work-orders/{order['id']}/assignee-suggestions"

    got = client.get(url, headers=bearer(tokens.duty)).json()
    assert got["zone"] == "zone-a"
    by_person = {c["person"]: c for c in got["candidates"]}
    assert set(by_person) == {"wang-gong"}  # zone A's technician is also the one on duty
    assert by_person["wang-gong"] == {
        "person": "wang-gong",
        "name": "王工",
        "open_orders": 1,
        "zone_technician": True,
        "on_duty": True,
        "current": True,
    }
    assert got["suggested"] is None  # nobody else to give it to


def test_the_suggestion_counts_open_orders_and_passes_over_the_assignee(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    # 21:00: li-shifu is on night duty (and takes the new order); zone A's technician has three
    ctx.clock.advance(timedelta(hours=11))  # type: ignore[attr-defined]
    for _ in range(3):
        _order(client, tokens.duty, zone="zone-a", assignee="wang-gong")
    for _ in range(4):
        _order(client, tokens.duty, zone="zone-b", assignee="li-shifu")
    closed = _order(client, tokens.duty, zone="zone-b", assignee="li-shifu")
    detail = client.get(f"/api/v1/work-orders/{closed['id']}", headers=bearer(tokens.duty))
    r = client.post(
        f"/api/v1/work-orders/{closed['id']}/transitions",
        json={"to": "cancelled", "note": "重复报修"},
        headers={**bearer(tokens.duty), "If-Match": detail.headers["ETag"]},
    )
    assert r.status_code == 200, r.text
    order = _order(client, tokens.duty, zone="zone-a")

    got = client.get(
        f"/api/v1/work-orders/{order['id']}/assignee-suggestions", headers=bearer(tokens.duty)
    ).json()
    loads = {c["person"]: (c["open_orders"], c["on_duty"]) for c in got["candidates"]}
    # the cancelled one is not open; the new order is li-shifu's fifth
    assert loads == {"wang-gong": (3, False), "li-shifu": (5, True)}
    assert got["suggested"] == "wang-gong"
    assert (
        client.get(
            f"/api/v1/work-orders/{order['id']}/assignee-suggestions",
            headers=bearer(tokens.technician),
        ).status_code
        == 403
    )


def test_a_checklist_item_marked_not_applicable_needs_a_reason_and_opens_no_follow_up(
    client: TestClient, tokens: Tokens, ctx: AppContext, example_site: Site
) -> None:
    order_id = _plan_order(ctx, example_site)
    url = f"/api/v1/work-orders/{order_id}/checklist"
    tech = bearer(tokens.technician)

    bare = client.post(url, json={"item_id": "g-02", "not_applicable": True}, headers=tech)
    assert bare.status_code == 422 and "原因" in bare.json()["detail"]
    both = client.post(
        url,
        json={"item_id": "g-02", "not_applicable": True, "passed": True, "note": "无"},
        headers=tech,
    )
    assert both.status_code == 422
    ok = client.post(
        url,
        json={"item_id": "g-02", "not_applicable": True, "note": "此门禁无备用电池"},
        headers=tech,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"] == "n/a" and ok.json()["follow_up_work_order_id"] is None

    items = {i["id"]: i for i in client.get(url, headers=tech).json()}
    assert items["g-02"]["result"] == "n/a" and items["g-02"]["note"] == "此门禁无备用电池"
    assert items["g-01"]["result"] is None
    page = client.get("/api/v1/work-orders?site_id=hexie", headers=bearer(tokens.duty)).json()
    assert len(page["items"]) == 1  # no follow-up order
