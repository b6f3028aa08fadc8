"""Exports on SQLite and PostgreSQL: the work-order list, 日盘点 and 月报 as CSV and XLSX files,
read back with the csv module and openpyxl and compared cell by cell with the JSON the API
answers to the same request, names and local times included; the same callers as the JSON."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from api.deps import AppContext
from api.exports.spreadsheet import Sheet, xlsx_file
from api.models import ExternalRef
from api.work_order_list import EXPORT_PAGE
from maintenance.registry.models import Asset
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.events import Severity
from propwatch.site import Site
from tests.api.conftest import MONDAY_10H, Tokens, bearer
from tests.api.integration import create_order, db, example_site, migrated_template
from tests.api.pages import raise_alarm

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

SHANGHAI = ZoneInfo("Asia/Shanghai")
BOM = b"\xef\xbb\xbf"
CATEGORY = {
    "elevator": "电梯",
    "water_supply": "供水",
    "lighting": "照明",
    "access_control": "门禁",
    "fire": "消防",
    "general": "综合",
    "complaint": "投诉",
}
SOURCE = {"alarm": "告警", "plan": "保养计划", "manual": "人工登记", "ticket": "工单系统"}
LIMIT = {"respond": "响应", "arrive": "到场", "resolve": "处理", "revisit": "回访"}
FORMULA = ("=", "+", "-", "@", "\t", "\r")


# --- reading the files back ------------------------------------------------------------------


def read_csv(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(BOM)
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))


def read_xlsx(r: httpx.Response) -> dict[str, list[list[Any]]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in book}


def csv_sections(rows: list[list[str]]) -> dict[str, list[list[str]]]:
    """A CSV of several tables: a title row, the header and rows, an empty row between."""
    out: dict[str, list[list[str]]] = {}
    title: str | None = None
    for row in rows:
        if not row:
            title = None
        elif title is None:
            (title,) = row
            out[title] = []
        else:
            out[title].append(row)
    return out


def as_csv(value: Any) -> str:
    """What a CSV cell of an expected value reads: times as 12月1日 14:05 with the year."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value.year}年{value.month}月{value.day}日 {value:%H:%M}"
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA) else value
    return str(value)


def as_xlsx(value: Any) -> Any:
    return None if value == "" else value


def assert_csv_table(rows: list[list[str]], headers: list[str], expected: list[list[Any]]) -> None:
    assert rows[0] == headers
    assert rows[1:] == [[as_csv(v) for v in row] for row in expected]


def assert_xlsx_table(rows: list[list[Any]], headers: list[str], expected: list[list[Any]]) -> None:
    assert rows[0] == headers
    assert [[as_xlsx(v) for v in row] for row in rows[1:]] == [
        [as_xlsx(v) for v in row] for row in expected
    ]


def local(value: str | None) -> datetime | None:
    if value is None:
        return None
    t = datetime.fromisoformat(value).astimezone(SHANGHAI)
    return t.replace(tzinfo=None, microsecond=0)


# --- the work-order list -----------------------------------------------------------------------

WORK_ORDER_HEADERS = [
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
]


def _names(site: Site) -> tuple[dict[str, str], dict[str, str]]:
    return {p.id: p.name for p in site.spec.people}, {z.id: z.name for z in site.spec.zones}


def expected_order(item: dict[str, Any], site: Site) -> list[Any]:
    people, zones = _names(site)
    fields = {f.id: f.name for f in site.spec.work_orders.custom_fields}
    custom = "；".join(
        f"{fields[k]}：{('是' if v else '否') if isinstance(v, bool) else v}"
        for k, v in sorted(item["custom_fields"].items(), key=lambda kv: list(fields).index(kv[0]))
    )
    return [
        item["code"],
        site.spec.site.name,
        item["title"],
        item["description"],
        item["status_zh"],
        item["priority_zh"],
        CATEGORY[item["category"]],
        SOURCE[item["source"]],
        item["asset_name"],
        item["location"],
        zones.get(item["zone"]) if item["zone"] else None,
        people.get(item["assignee"]) if item["assignee"] else None,
        local(item["reported_at"]),
        local(item["respond_due"]),
        local(item["arrive_due"]),
        local(item["resolve_due"]),
        item["occurrences"],
        item["external_id"],
        "、".join(item["tags"]),
        custom,
        local(item["updated_at"]),
    ]


