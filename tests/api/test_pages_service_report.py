"""The 服务报告 page (`/service-report`), the duty room's 二维码标签 menu and the public 公告栏
(`/notices`) in real headless Chromium against a real uvicorn server: the page shows the API's
figures and targets cell for cell, saves the PDF; the duty room's buttons save label sheets whose
QR codes decode to the scan page's links; the notice board opens on a phone without a token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pypdfium2 as pdfium
import pytest
import zxingcpp

from api.app import create_app
from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.accessibility import axe_violations
from tests.api.browser import chromium
from tests.api.conftest import Tokens, bearer, make_ctx, make_tokens
from tests.api.live import serve
from tests.api.pages import DESK, PHONE, WAIT_MS
from tests.api.service_month import NOW, seed_month, service_site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Tokens, Site]]:
    site = service_site(tmp_path)
    db = Database(f"sqlite:///{tmp_path}/service.db")
    db.upgrade()
    try:
        ctx = make_ctx(db, site, ManualClock(NOW.astimezone(UTC)), tmp_path / "var")
        tokens = make_tokens(ctx, site)
        seed_month(ctx, site)
        with serve(create_app(ctx)) as base:
            yield base, tokens, site
    finally:
        db.dispose()


def _open(browser: Browser, url: str, *, phone: bool = False) -> Page:
    context = browser.new_context(
        viewport=PHONE if phone else DESK,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        accept_downloads=True,
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return page


def test_the_service_report_page_shows_the_apis_figures_and_saves_the_pdf(
    browser: Browser, server: tuple[str, Tokens, Site]
) -> None:
    base, tokens, _ = server
    r = httpx.get(
        f"{base}/api/v1/sites/hexie/reports/service?month=2026-11", headers=bearer(tokens.duty)
    )
    report = r.json()
    page = _open(browser, f"{base}/service-report?site=hexie&month=2026-11#token={tokens.duty}")
    page.wait_for_selector('body[data-ready="hexie:2026-11"]')
    assert page.inner_text("#sheet h2") == "和谐花园 月度工作报告"
    assert page.inner_text("#period") == "统计期间：2026年11月1日至11月30日"
    for f in report["site"]["figures"]:
        row = page.locator(f'#site-figures tr[data-figure="{f["key"]}"]')
        assert row.locator(".value").inner_text() == f["shown"]
        assert row.locator(".target").inner_text() == (f["target_shown"] or "—")
        assert (
            row.locator(".met").inner_text() == {True: "达标", False: "未达标", None: "—"}[f["met"]]
        )
    for z in report["zones"]:
        cells = page.locator(f'#zone-figures tr[data-zone="{z["zone"]}"] td[data-figure]')
        assert cells.all_inner_texts() == [f["shown"] for f in z["figures"]]
    with page.expect_download() as saved:
        page.click("#pdf")
    pdf = Path(saved.value.path()).read_bytes()
    (sheet,) = pdfium.PdfDocument(pdf)
    assert "和谐花园 月度工作报告" in sheet.get_textpage().get_text_range()
    assert saved.value.suggested_filename == "和谐花园2026-11服务报告.pdf"
    assert axe_violations(page) == []
    page.emulate_media(media="print")
    assert not page.is_visible("#pick")


def test_the_duty_rooms_label_button_saves_a_sheet_of_scan_links(
    browser: Browser, server: tuple[str, Tokens, Site]
) -> None:
    base, tokens, site = server
    page = _open(browser, f"{base}/?site=hexie#token={tokens.duty}")
    page.click("#labels-menu summary")
    with page.expect_download() as saved:
        page.click('#labels-menu button[data-kind="asset"][data-purpose="report"]')
    assert saved.value.suggested_filename == "和谐花园设备报修码.pdf"
    pdf = Path(saved.value.path()).read_bytes()
    texts = [
        code.text
        for sheet in pdfium.PdfDocument(pdf)
        for code in zxingcpp.read_barcodes(sheet.render(scale=2).to_pil())
    ]
    assert sorted(texts) == sorted(
        f"{base}/report?site=hexie&asset={a.id}" for a in site.spec.assets
    )


def test_the_notice_board_opens_on_a_phone_without_a_token(
    browser: Browser, server: tuple[str, Tokens, Site]
) -> None:
    base, _, _ = server
    page = _open(browser, f"{base}/notices?site=hexie", phone=True)
    assert page.inner_text("h2") == "和谐花园 公告栏"
    # the example's elevator plan stops 1栋1号电梯 on Monday 14 December, within the two weeks
    board = page.inner_text(".board")
    assert "停梯保养通知" in board and "即将进行" in board
    assert "时间：12月14日（星期一）09:00 至 11:00" in board
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    assert axe_violations(page) == []
