"""The duty-room and technician pages in real headless Chromium against a real uvicorn server.

The server's clock is set to the wall clock, since the browser counts down with its own.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from propwatch.events import Severity
from propwatch.site import Site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import WAIT_MS, Live, create_order, live_server, open_page, raise_alarm

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path, example_site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", example_site, tmp_path / "var") as server:
        yield server


def _png(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG, made here rather than shipped."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\x20\x80\xe0" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_duty_room_shows_an_alarm_and_its_acknowledge_button_acknowledges_it_in_the_api(
    browser: Browser, live: Live
) -> None:
    base, tokens = live.base, live.tokens
    alarm_id = raise_alarm(live.ctx, live.site, "pump-1", Severity.CRITICAL, "出水压力过低")
    page, requested = open_page(browser, f"{base}/#token={tokens.duty}")
    row = page.locator(f'[data-alarm="{alarm_id}"]')
    row.wait_for()
    assert "出水压力过低" in row.inner_text()
    assert "紧急" in row.inner_text()
    assert "未确认" in row.inner_text()

    row.get_by_role("button", name="确认").click()
    page.wait_for_selector(f'[data-alarm="{alarm_id}"].acked')

    alarm = httpx.get(f"{base}/api/v1/alarms/{alarm_id}", headers=bearer(tokens.duty)).json()
    assert alarm["acknowledged_by"] == "duty"
    assert "已确认" in page.locator(f'[data-alarm="{alarm_id}"]').inner_text()
    assert requested and all(u.startswith(base) for u in requested), "a page asset left the server"
    assert "#token" not in page.url  # the token does not stay in the address bar
    page.wait_for_selector("#lighting-body .lighting-head")
    assert "null" not in page.inner_text("body") and "undefined" not in page.inner_text("body")
    page.close()


def test_shelving_an_alarm_from_the_board_needs_a_reason_and_sets_its_expiry(
    browser: Browser, live: Live
) -> None:
    base, tokens = live.base, live.tokens
    alarm_id = raise_alarm(live.ctx, live.site, "pump-1", Severity.MAJOR, "轴承温度偏高")
    page, _ = open_page(browser, f"{base}/#token={tokens.duty}")
    row = page.locator(f'[data-alarm="{alarm_id}"]')
    row.get_by_role("button", name="搁置").click()
    row.locator("input.reason").fill("更换轴承期间")
    row.locator('button[data-hours="4"]').click()
    page.wait_for_selector(f'[data-alarm="{alarm_id}"].shelved')

    alarm = httpx.get(f"{base}/api/v1/alarms/{alarm_id}", headers=bearer(tokens.duty)).json()
    assert alarm["shelved"] is True and alarm["shelve_reason"] == "更换轴承期间"
    hours = (
        datetime.fromisoformat(alarm["shelved_until"]) - datetime.now(UTC)
    ).total_seconds() / 3600
    assert 3.9 < hours <= 4.0
    page.close()


def test_a_work_order_created_after_the_page_loaded_appears_from_the_stream_without_reload(
    browser: Browser, live: Live
) -> None:
    base, tokens = live.base, live.tokens
    page, _ = open_page(browser, f"{base}/#token={tokens.duty}")
    page.wait_for_selector("#order-list .ok-note")  # loaded, and nothing open yet
    page.evaluate("window.loadedOnce = true")

    created = create_order(
        base, tokens.duty, "3栋电梯困人", priority="emergency", assignee="wang-gong"
    )

    row = page.locator(f'#order-list [data-order="{created["id"]}"]')
    row.wait_for()
    assert "3栋电梯困人" in row.inner_text()
    assert page.evaluate("window.loadedOnce") is True  # the same document: no reload
    page.wait_for_selector("#stocktake-body tr >> text=3栋电梯困人")  # the stocktake follows
    page.close()


def test_an_overdue_order_is_highlighted_and_its_countdown_runs(
    browser: Browser, live: Live
) -> None:
    base, tokens = live.base, live.tokens
    now = live.ctx.clock.now()
    late = create_order(
        base,
        tokens.duty,
        "2栋楼道灯不亮",
        assignee="wang-gong",
        reported_at=(now - timedelta(days=3)).isoformat(),
    )
    fresh = create_order(base, tokens.duty, "北门闭门器异响", assignee="li-shifu")
    page, _ = open_page(browser, f"{base}/#token={tokens.duty}")
    late_row = page.locator(f'#order-list [data-order="{late["id"]}"]')
    fresh_row = page.locator(f'#order-list [data-order="{fresh["id"]}"]')
    late_row.wait_for()

    assert "overdue" in (late_row.get_attribute("class") or "")
    assert "overdue" not in (fresh_row.get_attribute("class") or "")
    first = late_row.locator(".countdown").inner_text()
    assert "超时" in first
    assert "剩余" in fresh_row.locator(".countdown").inner_text()
    page.wait_for_function(
        "([id, before]) => document.querySelector(`[data-order='${id}'] .countdown`)"
        ".textContent !== before",
        arg=[late["id"], first],
    )
    ids = page.eval_on_selector_all(
        "#order-list [data-order]", "rs => rs.map(r => +r.dataset.order)"
    )
    assert ids.index(late["id"]) < ids.index(fresh["id"])  # most urgent first
    page.close()


def test_technician_page_lists_only_their_tasks_in_due_order_and_moves_one_through_its_steps(
    browser: Browser, live: Live
) -> None:
    base, tokens = live.base, live.tokens
    now = live.ctx.clock.now()
    later = create_order(base, tokens.duty, "1栋水箱清洗", assignee="wang-gong")
    sooner = create_order(
        base,
        tokens.duty,
        "水泵房漏水",
        assignee="wang-gong",
        priority="emergency",
        category="water_supply",
        reported_at=(now - timedelta(minutes=20)).isoformat(),
    )
    other = create_order(base, tokens.duty, "4栋门禁失灵", assignee="li-shifu")

    page, _ = open_page(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
    page.wait_for_selector("[data-task]")
    ids = page.eval_on_selector_all("[data-task]", "ts => ts.map(t => +t.dataset.task)")
    assert ids == [sooner["id"], later["id"]]
    assert other["id"] not in ids
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # fits the phone

    task = page.locator(f'[data-task="{sooner["id"]}"]')
    task.locator(".task-head").click()
    task.locator(".steps").wait_for()
    assert "null" not in task.inner_text() and "undefined" not in task.inner_text()
    for button, status in (("接单", "accepted"), ("到场", "on_site"), ("完成", "resolved")):
        page.locator(f'[data-task="{sooner["id"]}"] .steps').get_by_role(
            "button", name=button, exact=True
        ).click()
        if status == "resolved":  # 完成 asks once more (the completion gate)
            page.locator(f'[data-task="{sooner["id"]}"] .gate').get_by_role(
                "button", name="确认完成"
            ).click()
        page.wait_for_function(
            "([id, s]) => { const t = document.querySelector(`[data-task='${id}']`);"
            " return s === 'resolved' ? !t : t && t.dataset.status === s; }",
            arg=[sooner["id"], status],
        )
        got = httpx.get(
            f"{base}/api/v1/work-orders/{sooner['id']}", headers=bearer(tokens.technician)
        ).json()
        assert got["status"] == status
    page.close()


def test_holding_a_task_needs_a_reason_and_records_it(browser: Browser, live: Live) -> None:
    base, tokens = live.base, live.tokens
    order = create_order(base, tokens.duty, "2栋电梯按钮失灵", assignee="wang-gong")
    page, _ = open_page(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
    task = page.locator(f'[data-task="{order["id"]}"]')
    task.locator(".task-head").click()
    task.locator(".hold input.reason").fill("等待厂家配件")
    task.locator('.hold button[data-to="on_hold"]').click()
    page.wait_for_selector(f'[data-task="{order["id"]}"][data-status="on_hold"]')
    got = httpx.get(f"{base}/api/v1/work-orders/{order['id']}", headers=bearer(tokens.duty)).json()
    assert got["status"] == "on_hold" and got["hold_reason"] == "等待厂家配件"
    page.close()


def test_a_photo_uploaded_from_the_phone_is_stored_referenced_and_shown_back(
    browser: Browser, live: Live
) -> None:
    base, tokens = live.base, live.tokens
    order = create_order(base, tokens.duty, "1号水泵异响", assignee="wang-gong", asset="pump-1")
    photo = _png()
    page, _ = open_page(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
    task = page.locator(f'[data-task="{order["id"]}"]')
    task.locator(".task-head").click()
    task.locator('.photo input[type="file"]').set_input_files(
        {"name": "pump.png", "mimeType": "image/png", "buffer": photo}
    )
    task.locator(".photo input.reason").fill("叶轮磨损")
    task.get_by_role("button", name="上传照片").click()
    thumb = page.locator(f'[data-task="{order["id"]}"] img.thumb')
    thumb.wait_for()
    page.wait_for_function(
        "id => { const i = document.querySelector(`[data-task='${id}'] img.thumb`);"
        " return i && i.complete && i.naturalWidth === 4; }",
        arg=order["id"],
    )

    detail = httpx.get(
        f"{base}/api/v1/work-orders/{order['id']}", headers=bearer(tokens.duty)
    ).json()
    step = detail["transitions"][-1]
    assert step["note"] == "叶轮磨损" and step["actor"] == "wang-gong"
    (ref,) = step["attachments"]
    assert thumb.get_attribute("data-ref") == ref
    name = ref.rsplit("/", 1)[1]
    url = f"{base}/api/v1/work-orders/{order['id']}/attachments/{name}"
    assert httpx.get(url, headers=bearer(tokens.duty)).content == photo
    assert httpx.get(url, headers=bearer(tokens.other_technician)).status_code == 403
    assert httpx.get(url).status_code == 401
    assert (
        live.ctx.var_dir / "attachments" / "hexie" / str(order["id"]) / name
    ).read_bytes() == photo
    page.close()


def test_a_page_without_a_token_asks_for_one(browser: Browser, live: Live) -> None:
    base, tokens = live.base, live.tokens
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/tasks")
    page.fill("#token-input", tokens.technician)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("body[data-stream=live]")
    assert page.locator("#who").inner_text() == "王工"
    page.close()


def test_an_open_completion_gate_stays_open_through_a_live_update(
    browser: Browser, live: Live
) -> None:
    base, tokens = live.base, live.tokens
    order = create_order(base, tokens.duty, "2栋走廊灯不亮", assignee="wang-gong")
    page, _ = open_page(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
    task = page.locator(f'[data-task="{order["id"]}"]')
    task.locator(".task-head").click()
    for button in ("接单", "到场"):
        task.locator(".steps").first.get_by_role("button", name=button, exact=True).click()
        page.wait_for_function(
            "([id, s]) => document.querySelector(`[data-task='${id}']`)?.dataset.status === s",
            arg=[order["id"], "accepted" if button == "接单" else "on_site"],
        )
    task.locator(".steps").first.get_by_role("button", name="完成", exact=True).click()
    task.locator(".gate").wait_for()
    page.evaluate("document.querySelector('.gate').dataset.first = 'yes'")

    # another order assigned meanwhile: the stream re-renders the list and the open card
    other = create_order(base, tokens.duty, "3栋水箱液位低", assignee="wang-gong")
    page.locator(f'[data-task="{other["id"]}"]').wait_for()
    page.wait_for_function("() => !document.querySelector('.gate[data-first]')")  # re-rendered
    assert task.locator(".gate").count() == 1
    task.locator(".gate").get_by_role("button", name="确认完成").click()
    page.wait_for_function("id => !document.querySelector(`[data-task='${id}']`)", arg=order["id"])
    got = httpx.get(
        f"{base}/api/v1/work-orders/{order['id']}", headers=bearer(tokens.technician)
    ).json()
    assert got["status"] == "resolved"
    page.close()


def test_a_task_assigned_while_the_technician_page_is_open_appears_without_reload(
    browser: Browser, live: Live
) -> None:
    base, tokens = live.base, live.tokens
    page, _ = open_page(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
    page.wait_for_selector("#summary >> text=暂无待办任务")
    page.evaluate("window.loadedOnce = true")

    mine = create_order(base, tokens.duty, "1栋电梯按钮失灵", assignee="wang-gong")
    theirs = create_order(base, tokens.duty, "3栋门禁失灵", assignee="li-shifu")

    page.locator(f'[data-task="{mine["id"]}"]').wait_for()
    assert page.locator(f'[data-task="{theirs["id"]}"]').count() == 0
    assert page.evaluate("window.loadedOnce") is True
    page.close()
