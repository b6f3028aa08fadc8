"""One fault travels from a simulated pump to a work order over real Modbus TCP, real mosquitto
and the real InfluxDB v2 write API (victoria-metrics)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from sqlalchemy import select

from gateway.readings import Sample
from gateway.service import Gateway
from gateway.sinks.influx import InfluxSink
from maintenance.alarms.models import Alarm
from maintenance.db import Database
from maintenance.service import MaintenanceService
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import SystemClock
from propwatch.events import AlarmEvent, alarm_topic, parse_event
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import load_site
from simulators.fleet import Fleet
from simulators.scenario import Step
from tests.conftest import EXAMPLE_SITE
from tests.maintenance.helpers import directory_of
from tests.support.servers import Mosquitto, VictoriaMetrics, free_port, wait_until

T = TypeVar("T")


def _site_copy(tmp_path: Path) -> Path:
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    for d in doc["devices"]:
        if d["protocol"] == "modbus_tcp":
            d["port"] = free_port()
            d["poll_interval"] = "0.2s"
    for r in doc["rules"]:
        if r.get("kind") != "communication_loss":  # counted in polls or silence, not delayed
            r["on_delay"] = "0.4s"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


async def _eventually(check: Callable[[], T], what: str, within: float = 20) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := await asyncio.to_thread(check):
            return result
        await asyncio.sleep(0.05)
    raise TimeoutError(f"timed out after {within}s waiting for {what}")


def test_pump_pressure_collapse_becomes_exactly_one_work_order_and_points_land(
    tmp_path: Path, mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics
) -> None:
    site = load_site(_site_copy(tmp_path))
    settings = Settings(var_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path}/wo.db")
    clock = SystemClock()
    db = Database(settings.resolved_database_url())
    sink = InfluxSink(victoria_metrics.url, "any-token", "any-org", "propwatch")
    accepted: list[Sample] = []
    alarm_payloads: list[bytes] = []

    def work_orders() -> list[WorkOrder]:
        with db.session() as s:
            return list(s.scalars(select(WorkOrder)))

    async def run() -> None:
        spy = MqttConnection(mosquitto.url, "test-alarm-spy")
        spy.on_message = lambda m: alarm_payloads.append(bytes(m.payload))
        spy.subscribe(alarm_topic(site.id, "+"))
        spy.start()
        await spy.wait_connected()
        async with (
            Fleet(site, clock, mosquitto.url) as fleet,
            MaintenanceService(
                directory_of(site, clock), settings, clock, mosquitto.url, db
            ) as maint,
            Gateway(site, settings, clock, mosquitto.url, sink=sink) as gw,
        ):
            gw.writer.offer = _recording(gw.writer.offer, accepted)  # type: ignore[method-assign]
            await _eventually(lambda: len(accepted) >= 5, "healthy polls")
            fleet.apply(Step(after=0, device="pump-1", fault="pressure_collapse"))
            await _eventually(work_orders, "the work order")
            raise_payload = await _eventually(
                lambda: next((p for p in alarm_payloads if b'"raise"' in p), None), "raise event"
            )
            # A broker redelivery of the same event, and a repeated raise of the same episode.
            spy.publish(alarm_topic(site.id, "pump-1"), raise_payload, qos=1)
            await _eventually(lambda: maint.consumer.duplicates >= 1, "the duplicate")
            event = parse_event(raise_payload)
            assert isinstance(event, AlarmEvent)
            again = event.model_copy(update={"event_id": "repeat-" + event.event_id})
            spy.publish(alarm_topic(site.id, "pump-1"), again.model_dump_json(), qos=1)
            await _eventually(lambda: maint.consumer.applied >= 2, "the repeated raise")
        spy.stop()

    asyncio.run(run())

    # exactly one order for the pressure episode (raised, redelivered, raised again); on a
    # starved machine a late poll may also open a communication-loss order, which is not this one
    every = work_orders()
    orders = [o for o in every if o.alarm_type == "low_outlet_pressure"]
    assert len(orders) == 1, [(o.alarm_type, o.title) for o in every]
    wo = orders[0]
    assert (wo.priority, wo.category, wo.source) == ("emergency", "water_supply", "alarm")
    assert wo.arrive_due is not None and wo.resolve_due is not None
    assert (wo.arrive_due - wo.reported_at).total_seconds() == 3600
    assert (wo.resolve_due - wo.reported_at).total_seconds() == 4 * 3600
    with db.session() as s:
        # Only the pressure episode: on a loaded machine other rules of the site may fire too.
        alarm = s.scalars(
            select(Alarm).where(Alarm.asset_code == "pump-1", Alarm.alarm_type == wo.alarm_type)
        ).one()
    assert alarm.raise_count == 2 and alarm.work_order_id == wo.id

    # Every accepted pressure reading is in the store with its exact value and millisecond time.
    pump_samples = [s for s in accepted if s.device_id == "pump-1"]
    expected = {
        int(s.at.timestamp() * 1000): float(s.values["outlet_pressure"]) for s in pump_samples
    }
    assert any(v < 0.15 for v in expected.values()), "the collapse was polled"

    def stored() -> dict[int, float] | None:
        victoria_metrics.flush()
        series = victoria_metrics.export('{__name__="water_pump_outlet_pressure",asset="pump-1"}')
        got = {t: v for s in series for t, v in zip(s["timestamps"], s["values"], strict=True)}
        # every point of this run (the session's store may hold other runs' points of pump-1)
        return got if expected.keys() <= got.keys() else None

    wait_until(lambda: stored() is not None, 30, "points to be searchable")
    got = stored()
    assert got is not None
    # victoria-metrics keeps 12 significant digits
    assert {t: got[t] for t in expected} == pytest.approx(expected, rel=1e-11)
    # tagged with the site and the device (the session's store holds other tests' sites too)
    series = victoria_metrics.export('{__name__="water_pump_outlet_pressure",asset="pump-1"}')
    assert {(s["metric"]["site"], s["metric"]["device"]) for s in series} >= {("hexie", "pump-1")}


def _recording(offer: Callable[[Sample], bool], into: list[Sample]) -> Callable[[Sample], bool]:
    def wrapped(sample: Sample) -> bool:
        ok = offer(sample)
        if ok:
            into.append(sample)
        return ok

    return wrapped
