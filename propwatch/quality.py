"""物业质量监控: the site file's `quality` section.

Patrols and the quality department (品质部) record what they find (巡查发现); each finding opens a
rectification (整改) for the department of the zone the place belongs to (片区责任制), due after
the deadline its severity has in this table, on the working-day calendar of the time limits:

```yaml
quality:
  places:                       # public places (公共区域) findings may name besides assets
    - {id: lobby-1, name: 1栋大堂, zone: zone-a, building: 1栋, floor: "1"}
  finding_types:                # what kind of problem, and which department answers for it
    - {id: cleaning, name: 环境卫生, department: service}
  deadlines:                    # 整改时限 per severity: hours (calendar) or working days
    - {severity: emergency, deadline: 4h}
    - {severity: important, deadline: 1wd}
    - {severity: general, deadline: 3wd}
  escalation:                   # 督促和问责: rungs fired once per rectification
    - {id: warn, at: 0.8, action: notify_assignee}
    - {id: breach, action: notify_supervisor}
```

Severity uses the values of the work orders' priorities (一般 general, 重要 important, 紧急
emergency), so a rectification that needs repair work opens an order of the same grade.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from propwatch.config_errors import unknown_reference
from propwatch.durations import Limit, Seconds, TimeLimit
from propwatch.messages import say
from propwatch.patrols import PatrolPlan

ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FindingSeverity(StrEnum):
    """问题分级: 一般 / 重要 / 紧急."""

    GENERAL = "general"
    IMPORTANT = "important"
    EMERGENCY = "emergency"


SEVERITY_ZH = {
    FindingSeverity.GENERAL: "一般",
    FindingSeverity.IMPORTANT: "重要",
    FindingSeverity.EMERGENCY: "紧急",
}


class Department(StrEnum):
    """The zone's staff who answer for a kind of problem (the zone's lists of the same name)."""

    ENGINEERING = "engineering"  # 工程部: the zone's technicians
    SECURITY = "security"  # 秩序部: the zone's security staff
    SERVICE = "service"  # 客服部: the zone's service staff (cleaning, greening, notices)


DEPARTMENT_ZH = {
    Department.ENGINEERING: "工程部",
    Department.SECURITY: "秩序部",
    Department.SERVICE: "客服部",
}
DEPARTMENT_STAFF = {
    Department.ENGINEERING: "technicians",
    Department.SECURITY: "security",
    Department.SERVICE: "service",
}
"""The `Zone` field that lists a department's people in each zone."""


