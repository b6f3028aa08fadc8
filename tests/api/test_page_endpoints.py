"""What the pages read besides the core resources: who am I, sites, checklists, tonight's
lighting, and the pages themselves with their security headers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.deps import AppContext
from maintenance.work_orders.models import Source
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.site import Category, Priority, Site
from tests.api.conftest import Tokens, bearer


def test_me_names_the_technician_behind_the_token(client: TestClient, tokens: Tokens) -> None:
    me = client.get("/api/v1/me", headers=bearer(tokens.technician)).json()
    assert me == {
        "name": "wang",
        "role": "technician",
        "person": "wang-gong",
        "person_name": "王工",
        "sites": ["hexie"],
        "scope": {
            "kind": "sites",
            "company": "全部项目",
            "regions": [],
            "sites": [{"id": "hexie", "name": "和谐花园", "region": None}],
        },
    }


def test_sites_lists_zones_and_staff_names_but_no_phone_numbers(
    client: TestClient, tokens: Tokens
) -> None:
    (site,) = client.get("/api/v1/sites", headers=bearer(tokens.duty)).json()
    assert site["name"] == "和谐花园"
    assert {z["id"]: z["name"] for z in site["zones"]} == {"zone-a": "A区", "zone-b": "B区"}
    assert {"id": "wang-gong", "name": "王工", "role": "technician"} in site["people"]
    assert "13800000001" not in str(site)
    assert client.get("/api/v1/sites", headers=bearer(tokens.other_site)).json() == []


def test_checklist_shows_each_item_and_what_was_recorded(
    client: TestClient, tokens: Tokens, ctx: AppContext, example_site: Site
) -> None:
    with ctx.db.session() as s:
        wo, _ = create_work_order(
            s,
            example_site.spec,
            NewWorkOrder(
                site_id="hexie",
                source=Source.PLAN,
                source_key="plan:test:gate",
                category=Category.ACCESS_CONTROL,
                priority=Priority.GENERAL,
                title="门禁月检",
                reported_at=ctx.clock.now(),
                assignee="wang-gong",
                details={
                    "plan_id": "gate",
                    "checklist": [
                        {"id": "g-01", "text": "出门按钮正常", "measurement": False},
                        {
                            "id": "g-03",
                            "text": "电源电压",
                            "measurement": True,
                            "unit": "V",
                            "low": 11.5,
                            "high": 13.8,
                        },
                    ],
                },
            ),
            ctx.clock.now(),
        )
        order_id = wo.id
    url = f"/api/v1/work-orders/{order_id}/checklist"
    r = client.post(url, json={"item_id": "g-03", "value": 12.1}, headers=bearer(tokens.technician))
    assert r.status_code == 200

    items = client.get(url, headers=bearer(tokens.technician)).json()
    assert [i["id"] for i in items] == ["g-01", "g-03"]
    assert items[0]["result"] is None and items[0]["measurement"] is False
    assert (items[1]["result"], items[1]["value"], items[1]["recorded_by"]) == (
        "pass",
        12.1,
        "wang-gong",
    )
    assert client.get(url, headers=bearer(tokens.other_technician)).status_code == 403


def test_an_order_without_a_checklist_has_an_empty_one(client: TestClient, tokens: Tokens) -> None:
    r = client.post(
        "/api/v1/work-orders",
        json={"site_id": "hexie", "title": "门禁故障", "category": "access_control"},
        headers=bearer(tokens.duty),
    )
    got = client.get(f"/api/v1/work-orders/{r.json()['id']}/checklist", headers=bearer(tokens.duty))
    assert got.status_code == 200 and got.json() == []


def test_tonight_lighting_lists_the_sites_circuits(client: TestClient, tokens: Tokens) -> None:
    t = client.get("/api/v1/reports/hexie/lighting", headers=bearer(tokens.duty)).json()
    assert t["enabled"] is True and t["night"] == "2026-11-22"  # 10:00: still last night
    assert len(t["circuits"]) == 8 and not any(c["fresh"] for c in t["circuits"])


def test_pages_are_served_with_a_policy_that_forbids_other_origins(client: TestClient) -> None:
    for path, marker in (("/", "值班室"), ("/duty", "值班室"), ("/tasks", "我的任务")):
        r = client.get(path)
        assert r.status_code == 200 and marker in r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("common.js", "duty.js", "tasks.js", "style.css"):
        body = client.get(f"/static/{asset}").text
        assert "http://" not in body and "https://" not in body
