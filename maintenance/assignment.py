"""片区责任制 and 值班: who a new work order goes to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from propwatch.site import SiteFile


def is_night(spec: SiteFile, at: datetime) -> bool:
    local = at.astimezone(spec.site.tz).time()
    day, night = spec.duty.day_starts, spec.duty.night_starts
    return not (day <= local < night)


def duty_pair(spec: SiteFile, at: datetime) -> tuple[date, str | None, str | None]:
    """The shift date and its (day, night) duty technicians at `at`.

    Before the day shift starts it is still the previous date's night; a dated line of the
    排班表 overrides the standing pair for its date.
    """
    local = at.astimezone(spec.site.tz)
    shift_date = local.date()
    if local.time() < spec.duty.day_starts:
        shift_date -= timedelta(days=1)
    day_tech, night_tech = spec.duty.day_technician, spec.duty.night_technician
    for shift in spec.duty.shifts:
        if shift.date == shift_date:
            day_tech = shift.day_technician or day_tech
            night_tech = shift.night_technician or night_tech
    return shift_date, day_tech, night_tech


def choose_assignee(spec: SiteFile, zone_code: str | None, at: datetime) -> str | None:
    """At night the night duty technician takes alarms; by day the zone's own technician."""
    _, day_tech, night_tech = duty_pair(spec, at)
    if is_night(spec, at) and night_tech:
        return night_tech
    if zone_code is not None:
        zone = next((z for z in spec.zones if z.id == zone_code), None)
        if zone is not None and zone.technicians:
            return zone.technicians[0]
    return day_tech


def zone_supervisor(spec: SiteFile, zone_code: str | None) -> str | None:
    zone = next((z for z in spec.zones if z.id == zone_code), None)
    return zone.supervisor if zone else None


@dataclass(frozen=True)
class Candidate:
    """A technician who could take an order, and why: their open orders and their duty."""

    person: str
    open_orders: int
    zone_technician: bool
    on_duty: bool


def reassign_candidates(
    spec: SiteFile,
    zone_code: str | None,
    at: datetime,
    loads: Mapping[str, int],
    current: str | None = None,
) -> list[Candidate]:
    """改派: the zone's technicians and the technician on duty at `at`, least loaded first.

    Ties go to the one on duty, then to the zone's own order of technicians; the current
    assignee comes last, since an order is reassigned to someone else."""
    _, day_tech, night_tech = duty_pair(spec, at)
    on_duty = night_tech if is_night(spec, at) else day_tech
    zone = next((z for z in spec.zones if z.id == zone_code), None)
    zone_techs = list(zone.technicians) if zone is not None else []
    if zone is None:  # an order of no zone: every zone's technicians may take it
        zone_techs = [t for z in spec.zones for t in z.technicians]
    people = list(dict.fromkeys([*zone_techs, *([on_duty] if on_duty else [])]))
    known = {p.id for p in spec.people}
    found = [
        Candidate(
            person=p,
            open_orders=loads.get(p, 0),
            zone_technician=p in zone_techs,
            on_duty=p == on_duty,
        )
        for p in people
        if p in known
    ]
    rank = {p: i for i, p in enumerate(people)}
    return sorted(
        found,
        key=lambda c: (c.person == current, c.open_orders, not c.on_duty, rank[c.person]),
    )
