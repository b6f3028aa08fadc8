"""保养计划登记表: the site file's `plans` as a table beside it (`plans_file:`), one row a plan,
for a property whose 年度保养计划 is an Excel sheet.

Targets are four cells of several values each (设备, 设备类型, 片区, 楼栋, separated by ；、 or ,);
a meter plan's counter is three cells (计量测点, 计量间隔, 计量单位), a plan's 停用公告 three more.
A plan without a template lists its checks in one cell, an item a line (or separated by ；):

    g-01: 出门按钮、对讲主机工作正常
    g-03: 门禁电源电压 [V 11.5~13.8]

`id:` in front is the item's id (its position, 1, 2 …, when left out); a trailing `[unit
low~high]` makes it a measurement (either limit may be left out, `[V]` is a unit alone).
Priorities, categories, roles and the non-working-day rule may be written in Chinese (紧急,
电梯, 维修, 顺延) as the export writes them, or as the site file's codes.
"""

from __future__ import annotations

import re
from typing import Any

from propwatch.durations import limit_text, seconds_text
from propwatch.register_files import Loc, RegisterKind, RowCells, Table, validated
from propwatch.site import CATEGORY_ZH, PRIORITY_ZH, ChecklistItem, PlanSpec

ROLE_ZH = {"technician": "维修", "security": "保安", "service": "客服", "supervisor": "主管"}
NON_WORKING_DAY_ZH = {"keep": "照常", "skip": "跳过", "next": "顺延", "previous": "提前"}
OUT_OF_SERVICE_ZH = {"elevator": "电梯", "water_supply": "停水", "other": "其他"}
TARGETS = ("assets", "kinds", "zones", "buildings")
_ITEM_ID = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*[:：]\s*(.*)$", re.S)
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_ITEMS = re.compile(r"[\n；]")

TABLE = Table(
    title="保养计划",
    columns=(
        "id",
        "name",
        "template",
        *TARGETS,
        "rrule",
        "cron",
        "every",
        "meter",
        "meter_every",
        "meter_unit",
        "start",
        "role",
        "priority",
        "category",
        "time_limit",
        "non_working_day",
        "enabled",
        "absorbs",
        "absorb_window",
        "floating",
        "estimated_hours",
        "out_of_service",
        "out_of_service_hours",
        "notice_days",
        "checklist",
    ),
    required=("id",),
    headings_zh={
        "id": "计划编号",
        "name": "计划名称",
        "template": "模板",
        "assets": "设备",
        "kinds": "设备类型",
        "zones": "片区",
        "buildings": "楼栋",
        "rrule": "重复规则",
        "cron": "cron",
        "every": "周期间隔",
        "meter": "计量测点",
        "meter_every": "计量间隔",
        "meter_unit": "计量单位",
        "start": "开始",
        "role": "岗位",
        "priority": "优先级",
        "category": "类别",
        "time_limit": "完成时限",
        "non_working_day": "非工作日",
        "enabled": "启用",
        "absorbs": "套保计划",
        "absorb_window": "套保窗口",
        "floating": "浮动",
        "estimated_hours": "预计工时",
        "out_of_service": "停用类型",
        "out_of_service_hours": "停用小时",
        "notice_days": "提前公告天数",
        "checklist": "检查项",
    },
    aliases={
        "编号": "id",
        "名称": "name",
        "计划模板": "template",
        "间隔": "every",
        "开始时间": "start",
        "时限": "time_limit",
        "工时": "estimated_hours",
        "检查内容": "checklist",
    },
)
_NESTED = {
    ("meter", "metric"): "meter",
    ("meter", "every"): "meter_every",
    ("meter", "unit"): "meter_unit",
    ("out_of_service", "kind"): "out_of_service",
    ("out_of_service", "hours"): "out_of_service_hours",
    ("out_of_service", "notice_days"): "notice_days",
}


def _plan(row: RowCells) -> PlanSpec | None:
    data: dict[str, Any] = {}
    for column in ("id", "name", "template", "rrule", "cron", "every", "time_limit"):
        if (text := row.text(column)) is not None:
            data[column] = text
    for column in ("absorb_window", "estimated_hours"):
        if (text := row.text(column)) is not None:
            data[column] = text
    targets = {k: v for k in TARGETS if (v := row.items(k))}
    if targets:
        data["targets"] = targets
    meter = {k: row.text(c) for (_, k), c in _NESTED.items() if c.startswith("meter")}
    if any(v is not None for v in meter.values()):
        data["meter"] = {k: v for k, v in meter.items() if v is not None}
    if (start := row.datetime("start")) is not None:
        data["start"] = start
    for column, names in (
        ("role", ROLE_ZH),
        ("priority", PRIORITY_ZH),
        ("category", CATEGORY_ZH),
        ("non_working_day", NON_WORKING_DAY_ZH),
    ):
        if (code := row.choice(column, names)) is not None:
            data[column] = code
    for column in ("enabled", "floating"):
        if (flag := row.flag(column)) is not None:
            data[column] = flag
    if (absorbs := row.items("absorbs")) is not None:
        data["absorbs"] = absorbs
    stop = {
        "kind": row.choice("out_of_service", OUT_OF_SERVICE_ZH),
        "hours": row.text("out_of_service_hours"),
        "notice_days": row.text("notice_days"),
    }
    if any(v is not None for v in stop.values()):
        data["out_of_service"] = {k: v for k, v in stop.items() if v is not None}
    if (checks := row.text("checklist")) is not None:
        data["checklist"] = _checklist(row, checks)
    return validated(PlanSpec, row, data, plan_column)


