"""巡更签到 page in real Chromium at phone size: the QR label's URL, the technician's token, a
check-in with a note, what is left of the round, and the API's record of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from maintenance.quality.models import PatrolCheckIn
from propwatch.clock import ManualClock
from propwatch.site import Site, load_site
from tests.api.browser import chromium
from tests.api.pages import PHONE, WAIT_MS, Live, live_server
from tests.conftest import EXAMPLE_SITE

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    site: Site = load_site(EXAMPLE_SITE)
    with live_server(f"sqlite:///{tmp_path}/pages.db", site, tmp_path / "var") as server:
        yield server


def test_a_check_in_from_the_qr_label_shows_what_is_left_of_the_round(
    browser: Browser, live: Live
) -> None:
    clock = live.ctx.clock
    assert isinstance(clock, ManualClock)
    # tomorrow 10:20 in Shanghai: the public-area round of 10:00–12:00 is on, 08:00–10:00 over
    day = datetime.now(SHANGHAI).date() + timedelta(days=1)
    clock.set(datetime(day.year, day.month, day.day, 10, 20, tzinfo=SHANGHAI).astimezone(UTC))

    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{live.base}/patrol?site=hexie&point=stair-2#token={live.tokens.technician}")
    page.wait_for_selector("body[data-ready]")
    assert page.text_content("#point-name") == "2栋消防楼梯"
    assert page.text_content("#now-round") == "公共区域巡查 10:00–12:00"
    assert page.locator("#left li").all_text_contents() == [
        "1栋大堂（公共区域巡查 待巡）",
        "2栋消防楼梯（公共区域巡查 待巡）",
    ]
    # the token stays in this browser, out of the address bar
    assert "token" not in page.url

    page.fill("#note", "楼梯间无杂物")
    page.click("#checkin")
    page.wait_for_selector("#done:not([hidden])")
    assert page.text_content("#done") == (
        f"王工 已于 {day.month}月{day.day}日 10:20 在 2栋消防楼梯 签到："
        "公共区域巡查 10:00–12:00 已巡"
    )
    assert page.locator("#left li").all_text_contents() == ["1栋大堂（公共区域巡查 待巡）"]
    rounds = page.locator("#rounds > li")
    assert rounds.count() == 6  # 08:00 … 18:00, the lift's rounds are another point's
    assert rounds.nth(0).locator(".pt").all_text_contents() == ["1栋大堂 漏巡", "2栋消防楼梯 漏巡"]
    assert rounds.nth(1).locator(".pt").all_text_contents() == ["1栋大堂 待巡", "2栋消防楼梯 已巡"]
    # nothing wider than the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    answer = live.get(f"/api/v1/sites/hexie/patrol/rounds?date={day.isoformat()}")
    ten = next(r for r in answer["rounds"] if r["window_local"] == "10:00–12:00")
    stair = next(p for p in ten["points"] if p["point"] == "stair-2")
    assert (stair["status"], stair["checked_by"]) == ("on_time", "王工")
    assert answer["missed"] == 2  # the 08:00 round's two points
    with live.ctx.db.session() as s:
        row = s.scalars(select(PatrolCheckIn)).one()
        assert (row.point_id, row.person, row.note) == ("stair-2", "wang-gong", "楼梯间无杂物")
    context.close()
