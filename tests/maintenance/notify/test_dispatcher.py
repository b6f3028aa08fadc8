"""The dispatcher: retries on the shared schedule, every try logged, channels independent."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlalchemy.orm import Session

from maintenance.db import Database
from maintenance.notifications import notify
from maintenance.notify.dispatcher import NotificationDispatcher
from maintenance.retry import MAX_ATTEMPTS, backoff
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.live import Receiver, receiver
from tests.maintenance.helpers import order
from tests.maintenance.notify.conftest import (
    attempts,
    deliveries,
    dispatcher,
    one_pass,
    with_notifications,
)
from tests.maintenance.notify.robots import WECOM_PATH, Robot, serve_robot, wecom_check
from tests.support.servers import free_port

KEY = "robot-key"


def _wecom(cid: str, url: str, timeout: str = "10s") -> dict[str, object]:
    return {"id": cid, "kind": "wecom", "url": url, "key_secret": "key", "timeout": timeout}


def _site(site: Site, channels: list[dict[str, object]]) -> Site:
    return with_notifications(
        site,
        {
            "channels": channels,
            "routes": [
                {
                    "topics": ["work_order.created"],
                    "to": ["recipient"],
                    "channels": [c["id"] for c in channels],
                }
            ],
        },
    )


def test_a_failing_robot_is_retried_with_backoff_until_it_recovers(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with serve_robot(Robot(wecom_check(KEY), script=["http502", "ratelimit"]), WECOM_PATH) as r:
        d = dispatcher(_site(site, [_wecom("wecom-a", r.url)]), db, clock, {"key": KEY})
        with db.session() as s:
            order(s, site, clock.now(), asset="pump-1")
        assert one_pass(d) == 0  # HTTP 502
        assert one_pass(d) == 0  # not due again before the backoff has passed
        assert len(r.received) == 1
        clock.advance(backoff(1))
        assert one_pass(d) == 0  # errcode 45009, the robot's rate limit
        clock.advance(backoff(2))
        assert one_pass(d) == 1
    [delivery] = deliveries(db)
    assert (delivery.state, delivery.attempts) == ("delivered", 3)
    log = attempts(db, delivery.id)
    assert [a.ok for a in log] == [False, False, True]
    assert log[0].detail.startswith("HTTP 502")
    assert log[1].detail == "errcode 45009: api freq out of limit"
    assert log[2].at - log[0].at == backoff(1) + backoff(2)


def test_a_delivery_is_given_up_after_the_last_attempt(
    db: Database, site: Site, clock: ManualClock
) -> None:
    dead = f"http://127.0.0.1:{free_port()}{WECOM_PATH}"
    d = dispatcher(_site(site, [_wecom("wecom-a", dead)]), db, clock, {"key": KEY})
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    for tries in range(1, MAX_ATTEMPTS + 1):
        one_pass(d)
        clock.advance(backoff(tries))
    [delivery] = deliveries(db)
    assert (delivery.state, delivery.attempts) == ("failed", MAX_ATTEMPTS)
    assert "ConnectError" in (delivery.last_error or "")
    assert "key=" not in (delivery.last_error or "")  # the robot key never reaches the log
    assert d.stats.given_up == 1


def test_dead_and_hanging_channels_do_not_delay_a_working_one(
    db: Database, site: Site, clock: ManualClock
) -> None:
    refused = f"http://127.0.0.1:{free_port()}{WECOM_PATH}"
    with (
        serve_robot(Robot(wecom_check(KEY), script=["hang"]), WECOM_PATH) as hanging,
        serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as good,
    ):
        configured = _site(
            site,
            [
                _wecom("hanging", hanging.url, timeout="20s"),
                _wecom("refused", refused),
                _wecom("good", good.url),
            ],
        )

        async def run() -> tuple[float, dict[str, tuple[str, int]]]:
            async with NotificationDispatcher(configured, db, clock, {"key": KEY}, interval=0.02):
                started = time.monotonic()
                with db.session() as s:
                    order(s, site, clock.now(), asset="pump-1")
                while not any(
                    d.state == "delivered" for d in deliveries(db) if d.channel_id == "good"
                ):
                    assert time.monotonic() - started < 10, "the good channel never got it"
                    await asyncio.sleep(0.01)
                took = time.monotonic() - started
                while not hanging.received or not any(
                    d.attempts for d in deliveries(db) if d.channel_id == "refused"
                ):
                    assert time.monotonic() - started < 10, "the other channels never tried"
                    await asyncio.sleep(0.01)
                # seen while the hanging robot still holds its request open
                return took, {d.channel_id: (d.state, d.attempts) for d in deliveries(db)}

        took, by_channel = asyncio.run(run())
    assert took < 5  # far below the hanging channel's 20 s timeout
    assert by_channel["hanging"] == ("pending", 0)
    assert by_channel["refused"] == ("pending", 1)
    assert by_channel["good"] == ("delivered", 1)


def test_generic_webhook_is_signed_like_the_api_webhooks(
    db: Database, site: Site, clock: ManualClock
) -> None:
    secret = "hook-secret-0123456789"
    with receiver(Receiver(secret, int(clock.now().timestamp()))) as r:
        channel: dict[str, object] = {
            "id": "pager",
            "kind": "webhook",
            "url": r.url,
            "secret": "pager",
        }
        d = dispatcher(_site(site, [channel]), db, clock, {"pager": secret})
        with db.session() as s:
            wo_id = order(s, site, clock.now(), asset="pump-1").id
        assert one_pass(d) == 1
    [(headers, body, signed_ok)] = r.received
    assert signed_ok
    assert headers["Propwatch-Event"] == "work_order.created"
    doc = json.loads(body)
    assert (doc["type"], doc["work_order_id"], doc["site_id"]) == (
        "work_order.created",
        wo_id,
        "hexie",
    )


def test_a_channel_without_its_secret_is_off_and_makes_no_deliveries(
    db: Database, site: Site, clock: ManualClock
) -> None:
    d = dispatcher(_site(site, [_wecom("wecom-a", "http://127.0.0.1:9/x")]), db, clock, {})
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    assert one_pass(d) == 0
    assert deliveries(db) == []
    assert d.off == {"wecom-a": "secret 'key' is not in PROPWATCH_NOTIFY_SECRETS"}
    assert d.health()["notification_channels_off"] == 1


def test_history_before_the_first_run_is_not_replayed(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")  # before notifications were switched on
    with serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as r:
        d = dispatcher(_site(site, [_wecom("wecom-a", r.url)]), db, clock, {"key": KEY})
        assert one_pass(d) == 0
        with db.session() as s:
            order(s, site, clock.now(), asset="pump-1")
        assert one_pass(d) == 1
    assert len(r.received) == 1


def test_two_dispatchers_send_each_message_once(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as r:
        configured = _site(site, [_wecom("wecom-a", r.url)])
        first = dispatcher(configured, db, clock, {"key": KEY})
        second = dispatcher(configured, db, clock, {"key": KEY})
        with db.session() as s:
            for _ in range(3):
                order(s, site, clock.now(), asset="pump-1")

        async def both() -> list[int]:
            return list(await asyncio.gather(first.run_once(), second.run_once()))

        sent = asyncio.run(both())
    assert sum(sent) == 3
    assert len(r.received) == 3


def _notify(s: Session, site: Site, clock: ManualClock, message: str) -> None:
    notify(
        s,
        site_id=site.id,
        topic="work_order.created",
        message=message,
        at=clock.now(),
        recipient="wang-gong",
    )


# PostgreSQL only, not a skip on SQLite: SQLite has one writer at a time, so its rows commit in
# id order and there is nothing out of order to show
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_a_row_committed_after_a_later_one_is_still_sent(
    db: Database, site: Site, clock: ManualClock, outcome: str
) -> None:
    """Writer A draws id n and stays open while B commits n+1 (two replicas, or the API and a
    replica): the planner holds n+1 until A ends, then sends n (if A committed) and n+1, so
    nothing is skipped by a cursor that moved past n."""
    with serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as r:
        d = dispatcher(_site(site, [_wecom("wecom-a", r.url)]), db, clock, {"key": KEY})
        assert one_pass(d) == 0
        with db.sessions() as a:
            a.begin()
            _notify(a, site, clock, "甲：先取号后提交")
            a.flush()  # the id is drawn now
            with db.session() as b:
                _notify(b, site, clock, "乙：后取号先提交")
            assert one_pass(d) == 0, "a later row went out while an earlier one could still come"
            a.commit() if outcome == "commit" else a.rollback()
        sent = 0
        for _ in range(100):  # the hole settles at the first pass after A ended
            sent += one_pass(d)
            if sent >= (2 if outcome == "commit" else 1):
                break
            time.sleep(0.02)
        assert one_pass(d) == 0
    texts = [json.dumps(req.json(), ensure_ascii=False) for req in r.received]
    expected = ["甲", "乙"] if outcome == "commit" else ["乙"]
    assert [next(w for w in ("甲", "乙") if w in t) for t in texts] == expected, texts
