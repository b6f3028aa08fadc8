"""我的整改 on the phone page in real Chromium at 390×844: a technician's finding opens a
rectification for the person who answers for the place; that person starts it and submits it
with a photo; the duty room's 复查不通过 (with a reason) sends it back to 整改中; submitted
again, its 复查通过 closes it. The API's record shows each state, the evidence and who did each
step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from propwatch.clock import ManualClock
from propwatch.site import load_site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import PHONE, WAIT_MS, Live, live_server
from tests.api.test_pages_tasks import _png
from tests.conftest import EXAMPLE_SITE

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FilePayload, Page

BASE = "/api/v1/sites/hexie"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T")


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


def _phone(browser: Browser, live: Live, token: str) -> Page:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{live.base}/tasks#token={token}")
    page.wait_for_selector("body[data-rectifications=ready]")
    page.wait_for_selector("body[data-stream=live]")
    return page


def _record(live: Live, token: str, **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{live.base}{BASE}/findings", json=body, headers=bearer(token))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _photo(name: str) -> list[FilePayload]:
    return [{"name": name, "mimeType": "image/png", "buffer": _png()}]


def _fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not ISO.search(page.text_content("#rectifications") or "")
    assert not re.search("null|undefined", page.text_content("main") or "")


def _submit(page: Page, card: str, note: str, photo: str) -> None:
    page.fill(f"{card} [data-keep=rect-note]", note)
    page.set_input_files(
        f"{card} [data-keep=rect-photo] input",
        files=_photo(photo),
    )
    page.click(f"{card} [data-act=submit]")
    page.wait_for_selector(f"{card}[data-status=rectified]:has-text('等待复查')")


def test_a_finding_is_rectified_rechecked_failed_then_passed_on_the_phone_pages(
    browser: Browser, live: Live
) -> None:
    tokens = live.tokens
    # 王工 finds a broken light in B区's garage: B区's engineer, 李师傅, answers for it
    rect = _record(
        live,
        tokens.technician,
        place="garage-b",
        type="facility",
        severity="important",
        note="车库灯具损坏",
    )
    assert rect["assignee_name"] == "李师傅"
    card = f"[data-rect='{rect['id']}']"

    li = _phone(browser, live, tokens.other_technician)
    li.wait_for_selector(f"{card}[data-status=issued]")
    text = li.text_content(card) or ""
    for shown in (
        "重要",
        "已下发",
        "B区地下车库",
        rect["requirement"],
        f"期限 {rect['deadline_local']}",
    ):
        assert shown in text
    assert "已超期" not in text
    _fits(li)

    li.click(f"{card} [data-act=start]")
    li.wait_for_selector(f"{card}[data-status=in_progress]")
    li.fill(f"{card} [data-keep=rect-note]", "已更换灯管")
    li.set_input_files(
        f"{card} [data-keep=rect-photo] input",
        files=_photo("fixed.png"),
    )
    # a second finding for 李师傅 re-renders the list while he types: nothing is lost
    later = _record(
        live,
        tokens.technician,
        place="garden-b",
        type="facility",
        severity="emergency",
    )
    li.wait_for_selector(f"[data-rect='{later['id']}']")
    assert li.input_value(f"{card} [data-keep=rect-note]") == "已更换灯管"
    assert li.text_content(f"{card} .file-name") == "fixed.png"
    li.click(f"{card} [data-act=submit]")
    li.wait_for_selector(f"{card}[data-status=rectified]:has-text('等待复查')")
    _fits(li)
    done = live.get(f"{BASE}/rectifications/{rect['id']}")
    assert done["status"] == "rectified" and len(done["steps"][-1]["photos"]) == 1

    duty = _phone(browser, live, tokens.duty)
    duty.wait_for_selector(f"{card}[data-status=rectified] [data-act=fail]")
    _fits(duty)
    duty.click(f"{card} [data-act=fail]")  # no reason: refused on the page
    duty.wait_for_selector("#toasts:has-text('复查不通过请写明仍存在的问题')")
    duty.fill(f"{card} [data-keep=rect-reason]", "东侧灯具仍不亮")
    duty.click(f"{card} [data-act=fail]")
    duty.wait_for_selector(card, state="detached")
    back = live.get(f"{BASE}/rectifications/{rect['id']}")
    assert (back["status"], back["status_zh"], back["recheck_failures"]) == (
        "in_progress",
        "整改中",
        1,
    )

    # 李师傅's page hears of it and offers 提交整改 again, the reason in its history
    li.wait_for_selector(f"{card}[data-status=in_progress]:has-text('东侧灯具仍不亮')")
    _submit(li, card, "东侧灯具已更换", "fixed-again.png")

    duty.wait_for_selector(f"{card}[data-status=rectified] [data-act=pass]")
    duty.click(f"{card} [data-act=pass]")
    duty.wait_for_selector(card, state="detached")
    li.wait_for_selector(card, state="detached")  # closed: no longer 李师傅's to do

    record = live.get(f"{BASE}/rectifications/{rect['id']}")
    assert record["status"] == "passed"
    assert [(s["step"], s["actor_name"], s["note"]) for s in record["steps"]] == [
        ("下发", "王工", "车库灯具损坏"),
        ("开始整改", "李师傅", ""),
        ("整改完成", "李师傅", "已更换灯管"),
        ("复查不通过", "值班员", "东侧灯具仍不亮"),
        ("整改完成", "李师傅", "东侧灯具已更换"),
        ("复查通过", "值班员", ""),
    ]
    evidence = [p for s in record["steps"] for p in s["photos"]]
    assert len(evidence) == 2
    for photo in evidence:
        stored = httpx.get(f"{live.base}{photo['url']}", headers=bearer(tokens.duty))
        assert stored.status_code == 200 and stored.content == _png()
    for page in (li, duty):
        page.context.close()


def test_open_rectifications_come_first_and_an_overdue_one_is_marked(
    browser: Browser, live: Live
) -> None:
    tokens = live.tokens
    done = _record(live, tokens.technician, place="garage-b", type="facility", severity="general")
    urgent = _record(
        live, tokens.technician, place="garden-b", type="facility", severity="emergency"
    )
    li = _phone(browser, live, tokens.other_technician)
    first = f"[data-rect='{done['id']}']"
    li.click(f"{first} [data-act=start]")
    li.wait_for_selector(f"{first}[data-status=in_progress]")
    _submit(li, first, "已修复", "fixed.png")

    # past the emergency's four hours: the page, reloaded, marks it and counts it
    clock = live.ctx.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(hours=5))
    li.reload()
    li.wait_for_selector("body[data-rectifications=ready]")
    cards = li.locator("#rect-list > li")
    assert [cards.nth(i).get_attribute("data-rect") for i in range(cards.count())] == [
        str(urgent["id"]),
        str(done["id"]),
    ]
    late = li.text_content(f"[data-rect='{urgent['id']}']") or ""
    assert "紧急" in late and "已超期" in late and f"期限 {urgent['deadline_local']}" in late
    assert "已超期" not in (li.text_content(first) or "")  # 已整改 stops the clock
    assert li.text_content("#rect-summary") == "1 项待处理，1 项已超期"
    _fits(li)
    li.context.close()
