"""品质检查 over the API on SQLite and PostgreSQL: a scored inspection of the example's monthly
sheet, its totals worked out by hand here, each deduction a rectification of the item's type at
the rule's severity, and every refusal naming the field with nothing kept."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.deps import AppContext
from maintenance.quality.models import Finding, Inspection, InspectionDeduction, Rectification
from tests.api.conftest import Tokens, bearer
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

BASE = "/api/v1/sites/hexie"


def _inspect(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"{BASE}/inspections", json={"sheet": "monthly", **body}, headers=bearer(token))
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    assert r.headers["Location"] == f"{BASE}/inspections/{made['id']}"
    return made


def _kept(ctx: AppContext) -> tuple[int, int, int, int]:
    with ctx.db.session() as s:
        return (
            s.query(Inspection).count(),
            s.query(InspectionDeduction).count(),
            s.query(Finding).count(),
            s.query(Rectification).count(),
        )


def test_an_inspection_is_scored_and_each_deduction_is_rectified(
    client: TestClient, tokens: Tokens
) -> None:
    made = _inspect(
        client,
        tokens.duty,
        zone="zone-a",
        note="十二月例检",
        results=[
            # 10 points, 2 off for each of 2 → 4 off
            {
                "item": "pa-floor",
                "deductions": [{"rule": "litter", "count": 2, "place": "lobby-1", "note": "积水"}],
            },
            # 10 points, blocked (10, 重大) and 2 clutter (4) → capped at 10 off
            {
                "item": "sf-exit",
                "deductions": [
                    {"rule": "blocked", "building": "2栋"},
                    {"rule": "clutter", "count": 2, "place": "stair-2"},
                ],
            },
            {"item": "sv-notice", "not_applicable": True},  # 5 points out of the maximum
        ],
    )
    # pa-floor 6/10 + pa-green 5/5 (not named: nothing found); sf-exit 0/10 + sf-light 5/5
    sections = {s["id"]: (s["score"], s["maximum"]) for s in made["sections"]}
    assert sections == {"public-areas": (11, 15), "safety": (5, 15), "service": (0, 0)}
    assert (made["total"], made["maximum"], made["percent"]) == (16, 30, 53.3)
    items = {i["id"]: i for s in made["sections"] for i in s["items"]}
    assert (items["sf-exit"]["deducted"], items["sf-exit"]["score"]) == (10, 0)
    assert items["sv-notice"]["applicable"] is False
    assert (made["sheet_name"], made["zone_name"], made["inspector_name"]) == (
        "月度品质检查评分表",
        "A区",
        "值班员",
    )
    assert made["inspected_local"] == "11月23日 10:00"

    deductions = made["deductions"]
    assert [(d["item_id"], d["rule_id"], d["count"], d["points"]) for d in deductions] == [
        ("pa-floor", "litter", 2, 4),
        ("sf-exit", "blocked", 1, 10),
        ("sf-exit", "clutter", 2, 4),
    ]
    duty = bearer(tokens.duty)
    rects = [
        client.get(f"{BASE}/rectifications/{d['rectification_id']}", headers=duty).json()
        for d in deductions
    ]
    assert [(r["type"], r["severity"], r["place"]["name"]) for r in rects] == [
        ("cleaning", "general", "1栋大堂"),
        ("fire-safety", "emergency", "2栋"),
        ("fire-safety", "important", "2栋消防楼梯"),
    ]
    assert "月度品质检查评分表·公共区域管理" in rects[0]["note"]
    assert "扣 4 分" in rects[0]["note"] and "积水" in rects[0]["note"]

    listed = client.get(f"{BASE}/inspections", headers=duty).json()["items"]
    assert [i["id"] for i in listed] == [made["id"]]
    again = client.get(f"{BASE}/inspections/{made['id']}", headers=duty).json()
    assert again == made
    sheets = client.get(f"{BASE}/score-sheets", headers=duty).json()["items"]
    assert [s["id"] for s in sheets] == ["monthly"]


def test_the_newest_inspection_comes_first_and_a_sheet_filters(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    mandatory = [{"item": "pa-floor"}, {"item": "sf-exit"}]
    first = _inspect(client, tokens.duty, results=mandatory)
    second = _inspect(client, tokens.duty, results=mandatory)
    assert (second["total"], second["percent"]) == (35, 100)
    duty = bearer(tokens.duty)
    listed = client.get(f"{BASE}/inspections?limit=1", headers=duty).json()["items"]
    assert [i["id"] for i in listed] == [second["id"]]
    assert client.get(f"{BASE}/inspections?sheet=weekly", headers=duty).json()["items"] == []
    assert first["id"] < second["id"]
    assert _kept(ctx) == (2, 0, 0, 0)


@pytest.mark.parametrize(
    ("results", "zh"),
    [
        ([{"item": "pa-floor"}], "必查项未评分"),  # sf-exit is mandatory
        ([{"item": "pa-floor"}, {"item": "sf-exit", "not_applicable": True}], "不能标为不适用"),
        ([{"item": "pa-floor"}, {"item": "pa-floor"}, {"item": "sf-exit"}], "重复"),
        (
            [
                {"item": "pa-floor"},
                {"item": "sf-exit"},
                {"item": "sv-notice", "not_applicable": True, "deductions": [{"rule": "stale"}]},
            ],
            "不适用时不能扣分",
        ),
        (  # the second deduction has no place: the first's rectification is not kept either
            [
                {"item": "pa-floor", "deductions": [{"rule": "litter", "place": "lobby-1"}]},
                {"item": "sf-exit", "deductions": [{"rule": "clutter"}]},
            ],
            "三选一",
        ),
    ],
)
def test_what_cannot_be_scored_is_refused_and_nothing_is_kept(
    client: TestClient, tokens: Tokens, ctx: AppContext, results: list[dict[str, Any]], zh: str
) -> None:
    body = {"sheet": "monthly", "results": results}
    r = client.post(f"{BASE}/inspections", json=body, headers=bearer(tokens.duty))
    assert r.status_code == 422, r.text
    assert zh in r.json()["detail"]
    assert _kept(ctx) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"sheet": "weekly"}, ["body", "sheet"]),
        ({"sheet": "monthly", "zone": "zone-z"}, ["body", "zone"]),
        ({"sheet": "monthly", "results": [{"item": "pa-roof"}]}, ["body", "results", "0", "item"]),
        (
            {"sheet": "monthly", "results": [{"item": "sf-exit", "deductions": [{"rule": "x"}]}]},
            ["body", "results", "0", "deductions", "0", "rule"],
        ),
        (
            {
                "sheet": "monthly",
                "results": [
                    {"item": "sf-exit"},
                    {"item": "pa-floor", "deductions": [{"rule": "litter", "count": 6}]},
                ],
            },
            ["body", "results", "1", "deductions", "0", "count"],
        ),
        (
            {
                "sheet": "monthly",
                "results": [
                    {"item": "sf-exit"},
                    {"item": "pa-floor", "deductions": [{"rule": "litter", "place": "roof"}]},
                ],
            },
            ["body", "results", "1", "deductions", "0", "place"],
        ),
        ({"sheet": "monthly", "score": 100}, ["body", "score"]),
    ],
)
def test_a_bad_inspection_names_the_field(
    client: TestClient, tokens: Tokens, ctx: AppContext, body: dict[str, Any], loc: list[str]
) -> None:
    r = client.post(f"{BASE}/inspections", json=body, headers=bearer(tokens.duty))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [[str(p) for p in e["loc"]] for e in r.json()["errors"]] == [loc]
    assert _kept(ctx) == (0, 0, 0, 0)


def test_only_the_duty_room_scores_and_others_read_nothing_of_another_site(
    client: TestClient, tokens: Tokens
) -> None:
    made = _inspect(client, tokens.duty, results=[{"item": "pa-floor"}, {"item": "sf-exit"}])
    body = {"sheet": "monthly", "results": [{"item": "pa-floor"}, {"item": "sf-exit"}]}
    for token in (tokens.technician, tokens.integration):
        r = client.post(f"{BASE}/inspections", json=body, headers=bearer(token))
        assert r.status_code == 403, r.text
    r = client.get(f"{BASE}/inspections/{made['id']}", headers=bearer(tokens.other_site))
    assert r.status_code == 403
    assert client.get(f"{BASE}/inspections/999", headers=bearer(tokens.duty)).status_code == 404
