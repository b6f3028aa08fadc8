"""巡更漏检 in the duty room's 今日盘点 and on the 日报, in real Chromium: each missed point of
the day once, and the day's totals, as the API answers them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx
import pytest

from propwatch.clock import ManualClock
from propwatch.site import load_site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import DESK, WAIT_MS, Live, live_server, open_page
from tests.conftest import EXAMPLE_SITE

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with live_server(
        f"sqlite:///{tmp_path}/pages.db", load_site(EXAMPLE_SITE), tmp_path / "var"
    ) as server:
        yield server


def _rows(page: Page, selector: str) -> list[list[str]]:
    rows = page.locator(f"{selector} .patrol-missed tbody tr")
    return [rows.nth(i).locator("td").all_text_contents() for i in range(rows.count())]


def test_missed_patrol_points_in_the_duty_room_and_the_daily_report(
    browser: Browser, live: Live
) -> None:
    clock = live.ctx.clock
    assert isinstance(clock, ManualClock)
    day = datetime.now(SHANGHAI).date() + timedelta(days=1)

    def at(hour: int, minute: int) -> None:
        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)
        clock.set(local.astimezone(UTC))

    def check_in(point: str) -> None:
        r = httpx.post(
            f"{live.base}/api/v1/sites/hexie/patrol/check-ins",
            json={"point": point},
            headers=bearer(live.tokens.technician),
        )
        assert r.status_code == 201, r.text

    at(8, 30)
    check_in("lobby-1")
    check_in("stair-2")
    at(10, 40)
    check_in("lift-1-1")
    at(12, 40)  # 10:00–12:00 had neither public point: two misses; the lift's round was walked
    answer = live.get(f"/api/v1/sites/hexie/patrol/rounds?date={day.isoformat()}")
    assert (answer["due"], answer["on_time"], answer["missed"], answer["left"]) == (14, 3, 2, 2)
    expected = [
        ["10:00–12:00", "公共区域巡查", "1栋大堂", "赵保安"],
        ["10:00–12:00", "公共区域巡查", "2栋消防楼梯", "赵保安"],
    ]
    totals = "应巡 14，已巡 3，补巡 0，漏巡 2，待巡 2"

    # the duty room's stocktake asks for today: the server's day, on its clock
    page, _ = open_page(browser, f"{live.base}/?site=hexie#token={live.tokens.duty}")
    page.wait_for_selector("#stocktake .patrol-day", timeout=WAIT_MS)
    assert page.get_attribute("#stocktake .patrol-day", "data-patrol-day") == day.isoformat()
    assert page.text_content("#stocktake .patrol-totals") == totals
    assert _rows(page, "#stocktake") == expected
    page.context.close()

    context = browser.new_context(viewport=DESK, locale="zh-CN", timezone_id="Asia/Shanghai")
    daily = context.new_page()
    daily.set_default_timeout(WAIT_MS)
    daily.goto(f"{live.base}/daily?site=hexie&date={day.isoformat()}#token={live.tokens.duty}")
    daily.wait_for_selector(f'body[data-patrol="hexie:{day.isoformat()}"]')
    assert daily.text_content("#sheet .patrol-totals") == totals
    assert _rows(daily, "#sheet") == expected
    context.close()