def _checklist(row: RowCells, text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for position, raw in enumerate((i.strip() for i in _ITEMS.split(text) if i.strip()), 1):
        m = _ITEM_ID.match(raw)
        item: dict[str, Any] = {"id": m[1], "text": m[2].strip()} if m else {"id": str(position)}
        rest = item.get("text", raw)
        if rest.endswith("]") and "[" in rest:
            at = rest.rindex("[")
            item.update(_measurement(row, rest[at + 1 : -1], raw))
            rest = rest[:at].strip()
        item["text"] = rest
        items.append(item)
    return items


def _measurement(row: RowCells, bracket: str, raw: str) -> dict[str, Any]:
    """`V 11.5~13.8`, `MPa ~0.6`, `℃`: unit, low, high."""
    parts = re.split(r"[~～]", bracket, maxsplit=1)
    out: dict[str, Any] = {}
    unit = parts[0].strip()
    if len(parts) == 2:
        high = parts[1]
        words = unit.rsplit(None, 1)
        if words and _NUMBER.match(words[-1]):
            out["low"] = float(words[-1])
            unit = words[0] if len(words) > 1 else ""
        high = high.strip()
        if high and not _NUMBER.match(high):
            row.complain(
                "checklist",
                f"「{raw}」的上限应为数字，而不是「{high}」",
                f"{raw!r}: the upper limit must be a number, not {high!r}",
            )
        elif high:
            out["high"] = float(high)
    if unit:
        out["unit"] = unit
    return out


def plan_column(loc: Loc, data: Any) -> str:
    """The column of a location within a plan (`targets.assets[2]` is `assets`,
    `meter.every` is `meter_every`); a plan refused as a whole has none."""
    if not loc:
        return ""
    if loc[0] == "targets" and len(loc) > 1:
        return str(loc[1])
    return _NESTED.get((str(loc[0]), str(loc[1])) if len(loc) > 1 else ("", ""), str(loc[0]))


def _number(value: float) -> str:
    text = f"{value:g}"
    return text if float(text) == value else repr(value)


def _item_text(item: ChecklistItem) -> str:
    text = f"{item.id}: {item.text}"
    if not item.is_measurement:
        return text
    limits = ""
    if item.low is not None or item.high is not None:
        low = _number(item.low) if item.low is not None else ""
        high = _number(item.high) if item.high is not None else ""
        limits = f"{low}~{high}"
    inside = " ".join(p for p in (item.unit or "", limits) if p)
    return f"{text} [{inside}]"


def _plan_cells(plan: PlanSpec) -> dict[str, str]:
    out: dict[str, str] = {
        "id": plan.id,
        "name": plan.name or "",
        "template": plan.template or "",
        **{k: "、".join(getattr(plan.targets, k)) for k in TARGETS},
        "rrule": plan.rrule or "",
        "cron": plan.cron or "",
        "every": seconds_text(plan.every) if plan.every is not None else "",
        "role": ROLE_ZH[plan.role] if plan.role else "",
        "priority": PRIORITY_ZH[plan.priority] if plan.priority else "",
        "category": CATEGORY_ZH[plan.category] if plan.category else "",
        "time_limit": limit_text(plan.time_limit) if plan.time_limit else "",
        "non_working_day": NON_WORKING_DAY_ZH[plan.non_working_day] if plan.non_working_day else "",
        "enabled": "是" if plan.enabled else "否",
        "absorbs": "、".join(plan.absorbs),
        "absorb_window": seconds_text(plan.absorb_window) if plan.absorb_window is not None else "",
        "floating": "" if plan.floating is None else ("是" if plan.floating else "否"),
        "estimated_hours": _number(plan.estimated_hours) if plan.estimated_hours else "",
        "checklist": "\n".join(_item_text(i) for i in plan.checklist or []),
    }
    if plan.start is not None:
        fmt = "%Y-%m-%d %H:%M:%S" if plan.start.second else "%Y-%m-%d %H:%M"
        out["start"] = plan.start.strftime(fmt)
    if plan.meter is not None:
        out.update(meter=plan.meter.metric, meter_every=_number(plan.meter.every))
        out["meter_unit"] = plan.meter.unit
    if plan.out_of_service is not None:
        stop = plan.out_of_service
        out["out_of_service"] = OUT_OF_SERVICE_ZH[stop.kind]
        out["out_of_service_hours"] = _number(stop.hours)
        out["notice_days"] = str(stop.notice_days)
    return out


PLANS: RegisterKind[PlanSpec] = RegisterKind(
    section="plans",
    file_field="plans_file",
    noun_zh="保养计划表",
    noun_en="plan register",
    table=TABLE,
    model=PlanSpec,
    build=_plan,
    cells=_plan_cells,
    column=plan_column,
)
