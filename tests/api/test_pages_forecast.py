"""The 工作量预测 page (`/forecast`) in real headless Chromium against a real uvicorn server: its
figures per zone, person and week are the API's, names not ids, local dates, and axe finds no
serious violation at desk and phone sizes; the days picker moves it and stays in the address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from api.app import create_app
from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.accessibility import axe_violations
from tests.api.browser import chromium
from tests.api.conftest import MONDAY_10H, Tokens, bearer, make_ctx, make_tokens
from tests.api.live import serve
from tests.api.pages import DESK, PHONE, WAIT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def server(tmp_path: Path, example_site: Site) -> Iterator[tuple[str, Tokens]]:
    db = Database(f"sqlite:///{tmp_path}/forecast.db")
    db.upgrade()
    try:
        ctx = make_ctx(db, example_site, ManualClock(MONDAY_10H.astimezone(UTC)), tmp_path / "v")
        tokens = make_tokens(ctx, example_site)
        with serve(create_app(ctx)) as base:
            yield base, tokens
    finally:
        db.dispose()


def _forecast(base: str, tokens: Tokens, days: int) -> dict[str, Any]:
    r = httpx.get(
        f"{base}/api/v1/sites/hexie/plan-forecast?days={days}", headers=bearer(tokens.duty)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _hours(h: float) -> str:
    """As the page writes hours: up to two decimals (the API's), thousands separated."""
    return f"{h:,.2f}".rstrip("0").rstrip(".")


def _assert_page_shows(page: Page, f: dict[str, Any], days: int) -> None:
    page.wait_for_selector(f'body[data-ready="hexie:{days}"]')
    assert page.inner_text('#total [data-figure="orders"]') == str(f["orders"])
    assert page.inner_text('#total [data-figure="hours"]') == _hours(f["hours"])
    for section, key, rows in (
        ("by-zone", "zone", f["by_zone"]),
        ("by-technician", "person", f["by_technician"]),
    ):
        for g in rows:
            row = page.locator(f'#{section} tr[data-{key}="{g["id"] or "none"}"]')
            assert row.locator("td").first.inner_text() == g["name"]
            assert row.locator('[data-figure="orders"]').inner_text() == str(g["orders"])
            assert row.locator('[data-figure="hours"]').inner_text() == _hours(g["hours"])
    weeks = page.locator("#by-week tr[data-week] [data-figure=orders]").all_inner_texts()
    assert weeks == [str(w["orders"]) for w in f["by_week"]]


def _open(browser: Browser, url: str, *, phone: bool = False) -> Page:
    context = browser.new_context(
        viewport=PHONE if phone else DESK, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return page


@pytest.mark.parametrize("phone", [False, True], ids=["desk", "phone"])
def test_the_forecast_page_shows_the_apis_figures_with_names_and_local_dates(
    browser: Browser, server: tuple[str, Tokens], phone: bool
) -> None:
    base, tokens = server
    page = _open(browser, f"{base}/forecast?site=hexie#token={tokens.duty}", phone=phone)
    f = _forecast(base, tokens, 90)
    assert f["orders"] > 0
    _assert_page_shows(page, f, 90)
    text = page.inner_text("#sheet")
    assert "和谐花园 计划工作量预测" in text and "11月23日至2月21日" in text
    assert "王工" in page.inner_text("#by-technician") and "A区" in page.inner_text("#by-zone")
    assert not re.search(r"\d{4}-\d{2}-\d{2}T|null|undefined|wang-gong|zone-a|lift-1-1", text)
    assert "#token" not in page.url
    assert axe_violations(page) == []
    page.context.close()


def test_the_days_picker_moves_the_forecast_and_keeps_it_in_the_address(
    browser: Browser, server: tuple[str, Tokens]
) -> None:
    base, tokens = server
    page = _open(browser, f"{base}/forecast?site=hexie#token={tokens.duty}")
    page.wait_for_selector('body[data-ready="hexie:90"]')
    page.select_option("#days", "30")
    _assert_page_shows(page, _forecast(base, tokens, 30), 30)
    assert "days=30" in page.url
    page.reload()
    page.wait_for_selector('body[data-ready="hexie:30"]')
    page.context.close()
