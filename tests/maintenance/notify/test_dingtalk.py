"""钉钉自定义机器人 with 加签 against a local endpoint that recomputes the documented signature."""

from __future__ import annotations

from urllib.parse import quote_plus

from maintenance.db import Database
from maintenance.notify.dingtalk import dingtalk_sign
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.maintenance.helpers import order
from tests.maintenance.notify.conftest import deliveries, dispatcher, one_pass, with_notifications
from tests.maintenance.notify.robots import DINGTALK_PATH, Robot, dingtalk_check, serve_robot

TOKEN = "a1b2c3d4e5f6"
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
SECRETS = {"ding-token": TOKEN, "ding-sign": SECRET}


def _site(site: Site, url: str, msgtype: str = "markdown") -> Site:
    return with_notifications(
        site,
        {
            "channels": [
                {
                    "id": "ding-duty",
                    "kind": "dingtalk",
                    "url": url,
                    "access_token_secret": "ding-token",
                    "sign_secret": "ding-sign",
                    "msgtype": msgtype,
                }
            ],
            "routes": [
                {
                    "topics": ["work_order.created"],
                    "to": ["recipient", "supervisor"],
                    "channels": ["ding-duty"],
                }
            ],
        },
    )


def _robot(clock: ManualClock) -> Robot:
    return Robot(dingtalk_check(TOKEN, SECRET, lambda: int(clock.now().timestamp() * 1000)))


def test_signed_markdown_message_is_accepted_and_mentions_people(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with serve_robot(_robot(clock), DINGTALK_PATH) as robot:
        d = dispatcher(_site(site, robot.url), db, clock, SECRETS)
        with db.session() as s:
            order(s, site, clock.now(), asset="pump-1")
        assert one_pass(d) == 1
    [req] = robot.accepted()
    ts = int(clock.now().timestamp() * 1000)
    assert req.query["timestamp"] == [str(ts)]
    # the base64 signature travels URL-encoded, exactly once
    assert f"sign={quote_plus(dingtalk_sign(SECRET, ts))}" in req.raw_query
    doc = req.json()
    assert doc["msgtype"] == "markdown"
    assert doc["markdown"]["title"] == "【新工单】和谐花园"
    # 王工 (assignee) has a mobile, 周主管 (supervisor) has none: only 王工 can be @-mentioned
    assert doc["at"] == {"atMobiles": ["13800000001"], "isAtAll": False}
    assert "@13800000001" in doc["markdown"]["text"]
    assert "通知：王工、周主管" in doc["markdown"]["text"]


def test_text_message_is_accepted(db: Database, site: Site, clock: ManualClock) -> None:
    with serve_robot(_robot(clock), DINGTALK_PATH) as robot:
        d = dispatcher(_site(site, robot.url, "text"), db, clock, SECRETS)
        with db.session() as s:
            order(s, site, clock.now(), asset="pump-1")
        one_pass(d)
    [req] = robot.accepted()
    assert req.json()["text"]["content"].startswith("【新工单】和谐花园\n")


def test_a_wrong_signing_secret_is_refused_and_retried(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with serve_robot(_robot(clock), DINGTALK_PATH) as robot:
        wrong = {**SECRETS, "ding-sign": "SECnot-the-secret"}
        d = dispatcher(_site(site, robot.url), db, clock, wrong)
        with db.session() as s:
            order(s, site, clock.now(), asset="pump-1")
        assert one_pass(d) == 0
    assert len(robot.received) == 1 and robot.accepted() == []
    [delivery] = deliveries(db)
    assert (delivery.state, delivery.last_error) == ("pending", "errcode 310000: sign not match")
