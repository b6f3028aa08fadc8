"""The delivery log's queries and 重发 on each backend: filters, pages, tries, and a given-up
delivery back in the dispatcher's queue with its tries starting over."""

from __future__ import annotations

import pytest

from maintenance.db import Database
from maintenance.notify import delivery_log
from maintenance.notify.delivery_log import DeliveryFilter, DeliveryNotFound, NotResendable
from maintenance.notify.dispatcher import NotificationDispatcher
from maintenance.retry import MAX_ATTEMPTS, backoff
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.maintenance.helpers import order
from tests.maintenance.notify.conftest import deliveries, dispatcher, one_pass, with_notifications
from tests.maintenance.notify.robots import WECOM_PATH, Robot, serve_robot, wecom_check
from tests.support.servers import free_port

KEY = "robot-key"


def _site(site: Site, good_url: str) -> Site:
    dead = f"http://127.0.0.1:{free_port()}{WECOM_PATH}"
    return with_notifications(
        site,
        {
            "channels": [
                {"id": "good", "kind": "wecom", "url": good_url, "key_secret": "key"},
                {"id": "dead", "kind": "wecom", "url": dead, "key_secret": "key"},
            ],
            "routes": [
                {"topics": ["*"], "to": ["recipient"], "channels": ["good", "dead"]},
            ],
        },
    )


def _given_up(d: NotificationDispatcher, clock: ManualClock) -> None:
    for tries in range(1, MAX_ATTEMPTS + 1):
        one_pass(d)
        clock.advance(backoff(tries))


def test_log_filters_and_pages_newest_first(db: Database, site: Site, clock: ManualClock) -> None:
    with serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as robot:
        configured = _site(site, robot.url)
        d = dispatcher(configured, db, clock, {"key": KEY})
        with db.session() as s:
            first = order(s, site, clock.now()).id
            order(s, site, clock.now())
        _given_up(d, clock)
    specs = {site.id: configured.spec}

    with db.session() as s:
        everything, more = delivery_log.list_deliveries(s, DeliveryFilter(), specs)
        failed, _ = delivery_log.list_deliveries(s, DeliveryFilter(state="failed"), specs)
        of_first, _ = delivery_log.list_deliveries(s, DeliveryFilter(work_order_id=first), specs)
        elsewhere, _ = delivery_log.list_deliveries(s, DeliveryFilter(sites=("other",)), specs)
        page, page_more = delivery_log.list_deliveries(s, DeliveryFilter(), specs, limit=3)
        rest, rest_more = delivery_log.list_deliveries(
            s, DeliveryFilter(), specs, before_id=page[-1].id, limit=3
        )

    assert len(everything) == 4 and not more
    assert [v.id for v in everything] == sorted((v.id for v in everything), reverse=True)
    assert {(v.channel_id, v.state, v.attempts) for v in failed} == {("dead", "failed", 8)}
    assert len(failed) == 2 and all(v.next_attempt_at is None for v in failed)
    assert {v.work_order_id for v in of_first} == {first} and len(of_first) == 2
    assert {v.channel_kind for v in everything} == {"wecom"}
    assert elsewhere == []
    assert page_more and not rest_more
    assert [v.id for v in page + rest] == [v.id for v in everything]


def test_resend_puts_a_given_up_delivery_back_with_its_tries_starting_over(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as robot:
        configured = _site(site, robot.url)
        d = dispatcher(configured, db, clock, {"key": KEY})
        with db.session() as s:
            order(s, site, clock.now())
        _given_up(d, clock)
        by_channel = {row.channel_id: row.id for row in deliveries(db)}

        with db.session() as s, pytest.raises(NotResendable, match="已发送成功"):
            delivery_log.resend(s, by_channel["good"], clock.now())
        with db.session() as s:
            delivery_log.resend(s, by_channel["dead"], clock.now())
        with db.session() as s, pytest.raises(NotResendable, match="自动重试"):
            delivery_log.resend(s, by_channel["dead"], clock.now())
        one_pass(d)  # the channel is still dead: one more try, on a fresh budget

    with db.session() as s:
        dead = delivery_log.get_delivery(s, by_channel["dead"])
        detail = delivery_log.delivery_detail(s, dead, {site.id: configured.spec})
        with pytest.raises(DeliveryNotFound):
            delivery_log.get_delivery(s, 4711)
    assert (detail.state, detail.attempts) == ("pending", 1)
    assert detail.next_attempt_at == clock.now() + backoff(1)
    assert len(detail.attempt_log) == MAX_ATTEMPTS + 1
    assert all(a.outcome == "failed" and a.http_status is None for a in detail.attempt_log)
    assert "ConnectError" in (detail.attempt_log[-1].error or "")
