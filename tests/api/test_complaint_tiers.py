"""投诉分级 over HTTP on SQLite and PostgreSQL: 一般 / 复杂 / 重大 complaints get the plan's
limits (3 / 7 / 15 working days, 重大 intervened within 24 h; revisit within 24 h, 72 h for 重大)
on the Chinese working-day calendar, across National Day 2026 and its make-up Saturday."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from propwatch.clock import ManualClock
from tests.api.conftest import Tokens, bearer
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPORTED = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)  # the Wednesday before National Day

# 国务院办公厅关于2026年部分节假日安排的通知: 中秋 25 Sep, 国庆 1-7 Oct off; Sunday 20 Sep and
# Saturday 10 Oct are worked. Written out here so the test does not lean on chinese-calendar.
DAYS_OFF = {date(2026, 9, 25), *(date(2026, 10, d) for d in range(1, 8))}
MAKE_UP = {date(2026, 9, 20), date(2026, 10, 10)}


def _working(day: date) -> bool:
    return day in MAKE_UP or (day.weekday() < 5 and day not in DAYS_OFF)


def _end_of_nth_working_day(start: date, n: int) -> datetime:
    day, seen = start, 0
    while seen < n:
        day += timedelta(days=1)
        seen += _working(day)
    return datetime.combine(day, time(23, 59, 59), tzinfo=SHANGHAI)


def _at(doc: dict[str, Any], field: str) -> datetime | None:
    value = doc[field]
    return datetime.fromisoformat(value) if value else None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(REPORTED.astimezone(UTC))


def _complaint(client: TestClient, tokens: Tokens, **body: Any) -> dict[str, Any]:
    r = client.post(
        "/api/v1/work-orders",
        json={
            "site_id": "hexie",
            "title": "业主投诉保洁不及时",
            "category": "complaint",
            "zone": "zone-a",
            **body,
        },
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def test_a_general_complaint_before_national_day_is_due_on_the_make_up_saturday(
    client: TestClient, tokens: Tokens
) -> None:
    made = _complaint(client, tokens, complaint_tier="general")
    assert (made["complaint_tier"], made["complaint_tier_zh"]) == ("general", "一般投诉")
    assert made["priority"] == "general"
    assert _at(made, "resolve_due") == datetime(2026, 10, 10, 23, 59, 59, tzinfo=SHANGHAI)
    assert _at(made, "resolve_due") == _end_of_nth_working_day(REPORTED.date(), 3)
    assert made["respond_due"] is None and made["arrive_due"] is None


@pytest.mark.parametrize(
    ("tier", "priority", "zh", "days", "respond_hours"),
    [
        ("general", "general", "一般投诉", 3, None),
        ("complex", "important", "复杂投诉", 7, None),
        ("major", "emergency", "重大投诉", 15, 24),
    ],
)
def test_each_tier_gets_the_plans_limits_across_national_day(
    client: TestClient,
    tokens: Tokens,
    tier: str,
    priority: str,
    zh: str,
    days: int,
    respond_hours: int | None,
) -> None:
    made = _complaint(client, tokens, complaint_tier=tier)
    assert (made["priority"], made["complaint_tier"], made["complaint_tier_zh"]) == (
        priority,
        tier,
        zh,
    )
    assert _at(made, "resolve_due") == _end_of_nth_working_day(REPORTED.date(), days)
    want_respond = REPORTED + timedelta(hours=respond_hours) if respond_hours else None
    assert _at(made, "respond_due") == want_respond
    # the same tier from the priority alone
    by_priority = _complaint(client, tokens, priority=priority)
    assert by_priority["complaint_tier"] == tier
    assert by_priority["resolve_due"] == made["resolve_due"]


def _walk_to_resolved(client: TestClient, tokens: Tokens, wo_id: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for to in ("accepted", "on_site", "resolved"):
        r = client.post(
            f"/api/v1/work-orders/{wo_id}/transitions",
            json={"to": to},
            headers=bearer(tokens.duty),
        )
        assert r.status_code == 200, r.text
        doc = r.json()
    return doc


@pytest.mark.parametrize(("tier", "hours"), [("general", 24), ("complex", 24), ("major", 72)])
def test_the_revisit_falls_due_24_hours_after_completion_72_for_a_major_one(
    client: TestClient, tokens: Tokens, clock: ManualClock, tier: str, hours: int
) -> None:
    made = _complaint(client, tokens, complaint_tier=tier, assignee="wang-gong")
    clock.set(datetime(2026, 10, 1, 18, 0, tzinfo=SHANGHAI))  # resolved on the holiday
    resolved = _walk_to_resolved(client, tokens, made["id"])
    due = datetime(2026, 10, 1, 18, 0, tzinfo=SHANGHAI) + timedelta(hours=hours)
    assert _at(resolved, "revisit_due") == due
    assert "revisit" not in resolved["overdue"]
    clock.set(due + timedelta(seconds=1))
    later = client.get(f"/api/v1/work-orders/{made['id']}", headers=bearer(tokens.duty)).json()
    assert "revisit" in later["overdue"]


def test_orders_of_other_categories_have_no_tier(client: TestClient, tokens: Tokens) -> None:
    r = client.post(
        "/api/v1/work-orders",
        json={"site_id": "hexie", "title": "楼道灯不亮", "category": "lighting"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 201 and r.json()["complaint_tier"] is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"category": "lighting", "complaint_tier": "general"}, "complaints only"),
        (
            {"category": "complaint", "complaint_tier": "major", "priority": "general"},
            "complaint_tier major is priority emergency",
        ),
        ({"category": "complaint", "complaint_tier": "urgent"}, "complaint_tier"),
    ],
)
def test_a_tier_that_does_not_fit_is_refused_by_name(
    client: TestClient, tokens: Tokens, body: dict[str, Any], says: str
) -> None:
    r = client.post(
        "/api/v1/work-orders",
        json={"site_id": "hexie", "title": "投诉", **body},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 422, r.text
    assert says in r.text
