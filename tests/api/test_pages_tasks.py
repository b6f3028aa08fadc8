"""The technician's page in real Chromium, on a phone and a desktop: the completion gate
(checklist, 不适用, photo, confirmation) and fields that survive live updates."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from api.deps import AppContext
from maintenance.work_orders.models import Source
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.site import Category, Priority, Site, load_site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import Live, create_order, live_server, open_page
from tests.conftest import EXAMPLE_SITE

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SIZES = [pytest.param(True, id="phone"), pytest.param(False, id="desktop")]
PHOTO_RULE = """
work_orders:
  photo_required: {categories: [fire], plans: [gate-monthly]}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """和谐花园 whose fire orders and gate-monthly occurrences need a photo before 完成."""
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    path.write_text(EXAMPLE_SITE.read_text(encoding="utf-8") + PHOTO_RULE, "utf-8")
    return load_site(path)


@pytest.fixture
def live(tmp_path: Path, site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", site, tmp_path / "var") as server:
        yield server


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    raw = b"".join(b"\x00" + b"\x20\x80\xe0" * 4 for _ in range(3))
    ihdr = struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))


def plan_order(ctx: AppContext, site: Site, plan: str = "lift-monthly") -> int:
    with ctx.db.session() as s:
        wo, _ = create_work_order(
            s,
            site.spec,
            NewWorkOrder(
                site_id=site.id,
                source=Source.PLAN,
                source_key=f"plan:{plan}:today",
                category=Category.ELEVATOR,
                priority=Priority.GENERAL,
                title="1栋1号电梯月度保养",
                reported_at=ctx.clock.now(),
                assignee="wang-gong",
                asset_code="lift-1-1",
                details={
                    "plan_id": plan,
                    "plan_name": "电梯月度保养",
                    "checklist": [
                        {"id": "brake", "text": "制动器间隙", "measurement": False},
                        {"id": "phone", "text": "轿厢五方通话", "measurement": False},
                    ],
                },
            ),
            ctx.clock.now(),
            actor="plan-scheduler",
        )
        return wo.id


def on_site(live: Live, order_id: int) -> None:
    for to in ("accepted", "on_site"):
        r = httpx.post(
            f"{live.base}/api/v1/work-orders/{order_id}/transitions",
            json={"to": to},
            headers=bearer(live.tokens.technician),
        )
        assert r.status_code == 200, r.text


def status(live: Live, order_id: int) -> str:
    return str(live.get(f"/api/v1/work-orders/{order_id}")["status"])


def tasks_page(browser: Browser, live: Live, phone: bool) -> Page:
    page, _ = open_page(browser, f"{live.base}/tasks#token={live.tokens.technician}", phone=phone)
    return page


def open_task(page: Page, order_id: int) -> Any:
    task = page.locator(f'[data-task="{order_id}"]')
    task.locator(".task-head").click()
    task.locator(".steps").first.wait_for()
    return task


@pytest.mark.parametrize("phone", SIZES)
def test_the_gate_refuses_an_incomplete_checklist_until_each_item_is_done_or_not_applicable(
    browser: Browser, live: Live, phone: bool
) -> None:
    order_id = plan_order(live.ctx, live.site)
    on_site(live, order_id)
    page = tasks_page(browser, live, phone)
    task = open_task(page, order_id)

    task.get_by_role("button", name="完成", exact=True).click()
    gate = task.locator(".gate")
    gate.wait_for()
    assert gate.get_attribute("data-ready") == "false"
    assert "检查表还有 2 项未检查：制动器间隙、轿厢五方通话" in gate.inner_text()
    assert gate.get_by_role("button", name="确认完成").is_disabled()
    assert status(live, order_id) == "on_site"

    task.locator('[data-item="brake"] button.pass').click()
    page.locator(f'[data-task="{order_id}"] [data-item="brake"][data-result="pass"]').wait_for()
    phone_item = page.locator(f'[data-task="{order_id}"] [data-item="phone"]')
    phone_item.get_by_role("button", name="不适用").click()  # no reason given
    page.locator(".toast", has_text="标记不适用需要写明原因").wait_for()
    phone_item.locator("input.reason").fill("本梯未装五方通话")
    phone_item.get_by_role("button", name="不适用").click()
    page.locator(f'[data-task="{order_id}"] [data-item="phone"][data-result="n/a"]').wait_for()

    task = page.locator(f'[data-task="{order_id}"]')
    task.get_by_role("button", name="完成", exact=True).click()
    gate = task.locator(".gate")
    assert gate.get_attribute("data-ready") == "true"
    assert "检查表 2 项已全部记录" in gate.inner_text()
    gate.get_by_role("button", name="确认完成").click()
    page.locator(f'[data-task="{order_id}"]').wait_for(state="detached")
    assert status(live, order_id) == "resolved"
    items = {i["id"]: i for i in live.get(f"/api/v1/work-orders/{order_id}/checklist")}
    assert items["phone"]["result"] == "n/a" and items["phone"]["note"] == "本梯未装五方通话"
    if phone:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.close()


