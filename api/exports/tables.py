"""What each export holds: the work-order list, 日盘点 and 月报 as zh-CN tables, with names of
people, zones, sites and assets instead of their ids, and times in the site's local time.

Each table is built from what the JSON answer of the same request holds (`WorkOrderOut`,
`Stocktake`, `MonthlyReport`), so the file and the API can be compared cell by cell."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.exports.spreadsheet import Cell, Row, Sheet
from maintenance.alarms.service import SEVERITY_ZH
from maintenance.escalation import LIMIT_ZH
from maintenance.reports import MonthlyReport, Stocktake
from maintenance.work_orders.models import SOURCE_ZH, Source
from propwatch.events import Severity
from propwatch.site import CATEGORY_ZH, Category, Site, SiteFile

YES, NO = "是", "否"


class Names:
    """One site's names: of the site, its people and zones, and its custom fields."""

    def __init__(self, spec: SiteFile) -> None:
        self.site = spec.site.name
        self.tz = spec.site.tz
        self.people = {p.id: p.name for p in spec.people}
        self.zones = {z.id: z.name for z in spec.zones}
        self.fields = {f.id: f for f in spec.work_orders.custom_fields}

    @classmethod
    def unknown(cls, site_id: str) -> Names:
        """A site whose file is no longer loaded: its ids as names, times in UTC."""
        names = cls.__new__(cls)
        names.site, names.tz = site_id, ZoneInfo("UTC")
        names.people, names.zones, names.fields = {}, {}, {}
        return names

    def person(self, person_id: str | None) -> str | None:
        """A person's name; someone no longer in the site file keeps their id."""
        return None if person_id is None else self.people.get(person_id, person_id)

    def zone(self, zone_id: str | None) -> str | None:
        return None if zone_id is None else self.zones.get(zone_id, zone_id)

    def local(self, t: datetime | None) -> datetime | None:
        return None if t is None else local_time(t, self.tz)

    def custom(self, values: Mapping[str, Any]) -> str:
        """楼层：3；已回电：是 — the site's field names, in the site file's order."""
        order = [f for f in self.fields if f in values] + sorted(set(values) - set(self.fields))
        parts = []
        for key in order:
            field = self.fields.get(key)
            value = values[key]
            if isinstance(value, bool):  # a boolean field's value
                value = YES if value else NO
            parts.append(f"{field.name if field else key}：{value}")
        return "；".join(parts)


def local_time(t: datetime, tz: ZoneInfo) -> datetime:
    """The wall-clock time at the site, without a zone (what a spreadsheet cell holds)."""
    return t.astimezone(tz).replace(tzinfo=None, microsecond=0)


def _category(value: str) -> str:
    return CATEGORY_ZH[Category(value)]


WORK_ORDER_HEADERS = (
    "工单号",
    "项目",
    "标题",
    "描述",
    "状态",
    "优先级",
    "类别",
    "来源",
    "设备",
    "位置",
    "片区",
    "负责人",
    "报修时间",
    "响应时限",
    "到场时限",
    "完成时限",
    "告警次数",
    "外部单号",
    "标签",
    "自定义字段",
    "更新时间",
)


def work_order_row(item: Mapping[str, Any], names: Names) -> Row:
    """One `WorkOrderOut` as a row of `WORK_ORDER_HEADERS`."""
    return (
        item["code"],
        names.site,
        item["title"],
        item["description"],
        item["status_zh"],
        item["priority_zh"],
        _category(item["category"]),
        SOURCE_ZH[Source(item["source"])],
        item["asset_name"],
        item["location"],
        names.zone(item["zone"]),
        names.person(item["assignee"]),
        names.local(item["reported_at"]),
        names.local(item["respond_due"]),
        names.local(item["arrive_due"]),
        names.local(item["resolve_due"]),
        item["occurrences"],
        item["external_id"],
        "、".join(item["tags"]),
        names.custom(item["custom_fields"]),
        names.local(item["updated_at"]),
    )


def work_order_sheet(pages: Iterable[list[dict[str, Any]]], sites: Mapping[str, Site]) -> Sheet:
    """The list, a page of items at a time as the rows are written (`every_item`)."""
    names: dict[str, Names] = {}

    def rows() -> Iterator[Row]:
        for page in pages:
            for item in page:
                site_id = item["site_id"]
                if site_id not in names:
                    site = sites.get(site_id)
                    names[site_id] = Names(site.spec) if site else Names.unknown(site_id)
                yield work_order_row(item, names[site_id])

    return Sheet("工单列表", WORK_ORDER_HEADERS, rows())


STOCKTAKE_HEADERS = (
    "工单号",
    "标题",
    "状态",
    "优先级",
    "类别",
    "片区",
    "责任人",
    "督办人",
    "报修时间",
    "已历时（小时）",
    "已超时",
    "下一时限",
    "挂起原因",
)


def _limits(names: list[str]) -> str:
    return "、".join(LIMIT_ZH.get(n, n) for n in names)


def stocktake_sheet(report: Stocktake, spec: SiteFile) -> Sheet:
    names = Names(spec)
    rows = [
        (
            i.code,
            i.title,
            i.status_zh,
            i.priority_zh,
            _category(i.category),
            names.zone(i.zone),
            names.person(i.responsible),
            names.person(i.supervisor),
            names.local(i.reported_at),
            i.age_hours,
            _limits(i.overdue),
            names.local(i.next_due),
            i.hold_reason if i.on_hold else None,
        )
        for i in report.items
    ]
    at = names.local(report.at)
    assert at is not None
    title = f"日盘点 {at.month}月{at.day}日 {at:%H}时{at:%M}分"  # a sheet name holds no ":"
    return Sheet(title, STOCKTAKE_HEADERS, rows)


