"""照明定时控制 end to end: at sunset the maintenance service's lighting schedule sends a
switch-on to the site's gateway through real mosquitto while the gateway is away; the gateway
comes back past the command's time to live and never executes it (the simulated contactors stay
open), its answer `expired` lands on the row, and that night's check opens the 照明回路不亮
order naming the command — on SQLite and PostgreSQL, on a clock moved to today's real sunset."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from maintenance.commands.models import DeviceCommand
from maintenance.db import Database
from maintenance.lighting import check_time, night_lighting_check, sunset_at
from maintenance.lighting_control import CURSOR
from maintenance.plans.models import PlanCursor
from maintenance.registry.models import Asset as AssetRow
from maintenance.registry.service import sync_registry
from maintenance.service import MaintenanceService
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import SystemClock
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from simulators.fleet import Fleet
from simulators.lighting import LightingPanel
from tests.api.integration import db, migrated_template  # noqa: F401  (both backends)
from tests.conftest import EXAMPLE_SITE
from tests.maintenance.helpers import directory_of
from tests.support.servers import Mosquitto, free_port

SITE = "lighting-e2e"
"""An id of this test alone: the session's broker keeps other tests' gateway sessions."""


class ShiftedClock(SystemClock):
    """The system clock, `shift` ahead (real time still flows: MQTT and polls are real)."""

    def __init__(self, shift: timedelta) -> None:
        self.shift = shift

    def now(self) -> datetime:
        return super().now() + self.shift


def _site(tmp_path: Path, suffix: str) -> Site:
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["site"]["id"] = f"{SITE}-{suffix}"
    ports: dict[int, int] = {}
    for d in doc["devices"]:
        if "port" in d:
            d["port"] = ports.setdefault(d["port"], free_port())
            d["poll_interval"] = "0.2s"
    doc["plans"] = []
    doc["lighting_control"] = {
        "switches": [
            {
                "id": "b-road",
                "name": "B区路灯",
                "asset": "lighting-b",
                "circuits": [1, 2],
                "on": {"after_sunset": 0},
                "off": {"at": "23:30"},
                "ttl": "2m",
            }
        ]
    }
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


async def _eventually(check: Callable[[], Any], what: str, within: float = 20) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if result := await asyncio.to_thread(check):
            return result
        await asyncio.sleep(0.05)
    raise TimeoutError(f"timed out after {within}s waiting for {what}")


def test_a_scheduled_switch_on_that_expires_while_the_gateway_is_away_is_never_executed(
    tmp_path: Path,
    mosquitto: Mosquitto,
    db: Database,  # noqa: F811
) -> None:
    site = _site(tmp_path, db.engine.dialect.name)
    real = SystemClock()
    today = real.now().astimezone(site.spec.site.tz).date()
    dusk = sunset_at(site.spec, today)
    shift = dusk + timedelta(seconds=20) - real.now()
    at_dusk = ShiftedClock(shift)  # the maintenance service: 20 s after today's sunset
    with db.session() as s:
        sync_registry(s, site, at_dusk.now())
        # the schedule has run up to a minute before sunset
        s.add(
            PlanCursor(
                site_id=site.id,
                plan_code=CURSOR,
                asset_code="",
                through=dusk - timedelta(minutes=1),
                updated_at=dusk - timedelta(minutes=1),
            )
        )
    settings = Settings(var_dir=tmp_path / "var", database_url=db.url)

    def commands() -> list[DeviceCommand]:
        with db.session() as s:
            rows = list(s.scalars(select(DeviceCommand).order_by(DeviceCommand.id)))
            s.expunge_all()
        return rows

    async def scenario() -> None:
        async with Fleet(site, real, mosquitto.url) as fleet:
            panel = fleet.models["lighting-b"]
            assert isinstance(panel, LightingPanel)
            # the gateway's persistent session exists on the broker, then the gateway goes away
            async with Gateway(
                site, settings, at_dusk, mosquitto.url, sink=LocalStore(tmp_path / "a.db")
            ) as gw:
                await _eventually(lambda: all(p.health.polls for p in gw.pollers), "polls")
            # the contactors open and held by hand, whatever the panel's own time switch says
            panel.auto = False
            for c in panel.circuits[:2]:
                c.command = False
            async with MaintenanceService(
                directory_of(site, at_dusk), settings, at_dusk, mosquitto.url, db
            ):
                await _eventually(
                    lambda: len(commands()) == 2 and all(c.state == "sent" for c in commands()),
                    "the schedule's switch-ons handed to the broker",
                )
                sent = commands()
                assert [(c.point, c.value, c.requested_by) for c in sent] == [
                    ("circuit_1_command", True, "照明定时：B区路灯"),
                    ("circuit_2_command", True, "照明定时：B区路灯"),
                ]
                assert {c.scheduled_at for c in sent} == {dusk}
                assert {c.expires_at for c in sent} == {dusk + timedelta(minutes=2)}
                # the gateway comes back three minutes later: nothing is executed
                back = ShiftedClock(shift + timedelta(minutes=3))
                async with Gateway(
                    site, settings, back, mosquitto.url, sink=LocalStore(tmp_path / "b.db")
                ):
                    await _eventually(
                        lambda: all(c.state == "expired" for c in commands()),
                        "the gateway's answers",
                    )

                    def reads_open() -> bool:
                        with db.session() as s:
                            row = s.scalar(
                                select(AssetRow).where(
                                    AssetRow.site_id == site.id, AssetRow.code == "lighting-b"
                                )
                            )
                            values = ((row.state or {}).get("values") or {}) if row else {}
                            return bool(
                                row is not None
                                and row.state_at is not None
                                and row.state_at >= dusk
                                and values.get("circuit_1_command") is False
                            )

                    await _eventually(reads_open, "telemetry of the open contactors")
                assert all(c.reason.startswith("命令已过有效期") for c in commands())
            assert [c.command for c in panel.circuits[:2]] == [False, False]

    asyncio.run(scenario())

    # that night's check: the circuits the schedule switched on read off
    with db.session() as s:
        night_lighting_check(s, site, check_time(site.spec, today) + timedelta(minutes=1))
    with db.session() as s:
        faults = list(
            s.scalars(
                select(WorkOrder)
                .where(WorkOrder.site_id == site.id, WorkOrder.title.like("照明回路不亮%"))
                .order_by(WorkOrder.id)
            )
        )
        s.expunge_all()
    ids = [c.id for c in commands()]
    assert [w.details["command_id"] for w in faults] == ids
    on_local = f"{dusk.astimezone(site.spec.site.tz):%H:%M}"
    assert f"照明定时：B区路灯 {on_local} 的合闸命令（#{ids[0]}，已过期：命令已过有效期" in (
        faults[0].description
    )
    assert [w.title for w in faults] == [
        "照明回路不亮：B区公共照明配电箱 第1回路",
        "照明回路不亮：B区公共照明配电箱 第2回路",
    ]