class PublicPlace(_M):
    """公共区域: a place findings may name that is not an asset (a lobby, a stairwell)."""

    id: str = Field(pattern=ID, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    zone: str
    building: str = ""
    floor: str = Field(default="", max_length=20)


class FindingType(_M):
    id: str = Field(pattern=ID, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    department: Department


class SeverityDeadline(_M):
    severity: FindingSeverity
    deadline: Limit


class RectificationAction(StrEnum):
    NOTIFY_ASSIGNEE = "notify_assignee"
    NOTIFY_SUPERVISOR = "notify_supervisor"
    NOTIFY_DUTY = "notify_duty"


class RectificationStep(_M):
    """One rung of the 督促 ladder: fires at `at` x the span from issue to deadline, plus
    `after`, unless the rectification was reported done (已整改) first."""

    id: str = Field(pattern=ID, max_length=64)
    at: float = Field(default=1.0, gt=0)
    after: Seconds = 0.0
    action: RectificationAction


DEFAULT_FINDING_TYPES: tuple[FindingType, ...] = (
    FindingType(id="facility", name="设施设备损坏", department=Department.ENGINEERING),
    FindingType(id="safety", name="安全隐患", department=Department.SECURITY),
    FindingType(id="order", name="秩序管理", department=Department.SECURITY),
    FindingType(id="cleaning", name="环境卫生", department=Department.SERVICE),
    FindingType(id="service", name="客户服务", department=Department.SERVICE),
)
DEFAULT_DEADLINES: tuple[SeverityDeadline, ...] = (
    SeverityDeadline(severity=FindingSeverity.EMERGENCY, deadline=TimeLimit(4, "hours")),
    SeverityDeadline(severity=FindingSeverity.IMPORTANT, deadline=TimeLimit(1, "working_days")),
    SeverityDeadline(severity=FindingSeverity.GENERAL, deadline=TimeLimit(3, "working_days")),
)
DEFAULT_LADDER: tuple[RectificationStep, ...] = (
    RectificationStep(id="warn", at=0.8, action=RectificationAction.NOTIFY_ASSIGNEE),
    RectificationStep(id="breach", action=RectificationAction.NOTIFY_SUPERVISOR),
    RectificationStep(id="breach-duty", at=2.0, action=RectificationAction.NOTIFY_DUTY),
)


class DeductionRule(_M):
    """扣分标准: `points` off the item for each occurrence (`count`, at most `max_count`)."""

    id: str = Field(pattern=ID, max_length=64)
    text: str = Field(min_length=1, max_length=200)
    points: float = Field(gt=0)
    max_count: int = Field(default=1, ge=1, le=100)
    severity: FindingSeverity = FindingSeverity.GENERAL


class ScoreItem(_M):
    """评分项: at most `points`; a deduction opens a rectification of finding `type`.
    A `mandatory` item (必查项) must be scored in every inspection, never 不适用."""

    id: str = Field(pattern=ID, max_length=64)
    text: str = Field(min_length=1, max_length=200)
    points: float = Field(gt=0)
    type: str = Field(pattern=ID, max_length=64, description="a finding type of this section")
    mandatory: bool = False
    deductions: list[DeductionRule] = Field(min_length=1)


class ScoreSection(_M):
    id: str = Field(pattern=ID, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    items: list[ScoreItem] = Field(min_length=1)


class ScoreSheet(_M):
    """评分表 (品质部督导评分细则): sections of items, each with its maximum and deductions."""

    id: str = Field(pattern=ID, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    sections: list[ScoreSection] = Field(min_length=1)

    def item(self, item_id: str) -> tuple[ScoreSection, ScoreItem] | None:
        for section in self.sections:
            for item in section.items:
                if item.id == item_id:
                    return section, item
        return None


class InspectionPlan(_M):
    """月度品质检查计划: each month on `day` at `at` (local), a 品质检查 of `sheet` for `zone`
    (the whole site without one) is opened as a task for `who`."""

    id: str = Field(pattern=ID, max_length=64)
    sheet: str = Field(pattern=ID, max_length=64)
    zone: str | None = None
    day: int = Field(default=1, ge=1, le=28, description="day of the month (1–28)")
    at: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    who: str = Field(description="the person who inspects (a people id)")

    def rrule(self) -> str:
        """The plan engine's recurrence (`maintenance.plans.recurrence`) for this plan."""
        hour, minute = self.at.split(":")
        return (
            f"FREQ=MONTHLY;BYMONTHDAY={self.day};BYHOUR={int(hour)};BYMINUTE={int(minute)};"
            "BYSECOND=0"
        )


class QualitySettings(_M):
    places: list[PublicPlace] = Field(default_factory=list)
    finding_types: list[FindingType] = Field(default_factory=lambda: list(DEFAULT_FINDING_TYPES))
    deadlines: list[SeverityDeadline] = Field(default_factory=lambda: list(DEFAULT_DEADLINES))
    escalation: list[RectificationStep] = Field(default_factory=lambda: list(DEFAULT_LADDER))
    score_sheets: list[ScoreSheet] = Field(default_factory=list)
    patrols: list[PatrolPlan] = Field(default_factory=list)
    inspection_plans: list[InspectionPlan] = Field(default_factory=list)

    def score_sheet(self, sheet_id: str) -> ScoreSheet | None:
        return next((s for s in self.score_sheets if s.id == sheet_id), None)

    def place(self, place_id: str) -> PublicPlace | None:
        return next((p for p in self.places if p.id == place_id), None)

    def patrol(self, patrol_id: str) -> PatrolPlan | None:
        return next((p for p in self.patrols if p.id == patrol_id), None)

    def finding_type(self, type_id: str) -> FindingType | None:
        return next((t for t in self.finding_types if t.id == type_id), None)

    def deadline(self, severity: FindingSeverity) -> TimeLimit:
        """The severity's row, else the built-in one (a table may name only some)."""
        for rows in (self.deadlines, DEFAULT_DEADLINES):
            for row in rows:
                if row.severity == severity:
                    return row.deadline
        raise LookupError(severity)  # pragma: no cover - DEFAULT_DEADLINES names every one


def quality_problems(
    quality: QualitySettings, zones: set[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references of the section: each place's zone, ids used once, severities once."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for section in ("places", "finding_types", "escalation"):
        seen: dict[str, int] = {}
        for i, item in enumerate(getattr(quality, section)):
            if item.id in seen:
                out.append(
                    (
                        ("quality", section, i, "id"),
                        say(
                            f"id {item.id} 重复（quality.{section}[{seen[item.id]}] 已使用）",
                            f"id {item.id} is used twice (also quality.{section}[{seen[item.id]}])",
                        ),
                    )
                )
            seen.setdefault(item.id, i)
    for i, place in enumerate(quality.places):
        if place.zone not in zones:
            out.append(
                (
                    ("quality", "places", i, "zone"),
                    unknown_reference("片区", "zone", place.zone, zones),
                )
            )
    out += _sheet_problems(quality)
    severities: dict[FindingSeverity, int] = {}
    for i, row in enumerate(quality.deadlines):
        if row.severity in severities:
            out.append(
                (
                    ("quality", "deadlines", i, "severity"),
                    say(
                        f"{SEVERITY_ZH[row.severity]}问题的整改时限写了两次",
                        f"severity {row.severity.value} is given twice",
                    ),
                )
            )
        severities.setdefault(row.severity, i)
    return out


def _sheet_problems(quality: QualitySettings) -> list[tuple[tuple[str | int, ...], str]]:
    """Score sheets: ids once (sheets; sections and items within a sheet; rules within an item),
    each item's finding type known, no rule taking more than its item's points at once."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    types = {t.id for t in quality.finding_types}

    def twice(loc: tuple[str | int, ...], value: str) -> None:
        out.append((loc, say(f"id {value} 重复", f"id {value} is used twice")))

    sheets: set[str] = set()
    for i, sheet in enumerate(quality.score_sheets):
        at: tuple[str | int, ...] = ("quality", "score_sheets", i)
        if sheet.id in sheets:
            twice((*at, "id"), sheet.id)
        sheets.add(sheet.id)
        ids: set[str] = set()
        for j, section in enumerate(sheet.sections):
            if section.id in ids:
                twice((*at, "sections", j, "id"), section.id)
            ids.add(section.id)
            for k, item in enumerate(section.items):
                loc = (*at, "sections", j, "items", k)
                if item.id in ids:
                    twice((*loc, "id"), item.id)
                ids.add(item.id)
                if item.type not in types:
                    out.append(
                        (
                            (*loc, "type"),
                            unknown_reference("问题类型", "finding type", item.type, types),
                        )
                    )
                rules: set[str] = set()
                for m, rule in enumerate(item.deductions):
                    if rule.id in rules:
                        twice((*loc, "deductions", m, "id"), rule.id)
                    rules.add(rule.id)
                    if rule.points > item.points:
                        out.append(
                            (
                                (*loc, "deductions", m, "points"),
                                say(
                                    f"扣分 {rule.points:g} 超过该项满分 {item.points:g}",
                                    f"deducts {rule.points:g} of {item.points:g}",
                                ),
                            )
                        )
    return out


def inspection_plan_problems(
    quality: QualitySettings, zones: set[str], people: set[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """A sheet, zone or person the site does not have, or an id used twice, with its field."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    sheets = {s.id for s in quality.score_sheets}
    seen: set[str] = set()
    for i, plan in enumerate(quality.inspection_plans):
        at: tuple[str | int, ...] = ("quality", "inspection_plans", i)
        if plan.id in seen:
            out.append(((*at, "id"), say(f"id {plan.id} 重复", f"id {plan.id} is used twice")))
        seen.add(plan.id)
        if plan.sheet not in sheets:
            out.append(
                ((*at, "sheet"), unknown_reference("评分表", "score sheet", plan.sheet, sheets))
            )
        if plan.zone is not None and plan.zone not in zones:
            out.append(((*at, "zone"), unknown_reference("片区", "zone", plan.zone, zones)))
        if plan.who not in people:
            out.append(((*at, "who"), unknown_reference("人员", "person", plan.who, people)))
    return out
