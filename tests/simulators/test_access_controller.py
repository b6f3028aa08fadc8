"""门禁 model: door events follow swipes; held-open and forced doors are reported as a
controller would, on simulated time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulators.access_controller import AccessController

TZ = ZoneInfo("Asia/Shanghai")
RUSH = datetime(2026, 3, 2, 8, 0, tzinfo=TZ).astimezone(UTC)


def _events(ctrl: AccessController, start: datetime, seconds: int) -> list[dict[str, Any]]:
    out = []
    for s in range(1, seconds + 1):
        out += [json.loads(raw) for raw in ctrl.step(start + timedelta(seconds=s))]
    return out


def test_every_granted_swipe_is_followed_by_open_and_close() -> None:
    ctrl = AccessController("door", "seed", TZ, RUSH)
    events = [e["event"] for e in _events(ctrl, RUSH, 1800)]
    assert events.count("card_granted") > 10
    assert events.count("door_opened") == events.count("door_closed") + (1 if ctrl.door_open else 0)
    assert events.count("heartbeat") == 1800 // 30


def test_propped_door_is_reported_only_after_the_held_open_time() -> None:
    ctrl = AccessController("door", "seed", TZ, RUSH)
    ctrl.step(RUSH)
    ctrl.inject("door_held_open", {"after": 60})
    events = _events(ctrl, RUSH, 90)
    held = [i for i, e in enumerate(events) if e["event"] == "door_held_open"]
    assert len(held) == 1
    report = events[held[0]]
    assert report["door"] == {"open": True, "forced": False, "held_open": True}
    assert report["ts"] >= (RUSH + timedelta(seconds=60)).isoformat()
    assert not any(e["event"] == "door_closed" for e in events)


def test_removing_the_prop_closes_the_door() -> None:
    ctrl = AccessController("door", "seed", TZ, RUSH)
    ctrl.step(RUSH)
    ctrl.inject("door_held_open", {"after": 5})
    _events(ctrl, RUSH, 10)
    ctrl.clear("door_held_open")
    later = _events(ctrl, RUSH + timedelta(seconds=10), 2)
    assert later[0]["event"] == "door_closed" and later[0]["door"]["held_open"] is False


def test_silent_controller_publishes_nothing_not_even_heartbeats() -> None:
    ctrl = AccessController("door", "seed", TZ, RUSH)
    ctrl.inject("silent", {})
    assert _events(ctrl, RUSH, 120) == []
