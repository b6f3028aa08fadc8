"""A day of work at 和谐花园 for the 日报 tests: Monday 23 November 2026, looked at from 18:00
local time, with what each order and alarm should count for (see `maintenance.daily_report`).

| order | zone | what happened (local times) | counts on the 23rd as |
|---|---|---|---|
| A | A区 | reported 08:10, respond due 09:10, not accepted | 新增, 超时 (响应) |
| B | A区 | reported 09:00, accepted 09:20 (due 10:00), resolved 15:30 | 新增, 完成 |
| C | B区 | reported 07:00, respond due 07:15, accepted 07:30 | 新增, 超时 (响应) |
| D | none | reported 11:00, a complaint | 新增 (未分片区) |
| E | B区 | reported the 22nd 20:00, resolved 10:00, closed 12:00 | 完成, 关闭 (新增 on the 22nd) |
| F | A区 | reported the 22nd 15:00, cancelled 09:30, respond due 10:00 | 取消 (新增 on the 22nd) |
| G | A区 | a plan's order, reported 06:00, resolved 11:30 | 新增, 完成, 保养完成 |
| H | B区 | reported the 21st, respond due the 22nd 12:00, never met | nothing (超时 on the 22nd) |
| I | B区 | reported the 22nd 10:00, held 12:00, resolve due 10:00 | nothing (新增 on the 22nd) |
| J | A区 | reported 17:00, resolve due 19:00 (after now) | 新增 |

Alarms: pump-1 (A区) critical at 16:00, door-north (B区) major at 13:00, lift-1-1 (A区) at 14:00
suppressed (out of service), pump-1 on the 22nd at 22:00.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from api.deps import AppContext
from maintenance.alarms.models import Alarm
from maintenance.work_orders.models import WorkOrder
from propwatch.site import Site

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = "2026-11-23"
DAY_BEFORE = "2026-11-22"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


NOW = local(23, 18)

EXPECTED: dict[str, dict[str, Any]] = {
    DAY: {
        "complete": False,
        "totals": {
            "opened": 6,
            "resolved": 3,
            "closed": 1,
            "cancelled": 1,
            "overdue": 2,
            "alarms": 2,
            "critical_alarms": 1,
            "plan_done": 1,
        },
        "zones": {
            "zone-a": {
                "opened": 4,
                "resolved": 2,
                "cancelled": 1,
                "overdue": 1,
                "alarms": 1,
                "critical_alarms": 1,
                "plan_done": 1,
            },
            "zone-b": {"opened": 1, "resolved": 1, "closed": 1, "overdue": 1, "alarms": 1},
            None: {"opened": 1},
        },
        "opened": "GCABDJ",  # in the order reported
        "resolved": "EGB",  # the list's order: by report time
        "overdue": "CA",
        "plan_done": "G",
    },
    DAY_BEFORE: {
        "complete": True,
        "totals": {"opened": 3, "overdue": 1, "alarms": 1},
        "zones": {"zone-a": {"opened": 1, "alarms": 1}, "zone-b": {"opened": 2, "overdue": 1}},
        "opened": "IFE",
        "resolved": "",
        "overdue": "H",
        "plan_done": "",
    },
}
FIGURES = (
    "opened",
    "resolved",
    "closed",
    "cancelled",
    "overdue",
    "alarms",
    "critical_alarms",
    "plan_done",
)


def _order(site: Site, name: str, reported: datetime, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "site_id": site.id,
        "code": f"GD-DAY-{name}",
        "source": "manual",
        "source_key": f"daily:{name}",
        "category": "general",
        "priority": "general",
        "status": "dispatched",
        "title": f"日报工单 {name}",
        "description": "",
        "assignee": "wang-gong",
        "zone_code": "zone-a",
        "reported_at": reported,
        "created_at": reported,
        "updated_at": reported,
        "occurrences": 1,
        "details": {},
        "chattering": False,
        "paused_seconds": 0.0,
        "reopen_count": 0,
    }
    return row | fields


def _alarm(site: Site, n: int, asset: str, severity: str, at: datetime, **fields: Any) -> Alarm:
    return Alarm(
        site_id=site.id,
        episode_id=f"daily-{n}",
        asset_code=asset,
        alarm_type="outlet_pressure_low",
        severity=severity,
        rule_id=f"{asset}-r",
        message=f"日报告警 {n}",
        state="raised",
        raised_at=at,
        raise_count=1,
        evidence={},
        chattering=False,
        **fields,
    )


def seed_day(ctx: AppContext, site: Site) -> dict[str, int]:
    """The orders and alarms of the table above; their ids by letter."""
    b_side = {"zone_code": "zone-b", "assignee": "li-shifu"}
    rows = [
        _order(site, "A", local(23, 8, 10), respond_due=local(23, 9, 10), category="elevator"),
        _order(
            site,
            "B",
            local(23, 9),
            accepted_at=local(23, 9, 20),
            respond_due=local(23, 10),
            resolve_due=local(24, 9),
            resolved_at=local(23, 15, 30),
            resolved_by="wang-gong",
            status="resolved",
            category="lighting",
        ),
        _order(
            site,
            "C",
            local(23, 7),
            respond_due=local(23, 7, 15),
            accepted_at=local(23, 7, 30),
            status="accepted",
            priority="emergency",
            category="access_control",
            **b_side,
        ),
        _order(
            site,
            "D",
            local(23, 11),
            category="complaint",
            zone_code=None,
            assignee=None,
            status="registered",
        ),
        _order(
            site,
            "E",
            local(22, 20),
            resolved_at=local(23, 10),
            closed_at=local(23, 12),
            status="closed",
            **b_side,
        ),
        _order(
            site,
            "F",
            local(22, 15),
            cancelled_at=local(23, 9, 30),
            respond_due=local(23, 10),
            status="cancelled",
        ),
        _order(
            site,
            "G",
            local(23, 6),
            source="plan",
            resolved_at=local(23, 11, 30),
            status="resolved",
            title="水泵月度保养",
            details={"plan_id": "pump-monthly"},
        ),
        _order(site, "H", local(21, 9), respond_due=local(22, 12), **b_side),
        _order(
            site,
            "I",
            local(22, 10),
            held_at=local(22, 12),
            resolve_due=local(23, 10),
            status="on_hold",
            hold_reason="等待配件",
            **b_side,
        ),
        _order(site, "J", local(23, 17), resolve_due=local(23, 19), priority="important"),
    ]
    with ctx.db.session() as s:
        s.execute(insert(WorkOrder), rows)
        s.add_all(
            [
                _alarm(site, 1, "pump-1", "critical", local(23, 16)),
                _alarm(site, 2, "door-north", "major", local(23, 13), cleared_at=local(23, 13, 40)),
                _alarm(
                    site, 3, "lift-1-1", "minor", local(23, 14), suppressed_reason="out_of_service"
                ),
                _alarm(site, 4, "pump-1", "major", local(22, 22)),
            ]
        )
        s.flush()
        ids = {code: wid for code, wid in s.execute(select(WorkOrder.code, WorkOrder.id))}
    return {code.removeprefix("GD-DAY-"): wid for code, wid in ids.items()}


def expected_zone(day: str, zone: str | None) -> dict[str, int]:
    given = EXPECTED[day]["zones"].get(zone, {})
    return {f: given.get(f, 0) for f in FIGURES}


def expected_totals(day: str) -> dict[str, int]:
    return {f: EXPECTED[day]["totals"].get(f, 0) for f in FIGURES}


def letters(ids: dict[str, int], orders: list[dict[str, Any]]) -> str:
    by_id = {v: k for k, v in ids.items()}
    return "".join(by_id[o["id"]] for o in orders)
