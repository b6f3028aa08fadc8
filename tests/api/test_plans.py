"""Plans over HTTP: the site file's plans are listed, and a preview shows the next occurrences."""

from __future__ import annotations

from fastapi.testclient import TestClient

from propwatch.site import Site
from tests.api.conftest import Tokens, bearer


def test_site_file_plans_are_listed(client: TestClient, tokens: Tokens, example_site: Site) -> None:
    r = client.get(f"/api/v1/sites/{example_site.id}/plans", headers=bearer(tokens.duty))
    assert "lift-half-monthly" in {p["id"] for p in r.json()}


def test_preview_lists_upcoming_occurrences_in_order(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    r = client.get(
        f"/api/v1/sites/{example_site.id}/plans/lift-half-monthly/preview",
        params={"days": 60},
        headers=bearer(tokens.duty),
    )
    times = [item["scheduled_at"] for item in r.json()]
    assert len(times) >= 2 and times == sorted(times)


def test_unknown_plan_is_a_404_problem(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    r = client.get(f"/api/v1/sites/{example_site.id}/plans/nope", headers=bearer(tokens.duty))
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
