"""Every fault docs/simulators.md says the example site turns into an alarm does: each row of its
table is injected into the real simulators, polled by the real gateway over Modbus TCP and
MQTT (mosquitto), and the alarm must reach the broker. One clock, advanced poll by poll, moves
the simulated devices and the gateway together, so days of drift take seconds."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from maintenance.db import Database
from maintenance.service import MaintenanceService
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.durations import parse_seconds
from propwatch.events import AlarmAction, AlarmEvent, alarm_topic, parse_event, state_topic
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import load_site
from simulators.access_controller import AccessController
from simulators.elevator import Elevator
from simulators.faults import EFFECTS
from simulators.fleet import Fleet
from simulators.lighting import LightingPanel
from simulators.pump import WaterPump
from simulators.scenario import Step
from tests.conftest import EXAMPLE_SITE
from tests.maintenance.helpers import directory_of
from tests.support.servers import Mosquitto, free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulators.md"
SECTION = "## What the example site raises"
# An evening: the lights are on, the lifts busy.
START = datetime(2026, 3, 2, 19, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@dataclass(frozen=True)
class Row:
    device: str
    fault: str
    params: dict[str, Any]
    alarm: str | None
    severity: str
    within: float
    outcome: str  # the alarm cell as written: `type`, or "— (the night-lighting check)"


def _code(cell: str) -> str | None:
    m = re.fullmatch(r"`([^`]+)`", cell.strip())
    return m.group(1) if m else None


def documented_rows() -> list[Row]:
    text = DOC.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 8 or cells[0] in ("device", "---"):
            continue
        device, fault, given, _, alarm, severity, _, within = cells
        params: dict[str, Any] = {}
        for item in given.strip("`").split() if given else []:
            key, _, raw = item.partition("=")
            params[key] = yaml.safe_load(raw)
        code = _code(fault)
        assert code, f"fault cell {fault!r} is not `code`"
        seconds = parse_seconds(within or "0s")
        rows.append(Row(device, code, params, _code(alarm), severity, seconds, alarm))
    return rows


ROWS = documented_rows()
ALARMED = [r for r in ROWS if r.alarm]
NIGHT_CHECKED = [r for r in ROWS if "night-lighting check" in r.outcome]
DEAD_LETTERED = [r for r in ROWS if "counted as dead letters" in r.outcome]


@pytest.mark.parametrize("model", [AccessController, Elevator, LightingPanel, WaterPump])
def test_the_fault_catalogue_describes_exactly_the_faults_each_model_takes(model: Any) -> None:
    assert list(EFFECTS[model.kind]) == list(model.FAULTS)


def test_the_table_has_every_fault_of_every_example_device_once() -> None:
    site = load_site(EXAMPLE_SITE)
    offered = {(d.id, f) for d in site.spec.devices for f in EFFECTS[site.profiles[d.profile].kind]}
    documented = [(r.device, r.fault) for r in ROWS]
    assert len(documented) == len(set(documented))
    assert set(documented) == offered


def test_each_documented_alarm_is_a_rule_of_the_example_with_that_severity_and_a_route() -> None:
    site = load_site(EXAMPLE_SITE)
    declared: dict[str, str] = {}
    for rule in site.spec.rules:
        dumped = rule.model_dump(mode="json")
        for mapping in (dumped.get("flags") or {}).values():
            declared[mapping["alarm_type"]] = mapping["severity"]
        if "alarm_type" in dumped:
            declared[dumped["alarm_type"]] = dumped["severity"]
    routed = {r.alarm_type for r in site.spec.alarm_routes}
    for row in ALARMED:
        assert row.alarm is not None
        assert declared.get(row.alarm) == row.severity, row
        assert row.alarm in routed, row


def _site_copy(tmp_path: Path, row: Row) -> Path:
    """The example on free ports; the device under test polled often enough for `within`
    to be a few thousand polls at most (the rules are the example's, untouched)."""
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    ports: dict[int, int] = {}
    for d in doc["devices"]:
        if "port" in d:
            d["port"] = ports.setdefault(d["port"], free_port())
        if d["protocol"] == "modbus_tcp":
            given = parse_seconds(d.get("poll_interval", "1s"))
            d["poll_interval"] = f"{max(given, row.within / 2000)}s"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


async def _until(check: Any, what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def _inject_and_advance(
    row: Row,
    tmp_path: Path,
    mosquitto: Mosquitto,
    seen: Any,
    with_maintenance: bool = False,
) -> tuple[bool, bool]:
    """Start the example's simulators and gateway (and maintenance service) on one clock,
    advance a few normal polls, inject the row's fault and advance poll by poll until `seen(gw)`
    or `within` of simulated time. (seen before the fault, seen after)."""
    site = load_site(_site_copy(tmp_path, row))
    try:
        return await _run(site, row, tmp_path, mosquitto, seen, with_maintenance)
    finally:
        await _clear_retained(site, mosquitto)


async def _clear_retained(site: Any, mosquitto: Mosquitto) -> None:
    """The broker is shared: the retained snapshots this test's gateway left (a dark circuit,
    later in simulated time than the next test's own) must not reach the next test."""
    cleaner = MqttConnection(mosquitto.url, f"test-faults-clear-{site.id}")
    cleaner.start()
    await cleaner.wait_connected()
    try:
        for asset in site.spec.assets:
            info = cleaner.publish(state_topic(site.id, asset.id), b"", qos=1, retain=True)
            await asyncio.to_thread(info.wait_for_publish, 5)
    finally:
        cleaner.stop()


async def _run(
    site: Any,
    row: Row,
    tmp_path: Path,
    mosquitto: Mosquitto,
    seen: Any,
    with_maintenance: bool,
) -> tuple[bool, bool]:
    clock = ManualClock(START)
    # a persistent MQTT session of its own: the previous test's service left one holding what
    # its gateway published as it stopped (a dark circuit, later in simulated time)
    settings = Settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path}/wo.db",
        instance_id=f"faults-{uuid.uuid4().hex[:8]}",
    )
    sink = LocalStore(tmp_path / "var" / "telemetry.db")
    async with contextlib.AsyncExitStack() as stack:
        fleet = await stack.enter_async_context(Fleet(site, clock, mosquitto.url))
        gw = await stack.enter_async_context(
            Gateway(site, settings, clock, mosquitto.url, sink=sink)
        )
        maint = None
        if with_maintenance:
            db = Database(settings.resolved_database_url())
            maint = await stack.enter_async_context(
                MaintenanceService(directory_of(site, clock), settings, clock, mosquitto.url, db)
            )
        poller = next((p for p in gw.pollers if p.device.id == row.device), None)
        step = poller.device.poll_interval if poller else 0.5

        async def tick() -> None:
            before = poller.health.polls if poller else 0
            clock.advance(step)
            if poller is not None:
                # a poller not yet asleep when the clock moved polls on the next tick
                with contextlib.suppress(TimeoutError):
                    await _until(lambda: poller.health.polls > before, "a poll", 1.0)
            if poller is None or maint is not None:
                # the controller publishes, the broker delivers, the service stores: real time
                await asyncio.sleep(0.03)
            if (
                maint is not None
                and int(clock.monotonic()) // 60 > int(clock.monotonic() - step) // 60
            ):
                # every site's pass once a simulated minute, whatever the passes' own timer did
                await maint.run_passes()

        for _ in range(5):  # a few normal polls first: nothing is expected from them
            await tick()
        early = await asyncio.to_thread(seen, gw)
        fleet.apply(Step(after=0, device=row.device, fault=row.fault, params=row.params))
        injected_at = clock.now()
        while not await asyncio.to_thread(seen, gw):
            if clock.now() - injected_at > timedelta(seconds=row.within):
                if maint is not None:
                    # the clock ran ahead of the real-time path (gateway, broker, service) on a
                    # loaded machine: give what was published by now its time, then the last
                    # pass, at the same simulated instant
                    await asyncio.sleep(3.0)
                    await maint.run_passes()
                    return early, await asyncio.to_thread(seen, gw)
                return early, False
            await tick()
        return early, True


