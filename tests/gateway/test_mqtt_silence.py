"""通信中断 of an MQTT device: the real access-controller simulator falls silent, the real gateway
(through a real mosquitto) raises communication_loss once the silence passes the device's
allowance, and clears it on the next message. One ManualClock moves the simulator and the
gateway together; nothing sleeps on simulated time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from propwatch.clock import ManualClock
from propwatch.events import (
    AlarmAction,
    AlarmEvent,
    AssetStateEvent,
    alarm_topic,
    parse_event,
    state_topic,
)
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from simulators.fleet import Fleet
from simulators.scenario import Step
from tests.stack import PROPWATCH, quick_site_copy
from tests.support.servers import Mosquitto, start_mosquitto, wait_until

DOOR = "door-north"
ALLOWED = 90.0  # the access controller's profile: three heartbeats of 30 s
START = datetime(2026, 3, 2, 19, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


PROBE = "test/silence-probe/"


@dataclass
class Spy:
    """The door's alarms and retained snapshots as the maintenance side receives them."""

    raised: list[AlarmEvent] = field(default_factory=list)
    cleared: list[AlarmEvent] = field(default_factory=list)
    state: AssetStateEvent | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    probed: threading.Event = field(default_factory=threading.Event)

    def on_message(self, msg: Any) -> None:
        if msg.topic.startswith(PROBE):
            self.probed.set()
            return
        event = parse_event(bytes(msg.payload))
        with self.lock:
            if isinstance(event, AlarmEvent) and event.alarm_type == "communication_loss":
                (self.raised if event.action is AlarmAction.RAISE else self.cleared).append(event)
            elif isinstance(event, AssetStateEvent) and (
                self.state is None or self.state.occurred_at <= event.occurred_at
            ):
                self.state = event