def listed(client: TestClient, token: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of the JSON list, following `next_cursor`."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/v1/work-orders", params=query, headers=bearer(token))
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


MANY = EXPORT_PAGE + 150
"""More orders than one page of the export reads: the file must hold every page."""


@pytest.fixture
def many_orders(ctx: AppContext, example_site: Site) -> int:
    rng = random.Random(5)
    rows = []
    for i in range(MANY):
        at = MONDAY_10H - timedelta(minutes=rng.randrange(600))  # many share a time
        rows.append(
            {
                "site_id": example_site.id,
                "code": f"GD-EXP{i:05d}",
                "source": rng.choice(("manual", "alarm", "plan", "ticket")),
                "source_key": f"export:{i}",
                "category": rng.choice(("elevator", "lighting", "general", "water_supply")),
                "priority": rng.choice(("emergency", "important", "general")),
                "status": rng.choice(("dispatched", "accepted", "on_hold", "resolved", "closed")),
                "title": f"工单 {i}" if i % 97 else f'=HYPERLINK("http://x/{i}")',
                "description": "楼道灯不亮" if i % 3 else "",
                "assignee": rng.choice(("wang-gong", "li-shifu", None)),
                "zone_code": rng.choice(("zone-a", "zone-b", None)),
                "location": "3栋2单元" if i % 4 == 0 else None,
                "tags": ["漏水", "业主投诉"] if i % 10 == 0 else [],
                "custom_fields": {"called_back": i % 2 == 0, "floor": i % 30} if i % 7 == 0 else {},
                "reported_at": at,
                "created_at": at,
                "updated_at": at + timedelta(seconds=rng.randrange(90), microseconds=123_456),
                "respond_due": at + timedelta(hours=1) if i % 2 else None,
                "resolve_due": None if i % 5 == 0 else at + timedelta(hours=rng.choice((4, 24))),
                "occurrences": 1 + i % 3,
                "details": {},
                "chattering": False,
                "paused_seconds": 0.0,
                "reopen_count": 0,
            }
        )
    with ctx.db.session() as s:
        s.execute(insert(WorkOrder), rows)
        pump = s.scalar(select(Asset.id).where(Asset.code == "pump-1"))
        s.execute(update(WorkOrder).where(WorkOrder.code == "GD-EXP00003").values(asset_id=pump))
        four = s.scalar(select(WorkOrder.id).where(WorkOrder.code == "GD-EXP00004"))
        s.add(ExternalRef(site_id=example_site.id, external_id="TK-77", work_order_id=four))
    return MANY


FILTERS = [
    pytest.param({}, id="everything"),
    pytest.param(
        {"site_id": "hexie", "status": ["dispatched", "accepted"], "zone": "zone-a"},
        id="status-and-zone",
    ),
    pytest.param({"sort": "priority", "category": "lighting"}, id="priority-sort"),
    pytest.param({"sort": "resolve_due", "q": "楼道灯"}, id="search"),
]


