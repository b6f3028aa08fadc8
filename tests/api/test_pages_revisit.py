"""回访 from the duty room's drawer in real Chromium: a resident's order needs the three scores,
an unsatisfied one reopens it, and the drawer shows the revisit in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from propwatch.site import Site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import Live, create_order, live_server, open_page

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


def test_a_ticket_order_is_revisited_with_scores_and_an_unsatisfied_one_reopens_it(
    browser: Browser, live: Live
) -> None:
    tokens = live.tokens
    created = create_order(
        live.base, tokens.integration, "5栋厨房漏水", assignee="wang-gong", external_id="TK-77"
    )
    for to in ("accepted", "on_site", "resolved", "verified", "closed"):
        r = httpx.post(
            f"{live.base}/api/v1/work-orders/{created['id']}/transitions",
            json={"to": to},
            headers=bearer(tokens.duty),
        )
        assert r.status_code == 200, r.text
    page, _ = open_page(browser, f"{live.base}/?status=closed#token={tokens.duty}", phone=False)
    page.locator(f'#order-list [data-order="{created["id"]}"]').click()
    drawer = page.locator(f'#drawer[data-order="{created["id"]}"]')
    form = drawer.locator('[data-form="revisited"]')
    form.wait_for()

    form.get_by_role("button", name="回访").click()
    page.locator(".toast", has_text="请填写响应速度、维修质量、服务态度三项评分").wait_for()
    assert live.get(f"/api/v1/work-orders/{created['id']}")["status"] == "closed"

    form.get_by_label("响应速度评分").select_option("5")
    form.get_by_label("维修质量评分").select_option("2")
    form.get_by_label("服务态度评分").select_option("4")
    form.get_by_label("回访方式").select_option("phone")
    form.locator("input.reason").fill("厨房还在漏水")
    form.get_by_role("button", name="回访").click()
    page.wait_for_selector(f'#drawer[data-order="{created["id"]}"][data-status="reopened"]')

    got = live.get(f"/api/v1/work-orders/{created['id']}")
    assert (got["status"], got["reopen_count"]) == ("reopened", 1)
    [revisit] = got["revisits"]
    assert [s["score"] for s in revisit["scores"]] == [5, 2, 4]
    shown = drawer.locator(".drawer-revisits").inner_text()
    assert "电话回访：响应速度 5 分、维修质量 2 分、服务态度 4 分" in shown
    assert "住户意见：厨房还在漏水" in shown and "不满意，已重新打开" in shown
    assert revisit["at_local"] in shown and "值班员" in shown
    page.close()
