"""The maintenance service end to end on a real mosquitto: events in, the SLA job on the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from maintenance.db import Database
from maintenance.service import MaintenanceService
from maintenance.work_orders.models import Escalation, WorkOrder
from propwatch.clock import ManualClock
from propwatch.events import alarm_topic
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site
from tests.maintenance.helpers import directory_of, raised
from tests.support.servers import Mosquitto


async def _eventually(check: Callable[[], bool], what: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out after {within}s waiting for {what}")


TICK = 5.0


async def _ticking(clock: ManualClock, check: Callable[[], bool], what: str) -> None:
    """Move the clock a tick at a time (the job sleeps on it) until `check` holds."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        clock.advance(TICK)
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


def test_the_service_escalates_an_unanswered_emergency_once_on_its_own_clock(
    tmp_path: Path, mosquitto: Mosquitto, example_site: Site
) -> None:
    clock = ManualClock()
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/m.db")
    db = Database(settings.resolved_database_url())

    def orders() -> list[WorkOrder]:
        with db.session() as s:
            return list(s.scalars(select(WorkOrder)))

    def rungs() -> list[str]:
        with db.session() as s:
            return list(s.scalars(select(Escalation.step_id)))

    async def run() -> None:
        pub = MqttConnection(mosquitto.url, "test-service-pub")
        pub.start()
        await pub.wait_connected()
        sites = directory_of(example_site, clock)
        async with MaintenanceService(
            sites, settings, clock, mosquitto.url, db, pass_interval=TICK
        ) as svc:
            event = raised(clock.now(), episode=f"svc-{tmp_path.name}")
            pub.publish(alarm_topic(example_site.id, "pump-1"), event.model_dump_json(), qos=1)
            await _eventually(lambda: len(orders()) == 1, "the work order")
            clock.advance(timedelta(minutes=16))  # past the 15 min respond limit
            await _ticking(clock, lambda: rungs() == ["respond-breach"], "the escalation")
            passes = svc.sla_passes
            await _ticking(clock, lambda: svc.sla_passes >= passes + 2, "two more passes")
            assert rungs() == ["respond-breach"] and svc.escalations_fired == 1
        pub.stop()

    asyncio.run(run())
