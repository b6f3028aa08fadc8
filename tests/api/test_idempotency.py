"""`Idempotency-Key`: a repeated POST gets the first answer, kept in the database."""

from __future__ import annotations

from fastapi.testclient import TestClient

from propwatch.site import Site
from tests.api.conftest import Tokens, bearer


def _post(
    client: TestClient, tokens: Tokens, site: Site, key: str, title: str
) -> tuple[int, dict[str, object], dict[str, str]]:
    r = client.post(
        "/api/v1/work-orders",
        json={"site_id": site.id, "title": title, "category": "general"},
        headers={**bearer(tokens.duty), "Idempotency-Key": key},
    )
    return r.status_code, r.json(), dict(r.headers)


def test_repeated_post_returns_the_first_result_and_creates_one_order(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    first = _post(client, tokens, example_site, "k-1", "消防栓漏水")
    again = _post(client, tokens, example_site, "k-1", "消防栓漏水")
    assert again[:2] == first[:2] and again[2]["idempotent-replayed"] == "true"
    listed = client.get("/api/v1/work-orders", headers=bearer(tokens.duty)).json()
    assert len(listed["items"]) == 1


def test_same_key_with_another_body_is_refused(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    _post(client, tokens, example_site, "k-2", "消防栓漏水")
    status, _, headers = _post(client, tokens, example_site, "k-2", "别的事")
    assert status == 422 and headers["content-type"] == "application/problem+json"


def test_keys_of_different_callers_do_not_collide(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    body = {"site_id": example_site.id, "title": "井盖松动", "category": "general"}
    a = client.post(
        "/api/v1/work-orders", json=body, headers={**bearer(tokens.duty), "Idempotency-Key": "same"}
    )
    b = client.post(
        "/api/v1/work-orders",
        json=body,
        headers={**bearer(tokens.integration), "Idempotency-Key": "same"},
    )
    assert a.json()["id"] != b.json()["id"]
