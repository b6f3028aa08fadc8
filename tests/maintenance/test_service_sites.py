"""One maintenance service over a folder of sites on a real mosquitto: each event applied to its
own site, an event of a site not served kept as a dead letter, sites added and removed while it
runs taking effect."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from maintenance.db import Database
from maintenance.dead_letters import DeadLetter
from maintenance.registry.models import Asset
from maintenance.service import MaintenanceService
from maintenance.work_orders.models import Source, WorkOrder
from propwatch.clock import ManualClock
from propwatch.events import alarm_topic
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site_directory import SiteDirectory
from tests.maintenance.conftest import MONDAY_10H
from tests.maintenance.helpers import raised
from tests.support.servers import Mosquitto
from tests.support.sites import copy_example_site


async def _eventually(check: Callable[[], bool], what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out after {within}s waiting for {what}")


def test_a_folder_of_sites_is_served_by_one_service_that_follows_the_folder(
    tmp_path: Path, mosquitto: Mosquitto, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]  # other tests' events reach this broker too
    north, south, west = f"north-{tag}", f"south-{tag}", f"west-{tag}"
    folder = tmp_path / "sites"
    copy_example_site(folder, north, "北苑")
    copy_example_site(folder, south, "南苑")
    clock = ManualClock(MONDAY_10H)
    directory = SiteDirectory(folder, clock)
    directory.rescan()
    settings = Settings(database_url=database_url, instance_id=tag, var_dir=tmp_path / "var")
    db = Database(database_url)

    def orders(site_id: str) -> list[WorkOrder]:
        with db.session() as s:
            return list(
                s.scalars(
                    select(WorkOrder).where(
                        WorkOrder.site_id == site_id, WorkOrder.source == Source.ALARM
                    )
                )
            )

    def dead(site_id: str) -> list[str]:
        with db.session() as s:
            return list(s.scalars(select(DeadLetter.reason).where(DeadLetter.site_id == site_id)))

    def event(site_id: str, episode: str) -> tuple[str, str]:
        e = raised(clock.now(), episode=f"{site_id}/{episode}").model_copy(
            update={"site_id": site_id}
        )
        return alarm_topic(site_id, "pump-1"), e.model_dump_json()

    async def run() -> None:
        pub = MqttConnection(mosquitto.url, f"test-sites-pub-{tag}")
        pub.start()
        await pub.wait_connected()
        async with MaintenanceService(
            directory, settings, clock, mosquitto.url, db, pass_interval=5
        ) as svc:
            health = svc.health()
            assert (health["sites_served"], health["sites_held"]) == (2, 2)
            for site_id in (north, south, west):
                pub.publish(*event(site_id, "one"), qos=1)
            # a gateway of north speaking for south
            topic, _ = event(north, "spoofed")
            pub.publish(topic, event(south, "spoofed")[1], qos=1)
            await _eventually(lambda: len(orders(north)) == len(orders(south)) == 1, "orders")
            await _eventually(lambda: len(dead(west)) == 1 and len(dead(north)) == 1, "dead")
            assert "not among the sites this service serves" in dead(west)[0]
            assert "is not the site of its topic" in dead(north)[0]
            # at least west's: on the worker's shared broker, other tests' sites are not served
            assert svc.health()["events_unknown_site"] >= 1

            copy_example_site(folder, west, "西苑")
            await asyncio.to_thread(directory.rescan)
            await _eventually(lambda: west in svc.work, "west run by the service")
            with db.session() as s:
                assert s.scalars(select(Asset.code).where(Asset.site_id == west)).all()
            pub.publish(*event(west, "two"), qos=1)
            await _eventually(lambda: len(orders(west)) == 1, "west's order")

            (folder / f"{north}.yaml").unlink()
            await asyncio.to_thread(directory.rescan)
            await _eventually(lambda: north not in svc.work, "north's passes stopped")
            assert north not in svc.sites and svc.health()["sites_served"] == 2
            pub.publish(*event(north, "three"), qos=1)
            await _eventually(lambda: len(dead(north)) == 2, "north's event kept aside")
            assert len(orders(north)) == 1
        pub.stop()

    try:
        asyncio.run(run())
    finally:
        db.dispose()
