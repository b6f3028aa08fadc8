"""Load the site file into the registry: upsert, and retire what the file no longer lists.

Nothing is deleted: a zone, person, building or asset that leaves the file gets `retired_at`, so
the work orders and alarms that name it keep their subject; listing it again brings it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.assignment import duty_pair, is_night
from maintenance.errors import NotFound
from maintenance.registry.models import Asset, Building, Person, SiteRecord, Zone
from propwatch.site import Site, SiteFile


@dataclass(frozen=True)
class SyncResult:
    """What one load of the site file changed."""

    added: int
    updated: int
    retired: int


def sync_registry(session: Session, site: Site, now: datetime) -> SyncResult:
    spec = site.spec
    added = updated = retired = 0

    def touch(row: object, is_new: bool) -> None:
        nonlocal added, updated
        session.add(row)
        if is_new:
            added += 1
        elif session.is_modified(row):
            updated += 1

    record = session.scalar(select(SiteRecord).where(SiteRecord.code == site.id))
    new = record is None
    record = record or SiteRecord(code=site.id)
    record.name, record.timezone = spec.site.name, spec.site.timezone
    record.address, record.loaded_at = spec.site.address, now
    session.add(record)
    if new:
        added += 1

    zones = {z.code: z for z in session.scalars(select(Zone).where(Zone.site_id == site.id))}
    for z in spec.zones:
        row = zones.get(z.id)
        is_new = row is None
        row = row or Zone(site_id=site.id, code=z.id)
        row.name, row.technicians, row.security = z.name, list(z.technicians), list(z.security)
        row.service, row.supervisor, row.retired_at = list(z.service), z.supervisor, None
        touch(row, is_new)
        zones[z.id] = row
    retired += _retire(zones, {z.id for z in spec.zones}, now)

    people = {p.code: p for p in session.scalars(select(Person).where(Person.site_id == site.id))}
    for p in spec.people:
        prow = people.get(p.id)
        is_new = prow is None
        prow = prow or Person(site_id=site.id, code=p.id)
        prow.name, prow.role, prow.phone, prow.retired_at = p.name, p.role.value, p.phone, None
        touch(prow, is_new)
        people[p.id] = prow
    retired += _retire(people, {p.id for p in spec.people}, now)
    session.flush()

    buildings = {
        b.name: b for b in session.scalars(select(Building).where(Building.site_id == site.id))
    }
    listed_buildings: set[str] = set()
    for z in spec.zones:
        for name in z.buildings:
            listed_buildings.add(name)
            brow = buildings.get(name)
            is_new = brow is None
            brow = brow or Building(site_id=site.id, name=name)
            brow.zone_id, brow.retired_at = zones[z.id].id, None
            touch(brow, is_new)
            buildings[name] = brow
    retired += _retire(buildings, listed_buildings, now)

    assets = {a.code: a for a in session.scalars(select(Asset).where(Asset.site_id == site.id))}
    for a in spec.assets:
        arow = assets.get(a.id)
        is_new = arow is None
        arow = arow or Asset(site_id=site.id, code=a.id)
        arow.name, arow.kind, arow.zone_id = a.name, a.kind, zones[a.zone].id
        arow.building, arow.location = a.building, a.location
        arow.install_date, arow.warranty_end = a.install_date, a.warranty_end
        arow.device_id, arow.retired_at = a.device, None
        arow.parent_code = a.parent
        touch(arow, is_new)
        assets[a.id] = arow
    retired += _retire(assets, {a.id for a in spec.assets}, now)
    session.flush()
    return SyncResult(added=added, updated=updated, retired=retired)


def _retire(rows: Mapping[str, _Retirable], listed: set[str], now: datetime) -> int:
    count = 0
    for code, row in rows.items():
        if code not in listed and row.retired_at is None:
            row.retired_at = now
            count += 1
    return count


_Retirable = Zone | Person | Building | Asset


class DutyNow(BaseModel):
    """值班: who is on duty at a given moment, and whether it is the night shift."""

    at: datetime
    night: bool
    shift_date: date
    technician: str | None
    day_technician: str | None
    night_technician: str | None


def duty_at(spec: SiteFile, at: datetime) -> DutyNow:
    shift_date, day_tech, night_tech = duty_pair(spec, at)
    night = is_night(spec, at)
    return DutyNow(
        at=at,
        night=night,
        shift_date=shift_date,
        technician=night_tech if night else day_tech,
        day_technician=day_tech,
        night_technician=night_tech,
    )


def set_out_of_service(
    session: Session, site_id: str, code: str, *, actor: str, reason: str | None, now: datetime
) -> Asset:
    """停用 (reason given) or back in service (None): while out of service, the asset's new
    alarms are recorded as suppressed by design, make no work order and page nobody."""
    asset = session.scalar(select(Asset).where(Asset.site_id == site_id, Asset.code == code))
    if asset is None:
        raise NotFound(f"设备 {code} 不存在", f"unknown asset {code}")
    if reason is None:
        asset.out_of_service_since = asset.out_of_service_by = asset.out_of_service_reason = None
    elif asset.out_of_service_since is None:
        asset.out_of_service_since, asset.out_of_service_by = now, actor
        asset.out_of_service_reason = reason[:300]
    return asset
