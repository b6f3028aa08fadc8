"""月度品质检查评比: the month's quality figures of a site, its zones and its departments, the
league of sites (项目) and of their zones, and the 12-month trend.

Definitions, so the figures can be checked by hand. A month is the site's local calendar month
(`maintenance.reports.month_bounds`), each site on its own; an instant belongs to the month
when start <= t < end.
- `score` (检查得分) = the mean, over the month's inspections, of total / maximum x 100 (one
  decimal; None without an inspection). A site counts all its inspections; a zone those that
  name it; a department, for each inspection, only the applicable items whose finding type it
  answers for (by the site file's score sheet; an item no longer in it is left out), as
  Σ score / Σ maximum x 100 of those items.
- `findings_by_severity`: findings recorded in the month, by the finding's zone and by the
  department its rectification was issued to.
- `rectifications_due`: rectifications whose deadline falls in the month and that are decided:
  passed (复查通过), or past the deadline now. `on_time`: of those, passed at or before the
  deadline (the re-check too must be done in time: the notice is closed only when it passes).
  `on_time_rate` = on_time / rectifications_due.
- `rechecks`: re-checks (复查通过 or 复查不通过 steps) done in the month; `recheck_failures` the
  不通过 of them; `recheck_failure_rate` = recheck_failures / rechecks.
- `overdue_now`: rectifications open now (下发 or 整改中) past their deadline, whatever the
  month; a state, not a month's figure, so the trend does not carry it.
- Rank: the higher score first, an entry without an inspection after those with one; ties by the
  higher on-time rate, then the lower re-check failure rate, then the id.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.quality.models import (
    OPEN_STATUSES,
    Finding,
    Inspection,
    Rectification,
    RectificationStatus,
    RectificationStep,
)
from maintenance.reports import month_bounds, ranked
from propwatch.quality import DEPARTMENT_ZH, Department, FindingSeverity
from propwatch.site import SiteFile


class SeverityCounts(BaseModel):
    general: int = 0
    important: int = 0
    emergency: int = 0


class QualityFigures(BaseModel):
    """One month's figures of a site, zone or department (module doc)."""

    inspections: int
    score: float | None
    findings: int
    findings_by_severity: SeverityCounts
    rectifications_due: int
    on_time: int
    on_time_rate: float | None
    rechecks: int
    recheck_failures: int
    recheck_failure_rate: float | None


class QualityStanding(QualityFigures):
    rank: int
    overdue_now: int


class ZoneQuality(QualityStanding):
    zone: str
    name: str


class DepartmentQuality(QualityStanding):
    department: Department
    name: str


class SiteQualityTotals(QualityFigures):
    overdue_now: int


class SiteQualityLeague(BaseModel):
    """品质评比 of one site: its month, and its zones and departments ranked."""

    site_id: str
    month: str
    start: datetime
    end: datetime
    at: datetime
    site: SiteQualityTotals
    zones: list[ZoneQuality]
    departments: list[DepartmentQuality]


class SiteQuality(QualityStanding):
    site_id: str
    name: str
    region: str | None
    region_name: str | None


class SiteZoneQuality(ZoneQuality):
    site_id: str
    site_name: str


class QualityLeague(BaseModel):
    """项目品质排名 and 片区品质排名 across sites for one month, each site on its calendar."""

    month: str
    region: str | None
    at: datetime
    sites: list[SiteQuality]
    zones: list[SiteZoneQuality]


class QualityMonth(QualityFigures):
    month: str
    start: datetime
    end: datetime


class QualityTrend(BaseModel):
    """The site's figures for each of the 12 months ending with `month`, oldest first."""

    site_id: str
    month: str
    months: list[QualityMonth]


@dataclass
class _Tally:
    percents: list[float] = field(default_factory=list)
    severities: Counter[str] = field(default_factory=Counter)
    due: int = 0
    on_time: int = 0
    rechecks: int = 0
    failures: int = 0
    overdue: int = 0

    @property
    def score(self) -> float | None:
        return round(sum(self.percents) / len(self.percents), 1) if self.percents else None

    @property
    def on_time_rate(self) -> float | None:
        return round(self.on_time / self.due, 4) if self.due else None

    @property
    def failure_rate(self) -> float | None:
        return round(self.failures / self.rechecks, 4) if self.rechecks else None

    def figures(self) -> dict[str, Any]:
        """The fields of `QualityFigures`, to build any of its kinds with."""
        return vars(
            QualityFigures(
                inspections=len(self.percents),
                score=self.score,
                findings=sum(self.severities.values()),
                findings_by_severity=SeverityCounts(
                    **{s.value: self.severities[s.value] for s in FindingSeverity}
                ),
                rectifications_due=self.due,
                on_time=self.on_time,
                on_time_rate=self.on_time_rate,
                rechecks=self.rechecks,
                recheck_failures=self.failures,
                recheck_failure_rate=self.failure_rate,
            )
        )


