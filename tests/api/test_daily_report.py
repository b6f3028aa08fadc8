"""日报 (`GET /api/v1/reports/{site}/daily`) on SQLite and PostgreSQL: a seeded day's figures per
zone and in all, the orders and alarms behind them, a day that is over, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.deps import AppContext
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.daily_day import (
    DAY,
    DAY_BEFORE,
    EXPECTED,
    NOW,
    expected_totals,
    expected_zone,
    letters,
    seed_day,
)
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW.astimezone(UTC))


@pytest.fixture
def day_ids(ctx: AppContext, example_site: Site) -> dict[str, int]:
    return seed_day(ctx, example_site)


@pytest.mark.parametrize("day", [DAY, DAY_BEFORE])
def test_a_day_counts_each_order_and_alarm_where_it_belongs(
    client: TestClient, tokens: Tokens, day_ids: dict[str, int], day: str
) -> None:
    r = client.get(f"/api/v1/reports/hexie/daily?date={day}", headers=bearer(tokens.duty))
    assert r.status_code == 200, r.text
    report = r.json()
    want = EXPECTED[day]
    assert report["date"] == day and report["site_name"] == "和谐花园"
    assert report["complete"] is want["complete"]
    assert report["totals"] == expected_totals(day)
    zones = {
        z["zone"]: {k: v for k, v in z.items() if k not in ("zone", "name")}
        for z in report["zones"]
    }
    assert list(zones) == (
        ["zone-a", "zone-b", None] if None in want["zones"] else ["zone-a", "zone-b"]
    )
    for zone in zones:
        assert zones[zone] == expected_zone(day, zone), zone
    assert [z["name"] for z in report["zones"]][:2] == ["A区", "B区"]
    for part in ("opened", "resolved", "overdue", "plan_done"):
        assert letters(day_ids, report[part]) == want[part], part


def test_the_days_lists_carry_names_and_the_limits_missed(
    client: TestClient, tokens: Tokens, day_ids: dict[str, int]
) -> None:
    report = client.get(
        f"/api/v1/reports/hexie/daily?date={DAY}", headers=bearer(tokens.duty)
    ).json()
    overdue = {o["code"]: o for o in report["overdue"]}
    late = overdue["GD-DAY-C"]
    assert late["missed"] == ["respond"] and late["zone_name"] == "B区"
    assert late["assignee_name"] == "李师傅" and late["priority_zh"] == "紧急"
    assert datetime.fromisoformat(late["missed_due"]) == datetime(2026, 11, 22, 23, 15, tzinfo=UTC)
    unzoned = next(o for o in report["opened"] if o["code"] == "GD-DAY-D")
    assert unzoned["zone_name"] == "未分片区" and unzoned["assignee_name"] is None
    alarms = report["alarms"]
    # in the order raised; not the suppressed lift's, not the day before's
    assert [(a["asset_name"], a["zone_name"], a["severity"]) for a in alarms] == [
        ("北门门禁", "B区", "major"),
        ("1号生活水泵", "A区", "critical"),
    ]
    assert alarms[0]["cleared_at"] is not None and alarms[1]["cleared_at"] is None
    assert datetime.fromisoformat(report["at"]) == NOW  # the day runs: counted up to now


def test_without_a_date_the_report_is_of_the_sites_today(
    client: TestClient, tokens: Tokens, day_ids: dict[str, int]
) -> None:
    report = client.get("/api/v1/reports/hexie/daily", headers=bearer(tokens.duty)).json()
    assert report["date"] == DAY


@pytest.mark.parametrize("value", ["1999-12-31", "2101-01-01", "2026-02-30", "yesterday", ""])
def test_a_date_out_of_range_or_not_a_date_is_a_422(
    client: TestClient, tokens: Tokens, value: str
) -> None:
    r = client.get(f"/api/v1/reports/hexie/daily?date={value}", headers=bearer(tokens.duty))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["query", "date"]


def test_the_daily_report_is_for_the_duty_room_of_the_site(
    client: TestClient, tokens: Tokens
) -> None:
    path = f"/api/v1/reports/hexie/daily?date={DAY}"
    assert client.get(path, headers=bearer(tokens.technician)).status_code == 403
    assert client.get(path, headers=bearer(tokens.other_site)).status_code == 403
    assert client.get(path, headers=bearer(tokens.integration)).status_code == 200
    assert (
        client.get("/api/v1/reports/nowhere/daily", headers=bearer(tokens.admin)).status_code == 404
    )
