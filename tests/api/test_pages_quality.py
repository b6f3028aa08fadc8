"""品质评比 on the 日报 page (`/daily`) in real headless Chromium against a real uvicorn server:
the month's zones and departments show the figures of `GET …/quality/league`, cell for cell,
in zh-CN, and the section fits a phone's width."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.app import create_app
from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.browser import chromium
from tests.api.conftest import Tokens, bearer, make_ctx, make_tokens
from tests.api.live import serve
from tests.api.pages import DESK, PHONE, WAIT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FIGURES = ("inspections", "score", "findings", "on_time_rate", "recheck_failure_rate")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def server(tmp_path: Path, example_site: Site) -> Iterator[tuple[str, Tokens]]:
    db = Database(f"sqlite:///{tmp_path}/quality.db")
    db.upgrade()
    try:
        ctx = make_ctx(db, example_site, ManualClock(NOW.astimezone(UTC)), tmp_path / "var")
        tokens = make_tokens(ctx, example_site)
        with serve(create_app(ctx)) as base:
            duty = bearer(tokens.duty)
            for zone, results in (
                ("zone-a", [{"item": "pa-floor"}, {"item": "sf-exit"}]),  # 35/35
                (
                    "zone-b",
                    [  # 33/35, one finding of 客服部
                        {"item": "sf-exit"},
                        {
                            "item": "pa-floor",
                            "deductions": [{"rule": "litter", "place": "garden-b"}],
                        },
                    ],
                ),
            ):
                body = {"sheet": "monthly", "zone": zone, "results": results}
                r = httpx.post(f"{base}/api/v1/sites/hexie/inspections", json=body, headers=duty)
                assert r.status_code == 201, r.text
            yield base, tokens
    finally:
        db.dispose()


def _open(browser: Browser, url: str, *, phone: bool = False) -> Page:
    context = browser.new_context(
        viewport=PHONE if phone else DESK, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.wait_for_selector('body[data-quality="hexie:2026-11"]')
    return page


def _shown(key: str, value: Any) -> str:
    """How the page writes a figure: rates as percentages, nothing as a dash."""
    if value is None:
        return "—"
    if key.endswith("_rate"):
        return f"{value * 100:.1f}%"
    if key == "score":
        return f"{value:.1f}"
    return str(value)


def test_the_daily_page_shows_the_months_quality_league(
    browser: Browser, server: tuple[str, Tokens]
) -> None:
    base, tokens = server
    r = httpx.get(
        f"{base}/api/v1/sites/hexie/quality/league?month=2026-11", headers=bearer(tokens.duty)
    )
    assert r.status_code == 200, r.text
    league = r.json()
    assert [z["zone"] for z in league["zones"]] == ["zone-a", "zone-b"]  # 100 before 94.3
    page = _open(browser, f"{base}/daily?site=hexie&date=2026-11-23#token={tokens.duty}")
    section = page.locator("#quality")
    assert section.locator("h3").inner_text() == "品质评比（2026年11月）"
    rows = [
        *((f'tr[data-zone="{z["zone"]}"]', z) for z in league["zones"]),
        ('tr[data-zone="total"]', league["site"]),
        *((f'tr[data-department="{d["department"]}"]', d) for d in league["departments"]),
    ]
    for selector, figures in rows:
        row = section.locator(selector)
        shown = {f: row.locator(f'[data-figure="{f}"]').inner_text() for f in FIGURES}
        assert shown == {f: _shown(f, figures[f]) for f in FIGURES}, selector
    order = section.locator("tr[data-zone]").evaluate_all("rs => rs.map(r => r.dataset.zone)")
    assert order == ["zone-a", "zone-b", "total"]
    text = section.inner_text()
    assert "A区" in text and "客服部" in text and "整改按时率" in text
    assert "zone-a" not in text and "null" not in text and "undefined" not in text
    b_zone = section.locator('tr[data-zone="zone-b"]')
    assert b_zone.locator('[data-figure="score"]').inner_text() == str(round(33 / 35 * 100, 1))
    assert b_zone.locator('[data-figure="findings"]').get_attribute("title") == (
        "一般 1 · 重要 0 · 紧急 0"
    )
    page.context.close()


def test_on_a_phone_the_quality_league_fits_the_screen_width(
    browser: Browser, server: tuple[str, Tokens]
) -> None:
    base, tokens = server
    page = _open(
        browser, f"{base}/daily?site=hexie&date=2026-11-23#token={tokens.duty}", phone=True
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.is_visible("#quality")
    page.context.close()
