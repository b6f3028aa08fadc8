"""Webhooks to a real local HTTP receiver that checks the HMAC signature; where they may go
(投递目标), what the delivery log keeps, and secret rotation with an overlap window."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.deps import AppContext
from api.webhooks.delivery import WebhookDispatcher, backoff
from api.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from api.webhooks.targets import TargetRefused, WebhookTargets
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.live import Receiver, receiver
from tests.support.http import serve_http
from tests.support.servers import free_port

SECRET = "whsec_test-secret-0123456789"
LOOPBACK = WebhookTargets.allowing(["127.0.0.1"])


@pytest.fixture
def loopback_allowed(ctx: AppContext) -> AppContext:
    """The operator named 127.0.0.1 in PROPWATCH_WEBHOOK_ALLOW_HOSTS: the receivers run there."""
    ctx.webhook_targets = LOOPBACK
    return ctx


def _subscribe(
    client: TestClient, tokens: Tokens, site: Site, url: str, secret: str | None = SECRET
) -> Any:
    return client.post(
        "/api/v1/webhooks",
        json={
            "url": url,
            "event_types": ["work_order.created", "work_order.changed"],
            "sites": [site.id],
            **({"secret": secret} if secret else {}),
        },
        headers=bearer(tokens.integration),
    )


def _subscribed(client: TestClient, tokens: Tokens, site: Site, url: str) -> int:
    r = _subscribe(client, tokens, site, url)
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


def _pass(ctx: AppContext, targets: WebhookTargets | None = None, timeout: float = 10.0) -> int:
    async def once() -> int:
        dispatcher = WebhookDispatcher(
            ctx.db, ctx.clock, targets=targets or ctx.webhook_targets, timeout=timeout
        )
        try:
            return await dispatcher.run_once()
        finally:
            await dispatcher.aclose()

    return asyncio.run(once())


def _deliveries(client: TestClient, tokens: Tokens, sub: int) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/webhooks/{sub}/deliveries", headers=bearer(tokens.integration))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()
    return items


@dataclass
class Hook:
    """A receiver that answers `status` with `reply`, verifies each delivery against every
    secret it knows, and can hold its answer until released (a receiver that hangs)."""

    secrets: list[str]
    now: int
    status: int = 204
    reply: bytes = b""
    hold: threading.Event | None = None
    received: list[tuple[dict[str, str], bytes, list[bool]]] = field(default_factory=list)
    url: str = ""


@contextmanager
def hook(h: Hook) -> Iterator[Hook]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = dict(self.headers.items())
            ok = [
                verify(
                    s,
                    headers.get(TIMESTAMP_HEADER, ""),
                    headers.get(SIGNATURE_HEADER, ""),
                    body,
                    h.now,
                )
                for s in h.secrets
            ]
            h.received.append((headers, body, ok))
            if h.hold is not None:
                h.hold.wait(30)
            self.send_response(h.status)
            self.send_header("Content-Length", str(len(h.reply)))
            self.end_headers()
            self.wfile.write(h.reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_http(Handler) as port:
        h.url = f"http://127.0.0.1:{port}/hook"
        try:
            yield h
        finally:
            if h.hold is not None:
                h.hold.set()


def test_created_work_order_is_delivered_signed(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        _subscribed(client, tokens, example_site, r.url)
        wo_id = _new_order(client, tokens, example_site)
        _pass(loopback_allowed)
    headers, body, signed_ok = r.received[0]
    assert signed_ok
    assert headers["Propwatch-Event"] == "work_order.created"
    assert json.loads(body)["work_order_id"] == wo_id


def test_failed_delivery_is_retried_after_backoff_and_logged(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    with receiver(Receiver(SECRET, int(clock.now().timestamp()), fail_first=1)) as r:
        sub = _subscribed(client, tokens, example_site, r.url)
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed)
        assert _pass(loopback_allowed) == 0  # not due again before the backoff has passed
        clock.advance(backoff(1))
        r.now = int(clock.now().timestamp())
        _pass(loopback_allowed)
    (delivery,) = [
        d for d in _deliveries(client, tokens, sub) if d["event_type"] == "work_order.created"
    ]
    assert (delivery["state"], delivery["attempts"], len(r.received)) == ("delivered", 2, 2)


def test_delivery_can_be_sent_again_on_request(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        sub = _subscribed(client, tokens, example_site, r.url)
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed)
        first = _deliveries(client, tokens, sub)[-1]
        again = client.post(
            f"/api/v1/webhooks/{sub}/deliveries/{first['id']}/redeliver",
            headers=bearer(tokens.integration),
        )
        assert again.json()["state"] == "pending"
        _pass(loopback_allowed)
    bodies = [b for _, b, _ in r.received]
    assert bodies.count(first["body"].encode()) == 2


def test_receiver_refuses_a_body_changed_in_transit(clock: ManualClock) -> None:
    from api.webhooks.signing import sign

    ts = int(clock.now().timestamp())
    signature = sign(SECRET, ts, b'{"id":1}')
    assert not verify(SECRET, str(ts), signature, b'{"id":2}', ts)


# --- 投递目标: where a webhook may go ----------------------------------------------------------


def test_loopback_receiver_is_refused_without_the_allow_list(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        answer = _subscribe(client, tokens, example_site, r.url)
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "webhook_target_refused"
    assert "loopback" in problem["detail"] and "PROPWATCH_WEBHOOK_ALLOW_HOSTS" in problem["detail"]
    listed = client.get("/api/v1/webhooks", headers=bearer(tokens.integration)).json()
    assert listed == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata, link-local
        "http://10.0.0.7/hook",  # private
        "http://192.168.1.20:8080/hook",
        "http://172.16.5.4/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://0.0.0.0:8000/hook",  # unspecified
        "http://224.0.0.1/hook",  # multicast
        "http://240.0.0.1/hook",  # reserved
        "http://[::1]:8000/hook",
        "http://[fe80::1]/hook",  # link-local
        "http://[fc00::1]/hook",  # unique-local
        "http://[ff02::1]/hook",  # multicast
        "http://[::ffff:127.0.0.1]/hook",  # loopback inside an IPv4-mapped address
        "http://[64:ff9b::a00:1]/hook",  # 10.0.0.1 through NAT64
        "http://localhost:8000/hook",  # a name that resolves to loopback
        "http://2130706433/hook",  # 127.0.0.1 as one integer
        "http://0x7f.1/hook",  # and in hex shorthand
        "http://user:secret@93.184.215.14/hook",  # credentials would be listed and audited
        "http://name.that-does-not-resolve.invalid/hook",
        "http://[::1/hook",  # a broken IPv6 literal
        "http://93.184.215.14:0/hook",
        "http://:8000/hook",
    ],
)
def test_internal_and_unusable_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        WebhookTargets().check(url)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_url_is_either_a_target_or_refused(tail: str) -> None:
    """Whatever follows the scheme, the check answers; it never fails another way (a 500)."""
    try:
        WebhookTargets(resolve=lambda host, port: []).check("http://" + tail)
    except TargetRefused as refused:
        assert refused.reason and refused.zh


def test_a_private_target_is_refused_at_subscription_and_a_public_one_accepted(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    metadata = _subscribe(client, tokens, example_site, "http://169.254.169.254/latest/")
    assert metadata.status_code == 422 and "link-local" in metadata.json()["detail"]
    public = _subscribe(client, tokens, example_site, "https://93.184.215.14/hooks/propwatch")
    assert public.status_code == 201, public.text


def test_every_delivery_checks_the_target_again(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    """Subscribed while 127.0.0.1 was allowed; the operator has since removed it."""
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        sub = _subscribed(client, tokens, example_site, r.url)
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed, targets=WebhookTargets())
    assert r.received == []
    (delivery,) = _deliveries(client, tokens, sub)
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == (
        "pending",
        1,
        None,
    )
    assert delivery["last_error"] == "refused target: loopback address 127.0.0.1"


def test_a_name_that_later_resolves_to_loopback_is_not_posted_to(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    """DNS rebinding: public when subscribed, loopback at delivery time."""
    answers = {"tickets.example.net": ["93.184.215.14"]}
    ctx.webhook_targets = WebhookTargets(resolve=lambda host, port: answers[host])
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        port = r.url.rsplit(":", 1)[1].split("/")[0]
        sub = _subscribed(client, tokens, example_site, f"http://tickets.example.net:{port}/hook")
        answers["tickets.example.net"] = ["127.0.0.1"]
        _new_order(client, tokens, example_site)
        _pass(ctx)
    assert r.received == []
    (delivery,) = _deliveries(client, tokens, sub)
    assert delivery["last_error"] == "refused target: loopback address 127.0.0.1"


def test_a_named_internal_host_is_posted_to_at_the_address_that_was_checked(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    """An allowed name is resolved once per delivery and the post goes to that address, with the
    name in the Host header; the name itself is not in any resolver of this machine."""
    ctx.webhook_targets = WebhookTargets.allowing(
        ["Tickets.Internal"], resolve=lambda host, port: {"tickets.internal": ["127.0.0.1"]}[host]
    )
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        port = r.url.rsplit(":", 1)[1].split("/")[0]
        _subscribed(client, tokens, example_site, f"http://tickets.internal:{port}/hook")
        _new_order(client, tokens, example_site)
        _pass(ctx)
    ((headers, _, signed_ok),) = r.received
    assert signed_ok and headers["Host"] == f"tickets.internal:{port}"


# --- the delivery log: status and a short reason, never the reply ----------------------------


def test_delivery_log_keeps_the_status_not_the_reply(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    reply = b'{"internal":"db-password=hunter2, admin console at 10.0.0.5"}'
    with hook(Hook([SECRET], int(clock.now().timestamp()), status=500, reply=reply)) as h:
        sub = _subscribed(client, tokens, example_site, h.url)
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed)
    assert len(h.received) == 1
    (delivery,) = _deliveries(client, tokens, sub)
    assert (delivery["last_status"], delivery["last_error"]) == (500, "HTTP 500")
    log = client.get(f"/api/v1/webhooks/{sub}/deliveries", headers=bearer(tokens.integration))
    assert b"hunter2" not in log.content and b"10.0.0.5" not in log.content


def test_a_refused_connection_is_logged_as_such(
    client: TestClient, loopback_allowed: AppContext, tokens: Tokens, example_site: Site
) -> None:
    sub = _subscribed(client, tokens, example_site, f"http://127.0.0.1:{free_port()}/hook")
    _new_order(client, tokens, example_site)
    _pass(loopback_allowed)
    (delivery,) = _deliveries(client, tokens, sub)
    assert (delivery["last_status"], delivery["last_error"]) == (None, "connection refused")


def test_a_receiver_that_does_not_answer_is_logged_as_a_timeout(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    with hook(Hook([SECRET], int(clock.now().timestamp()), hold=threading.Event())) as h:
        sub = _subscribed(client, tokens, example_site, h.url)
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed, timeout=0.3)
    (delivery,) = _deliveries(client, tokens, sub)
    assert (delivery["last_status"], delivery["last_error"]) == (None, "timeout")


def test_a_redirect_is_not_followed(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    """A 3xx could point at an internal address that was never checked."""
    with (
        hook(Hook([SECRET], int(clock.now().timestamp()))) as inner,
        hook(Hook([SECRET], int(clock.now().timestamp()), status=307)) as outer,
    ):
        outer.reply = b""
        sub = _subscribed(client, tokens, example_site, outer.url)
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed)
    assert (len(outer.received), inner.received) == (1, [])
    (delivery,) = _deliveries(client, tokens, sub)
    assert delivery["last_error"] == "HTTP 307"


# --- 密钥轮换: secret rotation with an overlap window ----------------------------------------


def _rotate(client: TestClient, tokens: Tokens, sub: int, **body: object) -> Any:
    return client.post(
        f"/api/v1/webhooks/{sub}/rotate-secret", json=body, headers=bearer(tokens.integration)
    )


def test_rotation_signs_with_both_secrets_during_the_overlap_then_only_the_new_one(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    with hook(Hook([SECRET], int(clock.now().timestamp()))) as h:
        sub = _subscribed(client, tokens, example_site, h.url)
        rotated = _rotate(client, tokens, sub, overlap_seconds=3600)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != SECRET
        assert rotated.json()["previous_secret_until"] == (
            (clock.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        )
        h.secrets = [SECRET, new]
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed)  # inside the window

        clock.advance(timedelta(hours=1))
        h.now = int(clock.now().timestamp())
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed)  # the window has closed

    (during_headers, _, during), (after_headers, _, after) = h.received
    assert during == [True, True]  # a receiver holding either secret accepts it
    assert during_headers[SIGNATURE_HEADER].count("v1=") == 2
    assert after == [False, True]
    assert after_headers[SIGNATURE_HEADER].count("v1=") == 1
    listed = client.get("/api/v1/webhooks", headers=bearer(tokens.integration)).json()
    assert new not in json.dumps(listed)


def test_rotation_without_overlap_drops_the_old_secret_at_once(
    client: TestClient,
    loopback_allowed: AppContext,
    tokens: Tokens,
    example_site: Site,
    clock: ManualClock,
) -> None:
    chosen = "whsec_chosen-by-the-ticket-system"
    with hook(Hook([SECRET, chosen], int(clock.now().timestamp()))) as h:
        sub = _subscribed(client, tokens, example_site, h.url)
        rotated = _rotate(client, tokens, sub, overlap_seconds=0, secret=chosen)
        assert (rotated.json()["secret"], rotated.json()["previous_secret_until"]) == (
            chosen,
            None,
        )
        _new_order(client, tokens, example_site)
        _pass(loopback_allowed)
    ((_, _, ok),) = h.received
    assert ok == [False, True]


def test_rotating_another_sites_subscription_is_refused(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    sub = _subscribed(client, tokens, example_site, "https://93.184.215.14/hook")
    other = client.post(f"/api/v1/webhooks/{sub}/rotate-secret", headers=bearer(tokens.other_site))
    assert other.status_code == 403
    again = client.post(f"/api/v1/webhooks/{sub}/rotate-secret", headers=bearer(tokens.duty))
    assert again.status_code == 200 and again.json()["secret"]