def _order(t: _Tally) -> tuple[float, ...]:
    score, on_time, failures = t.score, t.on_time_rate, t.failure_rate
    return (
        score is None,
        -(score or 0.0),
        on_time is None,
        -(on_time or 0.0),
        failures is None,
        failures or 0.0,
    )


@dataclass
class _Facts:
    """The rows of some sites over [lo, hi), and what is overdue now (any month)."""

    inspections: list[Inspection]
    findings: list[tuple[str, datetime, str, str, str]]  # site, at, zone, department, severity
    due: list[tuple[str, datetime, str, str, datetime | None]]  # site, deadline, zone, dept, passed
    rechecks: list[tuple[str, datetime, str, str, bool]]  # site, at, zone, dept, failed
    overdue: list[tuple[str, str, str]]  # site, zone, department


def _facts(
    session: Session, site_ids: list[str], lo: datetime, hi: datetime, now: datetime
) -> _Facts:
    inspections = list(
        session.scalars(
            select(Inspection)
            .where(
                Inspection.site_id.in_(site_ids),
                Inspection.inspected_at >= lo,
                Inspection.inspected_at < hi,
            )
            .order_by(Inspection.id)
        )
    )
    findings = [
        (r[0], r[1], r[2], r[3], r[4])
        for r in session.execute(
            select(
                Finding.site_id,
                Finding.reported_at,
                Finding.zone_code,
                Rectification.department,
                Finding.severity,
            )
            .join(Rectification, Rectification.finding_id == Finding.id)
            .where(
                Finding.site_id.in_(site_ids),
                Finding.reported_at >= lo,
                Finding.reported_at < hi,
            )
        )
    ]
    due = [
        (r[0], r[1], r[2], r[3], r[4])
        for r in session.execute(
            select(
                Rectification.site_id,
                Rectification.deadline_at,
                Rectification.zone_code,
                Rectification.department,
                Rectification.passed_at,
            ).where(
                Rectification.site_id.in_(site_ids),
                Rectification.deadline_at >= lo,
                Rectification.deadline_at < hi,
            )
        )
    ]
    checks = (RectificationStatus.PASSED.value, RectificationStatus.FAILED.value)
    rechecks = [
        (r[0], r[1], r[2], r[3], r[4] == RectificationStatus.FAILED.value)
        for r in session.execute(
            select(
                Rectification.site_id,
                RectificationStep.at,
                Rectification.zone_code,
                Rectification.department,
                RectificationStep.to_status,
            )
            .join(Rectification, Rectification.id == RectificationStep.rectification_id)
            .where(
                Rectification.site_id.in_(site_ids),
                RectificationStep.to_status.in_(checks),
                RectificationStep.at >= lo,
                RectificationStep.at < hi,
            )
        )
    ]
    overdue = [
        (r[0], r[1], r[2])
        for r in session.execute(
            select(Rectification.site_id, Rectification.zone_code, Rectification.department).where(
                Rectification.site_id.in_(site_ids),
                Rectification.status.in_([s.value for s in OPEN_STATUSES]),
                Rectification.deadline_at < now,
            )
        )
    ]
    return _Facts(inspections, findings, due, rechecks, overdue)


def _department_percents(spec: SiteFile, inspection: Inspection) -> dict[str, float]:
    """Each department's share of one inspection: Σ score / Σ maximum x 100 over the
    applicable items of the finding types it answers for."""
    sheet = spec.quality.score_sheet(inspection.sheet_id)
    if sheet is None:
        return {}
    got: dict[str, float] = defaultdict(float)
    out_of: dict[str, float] = defaultdict(float)
    for section in inspection.sections:
        for item in section.get("items", []):
            found = sheet.item(str(item["id"]))
            kind = spec.quality.finding_type(found[1].type) if found else None
            if kind is None or not item.get("applicable", True):
                continue
            got[kind.department.value] += float(item["score"])
            out_of[kind.department.value] += float(item["maximum"])
    return {d: got[d] / m * 100 for d, m in out_of.items() if m > 0}


@dataclass
class _Month:
    """One site's tallies for one window: the whole site, per zone, per department."""

    site: _Tally = field(default_factory=_Tally)
    zones: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    departments: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))

    def each(self, zone: str, department: str) -> Iterable[_Tally]:
        return (self.site, self.zones[zone], self.departments[department])


