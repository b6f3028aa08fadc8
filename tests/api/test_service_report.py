"""服务报告 on SQLite and PostgreSQL: a seeded November 2026 (tests/api/service_month.py) whose
right answers this test works out from the seed table itself (complaints per 100 households, 复发率,
8 h response, 1 h emergency arrival, 满意度 and 回访率), per site and zone, beside the site file's
targets; and the same report as a PDF that holds those figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient

from api.deps import AppContext
from maintenance.work_orders.models import Source
from propwatch.clock import ManualClock
from propwatch.site import Category, Priority, Site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.api.service_month import (
    ASSET_ZONE,
    HOUSEHOLDS,
    MONTH,
    NOW,
    SEEDS,
    ZONE_BUILDINGS,
    Seed,
    seed_month,
    service_site,
)

db, migrated_template = integration.db, integration.migrated_template
C = Category.COMPLAINT
H = timedelta(hours=1)
TARGETS = {
    "satisfaction": 0.9,
    "complaint_rate": 1.5,
    "repeat_complaints": 0.1,
    "response_8h": 0.9,
    "emergency_1h": 0.95,
    "revisit_rate": 1.0,
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW.astimezone(UTC))


@pytest.fixture
def example_site(tmp_path: Path) -> Site:
    return service_site(tmp_path)


def _in_month(t: datetime) -> bool:
    return MONTH[0] <= t < MONTH[1]


def _place(seed: Seed) -> str | None:
    return seed.asset or seed.location


def _expected(zone: str | None) -> dict[str, dict[str, Any]]:
    """Each figure's (value, count, of), worked out from SEEDS by the report's definitions."""

    def mine(seed: Seed) -> bool:
        return zone is None or (ASSET_ZONE.get(seed.asset or "", seed.zone)) == zone

    kept = [s for s in SEEDS if not s.cancelled]
    month = [s for s in kept if _in_month(s.reported) and mine(s)]
    complaints = [s for s in month if s.category is C]
    repeats = [
        c
        for c in complaints
        if _place(c) is not None
        and any(
            o is not c
            and o.category is C
            and _place(o) == _place(c)
            and timedelta(0) <= c.reported - o.reported <= timedelta(days=30)
            for o in kept
        )
    ]
    repairs = [s for s in month if s.category is not C and s.source is not Source.PLAN]
    answered = [r for r in repairs if r.accepted is not None or NOW - r.reported > 8 * H]
    in_8h = [r for r in answered if r.accepted is not None and r.accepted <= 8 * H]
    emergencies = [r for r in repairs if r.priority is Priority.EMERGENCY]
    attended = [
        r for r in emergencies if (r.arrived or r.resolved) is not None or NOW - r.reported > H
    ]
    in_1h = [r for r in attended if (r.arrived or r.resolved or 2 * H) <= H]
    closed = [s for s in month if s.closed is not None and _in_month(s.closed)]
    scored = [s for s in closed if s.scores is not None]
    satisfied = [s for s in scored if min(s.scores or (0,)) >= 4]
    homes = sum(n for b, n in HOUSEHOLDS.items() if zone is None or b in ZONE_BUILDINGS[zone])

    def share(part: list[Seed], whole: list[Seed]) -> dict[str, Any]:
        value = round(len(part) / len(whole), 4) if whole else None
        return {"value": value, "count": len(part), "of": len(whole)}

    return {
        "satisfaction": share(satisfied, scored),
        "complaints": {"value": len(complaints), "count": len(complaints), "of": None},
        "complaint_rate": {
            "value": round(len(complaints) * 100 / homes, 2),
            "count": len(complaints),
            "of": homes,
        },
        "repeat_complaints": share(repeats, complaints),
        "response_8h": share(in_8h, answered),
        "emergency_1h": share(in_1h, attended),
        "revisit_rate": share(scored, closed),
    }


def _met(key: str, value: float | None) -> bool | None:
    target = TARGETS.get(key)
    if value is None or target is None:
        return None
    if key == "complaint_rate":
        return value <= target
    if key == "repeat_complaints":
        return value < target
    return value >= target


def _check(figures: list[dict[str, Any]], zone: str | None) -> None:
    expected = _expected(zone)
    assert [f["key"] for f in figures] == list(expected)
    for f in figures:
        want = expected[f["key"]]
        assert {k: f[k] for k in ("value", "count", "of")} == want, f["key"]
        assert f["target"] == TARGETS.get(f["key"]), f["key"]
        assert f["met"] == _met(f["key"], want["value"]), f["key"]


def test_service_report_figures_beside_targets(
    ctx: AppContext, client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    seed_month(ctx, example_site)
    r = client.get(
        f"/api/v1/sites/{example_site.id}/reports/service",
        params={"month": "2026-11"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["site_name"] == "和谐花园"
    assert report["site"]["households"] == 400
    _check(report["site"]["figures"], None)
    assert [(z["zone"], z["households"]) for z in report["zones"]] == [
        ("zone-a", 200),
        ("zone-b", 200),
    ]
    for z in report["zones"]:
        _check(z["figures"], z["zone"])
    # the figures the seed was built to give, spelled out once as the notice board shows them
    shown = {f["key"]: (f["shown"], f["target_shown"]) for f in report["site"]["figures"]}
    assert shown == {
        "satisfaction": ("50.0%", "≥ 90%"),
        "complaints": ("7 件", None),
        "complaint_rate": ("1.75", "≤ 1.5"),
        "repeat_complaints": ("42.9%", "< 10%"),
        "response_8h": ("71.4%", "≥ 90%"),
        "emergency_1h": ("66.7%", "≥ 95%"),
        "revisit_rate": ("66.7%", "≥ 100%"),
    }


def test_service_report_pdf_holds_the_figures(
    ctx: AppContext, client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    seed_month(ctx, example_site)
    r = client.get(
        f"/api/v1/sites/{example_site.id}/reports/service.pdf",
        params={"month": "2026-11"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    (page,) = pdfium.PdfDocument(r.content)
    text = page.get_textpage().get_text_range().replace("\r", "")
    assert "和谐花园 月度工作报告" in text
    assert "2026年11月 服务报告" in text
    assert "统计期间：2026年11月1日至11月30日" in text
    for figure in ("50.0%", "7 件", "42.9%", "71.4%", "66.7%", "≥ 90%", "< 10%", "未达标"):
        assert figure in text
    assert "2026年12月1日" in text  # signed on the local day it was printed


@pytest.mark.parametrize("month", ["2026-13", "26-11", "", "2026-1"])
def test_service_report_refuses_a_bad_month(
    client: TestClient, tokens: Tokens, example_site: Site, month: str
) -> None:
    for path in ("service", "service.pdf"):
        r = client.get(
            f"/api/v1/sites/{example_site.id}/reports/{path}",
            params={"month": month},
            headers=bearer(tokens.duty),
        )
        assert r.status_code == 422
        assert "month" in r.text


def test_a_month_without_orders_shows_nothing_as_met(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    r = client.get(
        f"/api/v1/sites/{example_site.id}/reports/service",
        params={"month": "2026-10"},
        headers=bearer(tokens.integration),
    )
    assert r.status_code == 200, r.text
    figures = {f["key"]: f for f in r.json()["site"]["figures"]}
    assert figures["complaints"]["value"] == 0 and figures["complaints"]["shown"] == "0 件"
    assert figures["complaint_rate"]["shown"] == "0.00" and figures["complaint_rate"]["met"]
    for key in ("satisfaction", "repeat_complaints", "response_8h", "emergency_1h"):
        assert figures[key]["value"] is None and figures[key]["met"] is None, key
        assert figures[key]["shown"] == "—", key
