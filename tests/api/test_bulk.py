"""POST /api/v1/work-orders/bulk: NDJSON in, one result line per row out, each row created
once however often the body is sent (by external_id or key), bad rows refused alone; SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.deps import AppContext
from api.models import AuditEntry, ExternalRef
from maintenance.work_orders.models import WorkOrder
from propwatch.site import Site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.api.live import serve

db, migrated_template, example_site = (
    integration.db,
    integration.migrated_template,
    integration.example_site,
)

NDJSON = {"Content-Type": "application/x-ndjson"}


def _body(rows: list[Any]) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n"
        for r in rows
    )


def _send(client: TestClient, token: str, rows: list[Any]) -> list[dict[str, Any]]:
    r = client.post(
        "/api/v1/work-orders/bulk", content=_body(rows), headers={**bearer(token), **NDJSON}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in r.content.splitlines()]


def _row(site: Site, n: int, **fields: Any) -> dict[str, Any]:
    return {"site_id": site.id, "title": f"迁移工单 {n}", "external_id": f"OLD-{n}", **fields}


def _count(ctx: AppContext) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(WorkOrder)) or 0


def test_each_row_is_created_and_answered_in_order(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    rows = [
        _row(example_site, 1, tags=["漏水"], custom_fields={"floor": 2}),
        _row(example_site, 2, category="elevator", priority="emergency"),
        {"site_id": example_site.id, "title": "没有外部单号", "key": "row-3"},
    ]
    results = _send(client, tokens.integration, rows)
    assert [(r["line"], r["status"]) for r in results] == [(1, 201), (2, 201), (3, 201)]
    assert [r.get("external_id") for r in results] == ["OLD-1", "OLD-2", None]
    assert results[2]["key"] == "row-3"
    first = client.get(f"/api/v1/work-orders/{results[0]['id']}", headers=bearer(tokens.duty))
    assert first.json()["code"] == results[0]["code"]
    assert (first.json()["tags"], first.json()["custom_fields"]) == (["漏水"], {"floor": 2})
    assert first.json()["external_id"] == "OLD-1"
    with ctx.db.session() as s:
        audited = s.scalars(select(AuditEntry.subject).where(AuditEntry.path.like("%/bulk"))).all()
    assert sorted(str(a) for a in audited) == sorted(f"work_order:{r['id']}" for r in results)


def test_the_same_body_sent_again_creates_nothing_and_answers_the_orders_made(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    rows = [_row(example_site, 1), {"site_id": example_site.id, "title": "按行键", "key": "k-1"}]
    first = _send(client, tokens.integration, rows)
    again = _send(client, tokens.integration, [*rows, _row(example_site, 2)])
    assert [r["status"] for r in again] == [200, 200, 201]
    assert [r["id"] for r in again[:2]] == [r["id"] for r in first]
    assert _count(ctx) == 3
    # a row key is the token's own: another token's same key is another row
    other = _send(client, tokens.duty, [rows[1]])
    assert other[0]["status"] == 201 and other[0]["id"] != first[1]["id"]


def test_a_bad_row_is_refused_alone_with_the_problem_the_single_create_answers(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    rows: list[Any] = [
        _row(example_site, 1),
        b'{"site_id": "hexie", "title": ',  # not JSON
        _row(example_site, 3, asset="pump-99"),
        {"site_id": example_site.id, "external_id": "OLD-4"},  # no title
        _row(example_site, 5, title="含\u0000字符"),
        {"site_id": example_site.id, "title": "无单号无行键"},
        _row(example_site, 7, tags=["漏雨"]),
        _row(example_site, 8, colour="red"),
        _row(example_site, 9),
    ]
    results = _send(client, tokens.integration, rows)
    assert [r["status"] for r in results] == [201, 422, 422, 422, 422, 422, 422, 422, 201]
    problems = {r["line"]: r["problem"] for r in results if "problem" in r}
    assert problems[3]["code"] == "unknown_reference"
    assert [e["loc"] for e in problems[3]["errors"]] == [["body", "asset"]]
    assert [e["loc"] for e in problems[4]["errors"]] == [["body", "title"]]
    assert [e["loc"] for e in problems[5]["errors"]] == [["body", "title"]]
    assert [e["loc"] for e in problems[6]["errors"]] == [["body", "key"]]
    assert problems[7]["code"] == "unknown_tag"
    assert [e["loc"] for e in problems[8]["errors"]] == [["body", "colour"]]
    assert all(p["instance"] == "/api/v1/work-orders/bulk" for p in problems.values())
    assert _count(ctx) == 2
    with ctx.db.session() as s:
        linked = s.scalars(select(ExternalRef.external_id).order_by(ExternalRef.id)).all()
    assert linked == ["OLD-1", "OLD-9"]


def test_blank_lines_are_skipped_and_the_line_numbers_kept(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    body = _body([_row(example_site, 1)]) + b"\n  \n" + _body([_row(example_site, 2)])
    r = client.post(
        "/api/v1/work-orders/bulk", content=body, headers={**bearer(tokens.duty), **NDJSON}
    )
    assert [json.loads(x)["line"] for x in r.content.splitlines()] == [1, 4]


def test_a_row_for_a_site_the_token_may_not_see_is_403_and_an_unknown_site_422(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    rows = [
        {"site_id": "another-site", "title": "别的小区", "key": "a"},
        _row(example_site, 2),
    ]
    results = _send(client, tokens.integration, rows)
    assert [r["status"] for r in results] == [403, 201]
    results = _send(client, tokens.admin, [{"site_id": "no-such-site", "title": "x", "key": "b"}])
    assert results[0]["status"] == 422
    assert [e["loc"] for e in results[0]["problem"]["errors"]] == [["body", "site_id"]]


def test_a_body_that_is_not_ndjson_is_415_and_too_many_rows_413(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    r = client.post(
        "/api/v1/work-orders/bulk", json=[_row(example_site, 1)], headers=bearer(tokens.duty)
    )
    assert r.status_code == 415
    assert r.json()["code"] == "bulk_media_type"
    many = _body([_row(example_site, i) for i in range(1001)])
    r = client.post(
        "/api/v1/work-orders/bulk", content=many, headers={**bearer(tokens.duty), **NDJSON}
    )
    assert r.status_code == 413
    assert r.json()["code"] == "bulk_too_large"
    assert _count(ctx) == 0


def test_the_same_body_sent_twice_at_once_makes_each_order_once(
    ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    rows = [_row(example_site, i) for i in range(30)] + [
        {"site_id": example_site.id, "title": f"行键 {i}", "key": f"k-{i}"} for i in range(30)
    ]
    body = _body(rows)
    with serve(create_app(ctx)) as base:

        def send(_: int) -> list[dict[str, Any]]:
            r = httpx.post(
                f"{base}/api/v1/work-orders/bulk",
                content=body,
                headers={**bearer(tokens.integration), **NDJSON},
                timeout=120,
            )
            assert r.status_code == 200, r.text
            return [json.loads(line) for line in r.content.splitlines()]

        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(send, range(3)))
    assert _count(ctx) == 60
    for line in range(60):
        ids = {a[line]["id"] for a in answers}
        assert len(ids) == 1, answers[0][line]
        assert sorted(a[line]["status"] for a in answers) == [200, 200, 201]
