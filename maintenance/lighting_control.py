"""照明定时控制: the site's lighting schedule, switched through commands (遥控).

Each night (local noon to noon, like the night check) a switch of `lighting_control` has two
switchings, on and off, at the site's sunset or sunrise with its offset (astral, at the site's
latitude and longitude) or at a fixed local time. A switching is one command per circuit, kept
like the duty room's (`record_command`), issued by the schedule (`requested_role` schedule,
`requested_by` 照明定时：<switch>), sent by the dispatcher and settled by the gateway's answer.

Exactly once: a command made by the schedule carries `schedule_key` = switch:night:on|off:point,
unique per site, so two replicas, a restart or a replayed pass can only find the row already
there. Never late: it expires its ttl after the time it was due, not after it was recorded; the
gateway refuses it after that by its own clock. Misfire policy: a cursor says how far the
schedule has been issued; after downtime the first pass records every switching missed since
(at most `CATCH_UP` back), those still within their ttl pending, the others `expired` at once
(kept, never sent: the record that the lights were not switched). A site's schedule seen for the
first time starts at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance.commands.models import DeviceCommand
from maintenance.commands.service import record_command
from maintenance.lighting import sunrise_after, sunset_at
from maintenance.plans.models import PlanCursor
from maintenance.plans.service import insert_cursor
from propwatch.commands import EXPIRED
from propwatch.lighting_control import LightingSwitch, SwitchTime, circuit_points
from propwatch.profiles import ModbusProfile
from propwatch.site import Site, SiteFile

CURSOR = "lighting-control"
ROLE = "schedule"
CATCH_UP = timedelta(days=7)
"""How far back a pass after downtime records the switchings missed."""

Action = Literal["on", "off"]


@dataclass(frozen=True)
class Switching:
    """One switching of one switch on one night: the circuits' points and the time (UTC)."""

    switch: LightingSwitch
    night: date
    action: Action
    at: datetime
    points: tuple[str, ...]

    def key(self, point: str) -> str:
        return f"{self.switch.id}:{self.night.isoformat()}:{self.action}:{point}"


def by_name(switch: LightingSwitch) -> str:
    """Who the command is from, as the command list shows it."""
    return f"照明定时：{switch.name or switch.id}"


def switching_time(spec: SiteFile, when: SwitchTime, night: date) -> datetime:
    """The instant (UTC) of a switching on the night that begins on `night` (local date)."""
    if when.at is not None:
        day = night if when.at >= time(12, 0) else night + timedelta(days=1)
        return datetime.combine(day, when.at, tzinfo=spec.site.tz).astimezone(UTC)
    anchor = sunset_at(spec, night) if when.anchor == "sunset" else sunrise_after(spec, night)
    return anchor + timedelta(seconds=when.offset)


def switchings_of_night(site: Site, night: date) -> list[Switching]:
    """Every enabled switch's on and off of that night, in time order."""
    spec = site.spec
    out: list[Switching] = []
    for sw in spec.lighting_control.switches:
        if not sw.enabled:
            continue
        profile = site.profile_of_asset(sw.asset)
        if not isinstance(profile, ModbusProfile):
            continue  # check-config refuses it; a site loaded without checks switches nothing
        points = tuple(circuit_points(profile, sw.circuits))
        if not points:
            continue
        for action, when in (("on", sw.on), ("off", sw.off)):
            out.append(
                Switching(sw, night, action, switching_time(spec, when, night), points)  # type: ignore[arg-type]
            )
    return sorted(out, key=lambda s: (s.at, s.action == "on", s.switch.id))


def switchings_between(site: Site, start: datetime, end: datetime) -> list[Switching]:
    """The switchings due in (start, end], oldest first."""
    tz = site.spec.site.tz
    night = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    out: list[Switching] = []
    while night <= last:
        out += [s for s in switchings_of_night(site, night) if start < s.at <= end]
        night += timedelta(days=1)
    return sorted(out, key=lambda s: (s.at, s.action == "on", s.switch.id))


@dataclass
class SwitchPass:
    issued: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)  # recorded expired: past their ttl
    existing: int = 0  # another replica or an earlier pass made them


def _issue(session: Session, site: Site, s: Switching, point: str, now: datetime) -> int | None:
    """Record one circuit's command of a switching: its id, None when it exists already."""
    key = s.key(point)
    ttl = timedelta(seconds=s.switch.ttl or site.spec.lighting_control.ttl)
    try:
        with session.begin_nested():
            command = record_command(
                session,
                site,
                s.switch.asset,
                point,
                s.action == "on",
                ttl,
                requested_by=by_name(s.switch),
                requested_role=ROLE,
                now=now,
                scheduled_at=s.at,
                schedule_key=key,
            )
    except IntegrityError:
        return None
    return command.id


def issue_due_switchings(session: Session, site: Site, now: datetime) -> SwitchPass:
    """One idempotent pass: a command for every circuit of every switching due since the
    cursor. Any replica may run it at any moment; the unique key keeps each switching once."""
    result = SwitchPass()
    if not site.spec.lighting_control.switches:
        return result
    cursor = session.scalar(
        select(PlanCursor).where(
            PlanCursor.site_id == site.id,
            PlanCursor.plan_code == CURSOR,
            PlanCursor.asset_code == "",
        )
    )
    if cursor is None:
        cursor = insert_cursor(
            session,
            PlanCursor(
                site_id=site.id, plan_code=CURSOR, asset_code="", through=now, updated_at=now
            ),
        )
    through = max(cursor.through or now, now - CATCH_UP)
    due = switchings_between(site, through, now)
    if due:
        keys = [s.key(p) for s in due for p in s.points]
        known = set(
            session.scalars(
                select(DeviceCommand.schedule_key).where(
                    DeviceCommand.site_id == site.id, DeviceCommand.schedule_key.in_(keys)
                )
            )
        )
        for s in due:
            for point in s.points:
                if s.key(point) in known:
                    result.existing += 1
                    continue
                made = _issue(session, site, s, point, now)
                if made is None:
                    result.existing += 1
                    continue
                row = session.get(DeviceCommand, made)
                assert row is not None
                (result.missed if row.state == EXPIRED else result.issued).append(made)
    if cursor.through is None or cursor.through < now:
        cursor.through, cursor.updated_at = now, now
    return result
