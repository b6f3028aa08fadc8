"""Load the site file into the registry: upsert, and retire what the file no longer lists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.registry.models import Asset, Person, Zone
from propwatch.site import Site


def sync_registry(session: Session, site: Site, now: datetime) -> None:
    spec = site.spec
    zones = {z.code: z for z in session.scalars(select(Zone).where(Zone.site_id == site.id))}
    for z in spec.zones:
        row = zones.get(z.id) or Zone(site_id=site.id, code=z.id)
        row.name, row.technicians, row.security = z.name, list(z.technicians), list(z.security)
        row.service, row.supervisor = list(z.service), z.supervisor
        session.add(row)
        zones[z.id] = row
    people = {p.code: p for p in session.scalars(select(Person).where(Person.site_id == site.id))}
    for p in spec.people:
        prow = people.get(p.id) or Person(site_id=site.id, code=p.id)
        prow.name, prow.role, prow.phone = p.name, p.role.value, p.phone
        session.add(prow)
    session.flush()
    assets = {a.code: a for a in session.scalars(select(Asset).where(Asset.site_id == site.id))}
    listed = set()
    for a in spec.assets:
        listed.add(a.id)
        arow = assets.get(a.id) or Asset(site_id=site.id, code=a.id)
        arow.name, arow.kind, arow.zone_id = a.name, a.kind, zones[a.zone].id
        arow.building, arow.location = a.building, a.location
        arow.install_date, arow.warranty_end, arow.device_id = (
            a.install_date,
            a.warranty_end,
            a.device,
        )
        arow.retired_at = None
        session.add(arow)
    for code, arow in assets.items():
        if code not in listed and arow.retired_at is None:
            arow.retired_at = now
