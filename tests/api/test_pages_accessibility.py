"""An accessibility pass with axe-core over both pages, at desktop and phone sizes, with what
people open on them (the order drawer, an expanded task and its completion gate): no serious or
critical violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from propwatch.events import Severity
from propwatch.site import Site
from tests.api.accessibility import axe_violations
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import Live, create_order, live_server, open_page, raise_alarm

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path, example_site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", example_site, tmp_path / "var") as server:
        yield server


@pytest.mark.parametrize("phone", SIZES)
def test_the_duty_room_and_its_order_drawer_have_no_serious_accessibility_violation(
    browser: Browser, live: Live, phone: bool
) -> None:
    raise_alarm(live.ctx, live.site, "pump-1", Severity.CRITICAL, "出水压力过低")
    order = create_order(live.base, live.tokens.duty, "2栋楼道灯不亮", assignee="wang-gong")
    page, _ = open_page(browser, f"{live.base}/#token={live.tokens.duty}", phone=phone)
    page.locator(f'#order-list [data-order="{order["id"]}"]').wait_for()
    page.wait_for_selector("#lighting-body .lighting-head")
    page.wait_for_selector("#stocktake-body tbody tr")

    assert axe_violations(page) == []

    page.locator(f'#order-list [data-order="{order["id"]}"]').click()
    page.locator('#drawer [data-form="reassign"] select option').nth(1).wait_for(state="attached")
    assert axe_violations(page) == []
    page.close()


@pytest.mark.parametrize("phone", SIZES)
def test_my_tasks_with_a_task_and_its_gate_open_has_no_serious_accessibility_violation(
    browser: Browser, live: Live, phone: bool
) -> None:
    order = create_order(live.base, live.tokens.duty, "1号水泵异响", assignee="wang-gong")
    for to in ("accepted", "on_site"):
        r = httpx.post(
            f"{live.base}/api/v1/work-orders/{order['id']}/transitions",
            json={"to": to},
            headers=bearer(live.tokens.technician),
        )
        assert r.status_code == 200, r.text
    page, _ = open_page(browser, f"{live.base}/tasks#token={live.tokens.technician}", phone=phone)
    task = page.locator(f'[data-task="{order["id"]}"]')
    task.wait_for()
    assert axe_violations(page) == []

    task.locator(".task-head").click()
    task.locator(".steps").first.wait_for()
    assert axe_violations(page) == []
    task.get_by_role("button", name="完成", exact=True).click()
    task.locator(".gate").wait_for()
    assert axe_violations(page) == []
    page.close()