@dataclass
class Rig:
    site: Site
    clock: ManualClock
    fleet: Fleet
    gateway: Gateway
    spy: Spy
    settings: Settings

    async def advance(self, seconds: float, step: float = 0.5) -> None:
        """Move simulated time in small steps, letting the simulator, broker and gateway act."""
        moved = 0.0
        while moved < seconds:
            delta = min(step, seconds - moved)
            self.clock.advance(delta)
            moved += delta
            await asyncio.sleep(0.005)

    async def delivered(self) -> None:
        """Every message the controller published has reached the gateway (real time)."""
        ingest = self.gateway.ingest
        assert ingest is not None
        await asyncio.to_thread(
            wait_until, lambda: ingest.received >= self.fleet.published, 10, "delivery"
        )

    async def advance_until(self, check: Any, what: str, within: float = 10.0) -> None:
        """Move simulated time (at most `within`) until `check` holds, at the simulator's pace:
        it steps every half second of simulated time and 20 ms of real time."""
        moved = 0.0
        while not check():
            assert moved <= within, f"{what}: not within {within} s of simulated time"
            self.clock.advance(0.5)
            moved += 0.5
            await asyncio.sleep(0.03)

    async def until(self, check: Any, what: str) -> None:
        # real time for what the gateway already did to reach the spy through the broker: a
        # full suite on two cores has kept a message longer than 10 s
        await asyncio.to_thread(wait_until, check, 30, what)


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path, broker: Mosquitto, site_file: Path | None = None
) -> AsyncIterator[Rig]:
    # A site id of its own: the session's broker keeps every earlier test's retained snapshot
    # of the door, and one stamped later on its simulated clock would hide this test's.
    path = site_file or quick_site_copy(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["site"]["id"] = f"silence-{tmp_path.name}"[:64]
    text = yaml.safe_dump(doc, allow_unicode=True, default_flow_style=None, width=10_000)
    path.write_text(text, encoding="utf-8")
    site = load_site(path)
    clock = ManualClock(START)
    settings = Settings(var_dir=tmp_path / "var")
    spy = Spy()
    conn = MqttConnection(broker.url, f"test-silence-spy-{tmp_path.name}")
    conn.on_message = spy.on_message
    conn.subscribe(alarm_topic(site.id, DOOR))
    conn.subscribe(state_topic(site.id, DOOR))
    probe = f"{PROBE}{tmp_path.name}"
    conn.subscribe(probe)  # the broker takes subscriptions in order: the last one answers
    conn.start()
    try:
        await conn.wait_connected()
        # not a raise published before the spy's subscriptions hold (alarms are not retained)
        for _ in range(40):
            conn.publish(probe, b"probe", qos=1)
            if await asyncio.to_thread(spy.probed.wait, 0.5):
                break
        assert spy.probed.is_set(), "the spy's subscriptions never took hold"
        async with Fleet(site, clock, broker.url) as fleet:
            gateway = Gateway(
                site, settings, clock, broker.url, sink=LocalStore(tmp_path / "telemetry.db")
            )
            r = Rig(site, clock, fleet, await gateway.__aenter__(), spy, settings)
            # allowances count from the connection the watch has seen: wait for it and let the
            # watch see it at the start time, however late the broker answered in real time
            ingest = gateway.ingest
            assert ingest is not None
            await asyncio.to_thread(
                wait_until, ingest.connection.connected.is_set, 10, "the gateway's connection"
            )
            ingest.check_silence()
            try:
                yield r
            finally:
                await r.gateway.__aexit__(None, None, None)  # the one running at the end
    finally:
        conn.stop()


def _silence(gw: Gateway) -> Any:
    assert gw.ingest is not None
    return gw.ingest.silence[DOOR]


def test_a_controller_silent_since_start_is_offline_after_its_allowance_and_not_before(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, mosquitto) as r:
            r.fleet.apply(Step(after=0, device=DOOR, fault="silent"))
            await r.advance(ALLOWED - 1)
            assert r.gateway.ingest is not None
            assert r.gateway.ingest.check_silence() == []
            assert _silence(r.gateway).online is None
            assert r.spy.raised == []

            await r.advance(3)  # past the allowance, and the watch checks once a second
            await r.until(lambda: r.spy.raised, "communication_loss raised")
            event = r.spy.raised[0]
            assert (event.asset_id, event.device_id, event.severity.value) == (
                DOOR,
                DOOR,
                "major",
            )
            assert event.message == "门禁控制器通信中断，请检查网络和供电"
            assert event.evidence["offline_after_s"] == ALLOWED
            await r.until(
                lambda: r.spy.state is not None and not r.spy.state.online, "offline snapshot"
            )
            assert r.spy.state is not None
            assert "communication_loss" in r.spy.state.active_alarms
            assert r.gateway.health()["mqtt_devices"][DOOR]["online"] is False

    asyncio.run(scenario())


def test_the_allowance_counts_from_the_last_message_and_the_next_one_clears_the_alarm(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, mosquitto) as r:
            await r.advance(65)  # two heartbeats and the evening's swipes
            await r.delivered()
            assert _silence(r.gateway).online is True
            r.fleet.apply(Step(after=0, device=DOOR, fault="silent"))
            await r.delivered()
            heard_at = _silence(r.gateway).heard_at
            await r.advance(heard_at + ALLOWED - 1 - r.clock.monotonic())
            assert r.gateway.ingest is not None
            assert r.gateway.ingest.check_silence() == []
            assert r.spy.raised == []

            await r.advance(3)  # past the allowance, and the watch checks once a second
            await r.until(lambda: r.spy.raised, "communication_loss raised")
            assert not r.spy.cleared

            r.fleet.apply(Step(after=0, device=DOOR, clear="silent"))
            # the overdue heartbeat goes out on the controller's next step
            await r.advance_until(lambda: r.spy.cleared, "communication_loss cleared")
            assert r.spy.cleared[0].episode_id == r.spy.raised[0].episode_id
            await r.until(
                lambda: (
                    r.spy.state is not None
                    and r.spy.state.online
                    and "communication_loss" not in r.spy.state.active_alarms
                ),
                "online snapshot",
            )
            assert len(r.spy.raised) == 1

    asyncio.run(scenario())


def test_a_broker_outage_longer_than_the_allowance_marks_no_device_offline(
    tmp_path: Path,
) -> None:
    broker = start_mosquitto(tmp_path)

    async def scenario() -> None:
        async with rig(tmp_path, broker) as r:
            await r.advance(35)
            await r.delivered()
            assert _silence(r.gateway).online is True
            broker.stop()
            await r.until(lambda: not r.gateway.mqtt.connected.is_set(), "gateway disconnected")
            await r.advance(3 * ALLOWED)  # the controller publishes into a dead link meanwhile
            assert r.gateway.ingest is not None
            assert r.gateway.ingest.check_silence() == []

            await asyncio.to_thread(broker.start)
            await r.until(r.gateway.mqtt.connected.is_set, "gateway reconnected")
            await r.advance(ALLOWED - 1)
            assert r.gateway.ingest.check_silence() == []
            assert r.gateway.health()["mqtt_devices"][DOOR]["online"] is True
            assert DOOR not in r.gateway._offline
            assert r.spy.raised == []

            # the watch is back at work: a real silence after the outage is still found
            r.fleet.apply(Step(after=0, device=DOOR, fault="silent"))
            await r.advance(ALLOWED + 31)  # past a heartbeat queued in the simulator's client
            await r.until(lambda: r.spy.raised, "communication_loss raised after the outage")

    try:
        asyncio.run(scenario())
    finally:
        broker.stop()


def test_a_controller_silent_across_a_gateway_restart_stays_one_open_episode(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, mosquitto) as r:
            r.fleet.apply(Step(after=0, device=DOOR, fault="silent"))
            await r.advance(ALLOWED + 3)
            await r.until(lambda: r.spy.raised, "communication_loss raised")
            episode = r.spy.raised[0].episode_id
            await r.gateway.__aexit__(None, None, None)

            again = Gateway(
                r.site,
                r.settings,
                r.clock,
                mosquitto.url,
                sink=LocalStore(tmp_path / "telemetry2.db"),
            )
            r.gateway = await again.__aenter__()  # the rig's exit stops this one
            restarted_at = r.clock.now()
            assert again.health()["mqtt_devices"][DOOR]["online"] is None
            await r.advance(ALLOWED + 3)
            assert again.ingest is not None
            await r.until(lambda: _silence(again).online is False, "found silent again")
            await r.until(
                lambda: r.spy.state is not None and r.spy.state.occurred_at > restarted_at,
                "the restarted gateway's verdict in the snapshot",
            )
            assert r.spy.state is not None
            assert not r.spy.state.online
            assert [c.episode_id for c in r.spy.state.conditions or []] == [episode]
            # no new raise from the restarted gateway; the first one's raise may come twice (at
            # least once: stopped before the broker's PUBACK, it is published again from disk)
            assert {(e.event_id, e.episode_id) for e in r.spy.raised} == {
                (r.spy.raised[0].event_id, episode)
            }
            assert r.spy.cleared == []

            r.fleet.apply(Step(after=0, device=DOOR, clear="silent"))
            await r.advance_until(lambda: r.spy.cleared, "communication_loss cleared")
            assert r.spy.cleared[0].episode_id == episode

    asyncio.run(scenario())


def _site_with_door(tmp_path: Path, **door: Any) -> Path:
    path = tmp_path / "site.yaml"
    doc = yaml.safe_load(quick_site_copy(tmp_path).read_text(encoding="utf-8"))
    for d in doc["devices"]:
        if d["id"] == DOOR:
            d.update(door)
    # one device a line, as people write them, so the line is the device's
    text = yaml.safe_dump(doc, allow_unicode=True, default_flow_style=None, width=10_000)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_device_offline_after_shortens_the_allowance(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async def scenario() -> None:
        async with rig(tmp_path, mosquitto, _site_with_door(tmp_path, offline_after="40s")) as r:
            r.fleet.apply(Step(after=0, device=DOOR, fault="silent"))
            await r.advance(39)
            assert r.gateway.ingest is not None
            assert r.gateway.ingest.check_silence() == []
            await r.advance(3)  # past the allowance, and the watch checks once a second
            await r.until(lambda: r.spy.raised, "communication_loss raised")
            assert r.spy.raised[0].evidence["offline_after_s"] == 40.0

    asyncio.run(scenario())


def _device_line(path: Path, device: str = DOOR) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(
        i for i, line in enumerate(lines, 1) if f"id: {device}," in line and "protocol" in line
    )


@pytest.mark.parametrize(
    ("value", "en", "zh"),
    [
        (
            "soon",
            "devices[{i}].offline_after: expected a duration such as 30s, 15m, 4h, got soon",
            "devices[{i}].offline_after: 应为时长，如 30s、15m、4h，这里是 soon",
        ),
        (
            "0s",
            "devices[{i}].offline_after: must be greater than 0, got 0s",
            None,
        ),
        (
            "-5s",
            "devices[{i}].offline_after: a duration cannot be negative, got -5s",
            "devices[{i}].offline_after: 时长不能为负数，这里是 -5s",
        ),
    ],
)
def test_a_bad_offline_after_is_refused_by_check_config_at_its_line(
    tmp_path: Path, value: str, en: str, zh: str | None
) -> None:
    path = _site_with_door(tmp_path, offline_after=value)
    index = [d["id"] for d in yaml.safe_load(path.read_text(encoding="utf-8"))["devices"]]
    expected = {"en_US.UTF-8": en, "zh_CN.UTF-8": zh}
    for lang, message in expected.items():
        done = subprocess.run(
            [PROPWATCH, "check-config", "--site", str(path)],
            env={**os.environ, "LANG": lang, "LC_ALL": lang},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        if message is not None:
            line = f"  {path}:{_device_line(path)}: {message.format(i=index.index(DOOR))}"
            assert line in done.stderr.splitlines(), done.stderr
        else:
            assert f"{path}:{_device_line(path)}: devices[" in done.stderr, done.stderr


def test_offline_after_on_a_modbus_device_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    text = quick_site_copy(tmp_path).read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    pump = next(i for i, d in enumerate(doc["devices"]) if d["id"] == "pump-1")
    doc["devices"][pump]["offline_after"] = "90s"
    text = yaml.safe_dump(doc, allow_unicode=True, default_flow_style=None, width=10_000)
    path.write_text(text, encoding="utf-8")
    line = _device_line(path, "pump-1")
    done = subprocess.run(
        [PROPWATCH, "check-config", "--site", str(path)],
        env={**os.environ, "LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert (
        f"  {path}:{line}: devices[{pump}]: offline_after (the silence allowed) is for MQTT "
        "devices; a Modbus device's failed polls are set in a communication_loss rule"
        in (done.stderr.splitlines())
    )


def test_a_bad_offline_after_in_a_profile_is_refused_at_its_line(tmp_path: Path) -> None:
    site = quick_site_copy(tmp_path)
    builtin = Path(__file__).resolve().parents[2] / "propwatch" / "profiles"
    text = (builtin / "access_controller.yaml").read_text(encoding="utf-8")
    text = text.replace("timestamp_path: ts\n", "timestamp_path: ts\noffline_after: 0\n")
    profile = tmp_path / "profiles" / "access_controller.yaml"
    profile.parent.mkdir()
    profile.write_text(text, encoding="utf-8")
    line = text.splitlines().index("offline_after: 0") + 1
    done = subprocess.run(
        [PROPWATCH, "check-config", "--site", str(site)],
        env={**os.environ, "LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"  {profile}:{line}: offline_after: must be greater than 0, got 0" in (
        done.stderr.splitlines()
    ), done.stderr
