"""可用率与平均故障间隔: availability, MTBF and MTTR per asset over a local month, for the API
and the monthly report (only assets that stopped are listed; the others were up throughout)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.downtime.intervals import Interval, figures
from maintenance.downtime.service import stops
from maintenance.registry.models import Asset
from propwatch.site import SiteFile


class DowntimeCause(BaseModel):
    kind: str = Field(description="alarm or work_order")
    id: int = Field(description="the alarm's or the order's id")
    reason: str


class DowntimeInterval(BaseModel):
    start: datetime
    end: datetime | None = Field(description="None: still down")
    hours: float = Field(description="within the period asked")
    causes: list[DowntimeCause]


class AssetAvailability(BaseModel):
    """One asset over a period: 停机时长, 可用率, 故障次数, MTBF and MTTR in hours."""

    asset: str
    name: str
    kind: str
    period_hours: float
    down_hours: float
    availability: float | None = Field(description="up time / period, 0–1")
    failures: int = Field(description="stops that began in the period")
    mtbf_hours: float | None = Field(description="up time / failures; None without one")
    mttr_hours: float | None = Field(description="down time / failures; None without one")
    intervals: list[DowntimeInterval]


class AvailabilityReport(BaseModel):
    """设备可用率: the month's stops of a site's assets, worst availability first."""

    start: datetime
    end: datetime
    assets_in_service: int
    assets_down: int
    down_hours: float
    availability: float | None = Field(description="over every asset of the site")
    assets: list[AssetAvailability]


def availability(
    name: str, kind: str, code: str, ivs: list[Interval], start: datetime, end: datetime
) -> AssetAvailability:
    f = figures(ivs, start, end)
    return AssetAvailability(
        asset=code,
        name=name,
        kind=kind,
        period_hours=f.period_hours,
        down_hours=f.down_hours,
        availability=f.availability,
        failures=f.failures,
        mtbf_hours=f.mtbf_hours,
        mttr_hours=f.mttr_hours,
        intervals=[
            DowntimeInterval(
                start=iv.start,
                end=iv.end,
                hours=round(
                    max(0.0, (min(iv.end or end, end) - max(iv.start, start)).total_seconds())
                    / 3600,
                    2,
                ),
                causes=[DowntimeCause(kind=c.kind, id=c.ref, reason=c.reason) for c in iv.causes],
            )
            for iv in ivs
        ],
    )


def availability_report(
    session: Session,
    spec: SiteFile,
    start: datetime,
    end: datetime,
    assets: Collection[str] | None = None,
) -> AvailabilityReport:
    """Over [start, end) — the caller clips `end` to now for the current month."""
    end = max(start, end)
    rows = {
        a.code: a
        for a in session.scalars(
            select(Asset).where(Asset.site_id == spec.site.id, Asset.retired_at.is_(None))
        )
    }
    found = stops(session, spec, start, end, assets)
    listed = [
        availability(rows[c].name, rows[c].kind, c, ivs, start, end)
        for c, ivs in found.items()
        if c in rows
    ]
    listed.sort(key=lambda a: (a.availability if a.availability is not None else 1.0, a.asset))
    in_service = len(rows) if assets is None else len(set(assets) & set(rows))
    period = (end - start).total_seconds() / 3600
    down = sum(a.down_hours for a in listed)
    total = period * in_service
    return AvailabilityReport(
        start=start,
        end=end,
        assets_in_service=in_service,
        assets_down=sum(1 for a in listed if a.down_hours > 0),
        down_hours=round(down, 2),
        availability=round(1 - down / total, 4) if total else None,
        assets=listed,
    )
