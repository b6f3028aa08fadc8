"""回访评价 over HTTP on SQLite and PostgreSQL: customer service scores the revisit at the
`revisited` transition; bad scores are 422 with the field named and keep nothing; an unsatisfied
one reopens the order and tells the supervisor once, even when the request is sent twice at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.auth import ApiRole, issue_token
from api.deps import AppContext
from maintenance.notifications import Notification
from maintenance.work_orders.models import WorkOrderRevisit
from propwatch.site import Site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.api.integration import create_order
from tests.api.live import serve

db, migrated_template, example_site = (
    integration.db,
    integration.migrated_template,
    integration.example_site,
)

TO_CLOSED = ("accepted", "on_site", "resolved", "verified", "closed")
GOOD = {"response": 5, "quality": 4, "attitude": 5, "via": "phone", "comment": "很满意"}


@pytest.fixture
def service_token(ctx: AppContext, example_site: Site) -> str:
    """A duty token of 陈客服 (customer service)."""
    with ctx.db.session() as s:
        return issue_token(
            s,
            name="kefu",
            role=ApiRole.DUTY,
            sites=[example_site.id],
            person="chen-kf",
            now=ctx.clock.now(),
        )


def _closed_ticket(client: TestClient, tokens: Tokens, site: Site, ext: str) -> dict[str, Any]:
    made = create_order(
        client, tokens.integration, site, external_id=ext, zone="zone-a", assignee="wang-gong"
    )
    doc = made
    for to in TO_CLOSED:
        r = client.post(
            f"/api/v1/work-orders/{made['id']}/transitions",
            json={"to": to},
            headers=bearer(tokens.duty),
        )
        assert r.status_code == 200, r.text
        doc = r.json()
    assert doc["status"] == "closed"
    return doc


def _revisit(
    client: TestClient, token: str, wo_id: int, revisit: Any, **headers: str
) -> httpx.Response:
    body: dict[str, Any] = {"to": "revisited"}
    if revisit is not None:
        body["revisit"] = revisit
    r: httpx.Response = client.post(
        f"/api/v1/work-orders/{wo_id}/transitions",
        json=body,
        headers={**bearer(token), **headers},
    )
    return r


def _outbox(ctx: AppContext, topic: str | None = None) -> int:
    with ctx.db.session() as s:
        q = select(func.count()).select_from(Notification)
        if topic is not None:
            q = q.where(Notification.topic == topic)
        return int(s.scalar(q) or 0)


def _revisit_rows(ctx: AppContext) -> int:
    with ctx.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(WorkOrderRevisit)) or 0)


def test_the_detail_shows_the_revisit_with_labels_the_name_and_local_time(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext, service_token: str
) -> None:
    made = _closed_ticket(client, tokens, example_site, "TK-1")
    r = _revisit(client, service_token, made["id"], GOOD)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "revisited" and doc["status_zh"] == "已回访"
    [shown] = doc["revisits"]
    assert shown["by"] == "chen-kf" and shown["by_name"] == "陈客服"
    assert shown["at_local"] == "11月23日 10:00"
    assert (shown["via"], shown["via_zh"], shown["comment"]) == ("phone", "电话回访", "很满意")
    assert shown["scores"] == [
        {"item": "response", "item_zh": "响应速度", "score": 5},
        {"item": "quality", "item_zh": "维修质量", "score": 4},
        {"item": "attitude", "item_zh": "服务态度", "score": 5},
    ]
    assert (shown["satisfied"], shown["unsatisfied"], shown["outcome"]) == (True, False, "closed")
    assert shown["outcome_zh"] == "已闭环" and shown["on_time"] is True
    again = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert again["revisits"] == doc["revisits"]
    assert _outbox(ctx, "work_order.unsatisfied") == 0


@pytest.mark.parametrize(
    ("revisit", "field"),
    [
        ({**GOOD, "response": 0}, ["body", "revisit", "response"]),
        ({**GOOD, "quality": 6}, ["body", "revisit", "quality"]),
        ({k: v for k, v in GOOD.items() if k != "attitude"}, ["body", "revisit", "attitude"]),
        ({**GOOD, "attitude": 4.5}, ["body", "revisit", "attitude"]),
        ({**GOOD, "via": "resident_link"}, ["body", "revisit", "via"]),
        (None, ["body", "revisit"]),  # a ticket's order needs the scores
    ],
)
def test_bad_or_missing_scores_are_422_with_the_field_named_and_nothing_is_kept(
    client: TestClient,
    tokens: Tokens,
    example_site: Site,
    ctx: AppContext,
    revisit: Any,
    field: list[str],
) -> None:
    made = _closed_ticket(client, tokens, example_site, "TK-2")
    before = _outbox(ctx)
    r = _revisit(client, tokens.duty, made["id"], revisit)
    assert r.status_code == 422, r.text
    assert field in [e["loc"] for e in r.json()["errors"]], r.text
    after = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert (after["status"], after["revisited_at"], after["revisits"]) == ("closed", None, [])
    assert after["etag"] == made["etag"]
    assert (_outbox(ctx), _revisit_rows(ctx)) == (before, 0)


def test_scores_with_another_transition_are_422_naming_revisit(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = _closed_ticket(client, tokens, example_site, "TK-3")
    r = client.post(
        f"/api/v1/work-orders/{made['id']}/transitions",
        json={"to": "reopened", "note": "住户来电", "revisit": GOOD},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 422
    assert ["body", "revisit"] in [e["loc"] for e in r.json()["errors"]]


def test_a_technician_may_not_score_their_own_work(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = _closed_ticket(client, tokens, example_site, "TK-4")
    r = _revisit(client, tokens.technician, made["id"], GOOD)
    assert r.status_code == 403
    doc = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert doc["status"] == "closed"


def test_an_unsatisfied_score_reopens_the_order_and_the_supervisor_is_told(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    made = _closed_ticket(client, tokens, example_site, "TK-5")
    r = _revisit(client, tokens.duty, made["id"], {**GOOD, "quality": 2, "comment": "还在漏"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["status"], doc["reopen_count"]) == ("reopened", 1)
    [shown] = doc["revisits"]
    assert (shown["outcome"], shown["unsatisfied"], shown["by_name"]) == (
        "reopened",
        True,
        "值班员",
    )
    with ctx.db.session() as s:
        [told] = s.scalars(
            select(Notification).where(Notification.topic == "work_order.unsatisfied")
        ).all()
        assert told.recipient == "zhou-zg" and told.work_order_id == made["id"]


@pytest.mark.parametrize("guard", ["none", "if-match", "idempotency-key"])
def test_the_same_unsatisfied_revisit_sent_twice_at_once_acts_once(
    ctx: AppContext, tokens: Tokens, example_site: Site, guard: str
) -> None:
    with TestClient(create_app(ctx)) as setup:
        made = _closed_ticket(setup, tokens, example_site, "TK-6")
    headers = {**bearer(tokens.duty), "Content-Type": "application/json"}
    if guard == "if-match":
        headers["If-Match"] = made["etag"]
    elif guard == "idempotency-key":
        headers["Idempotency-Key"] = "revisit-TK-6"
    body = {"to": "revisited", "revisit": {**GOOD, "attitude": 1, "quality": 1}}
    with serve(create_app(ctx)) as base:

        def send(_: int) -> int:
            r = httpx.post(
                f"{base}/api/v1/work-orders/{made['id']}/transitions",
                json=body,
                headers=headers,
                timeout=30,
            )
            return r.status_code

        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(send, range(2)))
    assert statuses[0] == 200, statuses
    assert statuses[1] in {200, 409, 412}, statuses  # a replay, in use, illegal or stale
    with ctx.db.session() as s:
        rows = s.scalars(select(WorkOrderRevisit)).all()
        assert [(r.round, r.outcome) for r in rows] == [(0, "reopened")]
    assert _outbox(ctx, "work_order.unsatisfied") == 1
    with TestClient(create_app(ctx)) as after:
        doc = after.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert (doc["status"], doc["reopen_count"]) == ("reopened", 1)
    assert sum(t["to_status"] == "reopened" for t in doc["transitions"]) == 1


def test_a_front_desk_order_may_be_revisited_without_scores(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    assert made["source"] == "manual"
    for to in TO_CLOSED:
        r = client.post(
            f"/api/v1/work-orders/{made['id']}/transitions",
            json={"to": to},
            headers=bearer(tokens.duty),
        )
        assert r.status_code == 200, r.text
    r = _revisit(client, tokens.duty, made["id"], None)
    assert r.status_code == 200, r.text
    [shown] = r.json()["revisits"]
    assert (shown["scores"], shown["satisfied"], shown["outcome"]) == ([], None, "closed")
