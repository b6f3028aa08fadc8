"""个人信息保护法 on the service's own clock: the maintenance pass erases the phones of a
resident's order once the retention after its closing has passed, and not before."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from maintenance.db import Database
from maintenance.registry.service import sync_registry
from maintenance.residents import service as residents
from maintenance.residents.models import ResidentReport
from maintenance.residents.phones import PhoneVault
from maintenance.service import MaintenanceService
from maintenance.work_orders import service as work_orders
from maintenance.work_orders.models import Status
from propwatch.clock import ManualClock
from propwatch.settings import Settings
from propwatch.site import Site
from tests.maintenance.helpers import directory_of
from tests.support.servers import Mosquitto

TICK = 5.0


async def _ticking(clock: ManualClock, check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        clock.advance(TICK)
        await asyncio.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


def _closed_resident_order(db: Database, site: Site, clock: ManualClock, vault: PhoneVault) -> int:
    with db.session() as s:
        sync_registry(s, site, clock.now())
        spot = residents.locate(site.spec, asset="pump-1", building=None, place=None)
        made = residents.submit(
            s,
            site.spec,
            residents.NewReport(
                site.id, spot, residents.KIND_BY_ID["water"], "漏水", "13912345678"
            ),
            vault,
            clock.now(),
        )
        for to in (
            Status.ACCEPTED,
            Status.ON_SITE,
            Status.RESOLVED,
            Status.VERIFIED,
            Status.CLOSED,
        ):
            work_orders.transition(
                s, site.spec, made.work_order.id, to, actor="wang-gong", now=clock.now()
            )
        return made.report.id


def test_the_pass_erases_a_closed_orders_phones_after_the_retention(
    tmp_path: Path, mosquitto: Mosquitto, example_site: Site
) -> None:
    clock = ManualClock()
    settings = Settings(
        var_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/m.db",
        resident_phone_retention_days=2,
    )
    db = Database(settings.resolved_database_url())
    vault = PhoneVault.at(tmp_path / "resident-phone.key")

    def report(report_id: int) -> ResidentReport:
        with db.session() as s:
            row = s.scalar(select(ResidentReport).where(ResidentReport.id == report_id))
            assert row is not None
            return row

    async def run() -> None:
        sites = directory_of(example_site, clock)
        async with MaintenanceService(
            sites, settings, clock, mosquitto.url, db, pass_interval=TICK
        ) as svc:
            report_id = await asyncio.to_thread(
                _closed_resident_order, db, example_site, clock, vault
            )
            passes = svc.sla_passes
            clock.advance(timedelta(days=2) - timedelta(minutes=1))
            await _ticking(clock, lambda: svc.sla_passes >= passes + 2, "two passes")
            kept = report(report_id)
            assert kept.erased_at is None and kept.phone_cipher is not None
            assert vault.decrypt(kept.phone_cipher) == "13912345678"
            await _ticking(clock, lambda: report(report_id).erased_at is not None, "the erasure")
            gone = report(report_id)
            assert (gone.phone_cipher, gone.phone_masked, gone.room) == (None, None, None)
            assert svc.counts.phones_erased == 1

    asyncio.run(run())
