"""`Idempotency-Key`: the key claimed before the work, held while its request runs, its answer
replayed for 24 h; twins sent at once make one order, on SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from api.app import create_app
from api.deps import AppContext
from api.idempotency import (
    KEEP,
    LEASE,
    Claimed,
    IdempotencyKeys,
    actor_of,
    mark_applied,
    request_digest,
)
from api.models import IdempotencyRecord
from api.problems import ApiProblem
from maintenance.db import Database, PoolOptions
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.conftest import ADMIN_TOKEN, Tokens, bearer, make_ctx, make_tokens
from tests.api.live import serve
from tests.support.servers import wait_until

CREATE = "/api/v1/work-orders"
T = TypeVar("T")


def _body(site: Site, title: str) -> bytes:
    return json.dumps({"site_id": site.id, "title": title, "category": "general"}).encode()


def _post(
    client: TestClient, token: str, key: str, body: bytes, path: str = CREATE
) -> httpx.Response:
    return client.post(
        path,
        content=body,
        headers={**bearer(token), "Idempotency-Key": key, "Content-Type": "application/json"},
    )


def _orders(db: Database, title: str) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).where(WorkOrder.title == title)) or 0


def _claim_as(ctx: AppContext, token: str, key: str, body: bytes) -> Claimed:
    """What the first of two requests does before its work: claim the key (the twin is HTTP)."""

    async def here(work: Callable[..., T], *args: Any) -> T:
        return work(*args)

    keys = IdempotencyKeys(ctx.db, ctx.clock)
    digest = request_digest(CREATE, b"", body)
    claimed = asyncio.run(
        keys.claim(actor_of(f"Bearer {token}".encode()), key, CREATE, digest, here, here)
    )
    assert isinstance(claimed, Claimed)
    return claimed


def test_repeated_post_returns_the_first_result_and_creates_one_order(
    client: TestClient, tokens: Tokens, example_site: Site, db: Database
) -> None:
    first = _post(client, tokens.duty, "k-1", _body(example_site, "消防栓漏水"))
    again = _post(client, tokens.duty, "k-1", _body(example_site, "消防栓漏水"))
    assert first.status_code == 201 and again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert _orders(db, "消防栓漏水") == 1


def test_same_key_with_another_body_is_refused(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    _post(client, tokens.duty, "k-2", _body(example_site, "消防栓漏水"))
    r = _post(client, tokens.duty, "k-2", _body(example_site, "别的事"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "idempotency_key_reused"


def test_keys_of_different_callers_do_not_collide(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    body = _body(example_site, "井盖松动")
    a = _post(client, tokens.duty, "same", body)
    b = _post(client, tokens.integration, "same", body)
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_a_repeat_while_the_first_request_runs_is_told_to_retry_after(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext, db: Database
) -> None:
    body = _body(example_site, "电梯异响")
    _claim_as(ctx, tokens.duty, "k-busy", body)
    twin = _post(client, tokens.duty, "k-busy", body)
    assert twin.status_code == 409 and twin.json()["code"] == "idempotency_key_in_use"
    assert int(twin.headers["retry-after"]) >= 1
    assert _orders(db, "电梯异响") == 0


def test_a_claim_whose_request_died_is_taken_over_after_its_lease(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext, db: Database
) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    body = _body(example_site, "水泵停机")
    _claim_as(ctx, tokens.duty, "k-died", body)
    clock.advance(LEASE + timedelta(seconds=1))
    retry = _post(client, tokens.duty, "k-died", body)
    again = _post(client, tokens.duty, "k-died", body)
    assert retry.status_code == 201 and again.json() == retry.json()
    assert _orders(db, "水泵停机") == 1


def test_a_request_whose_claim_was_taken_over_changes_nothing(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext, db: Database
) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    body = _body(example_site, "门禁失灵")
    slow = _claim_as(ctx, tokens.duty, "k-slow", body)
    clock.advance(LEASE + timedelta(seconds=1))
    assert _post(client, tokens.duty, "k-slow", body).status_code == 201  # the retry's order
    with pytest.raises(ApiProblem) as refused, db.session() as s:
        s.execute(text("DELETE FROM api_audit"))  # the slow request's work, to be rolled back
        mark_applied(s, slow.id)
    assert refused.value.code == "idempotency_key_in_use"
    with db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM api_audit")) == 1


def test_keys_expire_after_a_day_and_are_pruned(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext, db: Database
) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    first = _post(client, tokens.duty, "k-day", _body(example_site, "路灯不亮"))
    _post(client, tokens.duty, "k-forgotten", _body(example_site, "草坪积水"))
    clock.advance(KEEP + timedelta(seconds=1))
    later = _post(client, tokens.duty, "k-day", _body(example_site, "别的路灯"))
    assert first.status_code == later.status_code == 201
    assert later.json()["id"] != first.json()["id"]  # a day later the key is free again

    def forgotten() -> bool:
        with db.session() as s:
            return s.scalar(select(func.count()).where(IdempotencyRecord.key == "k-forgotten")) == 0

    # the claim of `later` started a prune, off the request's path
    wait_until(forgotten, 10, "the expired key to be pruned")


def test_a_new_token_is_never_stored_nor_replayed(
    client: TestClient, db: Database, example_site: Site
) -> None:
    body = json.dumps({"name": "erp", "role": "integration", "sites": [example_site.id]}).encode()
    first = _post(client, ADMIN_TOKEN, "k-token", body, "/api/v1/tokens")
    secret = first.json()["token"]
    assert first.status_code == 201 and secret
    again = _post(client, ADMIN_TOKEN, "k-token", body, "/api/v1/tokens")
    assert again.status_code == 409
    problem = again.json()
    assert problem["code"] == "idempotency_secret_withheld"
    assert problem["answer"]["name"] == "erp" and problem["answer"]["token"] is None
    assert secret not in again.text
    rotated = _post(client, ADMIN_TOKEN, "k-rotate", b"", "/api/v1/tokens/erp/rotate")
    assert rotated.status_code == 200 and rotated.json()["token"]
    with db.session() as s:
        stored = " ".join(b or "" for b in s.scalars(select(IdempotencyRecord.body)))
    assert secret not in stored and rotated.json()["token"] not in stored


def test_a_webhook_secret_is_never_stored_nor_replayed(
    client: TestClient, tokens: Tokens, db: Database, example_site: Site
) -> None:
    body = json.dumps(
        {
            "url": "https://93.184.215.14/hooks/propwatch",
            "event_types": ["work_order.created"],
            "sites": [example_site.id],
        }
    ).encode()
    first = _post(client, tokens.integration, "k-hook", body, "/api/v1/webhooks")
    assert first.status_code == 201, first.text
    secret = first.json()["secret"]
    again = _post(client, tokens.integration, "k-hook", body, "/api/v1/webhooks")
    assert again.status_code == 409 and again.json()["code"] == "idempotency_secret_withheld"
    assert again.json()["answer"]["id"] == first.json()["id"] and secret not in again.text
    with db.session() as s:
        assert all(secret not in (b or "") for b in s.scalars(select(IdempotencyRecord.body)))


def test_a_failed_request_releases_its_key(
    tokens: Tokens, example_site: Site, ctx: AppContext, db: Database
) -> None:
    body = _body(example_site, "配电箱跳闸")
    claimed = _claim_as(ctx, tokens.duty, "k-fail", body)
    IdempotencyKeys(db, ctx.clock).finish(claimed.id, 503, b"{}", {})
    with db.session() as s:
        assert s.get(IdempotencyRecord, claimed.id) is None


# --- real HTTP, real concurrency, both databases ---------------------------------------------


@pytest.fixture
def live_ctx(
    database_url: str, example_site: Site, clock: ManualClock, tmp_path: Path
) -> Iterator[AppContext]:
    db = Database(database_url)
    db.upgrade()
    yield make_ctx(db, example_site, clock, tmp_path / "var")
    db.dispose()


async def _fire(
    base: str, requests: list[tuple[str, dict[str, str], bytes]]
) -> list[httpx.Response]:
    """Every request at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        return await asyncio.gather(
            *(http.post(path, content=body, headers=h) for path, h, body in requests)
        )


