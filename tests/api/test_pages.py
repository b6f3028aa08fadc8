"""The duty-room and technician pages in real headless Chromium against a real uvicorn server.

The server's clock is set to the wall clock, since the browser counts down with its own.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from api.deps import AppContext
from maintenance.alarms.models import Alarm
from maintenance.alarms.service import apply_alarm_event
from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import Site
from tests.api.browser import chromium
from tests.api.conftest import Tokens, bearer, make_ctx, make_tokens
from tests.api.live import serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

WAIT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live_ctx(tmp_path: Path, example_site: Site) -> Iterator[AppContext]:
    db = Database(f"sqlite:///{tmp_path}/pages.db")
    db.upgrade()
    yield make_ctx(db, example_site, ManualClock(datetime.now(UTC)), tmp_path / "var")
    db.dispose()


@pytest.fixture
def live(live_ctx: AppContext, example_site: Site) -> Iterator[tuple[str, Tokens]]:
    tokens = make_tokens(live_ctx, example_site)
    with serve(create_app(live_ctx)) as base:
        yield base, tokens


def _open(browser: Browser, url: str, *, phone: bool = False) -> tuple[Page, list[str]]:
    width, height = (390, 844) if phone else (1440, 900)
    page = browser.new_page(
        viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.wait_for_selector("body[data-stream=live]")
    return page, requested


def _order(base: str, token: str, title: str, **fields: Any) -> dict[str, Any]:
    body = {"site_id": "hexie", "title": title, "category": "general", **fields}
    r = httpx.post(f"{base}/api/v1/work-orders", json=body, headers=bearer(token))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _raise_alarm(ctx: AppContext, site: Site, asset: str, severity: Severity, message: str) -> int:
    now = ctx.clock.now()
    event = AlarmEvent(
        site_id=site.id,
        occurred_at=now,
        action=AlarmAction.RAISE,
        episode_id=f"{asset}:{message}",
        asset_id=asset,
        alarm_type="outlet_pressure_low",
        severity=severity,
        rule_id="pump-outlet-pressure-low",
        message=message,
    )
    with ctx.db.session() as s:
        apply_alarm_event(s, site.spec, event, now)
        return int(s.scalars(select(Alarm.id).where(Alarm.episode_id == event.episode_id)).one())


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
    browser: Browser, live: tuple[str, Tokens], live_ctx: AppContext, example_site: Site
) -> None:
    base, tokens = live
    alarm_id = _raise_alarm(live_ctx, example_site, "pump-1", Severity.CRITICAL, "出水压力过低")
    page, requested = _open(browser, f"{base}/#token={tokens.duty}")
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
    browser: Browser, live: tuple[str, Tokens], live_ctx: AppContext, example_site: Site
) -> None:
    base, tokens = live
    alarm_id = _raise_alarm(live_ctx, example_site, "pump-1", Severity.MAJOR, "轴承温度偏高")
    page, _ = _open(browser, f"{base}/#token={tokens.duty}")
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
    browser: Browser, live: tuple[str, Tokens]
) -> None:
    base, tokens = live
    page, _ = _open(browser, f"{base}/#token={tokens.duty}")
    page.wait_for_selector("#order-list .ok-note")  # loaded, and nothing open yet
    page.evaluate("window.loadedOnce = true")

    created = _order(base, tokens.duty, "3栋电梯困人", priority="emergency", assignee="wang-gong")

    row = page.locator(f'#order-list [data-order="{created["id"]}"]')
    row.wait_for()
    assert "3栋电梯困人" in row.inner_text()
    assert page.evaluate("window.loadedOnce") is True  # the same document: no reload
    page.wait_for_selector("#stocktake-body tr >> text=3栋电梯困人")  # the stocktake follows
    page.close()


def test_an_overdue_order_is_highlighted_and_its_countdown_runs(
    browser: Browser, live: tuple[str, Tokens], live_ctx: AppContext
) -> None:
    base, tokens = live
    now = live_ctx.clock.now()
    late = _order(
        base,
        tokens.duty,
        "2栋楼道灯不亮",
        assignee="wang-gong",
        reported_at=(now - timedelta(days=3)).isoformat(),
    )
    fresh = _order(base, tokens.duty, "北门闭门器异响", assignee="li-shifu")
    page, _ = _open(browser, f"{base}/#token={tokens.duty}")
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
    browser: Browser, live: tuple[str, Tokens], live_ctx: AppContext
) -> None:
    base, tokens = live
    now = live_ctx.clock.now()
    later = _order(base, tokens.duty, "1栋水箱清洗", assignee="wang-gong")
    sooner = _order(
        base,
        tokens.duty,
        "水泵房漏水",
        assignee="wang-gong",
        priority="emergency",
        category="water_supply",
        reported_at=(now - timedelta(minutes=20)).isoformat(),
    )
    other = _order(base, tokens.duty, "4栋门禁失灵", assignee="li-shifu")

    page, _ = _open(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
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


def test_holding_a_task_needs_a_reason_and_records_it(
    browser: Browser, live: tuple[str, Tokens]
) -> None:
    base, tokens = live
    order = _order(base, tokens.duty, "2栋电梯按钮失灵", assignee="wang-gong")
    page, _ = _open(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
    task = page.locator(f'[data-task="{order["id"]}"]')
    task.locator(".task-head").click()
    task.locator(".hold input.reason").fill("等待厂家配件")
    task.locator('.hold button[data-to="on_hold"]').click()
    page.wait_for_selector(f'[data-task="{order["id"]}"][data-status="on_hold"]')
    got = httpx.get(f"{base}/api/v1/work-orders/{order['id']}", headers=bearer(tokens.duty)).json()
    assert got["status"] == "on_hold" and got["hold_reason"] == "等待厂家配件"
    page.close()


def test_a_photo_uploaded_from_the_phone_is_stored_referenced_and_shown_back(
    browser: Browser, live: tuple[str, Tokens], live_ctx: AppContext
) -> None:
    base, tokens = live
    order = _order(base, tokens.duty, "1号水泵异响", assignee="wang-gong", asset="pump-1")
    photo = _png()
    page, _ = _open(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
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
        live_ctx.var_dir / "attachments" / "hexie" / str(order["id"]) / name
    ).read_bytes() == photo
    page.close()


def test_a_page_without_a_token_asks_for_one(browser: Browser, live: tuple[str, Tokens]) -> None:
    base, tokens = live
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/tasks")
    page.fill("#token-input", tokens.technician)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("body[data-stream=live]")
    assert page.locator("#who").inner_text() == "王工"
    page.close()


def test_a_task_assigned_while_the_technician_page_is_open_appears_without_reload(
    browser: Browser, live: tuple[str, Tokens]
) -> None:
    base, tokens = live
    page, _ = _open(browser, f"{base}/tasks#token={tokens.technician}", phone=True)
    page.wait_for_selector("#summary >> text=暂无待办任务")
    page.evaluate("window.loadedOnce = true")

    mine = _order(base, tokens.duty, "1栋电梯按钮失灵", assignee="wang-gong")
    theirs = _order(base, tokens.duty, "3栋门禁失灵", assignee="li-shifu")

    page.locator(f'[data-task="{mine["id"]}"]').wait_for()
    assert page.locator(f'[data-task="{theirs["id"]}"]').count() == 0
    assert page.evaluate("window.loadedOnce") is True
    page.close()
