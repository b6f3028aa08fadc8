"""Alarms over HTTP: the attention list, 停用, and 告警历史 with filters and cursor pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.deps import AppContext
from maintenance.alarms.service import apply_alarm_event
from propwatch.clock import ManualClock
from propwatch.events import AlarmEvent
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.maintenance.helpers import cleared, raised


def _apply(ctx: AppContext, site: Site, *events: AlarmEvent) -> None:
    for e in events:
        with ctx.db.session() as s:
            apply_alarm_event(s, site.spec, e, ctx.clock.now())


def _get(client: TestClient, token: str, url: str, **params: Any) -> Any:
    r = client.get(url, params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def test_a_returned_alarm_stays_on_the_attention_list_until_acknowledged(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    t0 = clock.now()
    _apply(
        ctx, example_site, raised(t0, episode="a"), cleared(t0 + timedelta(seconds=40), episode="a")
    )
    [alarm] = _get(client, tokens.duty, "/api/v1/alarms", attention="true")
    assert (alarm["isa_state"], alarm["cleared_by"], alarm["asset_name"]) == (
        "returned_unacknowledged",
        "gateway",
        "1号生活水泵",
    )
    r = client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", headers=bearer(tokens.duty))
    assert r.json()["isa_state"] == "normal"
    assert _get(client, tokens.duty, "/api/v1/alarms", attention="true") == []
    assert len(_get(client, tokens.duty, "/api/v1/alarms")) == 1


def test_an_alarm_out_of_service_needs_a_reason_and_comes_back(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    _apply(ctx, example_site, raised(clock.now(), episode="a"))
    [alarm] = _get(client, tokens.duty, "/api/v1/alarms")
    url = f"/api/v1/alarms/{alarm['id']}"
    assert (
        client.post(f"{url}/out-of-service", json={}, headers=bearer(tokens.duty)).status_code
        == 422
    )
    r = client.post(
        f"{url}/out-of-service", json={"reason": "传感器送修"}, headers=bearer(tokens.duty)
    )
    assert (r.json()["isa_state"], r.json()["out_of_service_reason"]) == (
        "out_of_service",
        "传感器送修",
    )
    r = client.post(f"{url}/return-to-service", headers=bearer(tokens.duty))
    assert r.json()["isa_state"] == "unacknowledged"


def test_an_asset_out_of_service_suppresses_its_new_alarms(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    r = client.post(
        "/api/v1/assets/hexie/pump-1/out-of-service",
        json={"reason": "更换叶轮"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 200 and r.json()["out_of_service"] is True
    _apply(ctx, example_site, raised(clock.now(), episode="a"))
    [alarm] = _get(client, tokens.duty, "/api/v1/alarms")
    assert (alarm["isa_state"], alarm["work_order_id"]) == ("suppressed", None)
    r = client.post("/api/v1/assets/hexie/pump-1/in-service", headers=bearer(tokens.duty))
    assert r.json()["out_of_service"] is False
    assert (
        client.post(
            "/api/v1/assets/hexie/nowhere/in-service", headers=bearer(tokens.duty)
        ).status_code
        == 404
    )


def test_the_history_lists_every_change_newest_first_in_pages_and_filters(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    t0 = clock.now()
    _apply(
        ctx,
        example_site,
        raised(t0, episode="a"),
        raised(
            t0 + timedelta(seconds=10),
            episode="b",
            asset="lift-1-1",
            alarm_type="elevator_entrapment",
        ),
        cleared(t0 + timedelta(seconds=20), episode="a"),
    )
    [a] = [x for x in _get(client, tokens.duty, "/api/v1/alarms") if x["episode_id"] == "a"]
    clock.advance(30)
    client.post(f"/api/v1/alarms/{a['id']}/acknowledge", headers=bearer(tokens.duty))

    everything = _get(client, tokens.duty, "/api/v1/alarms/history")["items"]
    assert [(e["asset"], e["action"], e["state"]) for e in everything] == [
        ("pump-1", "acknowledged", "normal"),
        ("pump-1", "cleared", "returned_unacknowledged"),
        ("lift-1-1", "raised", "unacknowledged"),
        ("pump-1", "raised", "unacknowledged"),
    ]
    assert everything[0]["actor"] == "duty" and everything[1]["actor"] == "gateway"
    assert everything[2]["asset_name"] == "1栋1号电梯"

    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = _get(client, tokens.duty, "/api/v1/alarms/history", **params)
        pages.append([e["id"] for e in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[e["id"] for e in everything[:3]], [everything[3]["id"]]]

    lift = _get(client, tokens.duty, "/api/v1/alarms/history", asset="lift-1-1")["items"]
    assert [e["alarm_type"] for e in lift] == ["elevator_entrapment"]
    normal = _get(client, tokens.duty, "/api/v1/alarms/history", state="normal")["items"]
    assert [e["action"] for e in normal] == ["acknowledged"]
    window = _get(
        client,
        tokens.duty,
        "/api/v1/alarms/history",
        since=(t0 + timedelta(seconds=5)).isoformat(),
        until=(t0 + timedelta(seconds=25)).isoformat(),
    )["items"]
    assert [e["action"] for e in window] == ["cleared", "raised"]


def test_the_history_refuses_a_bad_cursor_and_a_naive_time_with_422(
    client: TestClient, tokens: Tokens
) -> None:
    url = "/api/v1/alarms/history"
    for params in ({"cursor": "nonsense"}, {"since": "2026-12-01T10:00:00"}, {"state": "gone"}):
        r = client.get(url, params=params, headers=bearer(tokens.duty))
        assert r.status_code == 422, (params, r.text)


def test_the_history_of_another_site_is_refused(client: TestClient, tokens: Tokens) -> None:
    r = client.get(
        "/api/v1/alarms/history", params={"site_id": "hexie"}, headers=bearer(tokens.other_site)
    )
    assert r.status_code == 403
