"""高频问题: the finding types met most often at each place over the last months, so the
patrol and maintenance plans can take them in (what to put into plans).

A place is where findings were recorded: an asset, a public place, or a building and floor. The
window runs from the same local time `months` calendar months before now (the day clamped to
the month's last) until now. Per place, at most `top` types, the most findings first (ties: the
latest first, then the type id); places with the most findings first (ties: by name).
"""

from __future__ import annotations

from calendar import monthrange
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.quality.league import SeverityCounts
from maintenance.quality.models import Finding, Rectification
from maintenance.quality.service import local, place_name
from propwatch.quality import DEPARTMENT_ZH, Department
from propwatch.site import SiteFile


class FrequentType(BaseModel):
    type: str
    type_name: str
    department: Department
    department_zh: str
    findings: int
    by_severity: SeverityCounts
    last_at: datetime
    last_local: str


class FrequentPlace(BaseModel):
    name: str
    zone: str
    zone_name: str
    asset: str | None
    place: str | None
    building: str | None
    floor: str | None
    findings: int
    types: list[FrequentType]


class FrequentFindings(BaseModel):
    site_id: str
    months: int
    start: datetime
    end: datetime
    places: list[FrequentPlace]


def months_before(at: datetime, spec: SiteFile, months: int) -> datetime:
    """The same local wall time `months` calendar months earlier (the day clamped), in UTC."""
    t = at.astimezone(spec.site.tz)
    year, month0 = divmod(t.year * 12 + t.month - 1 - months, 12)
    day = min(t.day, monthrange(year, month0 + 1)[1])
    return t.replace(year=year, month=month0 + 1, day=day).astimezone(UTC)


Key = tuple[str | None, str | None, str | None, str | None]
"""A place as recorded: asset, public place, building, floor."""


@dataclass
class _Kind:
    department: str
    last: datetime
    severities: dict[str, int]

    @property
    def count(self) -> int:
        return sum(self.severities.values())


def frequent_findings(
    session: Session, spec: SiteFile, now: datetime, *, months: int = 3, top: int = 10
) -> FrequentFindings:
    start = months_before(now, spec, months)
    rows = session.execute(
        select(Finding, Rectification.department)
        .join(Rectification, Rectification.finding_id == Finding.id)
        .where(
            Finding.site_id == spec.site.id,
            Finding.reported_at >= start,
            Finding.reported_at <= now,
        )
        .order_by(Finding.id)
    ).all()
    places: dict[Key, tuple[Finding, dict[str, _Kind]]] = {}
    for finding, department in rows:
        key = (finding.asset_code, finding.place_id, finding.building, finding.floor)
        _, kinds = places.setdefault(key, (finding, {}))
        kind = kinds.setdefault(
            finding.type_id, _Kind(department, finding.reported_at, defaultdict(int))
        )
        kind.severities[finding.severity] += 1
        kind.last = max(kind.last, finding.reported_at)
    zones = {z.id: z.name for z in spec.zones}
    out = []
    for first, kinds in places.values():
        ordered = sorted(
            kinds.items(), key=lambda kv: (-kv[1].count, -kv[1].last.timestamp(), kv[0])
        )
        types = []
        for type_id, kind in ordered[:top]:
            found = spec.quality.finding_type(type_id)
            department = Department(kind.department)
            types.append(
                FrequentType(
                    type=type_id,
                    type_name=found.name if found else type_id,
                    department=department,
                    department_zh=DEPARTMENT_ZH[department],
                    findings=kind.count,
                    by_severity=SeverityCounts(**kind.severities),
                    last_at=kind.last,
                    last_local=local(kind.last, spec),
                )
            )
        out.append(
            FrequentPlace(
                name=place_name(spec, first),
                zone=first.zone_code,
                zone_name=zones.get(first.zone_code, first.zone_code),
                asset=first.asset_code,
                place=first.place_id,
                building=first.building,
                floor=first.floor,
                findings=sum(k.count for k in kinds.values()),
                types=types,
            )
        )
    out.sort(key=lambda p: (-p.findings, p.name))
    return FrequentFindings(site_id=spec.site.id, months=months, start=start, end=now, places=out)
