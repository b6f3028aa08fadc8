"""The 日报 page (`/daily`) in real headless Chromium against a real uvicorn server whose clock
stands at 18:00 on the seeded day: the figures and lists it shows are the API's, in zh-CN with
local times; the date picker moves it to another day; printed, it shows the sheet and no
controls."""

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
from tests.api.browser import chromium
from tests.api.conftest import Tokens, bearer, make_ctx, make_tokens
from tests.api.daily_day import DAY, DAY_BEFORE, FIGURES, NOW, seed_day
from tests.api.live import serve
from tests.api.pages import DESK, PHONE, WAIT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def server(tmp_path: Path, example_site: Site) -> Iterator[tuple[str, Tokens, dict[str, int]]]:
    db = Database(f"sqlite:///{tmp_path}/daily.db")
    db.upgrade()
    try:
        ctx = make_ctx(db, example_site, ManualClock(NOW.astimezone(UTC)), tmp_path / "var")
        tokens = make_tokens(ctx, example_site)
        ids = seed_day(ctx, example_site)
        with serve(create_app(ctx)) as base:
            yield base, tokens, ids
    finally:
        db.dispose()


def _report(base: str, tokens: Tokens, day: str) -> dict[str, Any]:
    r = httpx.get(f"{base}/api/v1/reports/hexie/daily?date={day}", headers=bearer(tokens.duty))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _open(browser: Browser, url: str, *, phone: bool = False) -> Page:
    context = browser.new_context(
        viewport=PHONE if phone else DESK, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return page


def _assert_page_shows(page: Page, report: dict[str, Any]) -> None:
    page.wait_for_selector(f'body[data-ready="hexie:{report["date"]}"]')
    rows = [*((z["zone"] or "none", z) for z in report["zones"]), ("total", report["totals"])]
    for zone, figures in rows:
        row = page.locator(f'#figures tr[data-zone="{zone}"]')
        shown = {f: row.locator(f'[data-figure="{f}"]').inner_text() for f in FIGURES}
        assert shown == {f: str(figures[f]) for f in FIGURES}, zone
    for part in ("opened", "resolved", "overdue", "plan_done"):
        rows = page.locator(f"#{part.replace('_', '-')} tr[data-order]")
        ids = rows.evaluate_all("rs => rs.map(r => +r.dataset.order)")
        assert ids == [o["id"] for o in report[part]], part
        assert page.inner_text(f"#{part.replace('_', '-')} h3").endswith(f"{len(ids)} 项")
    alarms = page.locator("#alarms tr[data-alarm]").evaluate_all(
        "rs => rs.map(r => +r.dataset.alarm)"
    )
    assert alarms == [a["id"] for a in report["alarms"]]


def test_the_daily_page_shows_the_apis_figures_and_lists_in_zh_cn(
    browser: Browser, server: tuple[str, Tokens, dict[str, int]]
) -> None:
    base, tokens, ids = server
    page = _open(browser, f"{base}/daily?site=hexie&date={DAY}#token={tokens.duty}")
    report = _report(base, tokens, DAY)
    _assert_page_shows(page, report)

    text = page.inner_text("#sheet")
    assert "和谐花园 工程部日报" in text and "2026年11月23日（星期一）" in text
    assert "统计至 18:00" in text  # the day runs
    assert "未分片区" in page.inner_text('#figures tr[data-zone="none"]')
    late = page.inner_text(f'#overdue tr[data-order="{ids["C"]}"]')  # due 07:15, accepted 07:30
    assert "07:15" in late and "响应超时" in late and "李师傅" in late and "B区" in late
    alarm = page.inner_text(f'tr[data-alarm="{report["alarms"][0]["id"]}"]')
    assert "北门门禁" in alarm and "13:00" in alarm and "13:40 已恢复" in alarm and "重要" in alarm
    assert not re.search(r"\d{4}-\d{2}-\d{2}T|null|undefined|wang-gong|zone-a", text)
    assert "#token" not in page.url and f"date={DAY}" in page.url
    page.context.close()


def test_the_date_picker_shows_another_day_and_keeps_it_in_the_address(
    browser: Browser, server: tuple[str, Tokens, dict[str, int]]
) -> None:
    base, tokens, _ = server
    page = _open(browser, f"{base}/daily?site=hexie&date={DAY}#token={tokens.duty}")
    page.wait_for_selector(f'body[data-ready="hexie:{DAY}"]')
    page.fill("#day", DAY_BEFORE)
    page.dispatch_event("#day", "change")
    _assert_page_shows(page, _report(base, tokens, DAY_BEFORE))
    assert f"date={DAY_BEFORE}" in page.url
    assert "全天" in page.inner_text("#upto")  # a day that is over
    page.reload()  # the token stays, the day comes from the address
    page.wait_for_selector(f'body[data-ready="hexie:{DAY_BEFORE}"]')
    page.context.close()


def test_printed_the_daily_page_is_the_sheet_without_its_controls(
    browser: Browser, server: tuple[str, Tokens, dict[str, int]], tmp_path: Path
) -> None:
    base, tokens, _ = server
    page = _open(browser, f"{base}/daily?site=hexie&date={DAY}#token={tokens.duty}")
    page.wait_for_selector(f'body[data-ready="hexie:{DAY}"]')
    assert page.is_visible("#print") and page.is_visible("#day")
    page.emulate_media(media="print")
    for control in ("#print", "#day", "#site", "header.controls"):
        assert not page.is_visible(control), control
    assert page.is_visible("#figures") and page.is_visible(".signature")
    sheet = page.locator("#sheet").bounding_box()
    assert sheet is not None and sheet["x"] < 5  # the sheet takes the page, no screen margin
    pdf = page.pdf(format="A4")  # Chromium's own print rendering
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    (tmp_path / "daily.pdf").write_bytes(pdf)
    page.context.close()


def test_on_a_phone_the_daily_page_fits_the_screen_width(
    browser: Browser, server: tuple[str, Tokens, dict[str, int]]
) -> None:
    base, tokens, _ = server
    page = _open(browser, f"{base}/daily?site=hexie&date={DAY}#token={tokens.duty}", phone=True)
    page.wait_for_selector(f'body[data-ready="hexie:{DAY}"]')
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.is_visible("#print")
    page.context.close()


def test_the_duty_room_links_to_the_daily_report_with_its_token(
    browser: Browser, server: tuple[str, Tokens, dict[str, int]]
) -> None:
    base, tokens, _ = server
    page = _open(browser, f"{base}/#token={tokens.duty}")
    page.wait_for_selector("body[data-stream=live]")
    page.get_by_role("link", name="日报").click()
    page.wait_for_selector('body[data-ready^="hexie:"]')  # the browser's today at the site
    assert page.url.startswith(f"{base}/daily?site=hexie&date=")
    assert "和谐花园 工程部日报" in page.inner_text("#sheet")
    page.context.close()