def _tally(facts: _Facts, spec: SiteFile, start: datetime, end: datetime, now: datetime) -> _Month:
    site = spec.site.id
    m = _Month()
    for row in facts.inspections:
        if row.site_id != site or not start <= row.inspected_at < end:
            continue
        if row.maximum:
            percent = row.total / row.maximum * 100
            m.site.percents.append(percent)
            if row.zone_code is not None:
                m.zones[row.zone_code].percents.append(percent)
        for department, share in _department_percents(spec, row).items():
            m.departments[department].percents.append(share)
    for sid, at, zone, department, severity in facts.findings:
        if sid == site and start <= at < end:
            for t in m.each(zone, department):
                t.severities[severity] += 1
    for sid, deadline, zone, department, passed in facts.due:
        if sid != site or not start <= deadline < end:
            continue
        on_time = passed is not None and passed <= deadline
        if on_time or deadline <= now:
            for t in m.each(zone, department):
                t.due += 1
                t.on_time += on_time
    for sid, at, zone, department, failed in facts.rechecks:
        if sid == site and start <= at < end:
            for t in m.each(zone, department):
                t.rechecks += 1
                t.failures += failed
    for sid, zone, department in facts.overdue:
        if sid == site:
            for t in m.each(zone, department):
                t.overdue += 1
    return m


def _label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def site_quality_league(
    session: Session, spec: SiteFile, year: int, month: int, now: datetime
) -> SiteQualityLeague:
    """品质评比 of one site: its zones (all of the site file's) and its three departments."""
    start, end = month_bounds(spec, year, month)
    m = _tally(_facts(session, [spec.site.id], start, end, now), spec, start, end, now)
    zones = ranked([(z.id, m.zones[z.id], z) for z in spec.zones], _order)
    departments = ranked([(d.value, m.departments[d.value], d) for d in Department], _order)
    return SiteQualityLeague(
        site_id=spec.site.id,
        month=_label(year, month),
        start=start,
        end=end,
        at=now,
        site=SiteQualityTotals(**m.site.figures(), overdue_now=m.site.overdue),
        zones=[
            ZoneQuality(rank=rank, zone=z.id, name=z.name, overdue_now=t.overdue, **t.figures())
            for rank, t, z in zones
        ],
        departments=[
            DepartmentQuality(
                rank=rank, department=d, name=DEPARTMENT_ZH[d], overdue_now=t.overdue, **t.figures()
            )
            for rank, t, d in departments
        ],
    )


def quality_league(
    session: Session,
    specs: list[SiteFile],
    year: int,
    month: int,
    now: datetime,
    *,
    region: str | None = None,
    region_names: Mapping[str, str] | None = None,
) -> QualityLeague:
    """The league of the given sites and of every zone of theirs, each site on its own month."""
    names = region_names or {}
    site_rows: list[tuple[str, _Tally, SiteFile]] = []
    zone_rows: list[tuple[str, _Tally, tuple[SiteFile, str, str]]] = []
    if specs:
        bounds = {spec.site.id: month_bounds(spec, year, month) for spec in specs}
        facts = _facts(
            session,
            sorted(bounds),
            min(s for s, _ in bounds.values()),
            max(e for _, e in bounds.values()),
            now,
        )
        for spec in specs:
            m = _tally(facts, spec, *bounds[spec.site.id], now)
            site_rows.append((spec.site.id, m.site, spec))
            for z in spec.zones:
                zone_rows.append((f"{spec.site.id}/{z.id}", m.zones[z.id], (spec, z.id, z.name)))
    return QualityLeague(
        month=_label(year, month),
        region=region,
        at=now,
        sites=[
            SiteQuality(
                rank=rank,
                site_id=spec.site.id,
                name=spec.site.name,
                region=spec.site.region,
                region_name=names.get(spec.site.region, spec.site.region)
                if spec.site.region
                else None,
                overdue_now=t.overdue,
                **t.figures(),
            )
            for rank, t, spec in ranked(site_rows, _order)
        ],
        zones=[
            SiteZoneQuality(
                rank=rank,
                site_id=spec.site.id,
                site_name=spec.site.name,
                zone=zone,
                name=name,
                overdue_now=t.overdue,
                **t.figures(),
            )
            for rank, t, (spec, zone, name) in ranked(zone_rows, _order)
        ],
    )


def months_ending(year: int, month: int, count: int) -> list[tuple[int, int]]:
    """The `count` calendar months ending with (year, month), oldest first."""
    index = year * 12 + month - 1
    return [(i // 12, i % 12 + 1) for i in range(index - count + 1, index + 1)]


def quality_trend(
    session: Session, spec: SiteFile, year: int, month: int, now: datetime
) -> QualityTrend:
    """The site's figures for the 12 months ending with (year, month), in one pass."""
    months = months_ending(year, month, 12)
    bounds = [month_bounds(spec, y, m) for y, m in months]
    facts = _facts(session, [spec.site.id], bounds[0][0], bounds[-1][1], now)
    return QualityTrend(
        site_id=spec.site.id,
        month=_label(year, month),
        months=[
            QualityMonth(
                month=_label(y, m),
                start=start,
                end=end,
                **_tally(facts, spec, start, end, now).site.figures(),
            )
            for (y, m), (start, end) in zip(months, bounds, strict=True)
        ],
    )
