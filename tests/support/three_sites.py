"""Three properties in two regions, for the all-sites overview, the league and the switcher."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm
from maintenance.alarms.service import apply_alarm_event
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import Site, load_site
from tests.support.sites import copy_example_site

# (id, name, region): two in 华东, one in 华南
SITES = (
    ("lanting", "兰亭苑", "east"),
    ("binjiang", "滨江名邸", "east"),
    ("yuehai", "粤海花园", "south"),
)


def three_sites(folder: Path) -> list[Site]:
    """The example property copied three times into `folder`, loaded."""
    return [
        load_site(copy_example_site(folder, site_id, name, region=region))
        for site_id, name, region in SITES
    ]


def raise_on(
    session: Session,
    site: Site,
    asset: str,
    severity: Severity,
    message: str,
    now: datetime,
    *,
    alarm_type: str = "outlet_pressure_low",
    episode: str | None = None,
    ago: timedelta = timedelta(0),
) -> Alarm:
    """An alarm the gateway of `site` raised on `asset`, applied as the consumer would."""
    event = AlarmEvent(
        site_id=site.id,
        occurred_at=now - ago,
        action=AlarmAction.RAISE,
        episode_id=episode or f"{site.id}/{asset}/{alarm_type}/{message}",
        asset_id=asset,
        alarm_type=alarm_type,
        severity=severity,
        rule_id=f"{asset}-{alarm_type}",
        message=message,
    )
    apply_alarm_event(session, site.spec, event, now)
    return session.scalars(select(Alarm).where(Alarm.episode_id == event.episode_id)).one()
