"""The duty room as a workbench, in real Chromium at desktop and phone sizes: an order's drawer
(fields, history in words, actions with If-Match), the filtered list kept in the address, and
forms that outlive a live update."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from sqlalchemy import select

from api.models import AuditEntry
from maintenance.alarms.reconcile import apply_asset_state
from propwatch.events import AssetStateEvent, Severity
from propwatch.site import Site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import Live, create_order, live_server, open_page, raise_alarm

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SHANGHAI = ZoneInfo("Asia/Shanghai")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# the duty room's 未完成: every status before 已完成
OPEN_STATUSES = ["registered", "dispatched", "accepted", "on_site", "on_hold", "reopened"]
SIZES = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path, example_site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", example_site, tmp_path / "var") as server:
        yield server


def local(at: str) -> str:
    """A time as the pages show it: 12月1日 14:05 in Shanghai."""
    t = datetime.fromisoformat(at).astimezone(SHANGHAI)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def step(live: Live, order_id: int, to: str, token: str, note: str = "") -> dict[str, Any]:
    r = httpx.post(
        f"{live.base}/api/v1/work-orders/{order_id}/transitions",
        json={"to": to, "note": note},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def order(live: Live, order_id: int) -> dict[str, Any]:
    return dict(live.get(f"/api/v1/work-orders/{order_id}"))


def duty_room(browser: Browser, live: Live, phone: bool, query: str = "") -> Page:
    page, _ = open_page(browser, f"{live.base}/{query}#token={live.tokens.duty}", phone=phone)
    return page


def open_drawer(page: Page, order_id: int) -> Any:
    page.locator(f'#order-list [data-order="{order_id}"]').click()
    drawer = page.locator(f'#drawer[data-order="{order_id}"]')
    drawer.locator(".drawer-history li").first.wait_for()
    return drawer


def if_match_of(page: Page, path_part: str) -> list[str | None]:
    """Collects the If-Match header of every POST whose URL has `path_part`."""
    seen: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            seen.append(r.headers.get("if-match"))
            if r.method == "POST" and path_part in r.url
            else None
        ),
    )
    return seen


def fits(page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("phone", SIZES)
def test_a_row_opens_the_orders_detail_with_due_times_and_history_in_words(
    browser: Browser, live: Live, phone: bool
) -> None:
    tokens = live.tokens
    created = create_order(
        live.base, tokens.duty, "2栋楼道灯不亮", assignee="wang-gong", location="2栋3单元"
    )
    step(live, created["id"], "accepted", tokens.technician)
    httpx.post(
        f"{live.base}/api/v1/work-orders/{created['id']}/comments",
        json={"text": "已备好灯管"},
        headers=bearer(tokens.technician),
    )
    got = order(live, created["id"])
    page = duty_room(browser, live, phone)

    drawer = open_drawer(page, created["id"])

    text = drawer.inner_text()
    assert "2栋楼道灯不亮" in text and "2栋3单元" in text
    assert "王工" in text and "wang-gong" not in text
    assert local(got["resolve_due"]) in text and local(got["respond_due"]) in text
    assert f"{local(got['accepted_at'])} 王工 接单" in text
    assert "王工 记录：已备好灯管" in text
    assert "值班员 登记了工单" in text
    assert not ISO.search(text) and "null" not in text and "undefined" not in text
    assert "超时" in text or "剩余" in text  # the countdown runs in the drawer too
    if phone:
        fits(page)
        box = drawer.bounding_box()
        assert box is not None and box["width"] <= 390
    page.keyboard.press("Escape")
    drawer.wait_for(state="hidden")
    page.close()


@pytest.mark.parametrize("phone", SIZES)
def test_reassigning_suggests_the_least_loaded_technician_and_needs_a_reason(
    browser: Browser, live: Live, phone: bool
) -> None:
    tokens = live.tokens
    # no zone: either zone's technician may take it; wang-gong has two more open orders
    created = create_order(live.base, tokens.duty, "会所空调漏水", assignee="wang-gong")
    create_order(live.base, tokens.duty, "1栋水箱清洗", assignee="wang-gong")
    page = duty_room(browser, live, phone)
    headers = if_match_of(page, "/assign")
    drawer = open_drawer(page, created["id"])
    form = drawer.locator('[data-form="reassign"]')
    form.locator("select option", has_text="建议").wait_for(state="attached")

    assert form.locator("select").input_value() == "li-shifu"
    assert "建议改派给 李师傅" in form.inner_text()
    form.get_by_role("button", name="改派").click()  # no reason yet
    page.locator(".toast", has_text="请填写改派原因").wait_for()
    assert order(live, created["id"])["assignee"] == "wang-gong"

    form.locator("input.reason").fill("王工今天在B区")
    etag = order(live, created["id"])["etag"]
    form.get_by_role("button", name="改派").click()
    page.locator(".toast", has_text="已改派给 李师傅").wait_for()
    drawer.locator(".drawer-history li", has_text="改派给 李师傅").wait_for()

    got = order(live, created["id"])
    assert got["assignee"] == "li-shifu"
    assert headers == [etag]
    assert "从 王工 改派给 李师傅，原因：王工今天在B区" in drawer.inner_text()
    with live.ctx.db.session() as s:
        audited = s.scalars(
            select(AuditEntry).where(AuditEntry.subject == f"work_order:{created['id']}")
        ).all()
    assert any(a.detail.get("assignee") == "li-shifu" for a in audited)
    page.close()


@pytest.mark.parametrize("phone", SIZES)
def test_a_resolved_order_is_verified_then_closed_from_the_drawer(
    browser: Browser, live: Live, phone: bool
) -> None:
    tokens = live.tokens
    created = create_order(live.base, tokens.duty, "北门闭门器异响", assignee="wang-gong")
    for to in ("accepted", "on_site", "resolved"):
        step(live, created["id"], to, tokens.technician)
    page = duty_room(browser, live, phone, "?status=resolved")
    headers = if_match_of(page, "/transitions")
    drawer = open_drawer(page, created["id"])

    etag = order(live, created["id"])["etag"]
    drawer.get_by_role("button", name="验收", exact=True).click()
    page.wait_for_selector(f'#drawer[data-order="{created["id"]}"][data-status="verified"]')
    assert order(live, created["id"])["status"] == "verified"
    etag2 = order(live, created["id"])["etag"]
    drawer.get_by_role("button", name="关闭", exact=True).click()
    page.wait_for_selector(f'#drawer[data-order="{created["id"]}"][data-status="closed"]')

    got = order(live, created["id"])
    assert got["status"] == "closed"
    assert headers == [etag, etag2]
    text = drawer.inner_text()
    assert "值班员 验收通过" in text and "值班员 关闭工单" in text
    page.locator(".toast", has_text="已关闭").wait_for()
    page.close()


@pytest.mark.parametrize("phone", SIZES)
def test_cancelling_needs_a_reason_and_records_it(
    browser: Browser, live: Live, phone: bool
) -> None:
    tokens = live.tokens
    created = create_order(live.base, tokens.duty, "3栋门禁失灵", assignee="li-shifu")
    page = duty_room(browser, live, phone)
    drawer = open_drawer(page, created["id"])
    cancel = drawer.locator('[data-form="cancelled"]')

    cancel.get_by_role("button", name="取消工单").click()
    page.locator(".toast", has_text="请填写取消工单原因").wait_for()
    assert order(live, created["id"])["status"] == "dispatched"

    cancel.locator("input.reason").fill("业主已自行修好")
    cancel.get_by_role("button", name="取消工单").click()
    page.wait_for_selector(f'#drawer[data-order="{created["id"]}"][data-status="cancelled"]')
    got = order(live, created["id"])
    assert got["status"] == "cancelled"
    assert got["transitions"][-1]["note"] == "业主已自行修好"
    assert "取消了工单，原因：业主已自行修好" in drawer.inner_text()
    # off the open list, which follows from the stream
    page.locator(f'#order-list [data-order="{created["id"]}"]').wait_for(state="detached")
    page.close()


def test_a_closed_order_can_be_reopened_with_a_reason_and_a_note_added(
    browser: Browser, live: Live
) -> None:
    tokens = live.tokens
    created = create_order(live.base, tokens.duty, "水泵房漏水", assignee="wang-gong")
    for to in ("accepted", "on_site", "resolved"):
        step(live, created["id"], to, tokens.technician)
    page = duty_room(browser, live, False, "?status=resolved")
    drawer = open_drawer(page, created["id"])

    drawer.locator('[data-form="note"] textarea').fill("业主反映仍有渗水")
    drawer.get_by_role("button", name="添加记录").click()
    drawer.locator(".drawer-history li", has_text="业主反映仍有渗水").wait_for()
    reopen = drawer.locator('[data-form="reopened"]')
    reopen.locator("input.reason").fill("渗水复发")
    reopen.get_by_role("button", name="重开").click()
    page.wait_for_selector(f'#drawer[data-order="{created["id"]}"][data-status="reopened"]')

    got = order(live, created["id"])
    assert got["status"] == "reopened" and got["reopen_count"] == 1
    assert [t["note"] for t in got["transitions"][-2:]] == ["业主反映仍有渗水", "渗水复发"]
    page.close()


def test_an_alarms_order_opens_from_the_alarm_and_names_the_alarm(
    browser: Browser, live: Live
) -> None:
    alarm_id = raise_alarm(live.ctx, live.site, "pump-1", Severity.CRITICAL, "出水压力过低")
    alarm = live.get(f"/api/v1/alarms/{alarm_id}")
    page = duty_room(browser, live, False)
    page.locator(f'#alarm-list [data-alarm="{alarm_id}"]').get_by_role(
        "button", name="查看1号生活水泵的工单"
    ).click()
    drawer = page.locator(f'#drawer[data-order="{alarm["work_order_id"]}"]')
    drawer.locator(".link-alarm").wait_for()

    assert "出水压力过低" in drawer.locator(".link-alarm").inner_text()
    assert local(alarm["raised_at"]) in drawer.locator(".link-alarm").inner_text()
    assert "网关" in drawer.inner_text() or "系统" in drawer.inner_text()
    assert "pump-1" not in drawer.inner_text()
    page.close()


@pytest.mark.parametrize("phone", SIZES)
def test_filters_and_search_narrow_the_list_and_stay_in_the_address_across_a_reload(
    browser: Browser, live: Live, phone: bool
) -> None:
    tokens = live.tokens
    lift = create_order(
        live.base, tokens.duty, "3栋电梯困人", priority="emergency", category="elevator"
    )
    lamp = create_order(live.base, tokens.duty, "2栋楼道灯不亮", category="lighting")
    other_lift = create_order(live.base, tokens.duty, "1栋电梯异响", category="elevator")
    page = duty_room(browser, live, phone)
    page.locator(f'#order-list [data-order="{lamp["id"]}"]').wait_for()
    form = page.locator("#order-filters")

    form.locator('select[name="category"]').select_option("elevator")
    form.locator('input[name="q"]').fill("困人")
    form.get_by_role("button", name="筛选").click()
    page.locator(f'#order-list [data-order="{lamp["id"]}"]').wait_for(state="detached")

    def shown() -> list[int]:
        return list(
            page.eval_on_selector_all(
                "#order-list [data-order]", "rs => rs.map(r => +r.dataset.order)"
            )
        )

    assert shown() == [lift["id"]]
    assert "category=elevator" in page.url and "q=%E5%9B%B0%E4%BA%BA" in page.url
    page.reload()
    page.wait_for_selector("body[data-stream=live]")
    page.locator(f'#order-list [data-order="{lift["id"]}"]').wait_for()
    assert shown() == [lift["id"]]
    assert form.locator('select[name="category"]').input_value() == "elevator"
    assert form.locator('input[name="q"]').input_value() == "困人"

    form.get_by_role("button", name="清除条件").click()
    page.locator(f'#order-list [data-order="{other_lift["id"]}"]').wait_for()
    assert set(shown()) == {lift["id"], lamp["id"], other_lift["id"]}
    assert "category" not in page.url
    if phone:
        fits(page)
        row = page.locator(f'#order-list [data-order="{lift["id"]}"] .countdown')
        box = row.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390  # not cut off
        assert "剩余" in row.inner_text()
    page.close()


@pytest.mark.parametrize("phone", SIZES)
def test_a_building_filters_the_list_and_the_export_is_that_list_as_csv_and_excel(
    browser: Browser, live: Live, phone: bool
) -> None:
    tokens = live.tokens
    by_asset = create_order(live.base, tokens.duty, "水泵房漏水", asset="pump-1")
    by_place = create_order(live.base, tokens.duty, "阀门锈蚀", location="水泵房西侧")
    elsewhere = create_order(live.base, tokens.duty, "电梯按钮失灵", asset="lift-1-1")
    create_order(live.base, tokens.duty, "楼道灯不亮", location="3栋2单元")
    page = duty_room(browser, live, phone)
    page.locator(f'#order-list [data-order="{elsewhere["id"]}"]').wait_for()
    form = page.locator("#order-filters")
    form.locator('select[name="building"]').select_option("水泵房")
    form.get_by_role("button", name="筛选").click()
    page.locator(f'#order-list [data-order="{elsewhere["id"]}"]').wait_for(state="detached")
    shown = page.eval_on_selector_all(
        "#order-list [data-order]", "rs => rs.map(r => +r.dataset.order)"
    )
    assert sorted(shown) == sorted([by_asset["id"], by_place["id"]])
    assert "building=%E6%B0%B4%E6%B3%B5%E6%88%BF" in page.url

    # what the API lists for the same filters, newest first, as the export writes it
    api_list = httpx.get(
        f"{live.base}/api/v1/work-orders",
        params={"site_id": "hexie", "building": "水泵房", "status": OPEN_STATUSES},
        headers=bearer(tokens.duty),
    ).json()["items"]
    codes = [o["code"] for o in api_list]
    assert sorted(codes) == sorted([by_asset["code"], by_place["code"]])

    with page.expect_download() as got:
        form.get_by_role("button", name="导出 CSV").click()
    csv_file = got.value
    assert csv_file.suggested_filename.startswith("工单列表_")
    assert csv_file.suggested_filename.endswith(".csv")
    text = Path(csv_file.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["工单号", "项目", "标题"]
    assert [r[0] for r in rows[1:]] == codes
    assert [r[2] for r in rows[1:]] == [o["title"] for o in api_list]

    with page.expect_download() as got:
        form.get_by_role("button", name="导出 Excel").click()
    book = openpyxl.load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()), read_only=True)
    sheet = book.worksheets[0]
    cells = list(sheet.iter_rows(values_only=True))
    assert list(cells[0][:3]) == ["工单号", "项目", "标题"]
    assert [r[0] for r in cells[1:]] == codes
    book.close()
    if phone:
        fits(page)
    page.close()


def test_a_date_range_and_a_status_pick_older_and_finished_orders(
    browser: Browser, live: Live
) -> None:
    tokens = live.tokens
    now = live.ctx.clock.now()
    old = create_order(
        live.base, tokens.duty, "去年的报修", reported_at=(now - timedelta(days=40)).isoformat()
    )
    new = create_order(live.base, tokens.duty, "今天的报修")
    day = (now - timedelta(days=40)).astimezone(SHANGHAI).date().isoformat()
    page = duty_room(browser, live, False, f"?from={day}&to={day}&status=all")
    page.locator(f'#order-list [data-order="{old["id"]}"]').wait_for()
    assert page.locator(f'#order-list [data-order="{new["id"]}"]').count() == 0
    assert page.locator('#order-filters input[name="from"]').input_value() == day
    assert page.locator('#order-filters select[name="status"]').input_value() == "all"
    page.close()


def test_a_half_typed_shelve_reason_survives_an_incoming_alarm(
    browser: Browser, live: Live
) -> None:
    first = raise_alarm(live.ctx, live.site, "pump-1", Severity.MAJOR, "轴承温度偏高")
    page = duty_room(browser, live, False)
    row = page.locator(f'#alarm-list [data-alarm="{first}"]')
    row.get_by_role("button", name="搁置").click()
    row.locator("input.reason").fill("更换轴承期")

    second = raise_alarm(
        live.ctx, live.site, "lift-1-1", Severity.MINOR, "平层误差", alarm_type="leveling"
    )
    page.locator(f'#alarm-list [data-alarm="{second}"]').wait_for()

    assert row.locator("input.reason").input_value() == "更换轴承期"
    page.keyboard.type("间")  # the focus stayed in the field
    row.locator('button[data-hours="1"]').click()
    page.wait_for_selector(f'#alarm-list [data-alarm="{first}"].shelved')
    assert live.get(f"/api/v1/alarms/{first}")["shelve_reason"] == "更换轴承期间"
    page.close()


def test_an_asset_chip_with_an_open_order_is_not_normal_and_opens_the_order(
    browser: Browser, live: Live
) -> None:
    now = live.ctx.clock.now()
    with live.ctx.db.session() as s:  # the gateway's snapshot: online, no active condition
        event = AssetStateEvent(site_id=live.site.id, occurred_at=now, asset_id="pump-1")
        apply_asset_state(s, live.site.spec, event, now)
        event = AssetStateEvent(site_id=live.site.id, occurred_at=now, asset_id="door-north")
        apply_asset_state(s, live.site.spec, event, now)
    created = create_order(
        live.base, live.tokens.duty, "1号水泵异响", asset="pump-1", assignee="wang-gong"
    )
    page = duty_room(browser, live, False)
    chip = page.locator('#asset-list button[data-asset="pump-1"]')
    chip.wait_for()
    assert "维修中" in chip.inner_text() and "正常" not in chip.inner_text()
    assert "正常" in page.locator('#asset-list [data-asset="door-north"]').inner_text()
    normal = page.locator('#asset-list a[data-asset="door-north"]')
    assert normal.get_attribute("href") == "/device?site=hexie&asset=door-north"
    chip.click()
    drawer = page.locator(f'#drawer[data-order="{created["id"]}"]')
    drawer.locator("a.device-link").wait_for()
    assert drawer.locator("a.device-link").get_attribute("href") == (
        "/device?site=hexie&asset=pump-1"
    )
    assert drawer.locator("a.device-link").inner_text() == "1号生活水泵"
    page.close()


def test_a_technicians_link_does_not_change_who_the_duty_room_runs_as(
    browser: Browser, live: Live
) -> None:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    duty = context.new_page()
    duty.goto(f"{live.base}/#token={live.tokens.duty}")
    duty.wait_for_selector("body[data-stream=live]")
    assert duty.locator("#who").inner_text() == "值班员"
    tasks = context.new_page()
    tasks.goto(f"{live.base}/tasks#token={live.tokens.technician}")
    tasks.wait_for_selector("body[data-stream=live]")
    assert tasks.locator("#who").inner_text() == "王工"

    duty.reload()
    duty.wait_for_selector("body[data-stream=live]")
    assert duty.locator("#who").inner_text() == "值班员"
    tasks.reload()
    tasks.wait_for_selector("body[data-stream=live]")
    assert tasks.locator("#who").inner_text() == "王工"

    # a technician's token pasted into the duty room is refused, saying where it belongs
    other = context.new_page()
    other.goto(f"{live.base}/#token={live.tokens.other_technician}")
    other.locator("#login").wait_for()
    assert "我的任务" in other.inner_text("#login")
    context.close()


def test_the_countdown_follows_the_earliest_limit_not_the_stage_order(
    browser: Browser, live: Live
) -> None:
    page = duty_room(browser, live, False)
    got = page.evaluate(
        """async () => {
          const { nextDue } = await import('/static/common.js');
          const o = { status: 'dispatched', respond_due: '2026-12-01T08:00:00Z',
                      arrive_due: '2026-12-01T09:00:00Z', resolve_due: '2026-12-01T07:00:00Z' };
          const held = { ...o, status: 'on_hold' };
          const accepted = { ...o, status: 'accepted', resolve_due: '2026-12-01T10:00:00Z' };
          return [nextDue(o).key, nextDue(held), nextDue(accepted).key];
        }"""
    )
    assert got == ["resolve_due", None, "arrive_due"]
    page.close()


def test_an_action_on_an_order_changed_elsewhere_is_refused_and_the_drawer_reloads(
    browser: Browser, live: Live
) -> None:
    tokens = live.tokens
    created = create_order(live.base, tokens.duty, "4栋门禁失灵", assignee="li-shifu")
    for to in ("accepted", "on_site", "resolved"):
        step(live, created["id"], to, tokens.other_technician)
    page = duty_room(browser, live, False, "?status=resolved")
    drawer = open_drawer(page, created["id"])
    held: list[Any] = []  # the drawer's reloads wait here, so it keeps the ETag it read
    page.route(f"**/api/v1/work-orders/{created['id']}", lambda route: held.append(route))

    httpx.post(
        f"{live.base}/api/v1/work-orders/{created['id']}/comments",
        json={"text": "业主称门禁仍偶尔失灵"},
        headers=bearer(tokens.other_technician),
    )
    drawer.get_by_role("button", name="验收", exact=True).click()

    page.locator(".toast", has_text="已被他人修改").wait_for()
    assert order(live, created["id"])["status"] == "resolved"
    assert held  # the reload after the 412 waited too
    page.unroute(f"**/api/v1/work-orders/{created['id']}")  # lets the held ones through
    drawer.locator(".drawer-history li", has_text="业主称门禁仍偶尔失灵").wait_for()
    drawer.get_by_role("button", name="验收", exact=True).click()
    page.wait_for_selector(f'#drawer[data-order="{created["id"]}"][data-status="verified"]')
    assert order(live, created["id"])["status"] == "verified"
    page.close()
