"""今晚照明: what the duty room sees of tonight's night-lighting check.

The night runs from one local noon to the next, so at 02:00 "tonight" is still the evening that
began yesterday. It shows when the check is due (sunset + `after_sunset`), every public lighting
circuit as telemetry shows it now, each zone's patrol order with how many of its checklist items
were recorded, and the open "circuit dark" orders. It only reads; `maintenance.lighting` writes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.lighting import (
    CURSOR,
    check_time,
    circuit_readings,
    fault_dedup_key,
    sunrise_after,
    sunset_at,
)
from maintenance.work_orders.models import OPEN_STATUSES, STATUS_ZH, Source, Status, WorkOrder
from propwatch.site import Category, Site


class CircuitNow(BaseModel):
    key: str
    name: str
    zone: str
    commanded_on: bool | None
    current_a: float | None
    rated_a: float | None
    fresh: bool
    suspect: bool
    text: str


class PatrolNow(BaseModel):
    work_order_id: int
    code: str | None
    zone: str | None
    status: str
    status_zh: str
    assignee: str | None
    checked: int
    total: int
    failed: int


class FaultNow(BaseModel):
    work_order_id: int
    code: str | None
    title: str
    status: str
    status_zh: str
    assignee: str | None


class LightingTonight(BaseModel):
    site_id: str
    enabled: bool
    night: date
    sunset: datetime
    check_at: datetime
    sunrise: datetime
    started: bool  # the check time has passed
    circuits: list[CircuitNow]
    patrols: list[PatrolNow]
    faults: list[FaultNow]


def night_of(site: Site, now: datetime) -> date:
    local = now.astimezone(site.spec.site.tz)
    return local.date() if local.time() >= time(12, 0) else local.date() - timedelta(days=1)


def lighting_tonight(session: Session, site: Site, now: datetime) -> LightingTonight:
    spec = site.spec
    night = night_of(site, now)
    dusk = sunset_at(spec, night)
    fresh_since = dusk if now >= dusk else now - timedelta(hours=1)
    circuits = [
        CircuitNow(
            key=c.key,
            name=c.name,
            zone=c.zone,
            commanded_on=c.commanded_on,
            current_a=c.current_a,
            rated_a=c.rated_a,
            fresh=c.fresh,
            suspect=c.is_dark(spec),
            text=c.telemetry_text(spec),
        )
        for c in circuit_readings(session, site, fresh_since)
    ]
    prefix = f"lighting:{site.id}:"
    patrol_rows = session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.site_id == site.id,
            WorkOrder.source == Source.PLAN.value,
            WorkOrder.source_key.like(f"{prefix}%:{night.isoformat()}"),
        )
        .order_by(WorkOrder.zone_code)
    )
    patrols = []
    for wo in patrol_rows:
        if wo.details.get("plan_id") != CURSOR:
            continue
        items = wo.details.get("checklist")
        items = items if isinstance(items, list) else []
        patrols.append(
            PatrolNow(
                work_order_id=wo.id,
                code=wo.code,
                zone=wo.zone_code,
                status=wo.status,
                status_zh=STATUS_ZH[Status(wo.status)],
                assignee=wo.assignee,
                checked=sum(1 for i in items if i.get("result")),
                total=len(items),
                failed=sum(1 for i in items if i.get("result") == "fail"),
            )
        )
    fault_rows = session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.site_id == site.id,
            WorkOrder.category == Category.LIGHTING.value,
            WorkOrder.dedup_key.like(fault_dedup_key(site.id, "%")),
            WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .order_by(WorkOrder.id)
    )
    faults = [
        FaultNow(
            work_order_id=wo.id,
            code=wo.code,
            title=wo.title,
            status=wo.status,
            status_zh=STATUS_ZH[Status(wo.status)],
            assignee=wo.assignee,
        )
        for wo in fault_rows
    ]
    check_at = check_time(spec, night)
    return LightingTonight(
        site_id=site.id,
        enabled=spec.night_lighting.enabled,
        night=night,
        sunset=dusk,
        check_at=check_at,
        sunrise=sunrise_after(spec, night),
        started=now >= check_at,
        circuits=circuits,
        patrols=patrols,
        faults=faults,
    )
