"""片区责任制 and 值班: who a new work order goes to."""

from __future__ import annotations

from datetime import datetime

from propwatch.site import SiteFile


def is_night(spec: SiteFile, at: datetime) -> bool:
    local = at.astimezone(spec.site.tz).time()
    day, night = spec.duty.day_starts, spec.duty.night_starts
    return not (day <= local < night)


def choose_assignee(spec: SiteFile, zone_code: str | None, at: datetime) -> str | None:
    """At night the night duty technician takes alarms; by day the zone's own technician."""
    if is_night(spec, at) and spec.duty.night_technician:
        return spec.duty.night_technician
    if zone_code is not None:
        zone = spec.zone(zone_code)
        if zone.technicians:
            return zone.technicians[0]
    return spec.duty.day_technician
