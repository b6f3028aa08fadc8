"""The notification delivery log over the API: filters and cursor pages, every try of one
delivery, and 重发 of a given-up delivery that a real dispatcher then sends to a real receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.deps import AppContext
from api.models import AuditEntry
from maintenance.notifications import notify
from maintenance.notify.dispatcher import NotificationDispatcher
from maintenance.retry import MAX_ATTEMPTS, backoff
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.live import Receiver, receiver
from tests.maintenance.helpers import order
from tests.maintenance.notify.conftest import deliveries, dispatcher, one_pass, with_notifications
from tests.maintenance.notify.robots import WECOM_PATH
from tests.support.servers import free_port

SECRET = "pager-secret-0123456789"
LOG = "/api/v1/notifications/deliveries"


def _site(site: Site, pager_url: str) -> Site:
    """A signed webhook pager that tells the duty room of everything, and a 企业微信 robot at a
    port where nothing listens, for new work orders only."""
    dead = f"http://127.0.0.1:{free_port()}{WECOM_PATH}"
    return with_notifications(
        site,
        {
            "channels": [
                {"id": "pager", "kind": "webhook", "url": pager_url, "secret": "pager"},
                {"id": "wecom-a", "kind": "wecom", "url": dead, "key_secret": "robot"},
            ],
            "routes": [
                {"topics": ["*"], "to": ["duty_room"], "channels": ["pager"]},
                {"topics": ["work_order.created"], "to": ["duty_room"], "channels": ["wecom-a"]},
            ],
        },
    )


@pytest.fixture
def pager(clock: ManualClock) -> Iterator[Receiver]:
    with receiver(Receiver(SECRET, int(clock.now().timestamp()))) as r:
        yield r


@pytest.fixture
def notifying(ctx: AppContext, example_site: Site, pager: Receiver) -> NotificationDispatcher:
    """The dispatcher of the site with both channels; the API sees the same site file."""
    site = _site(example_site, pager.url)
    ctx.sites[site.id] = site
    assert isinstance(ctx.clock, ManualClock)
    return dispatcher(site, ctx.db, ctx.clock, {"pager": SECRET, "robot": "robot-key"})


def _new_orders(ctx: AppContext, site: Site, count: int) -> list[int]:
    with ctx.db.session() as s:
        return [order(s, site, ctx.clock.now(), asset="pump-1").id for _ in range(count)]


def _get(client: TestClient, token: str, path: str = LOG, **params: Any) -> Any:
    r = client.get(path, params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def _pass(d: NotificationDispatcher, pager: Receiver, clock: ManualClock) -> int:
    """One dispatcher run, the pager checking signatures against the moved clock."""
    pager.now = int(clock.now().timestamp())
    return one_pass(d)


def _give_up(d: NotificationDispatcher, pager: Receiver, clock: ManualClock) -> None:
    for tries in range(1, MAX_ATTEMPTS + 1):
        _pass(d, pager, clock)
        clock.advance(backoff(tries))


def test_log_lists_newest_first_with_channel_kind_people_and_last_error(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    notifying: NotificationDispatcher,
) -> None:
    [wo_id] = _new_orders(ctx, example_site, 1)
    assert one_pass(notifying) == 1  # the pager took it; the robot's port refused

    items = _get(client, tokens.duty)["items"]

    assert [(i["channel_id"], i["channel_kind"], i["state"]) for i in items] == [
        ("wecom-a", "wecom", "pending"),
        ("pager", "webhook", "delivered"),
    ]
    robot, pager = items
    assert robot["topic"] == "work_order.created" and robot["work_order_id"] == wo_id
    assert (robot["people"], robot["duty_room"]) == ([], True)
    assert robot["message_excerpt"].startswith("新工单")
    assert robot["attempts"] == 1 and "ConnectError" in robot["last_error"]
    assert robot["next_attempt_at"] is not None and robot["delivered_at"] is None
    assert pager["last_error"] is None and pager["next_attempt_at"] is None
    assert pager["delivered_at"] is not None


def test_log_filters_by_channel_state_topic_work_order_and_site(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    notifying: NotificationDispatcher,
) -> None:
    first, second = _new_orders(ctx, example_site, 2)
    with ctx.db.session() as s:
        notify(
            s,
            site_id=example_site.id,
            topic="alarm.chattering",
            message="1 号水泵压力告警频繁",
            at=ctx.clock.now(),
            payload={"asset": "pump-1"},
        )
    one_pass(notifying)

    def ids(**params: Any) -> list[tuple[str, str, int | None]]:
        items = _get(client, tokens.duty, **params)["items"]
        return [(i["channel_id"], i["topic"], i["work_order_id"]) for i in items]

    assert len(ids()) == 5
    assert ids(channel_id="wecom-a") == [
        ("wecom-a", "work_order.created", second),
        ("wecom-a", "work_order.created", first),
    ]
    assert [c for c, _, _ in ids(state="delivered")] == ["pager"] * 3
    assert [c for c, _, _ in ids(state="pending")] == ["wecom-a"] * 2
    assert ids(state="failed") == []
    assert ids(topic="alarm.chattering") == [("pager", "alarm.chattering", None)]
    assert ids(work_order_id=first, channel_id="pager") == [("pager", "work_order.created", first)]
    assert len(ids(site_id=example_site.id)) == 5


def test_log_pages_by_cursor_without_gaps_or_repeats(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    notifying: NotificationDispatcher,
) -> None:
    _new_orders(ctx, example_site, 3)
    one_pass(notifying)  # 6 deliveries: the pager and the robot for each order
    everything = [i["id"] for i in _get(client, tokens.duty)["items"]]

    seen: list[int] = []
    page = _get(client, tokens.duty, limit=4)
    seen += [i["id"] for i in page["items"]]
    page = _get(client, tokens.duty, limit=4, cursor=page["next_cursor"])
    seen += [i["id"] for i in page["items"]]

    assert len(everything) == 6 and everything == sorted(everything, reverse=True)
    assert seen == everything
    assert page.get("next_cursor") is None


@pytest.mark.parametrize("cursor", ["not-a-cursor", "WzBd", "WyJ4Il0", "WzEsMl0"])
def test_a_cursor_that_was_never_issued_is_a_422(
    client: TestClient, tokens: Tokens, cursor: str
) -> None:
    r = client.get(LOG, params={"cursor": cursor}, headers=bearer(tokens.duty))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


def test_detail_shows_every_try_with_status_and_error(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    notifying: NotificationDispatcher,
    pager: Receiver,
    clock: ManualClock,
) -> None:
    pager.fail_first = 1
    _new_orders(ctx, example_site, 1)
    one_pass(notifying)
    clock.advance(backoff(1))
    _pass(notifying, pager, clock)
    [pager_delivery] = [d for d in deliveries(ctx.db) if d.channel_id == "pager"]

    detail = _get(client, tokens.admin, f"{LOG}/{pager_delivery.id}")

    assert detail["state"] == "delivered" and detail["attempts"] == 2
    assert detail["message"].startswith("新工单")
    failed, sent = detail["attempt_log"]
    assert (failed["outcome"], failed["http_status"], failed["reply"]) == ("failed", 503, None)
    assert failed["error"].startswith("HTTP 503")
    assert (sent["outcome"], sent["http_status"], sent["reply"], sent["error"]) == (
        "sent",
        204,
        "HTTP 204",
        None,
    )
    assert sent["at"] > failed["at"]


def test_resend_of_a_given_up_delivery_is_sent_by_the_next_dispatcher_run(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    notifying: NotificationDispatcher,
    pager: Receiver,
    clock: ManualClock,
) -> None:
    pager.fail_first = MAX_ATTEMPTS
    _new_orders(ctx, example_site, 1)
    _give_up(notifying, pager, clock)
    [given_up] = _get(client, tokens.duty, channel_id="pager", state="failed")["items"]
    assert given_up["attempts"] == MAX_ATTEMPTS and given_up["next_attempt_at"] is None
    assert [signed for _, _, signed in pager.received] == [True] * MAX_ATTEMPTS  # so 503s
    assert "HTTP 503" in given_up["last_error"]

    r = client.post(f"{LOG}/{given_up['id']}/resend", headers=bearer(tokens.duty))

    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["attempts"], r.json()["last_error"]) == ("pending", 0, None)
    assert _pass(notifying, pager, clock) == 1
    assert len(pager.received) == MAX_ATTEMPTS + 1 and pager.received[-1][2]  # signed
    after = _get(client, tokens.duty, f"{LOG}/{given_up['id']}")
    assert (after["state"], after["attempts"]) == ("delivered", 1)
    assert [a["outcome"] for a in after["attempt_log"]] == ["failed"] * MAX_ATTEMPTS + ["sent"]
    with ctx.db.session() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.method == "POST"))
        assert (entry.actor, entry.subject) == ("duty", f"notification_delivery:{given_up['id']}")


def test_resend_with_the_same_idempotency_key_is_answered_once(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    notifying: NotificationDispatcher,
    pager: Receiver,
    clock: ManualClock,
) -> None:
    pager.fail_first = MAX_ATTEMPTS
    _new_orders(ctx, example_site, 1)
    _give_up(notifying, pager, clock)
    [given_up] = _get(client, tokens.duty, channel_id="pager", state="failed")["items"]
    url = f"{LOG}/{given_up['id']}/resend"
    headers = {**bearer(tokens.duty), "Idempotency-Key": "resend-pager-1"}

    first = client.post(url, headers=headers)
    again = client.post(url, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    with ctx.db.session() as s:
        assert len(list(s.scalars(select(AuditEntry).where(AuditEntry.method == "POST")))) == 1


def test_resend_of_a_delivered_or_pending_delivery_is_a_409(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    notifying: NotificationDispatcher,
) -> None:
    _new_orders(ctx, example_site, 1)
    one_pass(notifying)
    state = {d.channel_id: d.id for d in deliveries(ctx.db)}

    sent = client.post(f"{LOG}/{state['pager']}/resend", headers=bearer(tokens.duty))
    retrying = client.post(f"{LOG}/{state['wecom-a']}/resend", headers=bearer(tokens.duty))

    assert sent.status_code == retrying.status_code == 409
    assert sent.headers["content-type"] == "application/problem+json"
    assert sent.json()["code"] == "notification_delivery_not_failed"
    assert "已发送成功" in sent.json()["detail"]
    assert "自动重试" in retrying.json()["detail"]
    assert {d.channel_id: d.state for d in deliveries(ctx.db)} == {
        "pager": "delivered",
        "wecom-a": "pending",
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_delivery_is_a_404(client: TestClient, tokens: Tokens, method: str) -> None:
    path = f"{LOG}/4711" + ("/resend" if method == "POST" else "")
    r = client.request(method, path, headers=bearer(tokens.duty))
    assert r.status_code == 404
    assert r.json()["code"] == "notification_delivery_not_found"


def test_another_sites_token_and_a_technician_are_refused(
    client: TestClient,
    tokens: Tokens,
    ctx: AppContext,
    example_site: Site,
    notifying: NotificationDispatcher,
    pager: Receiver,
    clock: ManualClock,
) -> None:
    _new_orders(ctx, example_site, 1)
    _give_up(notifying, pager, clock)  # the robot's delivery is failed: a resend would be allowed
    robot = next(d.id for d in deliveries(ctx.db) if d.channel_id == "wecom-a")

    for token in (tokens.other_site, tokens.technician, tokens.integration):
        for method, path in (
            ("GET", f"{LOG}/{robot}"),
            ("POST", f"{LOG}/{robot}/resend"),
            ("GET", f"{LOG}?site_id={example_site.id}"),
        ):
            assert client.request(method, path, headers=bearer(token)).status_code == 403
    assert _get(client, tokens.other_site)["items"] == []
    assert {d.state for d in deliveries(ctx.db) if d.channel_id == "wecom-a"} == {"failed"}
