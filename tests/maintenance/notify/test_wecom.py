"""企业微信群机器人 against a local endpoint that checks the documented request format."""

from __future__ import annotations

from datetime import UTC, datetime

from maintenance.db import Database
from maintenance.notify.message import Outgoing
from maintenance.notify.wecom import wecom_payload
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.maintenance.helpers import order
from tests.maintenance.notify.conftest import (
    attempts,
    deliveries,
    dispatcher,
    one_pass,
    with_notifications,
)
from tests.maintenance.notify.robots import WECOM_PATH, Robot, serve_robot, wecom_check

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def _site(site: Site, url: str, msgtype: str = "text") -> Site:
    return with_notifications(
        site,
        {
            "channels": [
                {
                    "id": "wecom-a",
                    "kind": "wecom",
                    "url": url,
                    "key_secret": "wecom-a-key",
                    "msgtype": msgtype,
                }
            ],
            "routes": [
                {"topics": ["work_order.created"], "to": ["recipient"], "channels": ["wecom-a"]}
            ],
        },
    )


def test_new_work_order_reaches_the_group_and_mentions_the_technician_by_mobile(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as robot:
        base = robot.url
        d = dispatcher(_site(site, base), db, clock, {"wecom-a-key": KEY})
        with db.session() as s:
            wo = order(s, site, clock.now(), asset="pump-1")
            code = wo.code
        assert one_pass(d) == 1
    [req] = robot.accepted()
    assert req.query["key"] == [KEY]
    doc = req.json()
    assert doc["msgtype"] == "text"
    assert doc["text"]["mentioned_mobile_list"] == ["13800000001"]  # 王工, zone A by day
    assert f"新工单 {code}" in doc["text"]["content"]
    assert "片区：A区" in doc["text"]["content"]
    [delivery] = deliveries(db)
    assert (delivery.state, delivery.people) == ("delivered", ["wang-gong"])
    [attempt] = attempts(db, delivery.id)
    assert attempt.ok and attempt.detail == "errcode 0: ok"


def test_markdown_message_is_accepted(db: Database, site: Site, clock: ManualClock) -> None:
    with serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as robot:
        d = dispatcher(_site(site, robot.url, "markdown"), db, clock, {"wecom-a-key": KEY})
        with db.session() as s:
            order(s, site, clock.now(), asset="pump-1")
        one_pass(d)
    [req] = robot.accepted()
    content = req.json()["markdown"]["content"]
    assert content.startswith("### 【新工单】和谐花园")


def test_a_wrong_key_is_a_failed_attempt_kept_for_retry(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as robot:
        d = dispatcher(_site(site, robot.url), db, clock, {"wecom-a-key": "not-the-key"})
        with db.session() as s:
            order(s, site, clock.now(), asset="pump-1")
        assert one_pass(d) == 0
    [delivery] = deliveries(db)
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == "errcode 93000: invalid webhook url"
    assert delivery.next_attempt_at > clock.now()
    assert d.stats.failed_attempts == 1


def test_a_long_message_is_cut_to_the_documented_byte_limit() -> None:
    msg = Outgoing(
        notification_id=1,
        topic="work_order.created",
        title="【新工单】和谐花园",
        text="【新工单】和谐花园\n" + "水泵异响" * 600,
        markdown="### 【新工单】和谐花园\n" + "水泵异响" * 1200,
        people=(),
        duty_room=True,
        event_type="work_order.created",
        body="{}",
        at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
    )
    text = wecom_payload(msg, "text")["text"]["content"]
    markdown = wecom_payload(msg, "markdown")["markdown"]["content"]
    assert 2040 <= len(text.encode()) <= 2048 and text.endswith("…")
    assert 4090 <= len(markdown.encode()) <= 4096
