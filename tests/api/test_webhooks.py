"""Webhooks to a real local HTTP receiver that checks the HMAC signature."""

from __future__ import annotations

import asyncio
import json

from fastapi.testclient import TestClient

from api.deps import AppContext
from api.webhooks.delivery import WebhookDispatcher, backoff
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.live import Receiver, receiver

SECRET = "whsec_test-secret-0123456789"


def _subscribe(client: TestClient, tokens: Tokens, site: Site, url: str) -> int:
    r = client.post(
        "/api/v1/webhooks",
        json={
            "url": url,
            "event_types": ["work_order.created", "work_order.changed"],
            "sites": [site.id],
            "secret": SECRET,
        },
        headers=bearer(tokens.integration),
    )
    assert r.status_code == 201, r.text
    sub_id: int = r.json()["id"]
    return sub_id


def _new_order(client: TestClient, tokens: Tokens, site: Site) -> int:
    r = client.post(
        "/api/v1/work-orders",
        json={"site_id": site.id, "title": "水泵异响", "category": "water_supply"},
        headers=bearer(tokens.duty),
    )
    wo_id: int = r.json()["id"]
    return wo_id


def _pass(ctx: AppContext) -> int:
    async def once() -> int:
        dispatcher = WebhookDispatcher(ctx.db, ctx.clock)
        try:
            return await dispatcher.run_once()
        finally:
            await dispatcher.aclose()

    return asyncio.run(once())


def test_created_work_order_is_delivered_signed(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        _subscribe(client, tokens, example_site, r.url)
        wo_id = _new_order(client, tokens, example_site)
        _pass(ctx)
    headers, body, signed_ok = r.received[0]
    assert signed_ok
    assert headers["Propwatch-Event"] == "work_order.created"
    assert json.loads(body)["work_order_id"] == wo_id


def test_failed_delivery_is_retried_after_backoff_and_logged(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    with receiver(Receiver(SECRET, int(clock.now().timestamp()), fail_first=1)) as r:
        sub = _subscribe(client, tokens, example_site, r.url)
        _new_order(client, tokens, example_site)
        _pass(ctx)
        assert _pass(ctx) == 0  # not due again before the backoff has passed
        clock.advance(backoff(1))
        r.now = int(clock.now().timestamp())
        _pass(ctx)
    log = client.get(f"/api/v1/webhooks/{sub}/deliveries", headers=bearer(tokens.integration))
    (delivery,) = [d for d in log.json() if d["event_type"] == "work_order.created"]
    assert (delivery["state"], delivery["attempts"], len(r.received)) == ("delivered", 2, 2)


def test_delivery_can_be_sent_again_on_request(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        sub = _subscribe(client, tokens, example_site, r.url)
        _new_order(client, tokens, example_site)
        _pass(ctx)
        first = client.get(
            f"/api/v1/webhooks/{sub}/deliveries", headers=bearer(tokens.integration)
        ).json()[-1]
        again = client.post(
            f"/api/v1/webhooks/{sub}/deliveries/{first['id']}/redeliver",
            headers=bearer(tokens.integration),
        )
        assert again.json()["state"] == "pending"
        _pass(ctx)
    bodies = [b for _, b, _ in r.received]
    assert bodies.count(first["body"].encode()) == 2


def test_receiver_refuses_a_body_changed_in_transit(clock: ManualClock) -> None:
    from api.webhooks.signing import sign, verify

    ts = int(clock.now().timestamp())
    signature = sign(SECRET, ts, b'{"id":1}')
    assert not verify(SECRET, str(ts), signature, b'{"id":2}', ts)
