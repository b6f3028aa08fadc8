"""片区责任制 and 值班: who a new work order goes to."""

from __future__ import annotations

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