def test_an_order_that_needs_a_photo_cannot_be_completed_without_one(
    browser: Browser, live: Live
) -> None:
    created = create_order(
        live.base, live.tokens.duty, "消防栓箱门损坏", category="fire", assignee="wang-gong"
    )
    on_site(live, created["id"])
    page = tasks_page(browser, live, True)
    task = open_task(page, created["id"])
    task.get_by_role("button", name="完成", exact=True).click()
    gate = task.locator(".gate")
    assert "此类工单完成前需上传现场照片" in gate.inner_text()
    assert gate.get_by_role("button", name="确认完成").is_disabled()
    gate.get_by_role("button", name="返回").click()

    task.locator('.photo input[type="file"]').set_input_files(
        {"name": "box.png", "mimeType": "image/png", "buffer": _png()}
    )
    task.get_by_role("button", name="上传照片").click()
    page.locator(f'[data-task="{created["id"]}"] img.thumb').wait_for()
    task = page.locator(f'[data-task="{created["id"]}"]')
    task.get_by_role("button", name="完成", exact=True).click()
    gate = task.locator(".gate")
    assert gate.get_attribute("data-ready") == "true" and "已上传照片 1 张" in gate.inner_text()
    gate.get_by_role("button", name="确认完成").click()
    page.locator(f'[data-task="{created["id"]}"]').wait_for(state="detached")
    assert status(live, created["id"]) == "resolved"
    page.close()


def test_a_half_typed_note_and_reason_survive_a_task_arriving(browser: Browser, live: Live) -> None:
    first = create_order(live.base, live.tokens.duty, "2栋电梯按钮失灵", assignee="wang-gong")
    page = tasks_page(browser, live, True)
    task = open_task(page, first["id"])
    task.locator(".note textarea").fill("按钮面板已拆开，")
    task.locator(".hold input.reason").fill("等待厂")
    task.locator(".hold input.reason").focus()

    second = create_order(live.base, live.tokens.duty, "1栋门禁失灵", assignee="wang-gong")
    page.locator(f'[data-task="{second["id"]}"]').wait_for()

    task = page.locator(f'[data-task="{first["id"]}"]')
    assert task.locator(".note textarea").input_value() == "按钮面板已拆开，"
    assert task.locator(".hold input.reason").input_value() == "等待厂"
    page.keyboard.type("家配件")  # the focus stayed in the field
    task.locator('.hold button[data-to="on_hold"]').click()
    page.wait_for_selector(f'[data-task="{first["id"]}"][data-status="on_hold"]')
    assert live.get(f"/api/v1/work-orders/{first['id']}")["hold_reason"] == "等待厂家配件"
    page.close()


def test_the_task_history_reads_in_words_with_names_and_local_times(
    browser: Browser, live: Live
) -> None:
    order_id = plan_order(live.ctx, live.site)
    page = tasks_page(browser, live, True)
    task = open_task(page, order_id)
    text = task.locator(".history").inner_text()
    assert "保养计划 登记了工单" in text and "plan-scheduler" not in text
    assert re.search(r"\d{1,2}月\d{1,2}日 \d{2}:\d{2}", text)
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", text)
    page.close()
