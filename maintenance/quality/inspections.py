"""品质检查: score an area against a score sheet of the site file, and rectify every deduction.

The arithmetic (`score`): an item's deduction is the sum of its rules' points x count, capped at
the item's points; its score is its points less that. An item the inspection does not mention
scores full points (nothing found); one marked 不适用 leaves the section's maximum. A mandatory
item (必查项) must be mentioned and cannot be 不适用. A section's score and maximum are the sums
over its applicable items, the total and maximum the sums over sections, and `percent` the
total on a 100-point scale (one decimal). Every deduction names where it was found and opens a
rectification (`service.record_finding`) of the item's finding type at the rule's severity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from maintenance.errors import InvalidRequest, NotFound, UnknownReference
from maintenance.quality.errors import InvalidFinding
from maintenance.quality.models import Inspection, InspectionDeduction
from maintenance.quality.service import NewFinding, record_finding
from propwatch.quality import ScoreSheet
from propwatch.site import SiteFile


@dataclass(frozen=True)
class DeductionIn:
    rule: str
    count: int = 1
    note: str = ""
    asset: str | None = None
    place: str | None = None
    building: str | None = None
    floor: str | None = None


@dataclass(frozen=True)
class ItemResult:
    item: str
    not_applicable: bool = False
    deductions: list[DeductionIn] = field(default_factory=list)


@dataclass(frozen=True)
class NewInspection:
    site_id: str
    sheet_id: str
    inspector: str
    results: list[ItemResult]
    zone: str | None = None
    note: str = ""


class ItemScore(TypedDict):
    id: str
    text: str
    maximum: float
    deducted: float
    score: float
    applicable: bool


class SectionScore(TypedDict):
    id: str
    name: str
    maximum: float
    score: float
    items: list[ItemScore]


@dataclass(frozen=True)
class Scores:
    total: float
    maximum: float
    percent: float | None
    sections: list[SectionScore]


def _check(sheet: ScoreSheet, results: list[ItemResult]) -> None:
    """Refuse what cannot be scored, naming the field (`results.2.deductions.0.rule`)."""
    seen: dict[str, int] = {}
    for i, result in enumerate(results):
        found = sheet.item(result.item)
        if found is None:
            raise UnknownReference(
                {f"results.{i}.item": (f"评分项 {result.item} 不在评分表中", "unknown item")}
            )
        if result.item in seen:
            raise InvalidRequest(
                f"评分项 {result.item} 重复（results.{seen[result.item]}）",
                f"item {result.item!r} is scored twice",
            )
        seen[result.item] = i
        _, item = found
        if result.not_applicable and (item.mandatory or result.deductions):
            raise InvalidRequest(
                f"评分项「{item.text}」"
                + ("为必查项，不能标为不适用" if item.mandatory else "标为不适用时不能扣分"),
                "a mandatory item cannot be not applicable"
                if item.mandatory
                else "a not-applicable item takes no deductions",
            )
        rules = {r.id: r for r in item.deductions}
        for j, d in enumerate(result.deductions):
            rule = rules.get(d.rule)
            where = f"results.{i}.deductions.{j}"
            if rule is None:
                known = "、".join(f"{r.id}（{r.text}）" for r in item.deductions)
                raise UnknownReference(
                    {f"{where}.rule": (f"扣分标准 {d.rule} 不存在；可选：{known}", "unknown rule")}
                )
            if not 1 <= d.count <= rule.max_count:
                raise UnknownReference(
                    {
                        f"{where}.count": (
                            f"「{rule.text}」次数应为 1–{rule.max_count}",
                            f"count must be 1..{rule.max_count}",
                        )
                    }
                )
    missing = [
        item.text
        for section in sheet.sections
        for item in section.items
        if item.mandatory and item.id not in seen
    ]
    if missing:
        raise InvalidRequest(
            "必查项未评分：" + "、".join(missing), f"{len(missing)} mandatory item(s) not scored"
        )


def score(sheet: ScoreSheet, results: list[ItemResult]) -> Scores:
    """The inspection's section and total scores (rules in the module doc)."""
    _check(sheet, results)
    by_item = {r.item: r for r in results}
    sections: list[SectionScore] = []
    for section in sheet.sections:
        items: list[ItemScore] = []
        for item in section.items:
            result = by_item.get(item.id, ItemResult(item.id))
            rules = {r.id: r for r in item.deductions}
            taken = sum(rules[d.rule].points * d.count for d in result.deductions)
            deducted = 0.0 if result.not_applicable else round(min(item.points, taken), 2)
            items.append(
                ItemScore(
                    id=item.id,
                    text=item.text,
                    maximum=item.points,
                    deducted=deducted,
                    score=0.0 if result.not_applicable else round(item.points - deducted, 2),
                    applicable=not result.not_applicable,
                )
            )
        applicable = [i for i in items if i["applicable"]]
        sections.append(
            SectionScore(
                id=section.id,
                name=section.name,
                maximum=round(sum(i["maximum"] for i in applicable), 2),
                score=round(sum(i["score"] for i in applicable), 2),
                items=items,
            )
        )
    total = round(sum(s["score"] for s in sections), 2)
    maximum = round(sum(s["maximum"] for s in sections), 2)
    percent = round(total / maximum * 100, 1) if maximum else None
    return Scores(total, maximum, percent, sections)


