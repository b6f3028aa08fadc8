"""Work orders over HTTP: create, list, ETag/If-Match, technicians' own tasks, external ids."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from propwatch.site import Site
from tests.api.conftest import Tokens, bearer


def _create(client: TestClient, token: str, site: Site, **extra: Any) -> dict[str, Any]:
    body = {"site_id": site.id, "title": "3 号楼楼道灯不亮", "category": "lighting", **extra}
    r = client.post("/api/v1/work-orders", json=body, headers=bearer(token))
    assert r.status_code in (200, 201), r.text
    doc: dict[str, Any] = r.json()
    return doc


def test_created_work_order_is_listed_with_its_etag(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = _create(client, tokens.duty, example_site)
    r = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty))
    assert r.headers["ETag"] == made["etag"]
    listed = client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).json()
    assert [w["id"] for w in listed["items"]] == [made["id"]]


def test_stale_if_match_is_refused_with_412_problem(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = _create(client, tokens.duty, example_site, assignee="wang-gong")
    url = f"/api/v1/work-orders/{made['id']}"
    ok = client.post(
        url + "/comments",
        json={"note": "已联系业主"},
        headers={**bearer(tokens.duty), "If-Match": made["etag"]},
    )
    assert ok.status_code == 201
    stale = client.post(
        url + "/transitions",
        json={"to": "accepted"},
        headers={**bearer(tokens.duty), "If-Match": made["etag"]},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.headers["ETag"] == ok.headers["ETag"]


def test_illegal_transition_is_a_409_problem(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = _create(client, tokens.duty, example_site, assignee="wang-gong")
    r = client.post(
        f"/api/v1/work-orders/{made['id']}/transitions",
        json={"to": "closed"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 409
    assert r.json()["code"] == "illegal_transition"


def test_technician_sees_only_own_tasks(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    mine = _create(client, tokens.duty, example_site, assignee="wang-gong")
    theirs = _create(client, tokens.duty, example_site, assignee="li-shifu")
    listed = client.get("/api/v1/work-orders", headers=bearer(tokens.technician)).json()
    assert [w["id"] for w in listed["items"]] == [mine["id"]]
    r = client.get(f"/api/v1/work-orders/{theirs['id']}", headers=bearer(tokens.technician))
    assert r.status_code == 403


def test_technician_cannot_move_someone_elses_task(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    theirs = _create(client, tokens.duty, example_site, assignee="li-shifu")
    r = client.post(
        f"/api/v1/work-orders/{theirs['id']}/transitions",
        json={"to": "accepted"},
        headers=bearer(tokens.technician),
    )
    assert r.status_code == 403


def test_technician_accepts_own_task_and_audit_names_them(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    mine = _create(client, tokens.duty, example_site, assignee="wang-gong")
    r = client.post(
        f"/api/v1/work-orders/{mine['id']}/transitions",
        json={"to": "accepted"},
        headers=bearer(tokens.technician),
    )
    assert r.json()["status"] == "accepted"
    log = client.get("/api/v1/audit", headers=bearer(tokens.admin)).json()
    assert (log[0]["actor"], log[0]["subject"]) == ("wang", f"work_order:{mine['id']}")


def test_external_id_maps_both_ways_and_repeats_return_the_same_order(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    first = _create(client, tokens.integration, example_site, external_id="TK-1")
    again = _create(client, tokens.integration, example_site, external_id="TK-1")
    assert again["id"] == first["id"] and first["external_id"] == "TK-1"
    found = client.get(
        f"/api/v1/work-orders/by-external/{example_site.id}/TK-1", headers=bearer(tokens.duty)
    )
    assert found.json()["id"] == first["id"]


def test_cursor_pages_cover_every_order_once(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = {_create(client, tokens.duty, example_site, title=f"工单 {i}")["id"] for i in range(7)}
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, "sort": "resolve_due"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/work-orders", params=params, headers=bearer(tokens.duty)).json()
        seen += [w["id"] for w in page["items"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)


def test_garbage_cursor_is_a_422_problem(client: TestClient, tokens: Tokens) -> None:
    r = client.get("/api/v1/work-orders", params={"cursor": "%%%"}, headers=bearer(tokens.duty))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
