"""Routes: topics to channels by zone, priority and role, resolved at the time of the event."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from maintenance.db import Database
from maintenance.escalation import escalate_overdue
from maintenance.notifications import Notification
from maintenance.notify.routing import resolve, subject_of
from propwatch.clock import ManualClock
from propwatch.site import Priority, Site
from tests.maintenance.helpers import order
from tests.maintenance.notify.conftest import deliveries, dispatcher, one_pass, with_notifications
from tests.maintenance.notify.robots import WECOM_PATH, Robot, serve_robot, wecom_check

KEY = "robot-key"


def _reach(db: Database, site: Site, topic: str) -> dict[str, tuple[list[str], bool]]:
    with db.session() as s:
        n = s.scalars(
            select(Notification).where(Notification.topic == topic).order_by(Notification.id)
        ).all()[-1]
        out = resolve(site.spec, n, subject_of(s, site.spec, n))
    return {cid: (r.people, r.duty_room) for cid, r in out.items()}


def test_each_zone_group_hears_only_of_its_own_zone(
    db: Database, site: Site, clock: ManualClock
) -> None:
    with (
        serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as group_a,
        serve_robot(Robot(wecom_check(KEY)), WECOM_PATH) as group_b,
    ):
        configured = with_notifications(
            site,
            {
                "channels": [
                    {"id": "a", "kind": "wecom", "url": group_a.url, "key_secret": "k"},
                    {"id": "b", "kind": "wecom", "url": group_b.url, "key_secret": "k"},
                ],
                "routes": [
                    {"topics": ["*"], "zones": ["zone-a"], "to": ["duty_room"], "channels": ["a"]},
                    {"topics": ["*"], "zones": ["zone-b"], "to": ["duty_room"], "channels": ["b"]},
                ],
            },
        )
        d = dispatcher(configured, db, clock, {"k": KEY})
        with db.session() as s:
            pump = order(s, site, clock.now(), asset="pump-1").code  # zone A
            door = order(s, site, clock.now(), asset="door-north").code  # zone B
        assert one_pass(d) == 2
    [to_a] = group_a.accepted()
    [to_b] = group_b.accepted()
    assert str(pump) in to_a.json()["text"]["content"]
    assert str(door) in to_b.json()["text"]["content"]
    assert "片区：B区" in to_b.json()["text"]["content"]


def test_the_duty_technician_is_the_one_on_shift_at_the_time_of_the_event(
    db: Database, site: Site, clock: ManualClock
) -> None:
    configured = with_notifications(
        site,
        {
            "channels": [{"id": "g", "kind": "wecom", "key_secret": "k"}],
            "routes": [
                {"topics": ["work_order.created"], "to": ["duty_technician"], "channels": ["g"]}
            ],
        },
    )
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")  # 10:00: day shift
    assert _reach(db, configured, "work_order.created") == {"g": (["wang-gong"], False)}
    clock.advance(timedelta(hours=12))  # 22:00: night shift
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    assert _reach(db, configured, "work_order.created") == {"g": (["li-shifu"], False)}


def test_priority_filter_and_roles_merge_into_one_message_per_channel(
    db: Database, site: Site, clock: ManualClock
) -> None:
    configured = with_notifications(
        site,
        {
            "channels": [
                {"id": "g", "kind": "wecom", "key_secret": "k"},
                {"id": "boss", "kind": "wecom", "key_secret": "k"},
            ],
            "routes": [
                {"topics": ["work_order.overdue"], "to": ["assignee"], "channels": ["g"]},
                {
                    "topics": ["work_order.overdue"],
                    "priorities": ["emergency"],
                    "to": ["supervisor", "duty_room"],
                    "channels": ["g", "boss"],
                },
            ],
        },
    )
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1", priority=Priority.GENERAL)
    clock.advance(timedelta(hours=9))  # past the 8 h respond limit of a general order
    with db.session() as s:
        escalate_overdue(s, site.spec, clock.now())
    assert _reach(db, configured, "work_order.overdue") == {"g": (["wang-gong"], False)}
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1", priority=Priority.EMERGENCY)
    clock.advance(timedelta(minutes=16))  # past the 15 min respond limit of an emergency
    with db.session() as s:
        escalate_overdue(s, site.spec, clock.now())
    assert _reach(db, configured, "work_order.overdue") == {
        "g": (["wang-gong", "zhou-zg"], True),
        "boss": (["zhou-zg"], True),
    }


def test_no_mail_is_queued_for_people_without_a_mailbox(
    db: Database, site: Site, clock: ManualClock
) -> None:
    configured = with_notifications(
        site,
        {
            "channels": [
                {"id": "mail", "kind": "email", "host": "127.0.0.1", "sender": "n@hexie.example"}
            ],
            "routes": [{"topics": ["*"], "to": ["assignee"], "channels": ["mail"]}],
        },
    )
    nobody = [p.model_copy(update={"email": ""}) for p in configured.spec.people]
    configured = Site(
        site.path, configured.spec.model_copy(update={"people": nobody}), site.profiles
    )
    d = dispatcher(configured, db, clock)
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    assert one_pass(d) == 0
    assert deliveries(db) == []
