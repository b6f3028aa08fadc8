"""A restarted gateway reopens the episodes it held: the same ids, one clear when they end, and
every open episode in the asset's retained snapshot."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path

import yaml

from gateway.service import Gateway
from propwatch.clock import ManualClock
from propwatch.events import AlarmAction, AlarmEvent, AssetStateEvent, parse_event
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from tests.conftest import EXAMPLE_SITE
from tests.gateway.rule_support import T0, sample

NO_BROKER = "mqtt://127.0.0.1:9"  # never connected: these tests read the outbox's lane


def in_event_loop(test: Callable[[Path], None]) -> Callable[[Path], None]:
    """The gateway's Modbus links want a running loop even unstarted; the test body is sync."""

    @functools.wraps(test)
    def run(tmp_path: Path) -> None:
        async def body() -> None:
            test(tmp_path)

        asyncio.run(body())

    return run


def _gateway(site: Site, var: Path, clock: ManualClock) -> Gateway:
    return Gateway(site, Settings(var_dir=var), clock, NO_BROKER, state_interval=3600)


def _lane(gw: Gateway) -> list[AlarmEvent | AssetStateEvent]:
    return [parse_event(e.payload) for e in gw.outbox.oldest_events(10_000)]


def _alarms(gw: Gateway) -> list[AlarmEvent]:
    return [e for e in _lane(gw) if isinstance(e, AlarmEvent)]


def _last_snapshot(gw: Gateway, asset: str) -> AssetStateEvent:
    return [e for e in _lane(gw) if isinstance(e, AssetStateEvent) and e.asset_id == asset][-1]


@in_event_loop
def test_a_restart_keeps_the_episode_and_clears_it_once_the_fault_is_gone(
    tmp_path: Path,
) -> None:
    site, clock = load_site(EXAMPLE_SITE), ManualClock(T0)
    first = _gateway(site, tmp_path, clock)
    for t in range(0, 20):
        first.on_sample(sample(t, outlet_pressure=0.05))
    [raised] = _alarms(first)
    assert raised.action is AlarmAction.RAISE
    assert [c.episode_id for c in _last_snapshot(first, "pump-1").conditions or []] == [
        raised.episode_id
    ]
    first.outbox.close()
    first.conditions.close()

    second = _gateway(site, tmp_path, clock)  # as after SIGKILL: nothing was shut down
    assert second.conditions_restored == 1
    assert [c.episode_id for c in second.rules.conditions("pump-1")] == [raised.episode_id]
    second.publish_all_states()
    assert [c.episode_id for c in _last_snapshot(second, "pump-1").conditions or []] == [
        raised.episode_id
    ]
    for t in range(20, 60):
        second.on_sample(sample(t, outlet_pressure=0.3))
    alarms = _alarms(second)
    assert [(e.action, e.episode_id) for e in alarms] == [
        (AlarmAction.RAISE, raised.episode_id),
        (AlarmAction.CLEAR, raised.episode_id),
    ]
    assert _last_snapshot(second, "pump-1").conditions == []
    assert second.conditions.load() == []


@in_event_loop
def test_a_condition_whose_rule_is_gone_is_let_go_at_start(tmp_path: Path) -> None:
    site, clock = load_site(EXAMPLE_SITE), ManualClock(T0)
    first = _gateway(site, tmp_path, clock)
    for t in range(0, 20):
        first.on_sample(sample(t, outlet_pressure=0.05))
    first.conditions.close()
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["rules"] = [r for r in doc["rules"] if r["id"] != "pump-outlet-pressure-low"]
    changed = tmp_path / "site.yaml"
    changed.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")

    first.outbox.close()

    second = _gateway(load_site(changed), tmp_path, clock)
    assert second.conditions_restored == 0
    assert second.conditions.load() == []
    second.publish_all_states()
    assert _last_snapshot(second, "pump-1").conditions == []


@in_event_loop
def test_an_offline_device_is_not_raised_again_after_a_restart(tmp_path: Path) -> None:
    site, clock = load_site(EXAMPLE_SITE), ManualClock(T0)
    first = _gateway(site, tmp_path, clock)
    first.on_online_change("pump-1", False, "timeout")
    [offline] = _alarms(first)
    first.conditions.close()
    first.outbox.close()

    second = _gateway(site, tmp_path, clock)
    second.on_online_change("pump-1", False, "timeout")  # still offline after the restart
    assert [e.episode_id for e in _alarms(second)] == [offline.episode_id]
    assert _last_snapshot(second, "pump-1").online is False
    second.on_online_change("pump-1", True, "")
    alarms = _alarms(second)
    assert [(e.action, e.episode_id) for e in alarms] == [
        (AlarmAction.RAISE, offline.episode_id),
        (AlarmAction.CLEAR, offline.episode_id),
    ]
