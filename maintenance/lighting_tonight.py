"""今晚照明: what the duty room sees of tonight's night-lighting check.

The night runs from one local noon to the next, so at 02:00 "tonight" is still the evening that
began yesterday. It shows when the check is due (sunset + `after_sunset`), every public lighting
circuit as telemetry shows it now, each zone's patrol order with how many of its checklist items
were recorded, and the open "circuit dark" orders. Each circuit is judged with tonight's latest
command to it (照明定时 or the duty room), as the check judges it: a switch-on that still reads
off is suspect and its text names the command. It only reads; `maintenance.lighting` writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from maintenance.commands.models import DeviceCommand
from maintenance.lighting import (
    COMMAND_SETTLE,
    CURSOR,
    LIGHTING_KINDS,
    CircuitCommand,
    check_time,
    circuit_command,
    fault_dedup_key,
    is_circuit_point,
    night_start,
    readings_of,
    sunrise_after,
    sunset_at,
)
from maintenance.registry.models import Asset as AssetRow
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
    command_id: int | None = None  # tonight's latest command to its on/off point


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
    return lighting_tonight_of_sites(session, [site], now)[site.id]


def lighting_tonight_of_sites(
    session: Session, sites: Iterable[Site], now: datetime
) -> dict[str, LightingTonight]:
    """Tonight's check of every site, each on its own night and sunset, in four queries
    whatever the number of sites (the all-sites overview reads hundreds)."""
    by_id = {site.id: site for site in sites}
    if not by_id:
        return {}
    ids = sorted(by_id)
    nights = {site_id: night_of(site, now) for site_id, site in by_id.items()}
    lighting_rows: dict[str, dict[str, AssetRow]] = defaultdict(dict)
    for row in session.scalars(
        select(AssetRow).where(AssetRow.site_id.in_(ids), AssetRow.kind.in_(LIGHTING_KINDS))
    ):
        lighting_rows[row.site_id][row.code] = row
    starts = {site_id: night_start(by_id[site_id], night) for site_id, night in nights.items()}
    commands: dict[str, dict[tuple[str, str], CircuitCommand]] = defaultdict(dict)
    for c in session.scalars(
        select(DeviceCommand)
        .where(
            DeviceCommand.site_id.in_(ids),
            DeviceCommand.requested_at >= min(starts.values()),
            DeviceCommand.requested_at <= now - COMMAND_SETTLE,
        )
        .order_by(DeviceCommand.id)
    ):
        lit = c.asset_code in lighting_rows.get(c.site_id, {})
        if lit and c.requested_at >= starts[c.site_id] and is_circuit_point(c):
            commands[c.site_id][(c.asset_code, c.point)] = circuit_command(by_id[c.site_id], c)
    patrols: dict[str, list[PatrolNow]] = defaultdict(list)
    patrol_rows = session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.site_id.in_(ids),
            WorkOrder.source == Source.PLAN.value,
            or_(
                *(
                    WorkOrder.source_key.like(f"lighting:%:{night.isoformat()}")
                    for night in sorted(set(nights.values()))
                )
            ),
        )
        .order_by(WorkOrder.site_id, WorkOrder.zone_code)
    )
    for wo in patrol_rows:
        night = nights[wo.site_id]
        key = wo.source_key
        if (
            wo.details.get("plan_id") != CURSOR
            or not key.startswith(f"lighting:{wo.site_id}:")
            or not key.endswith(f":{night.isoformat()}")
        ):
            continue
        items = wo.details.get("checklist")
        items = items if isinstance(items, list) else []
        patrols[wo.site_id].append(
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
    faults: dict[str, list[FaultNow]] = defaultdict(list)
    fault_rows = session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.site_id.in_(ids),
            WorkOrder.category == Category.LIGHTING.value,
            WorkOrder.dedup_key.like(fault_dedup_key("%", "%")),
            WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .order_by(WorkOrder.id)
    )
    for wo in fault_rows:
        if not (wo.dedup_key or "").startswith(fault_dedup_key(wo.site_id, "")):
            continue
        faults[wo.site_id].append(
            FaultNow(
                work_order_id=wo.id,
                code=wo.code,
                title=wo.title,
                status=wo.status,
                status_zh=STATUS_ZH[Status(wo.status)],
                assignee=wo.assignee,
            )
        )
    return {
        site_id: _tonight(
            site,
            nights[site_id],
            now,
            lighting_rows.get(site_id, {}),
            commands.get(site_id, {}),
            patrols.get(site_id, []),
            faults.get(site_id, []),
        )
        for site_id, site in by_id.items()
    }


def _tonight(
    site: Site,
    night: date,
    now: datetime,
    rows: dict[str, AssetRow],
    commands: dict[tuple[str, str], CircuitCommand],
    patrols: list[PatrolNow],
    faults: list[FaultNow],
) -> LightingTonight:
    spec = site.spec
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
            command_id=c.command.id if c.command is not None else None,
        )
        for c in readings_of(site, rows, fresh_since, commands)
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