def _percent(rate: float | None) -> float | None:
    """A rate (0…1) as a percentage with two decimals, as the headers say （%）."""
    return None if rate is None else round(rate * 100, 2)


def monthly_sheets(report: MonthlyReport, spec: SiteFile) -> list[Sheet]:
    """The month's report as one table per part, in the order the JSON has them."""
    names = Names(spec)
    kpis = report.alarm_system
    load = kpis.load
    summary: list[tuple[str, Cell]] = [
        ("项目", names.site),
        ("月份", report.month),
        ("统计起", names.local(report.start)),
        ("统计止", names.local(report.end)),
        ("值班员人数", load.operators),
        ("统计时段数（10 分钟）", load.slots),
        ("报警数", load.alarms),
        ("平均报警率（每人每 10 分钟）", load.average_per_operator),
        ("峰值报警率（每人每 10 分钟）", load.peak_per_operator),
        ("峰值时段", names.local(load.peak_slot_start)),
        ("告警泛滥时段数", load.flood_slots),
        ("告警泛滥时段占比（%）", _percent(load.flood_share)),
        ("负荷评价", load.assessment),
        ("抑制告警数", kpis.suppressed),
        ("迟到告警数", kpis.late),
        ("高频告警占比（%）", _percent(kpis.bad_actor_share)),
        ("频繁告警数", kpis.chattering_count),
        ("长期告警数", kpis.standing_count),
    ]
    return [
        Sheet(
            "设备故障",
            ("设备", "片区", "故障次数", "平均故障间隔（小时）", "平均修复时间（小时）"),
            [
                (a.name, names.zone(a.zone), a.failures, a.mtbf_hours, a.mttr_hours)
                for a in report.assets
            ],
        ),
        Sheet(
            "时限达标",
            ("时限", "已判定", "按时", "按时率（%）"),
            [
                (LIMIT_ZH.get(r.limit, r.limit), r.decided, r.on_time, _percent(r.rate))
                for r in report.on_time
            ],
        ),
        Sheet(
            "维修人员返修率",
            ("维修人员", "完成", "返修", "返修率（%）"),
            [
                (names.person(r.key), r.resolved, r.reworked, _percent(r.rate))
                for r in report.rework_by_technician
            ],
        ),
        Sheet(
            "片区返修率",
            ("片区", "完成", "返修", "返修率（%）"),
            [
                (names.zone(r.key), r.resolved, r.reworked, _percent(r.rate))
                for r in report.rework_by_zone
            ],
        ),
        Sheet(
            "片区排名",
            (
                "名次",
                "片区",
                "工单数",
                "完成数",
                "按时完成率（%）",
                "返修率（%）",
                "平均修复时间（小时）",
                "超时",
                "得分",
            ),
            [
                (
                    z.rank,
                    z.name,
                    z.work_orders,
                    z.resolved,
                    _percent(z.resolve_on_time_rate),
                    _percent(z.rework_rate),
                    z.mttr_hours,
                    z.overdue,
                    z.score,
                )
                for z in report.league
            ],
        ),
        Sheet(
            "保养计划建议",
            ("设备", "故障次数", "建议"),
            [(p.name, p.failures, p.advice) for p in report.tighten_plans],
        ),
        Sheet("告警系统", ("指标", "数值"), summary),
        Sheet(
            "高频告警",
            ("设备", "告警类型", "次数", "占比（%）"),
            [(b.name, b.alarm_type, b.count, _percent(b.share)) for b in kpis.bad_actors],
        ),
        Sheet(
            "频繁告警",
            ("设备", "告警类型", "次数", "标记为频繁", "三次最短间隔（秒）"),
            [
                (c.name, c.alarm_type, c.episodes, c.flagged, c.fastest_three_seconds)
                for c in kpis.chattering
            ],
        ),
        Sheet(
            "长期告警",
            ("设备", "告警类型", "级别", "发生时间", "持续（小时）", "已确认", "已搁置", "停用"),
            [
                (
                    s.name,
                    s.alarm_type,
                    SEVERITY_ZH[Severity(s.severity)],
                    names.local(s.raised_at),
                    s.hours_active,
                    YES if s.acknowledged else NO,
                    YES if s.shelved else NO,
                    YES if s.out_of_service else NO,
                )
                for s in kpis.standing
            ],
        ),
        Sheet("维修费用", COST_HEADERS, _cost_rows(report)),
    ]


COST_HEADERS = (
    "范围",
    "名称",
    "完成工单",
    "工时（小时）",
    "人工费（元）",
    "材料费（元）",
    "其他费用（元）",
    "合计（元）",
)


def _cost_rows(report: MonthlyReport) -> list[Row]:
    """维修费用: the site, each zone, each asset; then 有偿维修 quoted, paid and owed."""
    c = report.costs
    rows: list[Row] = []
    for scope, group in (("全项目", [c.site]), ("片区", c.by_zone), ("设备", c.by_asset)):
        rows += [
            (
                scope,
                r.name,
                r.orders,
                r.labour_hours,
                float(r.labour),
                float(r.parts),
                float(r.extras),
                float(r.total),
            )
            for r in group
        ]
    p = c.paid_repairs
    rows.append(
        ("有偿维修", f"报价 {p.quoted} 元，已收 {p.paid} 元，未收 {p.unpaid} 元", p.orders)
        + (None,) * 5
    )
    return rows