@pytest.mark.parametrize("row", ALARMED, ids=[f"{r.device}-{r.fault}" for r in ALARMED])
def test_the_documented_fault_raises_the_documented_alarm(
    row: Row, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    site = load_site(_site_copy(tmp_path, row))
    asset = next(a.id for a in site.spec.assets if a.device == row.device)
    raised: list[AlarmEvent] = []

    def on_message(msg: Any) -> None:
        event = parse_event(msg.payload)
        if isinstance(event, AlarmEvent) and event.action is AlarmAction.RAISE:
            raised.append(event)

    async def scenario() -> tuple[bool, bool]:
        spy = MqttConnection(mosquitto.url, f"test-faults-spy-{row.device}-{row.fault}")
        spy.on_message = on_message
        spy.subscribe(alarm_topic(site.id, asset))
        spy.start()
        await spy.wait_connected()
        try:
            return await _inject_and_advance(
                row, tmp_path, mosquitto, lambda _: any(e.alarm_type == row.alarm for e in raised)
            )
        finally:
            spy.stop()

    early, found = asyncio.run(scenario())
    seen = [e.alarm_type for e in raised]
    assert not early, f"{row.alarm} before the fault: {seen}"
    assert found, f"{row.fault}: no {row.alarm} within {row.within}s; saw {seen}"
    event = next(e for e in raised if e.alarm_type == row.alarm)
    assert event.severity.value == row.severity


@pytest.mark.parametrize("row", NIGHT_CHECKED, ids=[f"{r.device}-{r.fault}" for r in NIGHT_CHECKED])
def test_the_documented_lighting_fault_opens_a_night_lighting_order(
    row: Row, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    circuit = row.params.get("circuit", 1)
    db = Database(f"sqlite:///{tmp_path}/wo.db")

    def dark_circuit_orders() -> list[str]:
        try:
            with db.session() as s:
                orders = s.scalars(
                    select(WorkOrder).where(WorkOrder.dedup_key.like("lighting-fault:%"))
                )
                return [o.title for o in orders]
        except OperationalError:  # the service has not made its tables yet
            return []

    early, found = asyncio.run(
        _inject_and_advance(
            row, tmp_path, mosquitto, lambda _: bool(dark_circuit_orders()), with_maintenance=True
        )
    )
    titles = dark_circuit_orders()
    db.dispose()
    assert not early, f"a dark circuit before the fault: {titles}"
    assert found, f"{row.fault}: no 照明回路不亮 order within {row.within}s"
    assert titles == [f"照明回路不亮：B区公共照明配电箱 第{circuit}回路"]


@pytest.mark.parametrize("row", DEAD_LETTERED, ids=[f"{r.device}-{r.fault}" for r in DEAD_LETTERED])
def test_the_documented_bad_payloads_are_counted_as_dead_letters(
    row: Row, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    early, found = asyncio.run(
        _inject_and_advance(
            row,
            tmp_path,
            mosquitto,
            lambda gw: gw.dead_letters.stats().received > 0,
        )
    )
    assert not early, "dead letters before the fault"
    assert found, f"{row.fault}: no dead letter"
