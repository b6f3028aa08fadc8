"""记录问题 and 品质检查 on the technician page in real Chromium at 390×844: the forms filled as a
person would, the score shown while filling against one computed here from the score sheet, and
the API's records: the finding with its video, the inspection's total, a rectification per
deduction with its photo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from propwatch.site import load_site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import PHONE, WAIT_MS, Live, live_server
from tests.api.test_attachment_videos import MP4
from tests.api.test_pages_tasks import _png
from tests.conftest import EXAMPLE_SITE

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BASE = "/api/v1/sites/hexie"


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


def _phone(browser: Browser, url: str) -> Page:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.wait_for_selector("body[data-quality-forms=ready]")
    return page


def test_a_technician_records_a_finding_with_a_short_video(browser: Browser, live: Live) -> None:
    page = _phone(browser, f"{live.base}/tasks#token={live.tokens.technician}")
    # a technician does not score inspections: only 记录问题 is offered
    assert page.locator("#new-inspection").count() == 0
    page.click("#new-finding")
    page.select_option("#finding-where", "place:stair-2")
    page.select_option("#finding-type", "fire-safety")
    page.select_option("#finding-severity", "important")
    page.set_input_files(
        "#finding-file", files=[{"name": "clip.mp4", "mimeType": "video/mp4", "buffer": MP4}]
    )
    page.fill("#finding-note", "消防楼梯堆放纸箱")
    page.click("#finding-form button[type=submit]")
    page.wait_for_selector("#quality-result:has-text('已记录')")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    items = live.get(f"{BASE}/rectifications")["items"]
    assert len(items) == 1
    rect = items[0]
    assert (rect["place"]["name"], rect["type"], rect["severity"], rect["note"]) == (
        "2栋消防楼梯",
        "fire-safety",
        "important",
        "消防楼梯堆放纸箱",
    )
    assert [p["content_type"] for p in rect["photos"]] == ["video/mp4"]
    stored = httpx.get(f"{live.base}{rect['photos'][0]['url']}", headers=bearer(live.tokens.duty))
    assert stored.status_code == 200 and stored.content == MP4
    assert page.text_content("#quality-result") == (
        f"已记录：2栋消防楼梯 · 重要，整改责任人 {rect['assignee_name']}，"
        f"期限 {rect['deadline_local']}"
    )
    page.context.close()


def test_the_duty_room_fills_an_inspection_and_each_deduction_opens_a_rectification(
    browser: Browser, live: Live
) -> None:
    sheet = live.site.spec.quality.score_sheet("monthly")
    assert sheet is not None
    points = {i.id: i.points for s in sheet.sections for i in s.items}
    rules = {(i.id, r.id): r.points for s in sheet.sections for i in s.items for r in i.deductions}

    page = _phone(browser, f"{live.base}/tasks#token={live.tokens.duty}")
    page.click("#new-inspection")
    page.select_option("#inspection-zone", "zone-a")
    page.select_option("#inspection-where", "place:lobby-1")
    full = sum(points.values())
    assert page.text_content("#inspection-score") == f"得分 {full:g} / {full:g}（百分制 100.0）"

    page.fill('[data-count="pa-floor/litter"]', "2")
    page.fill('[data-count="sf-exit/clutter"]', "1")
    page.check('[data-na="pa-green"]')
    page.set_input_files(
        '[data-photo="pa-floor/litter"]',
        files=[{"name": "floor.png", "mimeType": "image/png", "buffer": _png()}],
    )
    maximum = full - points["pa-green"]
    total = maximum - 2 * rules[("pa-floor", "litter")] - 1 * rules[("sf-exit", "clutter")]
    shown = f"得分 {total:g} / {maximum:g}（百分制 {total / maximum * 100:.1f}）"
    assert page.text_content("#inspection-score") == shown
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.click("#inspection-form button[type=submit]")
    page.wait_for_selector("#quality-result:has-text('检查已提交')")
    made: dict[str, Any] = live.get(f"{BASE}/inspections")["items"][0]
    assert (made["total"], made["maximum"], made["zone"]) == (total, maximum, "zone-a")
    assert page.text_content("#quality-result") == (
        f"检查已提交：{made['sheet_name']} 得分 {total:g} / {maximum:g}，扣分 2 项已下发整改"
    )
    by_rule = {(d["item_id"], d["rule_id"]): d for d in made["deductions"]}
    assert set(by_rule) == {("pa-floor", "litter"), ("sf-exit", "clutter")}
    assert by_rule[("pa-floor", "litter")]["count"] == 2
    litter = live.get(
        f"{BASE}/rectifications/{by_rule[('pa-floor', 'litter')]['rectification_id']}"
    )
    clutter = live.get(
        f"{BASE}/rectifications/{by_rule[('sf-exit', 'clutter')]['rectification_id']}"
    )
    assert (litter["status"], litter["place"]["name"], litter["type"]) == (
        "issued",
        "1栋大堂",
        "cleaning",
    )
    assert [p["content_type"] for p in litter["photos"]] == ["image/png"]
    assert (clutter["status"], clutter["severity"], clutter["photos"]) == (
        "issued",
        "important",
        [],
    )
    page.context.close()