def _retry_busy(
    base: str, requests: list[tuple[str, dict[str, str], bytes]], answers: list[httpx.Response]
) -> list[httpx.Response]:
    """Send again, a few times, what was answered 503 with Retry-After; nothing else."""
    answers = list(answers)
    for _ in range(10):
        busy = [i for i, r in enumerate(answers) if r.status_code == 503]
        if not busy:
            break
        assert all("retry-after" in answers[i].headers for i in busy)
        for i, r in zip(busy, asyncio.run(_fire(base, [requests[i] for i in busy])), strict=True):
            answers[i] = r
    return answers


def _keyed(token: str, key: str) -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": key, "Content-Type": "application/json"}


def test_twins_sent_at_once_make_one_order(live_ctx: AppContext, example_site: Site) -> None:
    tokens = make_tokens(live_ctx, example_site)
    body = _body(example_site, "地下车库漏水")
    with serve(create_app(live_ctx)) as base:
        answers = asyncio.run(_fire(base, [(CREATE, _keyed(tokens.duty, "twin"), body)] * 20))
        after = asyncio.run(_fire(base, [(CREATE, _keyed(tokens.duty, "twin"), body)]))[0]
    made = [r for r in answers if r.status_code == 201]
    busy = [r for r in answers if r.status_code == 409]
    assert len(made) + len(busy) == len(answers), [r.status_code for r in answers]
    assert made and len({r.json()["id"] for r in made}) == 1
    assert all(r.json()["code"] == "idempotency_key_in_use" for r in busy)
    assert all("retry-after" in r.headers for r in busy)
    assert after.status_code == 201 and after.json()["id"] == made[0].json()["id"]
    assert _orders(live_ctx.db, "地下车库漏水") == 1


