"""The site switcher of the duty room and the all-sites overview, in real headless Chromium
against a real uvicorn server, over three sites in two regions (tests/api/many_sites.py).

The server's clock is the wall clock, since the browser counts down with its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from api.app import create_app
from api.auth import ApiRole, issue_token
from api.deps import AppContext
from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.events import Severity
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.live import serve
from tests.api.many_sites import many_sites_ctx
from tests.api.pages import open_page
from tests.maintenance.helpers import order
from tests.support.three_sites import raise_on

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

_names = count(1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@dataclass
class Sites:
    base: str
    ctx: AppContext

    def token(self, scopes: list[str], role: ApiRole = ApiRole.DUTY) -> str:
        with self.ctx.db.session() as s:
            return issue_token(
                s,
                name=f"{role}-{next(_names)}",
                role=role,
                sites=scopes,
                person=None,
                now=self.ctx.clock.now(),
            )

    def alarm(self, site_id: str, asset: str, severity: Severity, message: str) -> int:
        with self.ctx.db.session() as s:
            site = self.ctx.sites[site_id]
            return raise_on(s, site, asset, severity, message, self.ctx.clock.now()).id


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Sites]:
    db = Database(f"sqlite:///{tmp_path}/pages.db")
    db.upgrade()
    try:
        ctx = many_sites_ctx(
            db, tmp_path / "sites", ManualClock(datetime.now(UTC)), tmp_path / "var"
        )
        with serve(create_app(ctx)) as base:
            yield Sites(base, ctx)
    finally:
        db.dispose()


def _texts(page: Page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def test_the_switcher_opens_another_site_remembered_in_the_address_with_its_own_stream(
    browser: Browser, sites: Sites
) -> None:
    company = sites.token(["*"])
    page, requested = open_page(browser, f"{sites.base}/#token={company}")
    assert "?site=binghu" in page.url  # the first site, written into the address
    assert page.inner_text("#site-name") == "丙湖湾"
    assert _texts(page, "#site-switch option") == ["丙湖湾", "甲秀苑", "乙清园"]
    assert page.locator("#overview-link").is_visible()

    page.select_option("#site-switch", label="甲秀苑")
    page.wait_for_url("**/?site=jiaxiu")
    page.wait_for_selector("body[data-stream=live]")
    assert page.inner_text("#site-name") == "甲秀苑"
    assert page.input_value("#site-switch") == "jiaxiu"
    page.wait_for_selector("#asset-list .chip")
    assets = page.inner_text("#asset-list")
    assert "甲秀苑1号生活水泵" in assets and "丙湖湾" not in assets

    # the stream follows the site on screen: another site's alarm is not shown, its own is
    other = sites.alarm("yiqing", "pump-1", Severity.CRITICAL, "乙清园出水压力过低")
    mine = sites.alarm("jiaxiu", "pump-1", Severity.MAJOR, "甲秀苑出水压力过低")
    page.locator(f'[data-alarm="{mine}"]').wait_for()
    assert page.locator(f'[data-alarm="{other}"]').count() == 0
    assert "甲秀苑1号生活水泵" in page.inner_text(f'[data-alarm="{mine}"]')

    page.reload()
    page.wait_for_selector("body[data-stream=live]")
    assert page.inner_text("#site-name") == "甲秀苑"  # the address keeps the choice
    link, _ = open_page(browser, f"{sites.base}/?site=yiqing#token={company}")
    assert link.inner_text("#site-name") == "乙清园"  # a shared link opens that site
    assert requested and all(u.startswith(sites.base) for u in requested)
    page.close()
    link.close()


def test_a_token_of_one_site_gets_no_switcher(browser: Browser, sites: Sites) -> None:
    page, _ = open_page(browser, f"{sites.base}/#token={sites.token(['jiaxiu'])}")
    assert page.inner_text("#site-name") == "甲秀苑"
    assert not page.locator("#site-switch-wrap").is_visible()
    assert not page.locator("#overview-link").is_visible()
    assert "?site=" not in page.url
    page.close()


def _card(page: Page, site_id: str) -> str:
    return page.inner_text(f'.site-card[data-site="{site_id}"]')


def test_the_overview_shows_each_site_by_region_worst_first_and_follows_the_stream(
    browser: Browser, sites: Sites
) -> None:
    sites.alarm("binghu", "pump-1", Severity.CRITICAL, "出水压力过低")
    with sites.ctx.db.session() as s:
        order(s, sites.ctx.sites["yiqing"], sites.ctx.clock.now() - timedelta(hours=30))
    company = sites.token(["*"])
    page, requested = open_page(browser, f"{sites.base}/overview#token={company}")
    page.wait_for_selector(".site-card")
    assert _texts(page, ".region-name") == ["华北区域1 个项目", "华东区域2 个项目"]
    assert [c.get_attribute("data-site") for c in page.locator(".site-card").all()] == [
        "binghu",
        "yiqing",
        "jiaxiu",
    ]
    binghu = _card(page, "binghu")
    assert "丙湖湾" in binghu and "紧急 1" in binghu and "1 条未确认" in binghu
    assert "1 张超时" in _card(page, "yiqing")
    assert "无活动告警" in _card(page, "jiaxiu") and "全部在线" in _card(page, "jiaxiu")
    assert page.get_attribute('.site-card[data-site="binghu"]', "class") == "site-card bad"
    # quiet, unless the wall clock is past tonight's check time with no patrol made (amber)
    view = httpx.get(f"{sites.base}/api/v1/overview", headers=bearer(company)).json()
    jiaxiu = next(r for r in view["sites"] if r["site_id"] == "jiaxiu")
    quiet = "site-card warn" if jiaxiu["lighting"]["state"] == "no_patrol" else "site-card ok"
    assert page.get_attribute('.site-card[data-site="jiaxiu"]', "class") == quiet
    body = page.inner_text("body")
    assert "null" not in body and "undefined" not in body and "binghu" not in body

    # an emergency at 甲秀苑 moves it up its region without a reload
    page.evaluate("window.loadedOnce = true")
    sites.alarm("jiaxiu", "lift-1-1", Severity.CRITICAL, "电梯困人")
    page.wait_for_selector('.site-card.bad[data-site="jiaxiu"]')
    east = page.locator('.region[data-region="east"] .site-card')
    assert [c.get_attribute("data-site") for c in east.all()] == ["jiaxiu", "yiqing"]
    assert "紧急 1" in _card(page, "jiaxiu")
    assert page.evaluate("window.loadedOnce") is True

    # the month's league is below, one row per site
    page.wait_for_selector("#league-body table")
    assert len(page.locator("#league-body > table tbody tr").all()) == 3

    page.click('.site-card[data-site="jiaxiu"]')
    page.wait_for_url("**/?site=jiaxiu")
    page.wait_for_selector("body[data-stream=live]")
    assert page.inner_text("#site-name") == "甲秀苑"
    assert requested and all(u.startswith(sites.base) for u in requested)
    page.close()


def test_a_region_token_sees_only_its_regions_sites(browser: Browser, sites: Sites) -> None:
    sites.alarm("binghu", "pump-1", Severity.CRITICAL, "出水压力过低")
    page, _ = open_page(browser, f"{sites.base}/overview#token={sites.token(['region:east'])}")
    page.wait_for_selector(".site-card")
    page.wait_for_selector("#league-body table")
    assert _texts(page, ".region-name") == ["华东区域2 个项目"]
    assert "丙湖湾" not in page.inner_text("body")
    page.close()


def test_the_overview_page_is_served_with_the_pages_policy(sites: Sites) -> None:
    r = httpx.get(f"{sites.base}/overview")
    assert r.status_code == 200 and "全部项目总览" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    script = httpx.get(f"{sites.base}/static/overview.js").text
    assert "http://" not in script and "https://" not in script
