"""PATCH /api/v1/work-orders/{id}: what a ticket system edits, with If-Match, audited as a step
and announced as `work_order.changed`; SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.deps import AppContext
from maintenance.notifications import Notification
from maintenance.sla import compute_due
from maintenance.work_orders import service
from maintenance.work_orders.models import Source
from propwatch.clock import ManualClock
from propwatch.site import Priority, Site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.api.integration import create_order, patch
from tests.api.live import serve

# both backends, and the example site with tags and custom fields (see tests/api/integration.py)
db, migrated_template, example_site = (
    integration.db,
    integration.migrated_template,
    integration.example_site,
)


def test_patch_changes_the_fields_sent_and_answers_the_new_etag(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    made = create_order(client, tokens.integration, example_site, description="灯不亮")
    clock.advance(timedelta(minutes=10))
    r = patch(
        client,
        tokens.integration,
        made,
        title="3 号楼 2 单元 5 楼楼道灯不亮",
        location="5 楼电梯厅",
        tags=["业主投诉", "噪音"],
        custom_fields={"floor": 5, "channel": "微信"},
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["title"] == "3 号楼 2 单元 5 楼楼道灯不亮"
    assert changed["description"] == "灯不亮"  # not sent, not changed
    assert changed["location"] == "5 楼电梯厅"
    assert changed["tags"] == ["业主投诉", "噪音"]
    assert changed["custom_fields"] == {"floor": 5, "channel": "微信"}
    assert datetime.fromisoformat(changed["updated_at"]) == clock.now()
    assert r.headers["ETag"] == changed["etag"] != made["etag"]
    again = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty))
    assert again.headers["ETag"] == changed["etag"]
    assert {k: again.json()[k] for k in ("title", "location", "tags", "custom_fields")} == {
        k: changed[k] for k in ("title", "location", "tags", "custom_fields")
    }


def test_patch_without_if_match_is_428_and_changes_nothing(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site)
    r = client.patch(
        f"/api/v1/work-orders/{made['id']}", json={"title": "改"}, headers=bearer(tokens.duty)
    )
    assert r.status_code == 428
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "precondition_required"
    after = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert after["title"] == made["title"]


def test_patch_with_a_stale_etag_is_412_with_the_current_one(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site)
    first = patch(client, tokens.integration, made, title="第一次修改")
    assert first.status_code == 200
    stale = patch(client, tokens.duty, made, title="基于旧版本的修改")
    assert stale.status_code == 412
    assert stale.json()["code"] == "stale_etag"
    assert stale.headers["ETag"] == first.headers["ETag"]
    after = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert after["title"] == "第一次修改"


def test_if_match_star_overwrites_whatever_the_version(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site)
    assert patch(client, tokens.duty, made, title="值班室改过").status_code == 200
    r = patch(client, tokens.integration, made, etag="*", title="工单系统覆盖")
    assert r.status_code == 200
    assert r.json()["title"] == "工单系统覆盖"


def test_two_patches_of_one_version_at_once_one_wins_the_other_is_412(
    ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    with TestClient(create_app(ctx)) as setup:
        made = create_order(setup, tokens.integration, example_site)
    with serve(create_app(ctx)) as base:

        def send(title: str) -> int:
            r = httpx.patch(
                f"{base}/api/v1/work-orders/{made['id']}",
                json={"title": title},
                headers={**bearer(tokens.integration), "If-Match": made["etag"]},
                timeout=30,
            )
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(send, [f"并发修改 {i}" for i in range(8)]))
    assert statuses == [200] + [412] * 7
    with ctx.db.session() as s:
        wo = service.get_work_order(s, made["id"])
        assert sum(t.to_status == "changed" for t in wo.transitions) == 1


def test_one_step_sent_at_once_without_if_match_is_taken_once(
    ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    """Without If-Match the row lock decides: the first 接单 wins, the others find the order
    already accepted (409), even where the session had read the order before locking it."""
    with TestClient(create_app(ctx)) as setup:
        made = create_order(setup, tokens.duty, example_site, assignee="wang-gong")
    assert made["status"] == "dispatched"
    with serve(create_app(ctx)) as base:

        def send(_: int) -> int:
            r = httpx.post(
                f"{base}/api/v1/work-orders/{made['id']}/transitions",
                json={"to": "accepted"},
                headers=bearer(tokens.technician),
                timeout=30,
            )
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(send, range(8)))
    assert statuses == [200] + [409] * 7
    with ctx.db.session() as s:
        wo = service.get_work_order(s, made["id"])
        assert sum(t.to_status == "accepted" for t in wo.transitions) == 1


def test_each_edit_is_one_audited_step_naming_every_change(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site, tags=["噪音"])
    r = patch(
        client,
        tokens.integration,
        made,
        priority="important",
        tags=["漏水"],
        custom_fields={"floor": 3},
        description="楼上漏水",
    )
    steps = [t for t in r.json()["transitions"] if t["to_status"] == "changed"]
    assert len(steps) == 1
    assert steps[0]["actor"] == "tickets"
    note = steps[0]["note"]
    assert note.startswith("修改：")
    for part in ("优先级「一般」→「重要」", "标签 +漏水 −噪音", "楼层 （空） → 3", "描述已修改"):
        assert part in note, note


def test_each_edit_is_a_work_order_changed_event_with_before_and_after(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site)
    patch(client, tokens.integration, made, title="新标题", location="地下车库 B2")
    with ctx.db.session() as s:
        events = list(
            s.scalars(select(Notification).where(Notification.topic == "work_order.changed"))
        )
    assert len(events) == 1
    changes = events[0].payload["changes"]
    assert changes == {
        "title": {"from": made["title"], "to": "新标题"},
        "location": {"from": None, "to": "地下车库 B2"},
    }
    assert events[0].payload["actor"] == "tickets"
    assert events[0].work_order_id == made["id"]


def test_an_edit_that_changes_nothing_records_nothing(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site, tags=["漏水"])
    r = patch(client, tokens.integration, made, title=made["title"], tags=["漏水"])
    assert r.status_code == 200
    assert r.headers["ETag"] == made["etag"]
    assert [t["to_status"] for t in r.json()["transitions"]] == [
        t["to_status"] for t in made["transitions"]
    ]
    with ctx.db.session() as s:
        topics = s.scalars(select(Notification.topic)).all()
    assert "work_order.changed" not in topics


def test_unknown_tag_or_custom_field_is_422_naming_it(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site)
    r = patch(client, tokens.integration, made, tags=["漏水", "漏雨"])
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_tag"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "tags", "1"]]
    assert "漏雨" in r.json()["detail"]
    r = patch(client, tokens.integration, made, custom_fields={"colour": "red"})
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_custom_field"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "custom_fields", "colour"]]
    r = patch(client, tokens.integration, made, custom_fields={"floor": "五楼"})
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_custom_field"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "custom_fields", "floor"]]
    after = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty))
    assert after.headers["ETag"] == made["etag"]


def test_custom_field_values_are_checked_by_their_declared_type(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site)
    refused = [
        {"floor": 2.5},
        {"floor": True},
        {"channel": "短信"},
        {"phone": "1" * 21},
        {"visit_on": "2026-13-01"},
        {"visit_on": "1900-01-01"},
        {"called_back": "yes"},
    ]
    for values in refused:
        r = patch(client, tokens.integration, made, custom_fields=values)
        assert r.status_code == 422, values
        assert r.json()["code"] == "invalid_custom_field", values
    ok = {"floor": -1, "channel": "前台", "phone": "13800000000", "visit_on": "2026-11-30"}
    r = patch(client, tokens.integration, made, custom_fields={**ok, "called_back": False})
    assert r.status_code == 200, r.text
    assert r.json()["custom_fields"] == {**ok, "called_back": False}


def test_custom_fields_merge_and_null_removes_one(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(
        client, tokens.integration, example_site, custom_fields={"floor": 3, "channel": "电话"}
    )
    assert made["custom_fields"] == {"floor": 3, "channel": "电话"}
    r = patch(client, tokens.integration, made, custom_fields={"floor": None, "phone": "110"})
    assert r.json()["custom_fields"] == {"channel": "电话", "phone": "110"}


def test_null_clears_a_field_that_may_be_empty_and_is_refused_for_one_that_may_not(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site, location="1 楼", zone="zone-b")
    r = patch(client, tokens.integration, made, location=None, zone=None)
    assert r.status_code == 200, r.text
    assert (r.json()["location"], r.json()["zone"]) == (None, None)
    for name in ("title", "description", "priority", "tags", "custom_fields"):
        refused = patch(client, tokens.integration, made, etag="*", **{name: None})
        assert refused.status_code == 422, name
        assert [e["loc"] for e in refused.json()["errors"]] == [["body", name]]


def test_unknown_asset_or_zone_is_422_and_a_new_asset_brings_its_zone(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.integration, example_site)
    r = patch(client, tokens.integration, made, asset="pump-9")
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_reference"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "asset"]]
    r = patch(client, tokens.integration, made, zone="zone-z")
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "zone"]]
    pump = example_site.spec.asset("pump-1")
    r = patch(client, tokens.integration, made, asset="pump-1")
    assert r.status_code == 200, r.text
    assert (r.json()["asset"], r.json()["zone"]) == ("pump-1", pump.zone)
    other = next(z.id for z in example_site.spec.zones if z.id != pump.zone)
    r = patch(client, tokens.integration, r.json(), zone=other)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "zone"]]


def test_a_new_priority_re_times_the_limits_not_yet_met_from_the_report_and_the_holds(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    made = create_order(client, tokens.integration, example_site, category="water_supply")
    wid, reported = made["id"], datetime.fromisoformat(made["reported_at"])
    hold = client.post(
        f"/api/v1/work-orders/{wid}/transitions",
        json={"to": "on_hold", "note": "等待配件"},
        headers=bearer(tokens.duty),
    )
    assert hold.status_code == 200, hold.text
    clock.advance(timedelta(hours=2))
    resumed = client.post(
        f"/api/v1/work-orders/{wid}/transitions",
        json={"to": made["status"]},
        headers=bearer(tokens.duty),
    )
    assert resumed.status_code == 200, resumed.text
    r = patch(client, tokens.integration, resumed.json(), priority="emergency")
    assert r.status_code == 200, r.text
    due = compute_due(example_site.spec, "water_supply", Priority.EMERGENCY, reported)
    changed = r.json()
    assert changed["priority"] == "emergency"
    for name in ("respond", "arrive", "resolve"):
        expected = getattr(due, name)
        expected = expected + timedelta(hours=2) if expected is not None else None
        got = changed[f"{name}_due"]
        assert (datetime.fromisoformat(got) if got else None) == expected, name


def test_the_priority_of_a_resolved_order_cannot_change(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    for step in ("accepted", "on_site", "resolved"):
        r = client.post(
            f"/api/v1/work-orders/{made['id']}/transitions",
            json={"to": step},
            headers=bearer(tokens.duty),
        )
        assert r.status_code == 200, r.text
    r = patch(client, tokens.integration, r.json(), priority="emergency")
    assert r.status_code == 409
    assert r.json()["code"] == "illegal_change"
    r = patch(client, tokens.integration, made, etag="*", title="完成后改标题仍可以")
    assert r.status_code == 200


def test_the_asset_of_an_alarms_order_cannot_change(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    with ctx.db.session() as s:
        wo, _ = service.create_work_order(
            s,
            example_site.spec,
            service.NewWorkOrder(
                site_id=example_site.id,
                source=Source.ALARM,
                source_key="alarm:ep-1",
                category="water_supply",
                priority=Priority.IMPORTANT,
                title="出水压力低",
                reported_at=ctx.clock.now(),
                asset_code="pump-1",
                alarm_type="pressure_low",
            ),
            ctx.clock.now(),
        )
        wid = wo.id
    order = client.get(f"/api/v1/work-orders/{wid}", headers=bearer(tokens.duty)).json()
    r = patch(client, tokens.integration, order, asset=None)
    assert r.status_code == 409
    assert r.json()["code"] == "illegal_change"
    assert patch(client, tokens.integration, order, title="出水压力低（已派人）").status_code == 200


def test_external_id_is_set_changed_and_unlinked_and_the_ticket_ids_follow(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    site = example_site.id
    made = create_order(client, tokens.integration, example_site, external_id="TK-1")
    r = patch(client, tokens.integration, made, external_id="TK-2")
    assert r.status_code == 200, r.text
    assert r.json()["external_id"] == "TK-2"
    found = client.get(f"/api/v1/work-orders/by-external/{site}/TK-2", headers=bearer(tokens.duty))
    assert found.json()["id"] == made["id"]
    gone = client.get(f"/api/v1/work-orders/by-external/{site}/TK-1", headers=bearer(tokens.duty))
    assert gone.status_code == 404
    # the old ticket id is free again: a create with it is a new order, with the new one ours
    fresh = create_order(client, tokens.integration, example_site, external_id="TK-1")
    assert fresh["id"] != made["id"]
    again = client.post(
        "/api/v1/work-orders",
        json={"site_id": site, "title": "重复", "external_id": "TK-2"},
        headers=bearer(tokens.integration),
    )
    assert (again.status_code, again.json()["id"]) == (200, made["id"])
    taken = patch(client, tokens.integration, r.json(), external_id="TK-1")
    assert taken.status_code == 409
    assert taken.json()["code"] == "external_id_taken"
    unlinked = patch(client, tokens.integration, r.json(), external_id=None)
    assert unlinked.status_code == 200
    assert unlinked.json()["external_id"] is None
    steps = [t["note"] for t in unlinked.json()["transitions"] if t["to_status"] == "changed"]
    assert steps == ["修改：外部工单号「TK-1」→「TK-2」", "修改：外部工单号「TK-2」→「（空）」"]


def test_a_technician_may_not_patch(client: TestClient, tokens: Tokens, example_site: Site) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    r = patch(client, tokens.technician, made, title="师傅改标题")
    assert r.status_code == 403


def test_a_create_answers_what_a_read_of_the_order_answers(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    """The create answer is built from the row as the request wrote it (no read-back of the
    order, its references, parts or revisits): it must still be the order as stored."""
    for fields in (
        {"external_id": "TK-881", "asset": "pump-1", "priority": "important"},
        {"tags": ["漏水"], "custom_fields": {"floor": 3, "phone": "13800000002"}},
    ):
        r = client.post(
            "/api/v1/work-orders",
            json={
                "site_id": example_site.id,
                "title": "水泵异响",
                "category": "water_supply",
                **fields,
            },
            headers={**bearer(tokens.integration), "Idempotency-Key": f"k-{len(fields)}"},
        )
        assert r.status_code == 201, r.text
        read = client.get(
            f"/api/v1/work-orders/{r.json()['id']}", headers=bearer(tokens.integration)
        )
        assert read.status_code == 200
        assert r.json() == read.json()
        assert r.headers["ETag"] == read.headers["ETag"]
        assert r.json()["transitions"], "the registration and dispatch steps are in the answer"
