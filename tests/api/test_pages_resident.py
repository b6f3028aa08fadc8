"""The resident's way through the phone pages in real Chromium at 390×844: scan URL → report
with a photo → tracking page → 催单 → the technician resolves (API) → 回访评价 with scores on the
tracking page → the monthly report shows the score."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from propwatch.site import Site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import PHONE, WAIT_MS, Live, live_server, open_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# a real JPEG's first bytes: the store judges the type by them
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 4000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path, example_site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", example_site, tmp_path / "var") as server:
        yield server


def test_a_resident_reports_follows_reminds_and_scores_the_repair_on_a_phone(
    browser: Browser, live: Live, tmp_path: Path
) -> None:
    photo = tmp_path / "leak.jpg"
    photo.write_bytes(JPEG)
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{live.base}/report?site={live.site.id}&asset=pump-1")
    page.get_by_text("水泵房 1号生活水泵").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.get_by_label("遇到了什么问题").select_option(label="停水、水压低、漏水")
    page.get_by_label("具体描述").fill("泵房地面有积水")
    page.get_by_label("照片").set_input_files(str(photo))
    page.get_by_label("手机号码").fill("139 1234 5678")
    page.get_by_label("房号").fill("3-201")
    page.get_by_role("button", name="提交报修").click()
    link = page.locator("#track-link")
    link.wait_for()
    assert "报修已提交" in page.locator("#done-text").inner_text()
    tracking_url = link.get_attribute("href")
    assert tracking_url is not None and tracking_url.startswith("/track/")

    [order] = live.get("/api/v1/work-orders?source=resident")["items"]
    assert order["source"] == "resident" and order["asset"] == "pump-1"
    files = live.get(f"/api/v1/work-orders/{order['id']}/attachments")["items"]
    assert len(files) == 1
    who = next(p.name for p in live.site.spec.people if p.id == order["assignee"])

    link.click()
    page.wait_for_url(f"**{tracking_url}")
    steps = page.locator("#steps")
    steps.get_by_text(f"已派单给 {who[0]}师傅").wait_for()
    assert "已受理" in steps.inner_text()
    assert "139****5678" in page.locator("#facts").inner_text()
    assert "13912345678" not in page.content()

    page.get_by_role("button", name="催单").click()
    page.get_by_text("已通知 2 位负责人").wait_for()
    assert page.get_by_role("button", name="催单").is_disabled()
    reminded = [
        n
        for n in httpx.get(
            f"{live.base}/api/v1/work-orders/{order['id']}/comments",
            headers=bearer(live.tokens.duty),
        ).json()["items"]
        if n.get("text") == "住户催单" or n.get("note") == "住户催单"
    ]
    assert reminded

    technician = {"wang-gong": live.tokens.technician, "li-shifu": live.tokens.other_technician}
    for to, token in (
        ("accepted", technician[order["assignee"]]),
        ("on_site", technician[order["assignee"]]),
        ("resolved", technician[order["assignee"]]),
        ("verified", live.tokens.duty),
        ("closed", live.tokens.duty),
    ):
        r = httpx.post(
            f"{live.base}/api/v1/work-orders/{order['id']}/transitions",
            json={"to": to},
            headers=bearer(token),
        )
        assert r.status_code == 200, r.text

    page.reload()
    page.locator("#status", has_text="已办结").wait_for()
    form = page.locator("#revisit")
    form.get_by_label("响应速度").select_option("5")
    form.get_by_label("维修质量").select_option("4")
    form.get_by_label("服务态度").select_option("5")
    form.get_by_label("意见建议").fill("师傅很负责")
    form.get_by_role("button", name="提交评价").click()
    page.get_by_text("感谢您的评价").wait_for()
    assert page.locator("#status").inner_text() == "已回访"
    context.close()

    detail = live.get(f"/api/v1/work-orders/{order['id']}")
    [revisit] = detail["revisits"]
    assert revisit["via"] == "resident_link"
    assert [s["score"] for s in revisit["scores"]] == [5, 4, 5]
    now = live.ctx.clock.now().astimezone(live.site.spec.site.tz)
    monthly = live.get(f"/api/v1/reports/{live.site.id}/monthly?year={now.year}&month={now.month}")
    figures = monthly["revisits"]["site"]
    assert figures["scored"] == 1 and figures["satisfied"] == 1
    assert (figures["mean_response"], figures["mean_quality"], figures["mean_attitude"]) == (
        5.0,
        4.0,
        5.0,
    )


def test_the_duty_room_drawer_lists_the_reporters_with_their_phones_masked(
    browser: Browser, live: Live
) -> None:
    for phone, room in (("13912345678", "3-201"), ("13687654321", "")):
        r = httpx.post(
            f"{live.base}/api/v1/public/sites/{live.site.id}/reports",
            data={
                "kind": "lighting",
                "description": "大堂灯不亮",
                "phone": phone,
                "room": room,
                "place": "lobby-1",
            },
        )
        assert r.status_code == 201, r.text
    [order] = live.get("/api/v1/work-orders?source=resident")["items"]
    page, _ = open_page(browser, f"{live.base}/#token={live.tokens.duty}", phone=False)
    page.locator(f'#order-list [data-order="{order["id"]}"]').click()
    box = page.locator(f'#drawer[data-order="{order["id"]}"] .drawer-reporters')
    box.wait_for()
    shown = box.inner_text()
    assert "报修人（2 人）" in shown
    assert "139****5678 3-201" in shown and "136****4321" in shown and "同一问题追加报修" in shown
    assert "13912345678" not in page.content() and "13687654321" not in page.content()
    page.close()