def test_a_burst_of_200_keyed_posts_gets_no_5xx(live_ctx: AppContext, example_site: Site) -> None:
    tokens = make_tokens(live_ctx, example_site)
    burst = [
        (CREATE, _keyed(tokens.integration, f"burst-{i}"), _body(example_site, f"巡检 {i}"))
        for i in range(200)
    ]
    sqlite = live_ctx.db.url.startswith("sqlite")
    with serve(create_app(live_ctx)) as base:
        first = asyncio.run(_fire(base, burst))
        again = asyncio.run(_fire(base, burst))
        if not sqlite:
            # PostgreSQL's pool may be saturated on a loaded machine: that is a 503 with
            # Retry-After by design, and a client that retries gets its one order.
            first, again = _retry_busy(base, burst, first), _retry_busy(base, burst, again)
    statuses = sorted({r.status_code for r in first + again})
    assert statuses == [201], statuses
    assert {r.json()["id"] for r in again} == {r.json()["id"] for r in first}
    with live_ctx.db.session() as s:
        made = s.scalar(select(func.count()).where(WorkOrder.title.like("巡检 %")))
    assert made == 200


def test_a_saturated_pool_answers_503_with_retry_after(
    database_url: str, example_site: Site, clock: ManualClock, tmp_path: Path
) -> None:
    db = Database(database_url, PoolOptions(size=1, max_overflow=0, timeout=0.5))
    db.upgrade()
    ctx = make_ctx(db, example_site, clock, tmp_path / "var")
    tokens = make_tokens(ctx, example_site)
    body = _body(example_site, "消防通道堵塞")
    held = [db.engine.connect(), *([db.reader.connect()] if db.reader is not db.engine else [])]
    for conn in held:
        conn.exec_driver_sql("SELECT 1")
    try:
        with serve(create_app(ctx)) as base:
            keyed, listed, unkeyed = asyncio.run(
                _gather(
                    base,
                    [
                        ("POST", CREATE, _keyed(tokens.duty, "k-pool"), body),
                        ("GET", CREATE, bearer(tokens.duty), b""),
                        (
                            "POST",
                            CREATE,
                            {**bearer(ADMIN_TOKEN), "Content-Type": "application/json"},
                            body,
                        ),
                    ],
                )
            )
            for conn in held:
                conn.close()
            later = asyncio.run(_fire(base, [(CREATE, _keyed(tokens.duty, "k-pool"), body)]))[0]
    finally:
        for conn in held:
            conn.close()
        db.dispose()
    for r in (keyed, listed, unkeyed):
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) >= 1 and r.json()["code"] == "database_busy"
    assert later.status_code == 201  # the refused request had not taken the key


async def _gather(
    base: str, requests: list[tuple[str, str, dict[str, str], bytes]]
) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await asyncio.gather(
            *(
                http.request(method, path, content=body or None, headers=h)
                for method, path, h, body in requests
            )
        )
