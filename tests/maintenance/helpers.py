"""Builders for events and work orders in maintenance tests."""

from __future__ import annotations

from datetime import datetime
from itertools import count

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.db import Database
from maintenance.work_orders.models import Source, WorkOrder
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.clock import Clock
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import Category, Priority, Site
from propwatch.site_directory import SiteDirectory

_ids = count(1)


def alarm(
    action: AlarmAction,
    at: datetime,
    *,
    episode: str = "ep-1",
    asset: str = "pump-1",
    alarm_type: str = "low_outlet_pressure",
    event_id: str | None = None,
) -> AlarmEvent:
    return AlarmEvent(
        event_id=event_id or f"ev-{next(_ids)}",
        site_id="hexie",
        occurred_at=at,
        action=action,
        episode_id=episode,
        asset_id=asset,
        alarm_type=alarm_type,
        severity=Severity.CRITICAL,
        rule_id="pump-outlet-pressure-low",
        message="出水压力过低，可能停水",
        evidence={"metric": "outlet_pressure", "value": 0.05, "limit": 0.15, "direction": "below"},
    )


def raised(at: datetime, **kw: str) -> AlarmEvent:
    return alarm(AlarmAction.RAISE, at, **kw)


def cleared(at: datetime, **kw: str) -> AlarmEvent:
    return alarm(AlarmAction.CLEAR, at, **kw)


def order(
    session: Session,
    site: Site,
    now: datetime,
    *,
    key: str | None = None,
    category: Category = Category.WATER_SUPPLY,
    priority: Priority = Priority.GENERAL,
    asset: str | None = "pump-1",
    reported_at: datetime | None = None,
    source: Source = Source.MANUAL,
    alarm_type: str | None = None,
) -> WorkOrder:
    wo, _ = create_work_order(
        session,
        site.spec,
        NewWorkOrder(
            site_id=site.id,
            source=source,
            source_key=key or f"manual:{next(_ids)}",
            category=category,
            priority=priority,
            title="水泵异响",
            reported_at=reported_at or now,
            asset_code=asset,
            alarm_type=alarm_type,
        ),
        now,
    )
    return wo


def all_orders(db: Database) -> list[WorkOrder]:
    with db.session() as s:
        return list(s.scalars(select(WorkOrder).order_by(WorkOrder.id)))


def directory_of(site: Site, clock: Clock) -> SiteDirectory:
    """A one-file site directory serving `site` as given (a test may have changed it in memory),
    for a `MaintenanceService` of one site."""
    directory = SiteDirectory.of_file(site.path, clock)
    directory.sites = {site.id: site}
    return directory
