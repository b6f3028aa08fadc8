"""The maintenance service sends on its own: an alarm over MQTT reaches the duty room's DingTalk
group, and the breach that follows reaches the zone's WeCom group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from maintenance.db import Database
from maintenance.service import MaintenanceService
from propwatch.clock import ManualClock
from propwatch.events import alarm_topic
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site
from tests.maintenance.helpers import directory_of, raised
from tests.maintenance.notify.conftest import with_notifications
from tests.maintenance.notify.robots import (
    DINGTALK_PATH,
    WECOM_PATH,
    Robot,
    dingtalk_check,
    serve_robot,
    wecom_check,
)
from tests.support.servers import Mosquitto


async def _ticking(clock: ManualClock, check: Callable[[], bool], what: str) -> None:
    """Move the clock 5 s at a time (the SLA job sleeps on it) until `check` holds."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if check():
            return
        clock.advance(5)
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


async def _settled(check: Callable[[], bool], what: str) -> None:
    """Wait, without moving the clock, until `check` holds."""
    deadline = time.monotonic() + 15
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_alarm_and_breach_reach_their_groups_from_the_running_service(
    tmp_path: Path, mosquitto: Mosquitto, example_site: Site
) -> None:
    clock = ManualClock()  # 08:00 in Shanghai: the day shift
    secrets = {"ding": "token-1", "ding-sign": "SECabc", "wecom": "key-1"}
    settings = Settings(
        var_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/m.db", notify_secrets=secrets
    )
    ms = lambda: int(clock.now().timestamp() * 1000)  # noqa: E731
    with (
        serve_robot(Robot(dingtalk_check("token-1", "SECabc", ms)), DINGTALK_PATH) as ding,
        serve_robot(Robot(wecom_check("key-1")), WECOM_PATH) as wecom,
    ):
        site = with_notifications(
            example_site,
            {
                "channels": [
                    {
                        "id": "duty",
                        "kind": "dingtalk",
                        "url": ding.url,
                        "access_token_secret": "ding",
                        "sign_secret": "ding-sign",
                    },
                    {"id": "zone-a", "kind": "wecom", "url": wecom.url, "key_secret": "wecom"},
                ],
                "routes": [
                    {
                        "topics": ["alarm.raised"],
                        "to": ["duty_room", "duty_technician"],
                        "channels": ["duty"],
                    },
                    {
                        "topics": ["work_order.overdue"],
                        "zones": ["zone-a"],
                        "to": ["assignee"],
                        "channels": ["zone-a"],
                    },
                ],
            },
        )

        async def run() -> dict[str, object]:
            pub = MqttConnection(mosquitto.url, "test-notify-pub")
            pub.start()
            await pub.wait_connected()
            db = Database(settings.resolved_database_url())
            sites = directory_of(site, clock)
            async with MaintenanceService(
                sites, settings, clock, mosquitto.url, db, pass_interval=5
            ) as svc:
                event = raised(clock.now(), episode=f"notify-{tmp_path.name}")
                pub.publish(alarm_topic(site.id, "pump-1"), event.model_dump_json(), qos=1)
                await _ticking(clock, lambda: bool(ding.accepted()), "the DingTalk message")
                clock.advance(timedelta(minutes=16))  # past the 15 min respond limit
                await _ticking(clock, lambda: bool(wecom.accepted()), "the WeCom message")
                # The robot has the request; the dispatcher records the send once it has the reply.
                await _settled(lambda: svc.health()["notifications_sent"] == 2, "the send recorded")
                health = svc.health()
            pub.stop()
            db.dispose()
            return health

        health = asyncio.run(run())
    [alarm] = ding.accepted()
    doc = alarm.json()
    assert doc["markdown"]["title"] == "【设备告警】和谐花园"
    assert doc["at"]["atMobiles"] == ["13800000001"]  # 王工 is on day duty
    [breach] = wecom.accepted()
    assert "已超过响应时限" in breach.json()["text"]["content"]
    assert health["notifications_sent"] == 2
    assert health["notification_channels_off"] == 0