@pytest.mark.parametrize("params", FILTERS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_list_export_holds_every_page_the_list_answers_in_its_order_by_name(
    client: TestClient,
    tokens: Tokens,
    example_site: Site,
    many_orders: int,
    params: dict[str, Any],
    fmt: str,
) -> None:
    items = listed(client, tokens.duty, params)
    expected = [expected_order(i, example_site) for i in items]
    if not params:
        assert len(items) == many_orders  # every page, more than the export reads at once
    r = client.get(
        "/api/v1/work-orders/export", params={**params, "format": fmt}, headers=bearer(tokens.duty)
    )
    if fmt == "csv":
        assert "content-length" not in r.headers  # streamed as its pages are read
        rows = read_csv(r)
        assert_csv_table(rows, WORK_ORDER_HEADERS, expected)
    else:
        (rows,) = read_xlsx(r).values()
        assert_xlsx_table(rows, WORK_ORDER_HEADERS, expected)
    assert len(rows) == len(items) + 1 and len(items) > 0


def test_the_list_export_writes_text_as_text_never_as_a_formula(
    client: TestClient, tokens: Tokens, many_orders: int
) -> None:
    formulas = {f'=HYPERLINK("http://x/{i}")' for i in range(many_orders) if i % 97 == 0}
    path, headers = "/api/v1/work-orders/export", bearer(tokens.duty)
    rows = read_csv(client.get(f"{path}?format=csv", headers=headers))
    assert {r[2] for r in rows[1:] if "HYPERLINK" in r[2]} == {"'" + f for f in formulas}
    ws = openpyxl.load_workbook(
        io.BytesIO(client.get(f"{path}?format=xlsx", headers=headers).content)
    ).active
    assert ws is not None
    titles = [row[2] for row in ws.iter_rows(min_row=2) if "HYPERLINK" in str(row[2].value)]
    assert {c.value for c in titles} == formulas
    assert {c.data_type for c in titles} == {"s"}  # a string cell, never a formula


def test_the_list_export_is_a_download_with_a_chinese_file_name(
    client: TestClient, tokens: Tokens
) -> None:
    r = client.get("/api/v1/work-orders/export?format=xlsx", headers=bearer(tokens.duty))
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="work-orders_2026-11-23.xlsx"')
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "工单列表_2026-11-23.xlsx"
    assert read_xlsx(r) == {"工单列表": [WORK_ORDER_HEADERS]}  # no orders: the header alone


def test_a_technician_exports_only_their_own_tasks(
    client: TestClient, tokens: Tokens, example_site: Site, many_orders: int
) -> None:
    mine = listed(client, tokens.technician, {})
    assert mine and {i["assignee"] for i in mine} == {"wang-gong"}
    r = client.get("/api/v1/work-orders/export", headers=bearer(tokens.technician))
    assert_csv_table(
        read_csv(r), WORK_ORDER_HEADERS, [expected_order(i, example_site) for i in mine]
    )


@pytest.mark.parametrize(
    ("token", "params", "status"),
    [
        ("other_site", {"site_id": "hexie"}, 403),
        ("duty", {"tag": "没有这个标签"}, 422),
        ("duty", {"status": "lost"}, 422),
        ("duty", {"format": "pdf"}, 422),
        ("duty", {"sort": "title"}, 422),
        ("duty", {"reported_from": "2026-13-01T00:00:00Z"}, 422),
    ],
)
def test_the_list_export_refuses_what_the_list_refuses(
    client: TestClient, tokens: Tokens, token: str, params: dict[str, Any], status: int
) -> None:
    headers = bearer(getattr(tokens, token))
    json_params = {k: v for k, v in params.items() if k != "format"}
    if json_params:
        assert (
            client.get("/api/v1/work-orders", params=json_params, headers=headers).status_code
            == status
        )
    r = client.get("/api/v1/work-orders/export", params=params, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_the_list_export_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/work-orders/export").status_code == 401


# --- 日盘点 ------------------------------------------------------------------------------------

STOCKTAKE_HEADERS = [
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
]


def expected_stocktake(item: dict[str, Any], site: Site) -> list[Any]:
    people, zones = _names(site)
    return [
        item["code"],
        item["title"],
        item["status_zh"],
        item["priority_zh"],
        CATEGORY[item["category"]],
        zones[item["zone"]] if item["zone"] else None,
        people[item["responsible"]] if item["responsible"] else None,
        people[item["supervisor"]] if item["supervisor"] else None,
        local(item["reported_at"]),
        item["age_hours"],
        "、".join(LIMIT[n] for n in item["overdue"]),
        local(item["next_due"]),
        item["hold_reason"] if item["on_hold"] else None,
    ]


@pytest.fixture
def open_orders(client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock) -> None:
    """Orders of both zones, one overdue, one on hold with its reason."""
    create_order(
        client,
        tokens.duty,
        example_site,
        title="2栋电梯异响",
        category="elevator",
        priority="important",
        zone="zone-a",
        assignee="wang-gong",
    )
    late = create_order(
        client,
        tokens.duty,
        example_site,
        title="北门门禁失灵",
        category="access_control",
        priority="emergency",
        zone="zone-b",
        assignee="li-shifu",
    )
    held = create_order(
        client, tokens.duty, example_site, title="3栋楼道灯不亮", zone="zone-b", assignee="li-shifu"
    )
    r = client.post(
        f"/api/v1/work-orders/{held['id']}/transitions",
        json={"to": "on_hold", "note": "等待配件到货"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 200, r.text
    clock.advance(timedelta(hours=3))
    assert late["respond_due"] is not None


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_stocktake_export_is_the_stocktake_by_name_and_local_time(
    client: TestClient, tokens: Tokens, example_site: Site, open_orders: None, fmt: str
) -> None:
    report = client.get("/api/v1/reports/hexie/stocktake", headers=bearer(tokens.duty)).json()
    assert report["total"] == 3 and report["overdue"] >= 1
    assert any(i["on_hold"] for i in report["items"])
    expected = [expected_stocktake(i, example_site) for i in report["items"]]
    r = client.get(
        f"/api/v1/reports/hexie/stocktake/export?format={fmt}", headers=bearer(tokens.duty)
    )
    if fmt == "csv":
        assert_csv_table(read_csv(r), STOCKTAKE_HEADERS, expected)
    else:
        ((title, rows),) = read_xlsx(r).items()
        assert title == "日盘点 11月23日 13时00分"
        assert_xlsx_table(rows, STOCKTAKE_HEADERS, expected)


def test_the_report_exports_take_the_reports_roles_and_sites(
    client: TestClient, tokens: Tokens
) -> None:
    for path in ("stocktake/export", "monthly/export?year=2026&month=11"):
        for token, status in ((tokens.technician, 403), (tokens.other_site, 403)):
            r = client.get(f"/api/v1/reports/hexie/{path}", headers=bearer(token))
            assert r.status_code == status, (path, r.text)
        r = client.get(f"/api/v1/reports/nowhere/{path}", headers=bearer(tokens.admin))
        assert r.status_code == 404, r.text
    bad = client.get(
        "/api/v1/reports/hexie/monthly/export?year=2026&month=13", headers=bearer(tokens.duty)
    )
    assert bad.status_code == 422


# --- 月报 ------------------------------------------------------------------------------------


@pytest.fixture
def month_of_work(ctx: AppContext, example_site: Site) -> None:
    """November 2026: repairs of pump-1 (three: the plan advice), one reopened, by both
    technicians of both zones, and alarms for the alarm figures."""
    with ctx.db.session() as s:
        pump = s.scalar(select(Asset.id).where(Asset.code == "pump-1"))
        rows = []
        for i in range(6):
            at = datetime(2026, 11, 3 + i * 3, 1, 30, tzinfo=MONDAY_10H.tzinfo)
            rows.append(
                {
                    "site_id": example_site.id,
                    "code": f"GD-M{i}",
                    "source": "alarm" if i < 4 else "manual",
                    "source_key": f"month:{i}",
                    "category": "water_supply",
                    "priority": "important",
                    "status": "closed",
                    "title": f"水泵故障 {i}",
                    "description": "",
                    "assignee": ("wang-gong", "li-shifu")[i % 2],
                    "resolved_by": ("wang-gong", "li-shifu")[i % 2],
                    "zone_code": ("zone-a", "zone-b")[i % 2],
                    "asset_id": pump if i < 4 else None,
                    "reported_at": at,
                    "created_at": at,
                    "updated_at": at,
                    "respond_due": at + timedelta(hours=1),
                    "accepted_at": at + timedelta(minutes=20 + 30 * i),
                    "resolve_due": at + timedelta(hours=24),
                    "resolved_at": at + timedelta(hours=3 + 9 * i),
                    "occurrences": 1,
                    "details": {},
                    "chattering": False,
                    "paused_seconds": 0.0,
                    "reopen_count": 1 if i == 2 else 0,
                }
            )
        s.execute(insert(WorkOrder), rows)
    for n in range(3):
        raise_alarm(
            ctx, example_site, "pump-1", Severity.MAJOR, f"出水压力低 {n}", ago=timedelta(minutes=n)
        )


MONTHLY = {
    "设备故障": ["设备", "片区", "故障次数", "平均故障间隔（小时）", "平均修复时间（小时）"],
    "时限达标": ["时限", "已判定", "按时", "按时率（%）"],
    "维修人员返修率": ["维修人员", "完成", "返修", "返修率（%）"],
    "片区返修率": ["片区", "完成", "返修", "返修率（%）"],
    "片区排名": [
        "名次",
        "片区",
        "工单数",
        "完成数",
        "按时完成率（%）",
        "返修率（%）",
        "平均修复时间（小时）",
        "超时",
        "得分",
    ],
    "保养计划建议": ["设备", "故障次数", "建议"],
    "告警系统": ["指标", "数值"],
    "高频告警": ["设备", "告警类型", "次数", "占比（%）"],
    "频繁告警": ["设备", "告警类型", "次数", "标记为频繁", "三次最短间隔（秒）"],
    "长期告警": [
        "设备",
        "告警类型",
        "级别",
        "发生时间",
        "持续（小时）",
        "已确认",
        "已搁置",
        "停用",
    ],
    "维修费用": [
        "范围",
        "名称",
        "完成工单",
        "工时（小时）",
        "人工费（元）",
        "材料费（元）",
        "其他费用（元）",
        "合计（元）",
    ],
}


def pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 2)


def expected_monthly(m: dict[str, Any], site: Site) -> dict[str, list[list[Any]]]:
    people, zones = _names(site)
    k = m["alarm_system"]
    load = k["load"]
    return {
        "设备故障": [
            [a["name"], zones[a["zone"]], a["failures"], a["mtbf_hours"], a["mttr_hours"]]
            for a in m["assets"]
        ],
        "时限达标": [
            [LIMIT[r["limit"]], r["decided"], r["on_time"], pct(r["rate"])] for r in m["on_time"]
        ],
        "维修人员返修率": [
            [people[r["key"]], r["resolved"], r["reworked"], pct(r["rate"])]
            for r in m["rework_by_technician"]
        ],
        "片区返修率": [
            [zones[r["key"]], r["resolved"], r["reworked"], pct(r["rate"])]
            for r in m["rework_by_zone"]
        ],
        "片区排名": [
            [
                z["rank"],
                z["name"],
                z["work_orders"],
                z["resolved"],
                pct(z["resolve_on_time_rate"]),
                pct(z["rework_rate"]),
                z["mttr_hours"],
                z["overdue"],
                z["score"],
            ]
            for z in m["league"]
        ],
        "保养计划建议": [[p["name"], p["failures"], p["advice"]] for p in m["tighten_plans"]],
        "告警系统": [
            ["项目", site.spec.site.name],
            ["月份", m["month"]],
            ["统计起", local(m["start"])],
            ["统计止", local(m["end"])],
            ["值班员人数", load["operators"]],
            ["统计时段数（10 分钟）", load["slots"]],
            ["报警数", load["alarms"]],
            ["平均报警率（每人每 10 分钟）", load["average_per_operator"]],
            ["峰值报警率（每人每 10 分钟）", load["peak_per_operator"]],
            ["峰值时段", local(load["peak_slot_start"])],
            ["告警泛滥时段数", load["flood_slots"]],
            ["告警泛滥时段占比（%）", pct(load["flood_share"])],
            ["负荷评价", load["assessment"]],
            ["抑制告警数", k["suppressed"]],
            ["迟到告警数", k["late"]],
            ["高频告警占比（%）", pct(k["bad_actor_share"])],
            ["频繁告警数", k["chattering_count"]],
            ["长期告警数", k["standing_count"]],
        ],
        "高频告警": [
            [b["name"], b["alarm_type"], b["count"], pct(b["share"])] for b in k["bad_actors"]
        ],
        "频繁告警": [
            [c["name"], c["alarm_type"], c["episodes"], c["flagged"], c["fastest_three_seconds"]]
            for c in k["chattering"]
        ],
        "长期告警": [
            [
                s["name"],
                s["alarm_type"],
                {"critical": "紧急", "major": "重要", "minor": "次要", "warning": "提示"}[
                    s["severity"]
                ],
                local(s["raised_at"]),
                s["hours_active"],
                "是" if s["acknowledged"] else "否",
                "是" if s["shelved"] else "否",
                "是" if s["out_of_service"] else "否",
            ]
            for s in k["standing"]
        ],
        "维修费用": _expected_costs(m["costs"]),
    }


def _expected_costs(c: dict[str, Any]) -> list[list[Any]]:
    rows = [
        [scope, r["name"], r["orders"], r["labour_hours"]]
        + [float(r[k]) for k in ("labour", "parts", "extras", "total")]
        for scope, group in (
            ("全项目", [c["site"]]),
            ("片区", c["by_zone"]),
            ("设备", c["by_asset"]),
        )
        for r in group
    ]
    p = c["paid_repairs"]
    said = f"报价 {p['quoted']} 元，已收 {p['paid']} 元，未收 {p['unpaid']} 元"
    return [*rows, ["有偿维修", said, p["orders"], None, None, None, None, None]]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_monthly_export_has_every_part_of_the_report_as_a_table(
    client: TestClient, tokens: Tokens, example_site: Site, month_of_work: None, fmt: str
) -> None:
    query = "year=2026&month=11"
    report = client.get(f"/api/v1/reports/hexie/monthly?{query}", headers=bearer(tokens.duty))
    expected = expected_monthly(report.json(), example_site)
    assert expected["设备故障"] and expected["保养计划建议"] and expected["高频告警"]
    assert len(expected["维修人员返修率"]) == 2 and any(r[2] for r in expected["维修人员返修率"])
    r = client.get(
        f"/api/v1/reports/hexie/monthly/export?{query}&format={fmt}", headers=bearer(tokens.duty)
    )
    assert (
        unquote(r.headers["content-disposition"].split("''")[1]) == f"月报_和谐花园_2026-11.{fmt}"
    )
    if fmt == "csv":
        sections = csv_sections(read_csv(r))
        assert list(sections) == list(MONTHLY)
        for title, headers in MONTHLY.items():
            assert_csv_table(sections[title], headers, expected[title])
    else:
        sheets = read_xlsx(r)
        assert list(sheets) == list(MONTHLY)
        for title, headers in MONTHLY.items():
            assert_xlsx_table(sheets[title], headers, expected[title])


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_list_export_takes_only_get(client: TestClient, tokens: Tokens, method: str) -> None:
    r = client.request(method, "/api/v1/work-orders/export", headers=bearer(tokens.duty))
    assert r.status_code == 405, r.text  # not taken for the order /work-orders/{id}
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET"}


def test_a_table_longer_than_a_sheet_goes_on_in_sheets_of_the_same_headers() -> None:
    rows = [(i, f"工单 {i}") for i in range(7)]
    with xlsx_file([Sheet("工单列表", ("序号", "标题"), rows)], max_rows=3) as f:
        book = openpyxl.load_workbook(f)
    assert book.sheetnames == ["工单列表", "工单列表（2）", "工单列表（3）", "工单列表（4）"]
    sheets = [[list(r) for r in ws.iter_rows(values_only=True)] for ws in book]
    assert all(s[0] == ["序号", "标题"] and len(s) <= 3 for s in sheets)
    assert [r for s in sheets for r in s[1:]] == [list(r) for r in rows]