def record_inspection(
    session: Session, spec: SiteFile, new: NewInspection, now: datetime
) -> Inspection:
    """Score and keep the inspection; each deduction opens a rectification."""
    sheet = spec.quality.score_sheet(new.sheet_id)
    if sheet is None:
        known = "、".join(s.id for s in spec.quality.score_sheets) or "（未配置评分表）"
        raise UnknownReference(
            {"sheet": (f"评分表 {new.sheet_id} 不存在；已有：{known}", "unknown score sheet")}
        )
    if new.zone is not None and new.zone not in {z.id for z in spec.zones}:
        raise UnknownReference({"zone": (f"片区 {new.zone} 不存在", f"unknown zone {new.zone!r}")})
    scores = score(sheet, new.results)
    inspection = Inspection(
        site_id=new.site_id,
        sheet_id=sheet.id,
        sheet_name=sheet.name,
        zone_code=new.zone,
        inspector=new.inspector,
        inspected_at=now,
        created_at=now,
        note=new.note,
        total=scores.total,
        maximum=scores.maximum,
        percent=scores.percent,
        sections=[dict(section) for section in scores.sections],
    )
    session.add(inspection)
    session.flush()
    for i, result in enumerate(new.results):
        found = sheet.item(result.item)
        assert found is not None  # checked by score()
        section, item = found
        rules = {r.id: r for r in item.deductions}
        for j, d in enumerate(result.deductions):
            rule = rules[d.rule]
            points = rule.points * d.count
            try:
                rect = record_finding(
                    session,
                    spec,
                    NewFinding(
                        site_id=new.site_id,
                        type_id=item.type,
                        severity=rule.severity,
                        reported_by=new.inspector,
                        asset=d.asset,
                        place=d.place,
                        building=d.building,
                        floor=d.floor,
                        note=f"{sheet.name}·{section.name}：{item.text}。{rule.text}"
                        f"，扣 {points:g} 分" + (f"。{d.note}" if d.note else ""),
                    ),
                    now,
                )
            except UnknownReference as exc:  # the field as the inspection's body names it
                raise UnknownReference(
                    {f"results.{i}.deductions.{j}.{k}": v for k, v in exc.fields.items()}
                ) from exc
            except InvalidFinding as exc:
                raise InvalidFinding(
                    f"「{item.text}」的扣分「{rule.text}」：{exc.zh}",
                    f"results.{i}.deductions.{j}: {exc.en}",
                ) from exc
            session.add(
                InspectionDeduction(
                    inspection_id=inspection.id,
                    section_id=section.id,
                    item_id=item.id,
                    rule_id=rule.id,
                    count=d.count,
                    points=points,
                    note=d.note,
                    finding_id=rect.finding_id,
                )
            )
    session.flush()
    return inspection


def get_inspection(session: Session, inspection_id: int) -> Inspection:
    found = session.scalar(
        select(Inspection)
        .where(Inspection.id == inspection_id)
        .options(selectinload(Inspection.deductions))
    )
    if found is None:
        raise NotFound(f"检查记录 {inspection_id} 不存在", f"inspection {inspection_id} not found")
    return found


def list_inspections(
    session: Session, site_id: str, sheet_id: str | None = None, limit: int = 100
) -> list[Inspection]:
    q = select(Inspection).where(Inspection.site_id == site_id)
    if sheet_id is not None:
        q = q.where(Inspection.sheet_id == sheet_id)
    q = q.options(selectinload(Inspection.deductions)).order_by(Inspection.id.desc()).limit(limit)
    return list(session.scalars(q))
