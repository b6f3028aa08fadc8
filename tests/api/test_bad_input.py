"""Bad input is a 4xx naming what is wrong, never a 500 and never silently kept; SQLite and
PostgreSQL (the `db` fixture below runs every test on both).

Strings are sent as `json.dumps` writes them (`\\u0000`, `\\ud800`): a raw control byte would be
refused by the JSON parser before it could reach the database.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import AppContext
from maintenance.db import Database
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.live import serve

NUL = "\u0000"
LONE_SURROGATE = "\ud800"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The migrated schema on each backend (the API's own fixture is SQLite only)."""
    d = Database(database_url)
    d.upgrade()
    yield d
    d.dispose()


def _send(
    client: TestClient, method: str, url: str, token: str, body: Any = None
) -> httpx.Response:
    headers = bearer(token)
    content = None
    if body is not None:
        content = json.dumps(body)  # ASCII with \u escapes, as most JSON encoders send it
        headers["Content-Type"] = "application/json"
    r: httpx.Response = client.request(method, url, content=content, headers=headers)
    return r


def _locations(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return [e["loc"] for e in r.json()["errors"]]


def _order(client: TestClient, tokens: Tokens, **fields: Any) -> dict[str, Any]:
    body = {"site_id": "hexie", "title": "3 号楼楼道灯不亮", "category": "lighting", **fields}
    r = _send(client, "POST", "/api/v1/work-orders", tokens.duty, body)
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


def _orders(client: TestClient, tokens: Tokens) -> list[dict[str, Any]]:
    r = client.get("/api/v1/work-orders", headers=bearer(tokens.duty))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


# -- dates the code cannot compute --------------------------------------------------------------


@pytest.mark.parametrize(
    "reported_at",
    [
        "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC: OverflowError
        "9999-12-31T23:59:59-14:00",  # after year 9999 once in UTC
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:01Z",
    ],
)
def test_reported_at_outside_1970_to_2200_is_refused_naming_the_field(
    client: TestClient, tokens: Tokens, reported_at: str
) -> None:
    body = {"site_id": "hexie", "title": "水泵异响", "reported_at": reported_at}
    r = _send(client, "POST", "/api/v1/work-orders", tokens.duty, body)
    assert _locations(r) == [["body", "reported_at"]]
    assert _orders(client, tokens) == []


def test_shelve_until_and_history_bounds_outside_the_range_are_refused(
    client: TestClient, tokens: Tokens
) -> None:
    far = "9999-12-31T23:59:59-14:00"
    r = _send(
        client, "POST", "/api/v1/alarms/1/shelve", tokens.duty, {"until": far, "reason": "施工"}
    )
    assert _locations(r) == [["body", "until"]]
    early = "0001-01-01T00:00:00+14:00"
    r = client.get(
        "/api/v1/alarms/history", params={"since": early, "until": far}, headers=bearer(tokens.duty)
    )
    assert sorted(_locations(r)) == [["query", "since"], ["query", "until"]]


def test_a_time_that_is_not_rfc3339_is_refused(client: TestClient, tokens: Tokens) -> None:
    # pydantic alone takes "0.5" as Unix seconds and "2026-11-23" as midnight
    for since in ["0.5", "1700000000", "2026-11-23", "2026-11-23 10:00:00+08:00"]:
        r = client.get(
            "/api/v1/alarms/history", params={"since": since}, headers=bearer(tokens.duty)
        )
        assert _locations(r) == [["query", "since"]], since
    r = client.get(
        "/api/v1/alarms/history",
        params={"since": "2026-11-23T10:00:00+08:00"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 200


def test_plan_start_outside_the_range_is_refused_and_nothing_kept(
    client: TestClient, tokens: Tokens
) -> None:
    for start in ["0001-01-01T00:00:00", "9999-12-31T23:00:00"]:
        body = {
            "id": "night-check",
            "name": "夜间巡查",
            "every": "1d",
            "start": start,
            "checklist": [{"id": "lamps", "text": "路灯全亮"}],
        }
        r = _send(client, "POST", "/api/v1/sites/hexie/plans", tokens.duty, body)
        assert r.status_code == 422 and "1970-01-01" in r.json()["detail"], r.text
    r = client.get("/api/v1/sites/hexie/plans/night-check", headers=bearer(tokens.duty))
    assert r.status_code == 404


def test_checklist_results_take_json_booleans_and_numbers_only(
    client: TestClient, tokens: Tokens
) -> None:
    wo = _order(client, tokens, assignee="wang-gong")["id"]
    for body, field in [
        ({"item_id": "brake", "passed": "yes"}, "passed"),
        ({"item_id": "brake", "passed": 1}, "passed"),
        ({"item_id": "brake", "value": False}, "value"),
        ({"item_id": "brake", "value": "0.5"}, "value"),
    ]:
        r = _send(client, "POST", f"/api/v1/work-orders/{wo}/checklist", tokens.duty, body)
        assert [loc[:2] for loc in _locations(r)] == [["body", field]], body


# -- characters PostgreSQL cannot store ---------------------------------------------------------


def test_nul_in_any_body_field_is_refused_naming_the_field(
    client: TestClient, tokens: Tokens
) -> None:
    wo = _order(client, tokens, assignee="wang-gong")["id"]
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("/api/v1/work-orders", {"site_id": "hexie", "title": f"灯{NUL}坏"}, ["body", "title"]),
        (
            "/api/v1/work-orders",
            {"site_id": "hexie", "title": "灯坏", "description": f"3{NUL}栋"},
            ["body", "description"],
        ),
        (
            "/api/v1/work-orders",
            {"site_id": "hexie", "title": "灯坏", "external_id": f"TK{NUL}1"},
            ["body", "external_id"],
        ),
        (f"/api/v1/work-orders/{wo}/comments", {"note": f"已联系{NUL}"}, ["body", "note"]),
        (
            f"/api/v1/work-orders/{wo}/comments",
            {"note": "照片", "attachments": ["a.jpg", f"b{NUL}.jpg"]},
            ["body", "attachments", "1"],
        ),
        (
            f"/api/v1/work-orders/{wo}/transitions",
            {"to": "on_hold", "note": f"等配件{NUL}"},
            ["body", "note"],
        ),
        (
            f"/api/v1/work-orders/{wo}/assign",
            {"assignee": "li-shifu", "note": NUL},
            ["body", "note"],
        ),
        (f"/api/v1/work-orders/{wo}/checklist", {"item_id": f"brake{NUL}"}, ["body", "item_id"]),
        (
            "/api/v1/assets/hexie/pump-1/out-of-service",
            {"reason": f"送修{NUL}"},
            ["body", "reason"],
        ),
        (
            "/api/v1/sites/hexie/plans",
            {"id": f"p{NUL}", "name": "月检", "template": "water.pump_monthly"},
            ["body", "id"],
        ),
    ]
    for url, body, loc in cases:
        r = _send(client, "POST", url, tokens.duty, body)
        assert _locations(r) == [loc], (url, body)
    assert [o["id"] for o in _orders(client, tokens)] == [wo]


def test_unpaired_surrogate_in_a_body_is_refused(client: TestClient, tokens: Tokens) -> None:
    body = {"site_id": "hexie", "title": f"灯坏{LONE_SURROGATE}"}
    r = _send(client, "POST", "/api/v1/work-orders", tokens.duty, body)
    assert _locations(r) == [["body", "title"]]


def test_nul_in_a_query_value_is_refused_naming_the_parameter(
    client: TestClient, tokens: Tokens
) -> None:
    for url, loc in [
        ("/api/v1/work-orders?external_id=a%00b", ["query", "external_id"]),
        ("/api/v1/work-orders?assignee=%00", ["query", "assignee"]),
        ("/api/v1/alarms/history?asset=a%00b", ["query", "asset"]),
        ("/api/v1/assets?zone=zone-a%00", ["query", "zone"]),
        ("/api/v1/notifications/deliveries?topic=%00", ["query", "topic"]),
    ]:
        r = client.get(url, headers=bearer(tokens.duty))
        assert _locations(r) == [loc], url
    r = client.get("/api/v1/audit?actor=a%00", headers=bearer(tokens.admin))
    assert _locations(r) == [["query", "actor"]]


def test_nul_in_a_path_value_is_refused_naming_the_parameter(
    client: TestClient, tokens: Tokens
) -> None:
    for method, url, loc in [
        ("GET", "/api/v1/assets/hexie/pump%001", ["path", "code"]),
        ("GET", "/api/v1/work-orders/by-external/hexie/TK%001", ["path", "external_id"]),
        ("GET", "/api/v1/sites/hexie/plans/p%00", ["path", "plan_id"]),
        ("GET", "/api/v1/reports/hex%00ie/stocktake", ["path", "site_id"]),
        ("POST", "/api/v1/assets/hexie/pump%001/in-service", ["path", "code"]),
    ]:
        r = client.request(method, url, headers=bearer(tokens.duty))
        assert _locations(r) == [loc], url


def test_nul_in_an_upload_note_or_file_name_is_refused(client: TestClient, tokens: Tokens) -> None:
    wo = _order(client, tokens, assignee="wang-gong")["id"]
    url = f"/api/v1/work-orders/{wo}/attachments"
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    r = client.post(
        url,
        files={"file": ("after.png", png, "image/png")},
        data={"note": f"修好{NUL}"},
        headers=bearer(tokens.duty),
    )
    assert _locations(r) == [["body", "note"]]
    # written by hand: httpx would percent-encode the NUL of a file name
    raw = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="after\x00.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--b--\r\n"
    )
    r = client.post(
        url,
        content=raw,
        headers={**bearer(tokens.duty), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert _locations(r) == [["body", "file"]]
    detail = client.get(f"/api/v1/work-orders/{wo}", headers=bearer(tokens.duty)).json()
    assert [t["to_status"] for t in detail["transitions"]] == ["registered", "dispatched"]


# -- lengths the columns hold (PostgreSQL refuses what SQLite would keep) -------------------------


def test_an_on_hold_reason_longer_than_its_column_is_refused(
    client: TestClient, tokens: Tokens
) -> None:
    wo = _order(client, tokens, assignee="wang-gong")["id"]
    url = f"/api/v1/work-orders/{wo}/transitions"
    r = _send(client, "POST", url, tokens.duty, {"to": "on_hold", "note": "等配件" * 101})
    assert _locations(r) == [["body", "note"]]
    r = _send(client, "POST", url, tokens.duty, {"to": "on_hold", "note": "等" * 300})
    assert r.status_code == 200, r.text
    assert r.json()["hold_reason"] == "等" * 300


def test_a_plan_id_longer_than_its_column_is_refused(client: TestClient, tokens: Tokens) -> None:
    body = {"id": "p" * 65, "name": "月检", "every": "30d", "checklist": [{"id": "a", "text": "b"}]}
    r = _send(client, "POST", "/api/v1/sites/hexie/plans", tokens.duty, body)
    assert r.status_code == 422 and "64" in r.json()["detail"], r.text


# -- references the site does not have ---------------------------------------------------------


def test_unknown_asset_zone_or_assignee_on_create_is_refused_naming_each_field(
    client: TestClient, tokens: Tokens
) -> None:
    for field, value in [("asset", "pump-9"), ("zone", "zone-z"), ("assignee", "nobody")]:
        body = {"site_id": "hexie", "title": "报修", field: value}
        r = _send(client, "POST", "/api/v1/work-orders", tokens.duty, body)
        assert _locations(r) == [["body", field]], field
        assert r.json()["code"] == "unknown_reference"
    body = {"site_id": "hexie", "title": "报修", "asset": "x", "zone": "y", "assignee": "z"}
    r = _send(client, "POST", "/api/v1/work-orders", tokens.duty, body)
    assert sorted(_locations(r)) == [["body", "asset"], ["body", "assignee"], ["body", "zone"]]
    assert _orders(client, tokens) == []


def test_zone_that_contradicts_the_assets_zone_is_refused(
    client: TestClient, tokens: Tokens
) -> None:
    body = {"site_id": "hexie", "title": "水泵异响", "asset": "pump-1", "zone": "zone-b"}
    r = _send(client, "POST", "/api/v1/work-orders", tokens.duty, body)
    assert _locations(r) == [["body", "zone"]]
    made = _order(client, tokens, asset="pump-1", zone="zone-a")
    assert (made["asset"], made["zone"]) == ("pump-1", "zone-a")


def test_unknown_site_on_create_is_refused_naming_the_field(
    client: TestClient, tokens: Tokens
) -> None:
    body = {"site_id": "no-such-site", "title": "报修"}
    r = _send(client, "POST", "/api/v1/work-orders", tokens.admin, body)
    assert _locations(r) == [["body", "site_id"]]
    # a token that may not see the site learns nothing about whether it exists
    r = _send(client, "POST", "/api/v1/work-orders", tokens.duty, body)
    assert r.status_code == 403


def test_unknown_assignee_on_assign_or_dispatch_is_refused_naming_the_field(
    client: TestClient, tokens: Tokens
) -> None:
    wo = _order(client, tokens)["id"]
    r = _send(client, "POST", f"/api/v1/work-orders/{wo}/assign", tokens.duty, {"assignee": "x"})
    assert _locations(r) == [["body", "assignee"]]
    r = _send(
        client,
        "POST",
        f"/api/v1/work-orders/{wo}/transitions",
        tokens.duty,
        {"to": "dispatched", "assignee": "x"},
    )
    assert _locations(r) == [["body", "assignee"]]


def test_token_for_an_unknown_site_or_person_is_refused_naming_the_field(
    client: TestClient, tokens: Tokens
) -> None:
    body = {"name": "erp", "role": "integration", "sites": ["hexie", "no-such-site"]}
    r = _send(client, "POST", "/api/v1/tokens", tokens.admin, body)
    assert _locations(r) == [["body", "sites", "1"]]
    body = {"name": "tech", "role": "technician", "sites": ["hexie"], "person": "nobody"}
    r = _send(client, "POST", "/api/v1/tokens", tokens.admin, body)
    assert _locations(r) == [["body", "person"]]
    listed = client.get("/api/v1/tokens", headers=bearer(tokens.admin)).json()
    assert not {"erp", "tech"} & {t["name"] for t in listed}
    body = {"name": "tech", "role": "technician", "sites": ["hexie"], "person": "wang-gong"}
    assert _send(client, "POST", "/api/v1/tokens", tokens.admin, body).status_code == 201


def test_webhook_for_an_unknown_site_is_refused_naming_the_field(
    client: TestClient, tokens: Tokens
) -> None:
    body = {
        "url": "https://tickets.example.com/hooks/propwatch",
        "event_types": ["work_order.created"],
        "sites": ["no-such-site"],
    }
    r = _send(client, "POST", "/api/v1/webhooks", tokens.admin, body)
    assert _locations(r) == [["body", "sites", "0"]]


# -- the same external id twice at once ----------------------------------------------------------


def test_concurrent_duplicates_of_an_external_id_return_the_one_order(
    ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    twins, rounds = 8, 4
    with serve(create_app(ctx)) as base, httpx.Client(base_url=base, timeout=60) as http:

        def post(external_id: str, barrier: threading.Barrier) -> httpx.Response:
            body = {"site_id": example_site.id, "title": "消防栓漏水", "external_id": external_id}
            barrier.wait()
            return http.post("/api/v1/work-orders", json=body, headers=bearer(tokens.integration))

        with ThreadPoolExecutor(twins) as pool:
            for n in range(rounds):
                barrier = threading.Barrier(twins)
                answers = list(pool.map(post, [f"TK-{n}"] * twins, [barrier] * twins))
                assert sorted(a.status_code for a in answers) == [200] * (twins - 1) + [201], [
                    a.text for a in answers if a.status_code >= 500
                ]
                assert len({a.json()["id"] for a in answers}) == 1
        listed = http.get("/api/v1/work-orders", headers=bearer(tokens.integration)).json()
    assert sorted(o["external_id"] for o in listed["items"]) == [f"TK-{n}" for n in range(rounds)]


# -- conformance of refusals to the published schema ---------------------------------------------


def test_method_not_allowed_lists_every_method_of_the_path(
    client: TestClient, tokens: Tokens
) -> None:
    for method, url, allowed in [
        ("OPTIONS", "/api/v1/tokens", {"GET", "POST"}),
        ("DELETE", "/api/v1/work-orders", {"GET", "POST"}),
        ("PATCH", "/api/v1/sites/hexie/plans/lift-half-monthly", {"GET", "PUT", "DELETE"}),
    ]:
        r = client.request(method, url, headers=bearer(tokens.admin))
        assert r.status_code == 405, url
        assert r.headers["content-type"] == "application/problem+json"
        assert {m.strip() for m in r.headers["allow"].split(",")} == allowed, url


def test_a_body_that_is_not_utf8_is_a_documented_400(client: TestClient, tokens: Tokens) -> None:
    r = client.post(
        "/api/v1/work-orders",
        content=b'{"title": "\xff\xfe"}',
        headers={**bearer(tokens.duty), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    schema = client.get("/openapi.json").json()
    assert "400" in schema["paths"]["/api/v1/work-orders"]["post"]["responses"]
