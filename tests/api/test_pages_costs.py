"""费用 on the pages in real Chromium: the duty room's drawer shows an order's parts, labour
(time on site marked as such) and extra costs with names, local dates and amounts as ¥1,234.50,
the total and the 有偿维修; parts, labour and extra costs added and removed from it land in the
API; a change another client makes shows in the open drawer while what is typed stays; on the
phone at 390×844 a technician records the parts used and a time entry. The API's refusals (more
than the stock) show in its own words. Expected amounts are worked out here from the rate,
minutes, quantities and prices."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from propwatch.clock import ManualClock
from propwatch.site import Site, load_site
from tests.api.browser import chromium
from tests.api.conftest import bearer
from tests.api.pages import PHONE, Live, create_order, live_server, open_page
from tests.conftest import EXAMPLE_SITE

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

SHANGHAI = ZoneInfo("Asia/Shanghai")
RATE = Decimal("72.50")  # 元/h, so 45 minutes is 54.375 and rounds to 54.38
COSTS = f"""
costs:
  currency: CNY
  rates: {{technician: {RATE}}}
"""
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
QUIET_MS = 1500  # past the pages' 250 ms debounce and the reload it starts
PARTS = [
    # code, name, spec, unit, price, received
    ("VALVE-DN25", "铜闸阀", "DN25", "个", "1280.00", "5"),
    ("LED-20W", "LED 灯泡", "E27 20W", "个", "12.80", "10"),
    ("CABLE-2.5", "电线", "BV 2.5mm²", "米", "3.45", "100"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(tmp_path: Path) -> Site:
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    path.write_text(EXAMPLE_SITE.read_text(encoding="utf-8") + COSTS, "utf-8")
    return load_site(path)


@pytest.fixture
def live(tmp_path: Path, site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", site, tmp_path / "var") as server:
        for code, name, spec, unit, price, received in PARTS:
            body = {"code": code, "name": name, "spec": spec, "unit": unit, "unit_price": price}
            server.post("/api/v1/sites/hexie/parts", body)
            server.post(f"/api/v1/sites/hexie/parts/{code}/receipts", {"quantity": received})
        yield server


def _yuan(amount: Decimal) -> str:
    """¥1,234.50, as the pages write money."""
    return f"¥{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def _labour(minutes: Decimal) -> Decimal:
    return (minutes * RATE / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _day(at: datetime) -> str:
    t = at.astimezone(SHANGHAI)
    return f"{t.month}月{t.day}日"


def _api(live: Live, method: str, path: str, token: str, body: Any = None) -> Any:
    r = httpx.request(method, f"{live.base}{path}", json=body, headers=bearer(token))
    assert r.status_code in (200, 201), r.text
    return r.json()


def _step(live: Live, order: int, to: str) -> None:
    _api(
        live, "POST", f"/api/v1/work-orders/{order}/transitions", live.tokens.technician, {"to": to}
    )


def _costs(live: Live, order: int) -> dict[str, Any]:
    return dict(live.get(f"/api/v1/work-orders/{order}/costs"))


def _lines(live: Live, order: int) -> list[tuple[str, str, str]]:
    lines = live.get(f"/api/v1/work-orders/{order}/parts")["lines"]
    return [(x["part"], x["quantity"], x["state"]) for x in lines]


def _available(live: Live, code: str) -> str:
    return str(live.get(f"/api/v1/sites/hexie/parts/{code}")["available"])


def _clean(page: Page, selector: str) -> None:
    """Names, local dates and words: no ISO date, no person id, no null."""
    text = page.text_content(selector) or ""
    assert not ISO.search(text), text
    assert not re.search(r"null|undefined|NaN|wang-gong|li-shifu", text), text


def _drawer(page: Page, order: int) -> Locator:
    page.locator(f'#order-list [data-order="{order}"]').click()
    drawer = page.locator(f'#drawer[data-order="{order}"]')
    drawer.locator(".drawer-costs").wait_for()
    return drawer


def _pick(root: Locator, query: str, code: str, quantity: str) -> None:
    root.locator("[data-keep=cost-part-q]").fill(query)
    root.locator(f'.part-option[data-part="{code}"]').click()
    root.locator("[data-keep=cost-part-qty]").fill(quantity)
    root.locator("[data-act=add-part]").click()


def test_the_drawer_shows_parts_labour_extras_the_total_and_the_paid_repair(
    browser: Browser, live: Live
) -> None:
    tokens, clock = live.tokens, live.ctx.clock
    assert isinstance(clock, ManualClock)
    order = create_order(live.base, tokens.duty, "2栋水管漏水", assignee="wang-gong")["id"]
    base = f"/api/v1/work-orders/{order}"
    for code, quantity in (("VALVE-DN25", "2"), ("LED-20W", "3")):
        _api(live, "POST", f"{base}/parts", tokens.technician, {"part": code, "quantity": quantity})
    _step(live, order, "accepted")
    _step(live, order, "on_site")
    arrived = clock.now()
    clock.advance(timedelta(minutes=45))
    _step(live, order, "resolved")  # the reserved parts are issued at their price
    yesterday = arrived.astimezone(SHANGHAI).date() - timedelta(days=1)
    helper = {
        "person": "li-shifu",
        "minutes": 30,
        "work_date": yesterday.isoformat(),
        "note": "协助更换",
    }
    _api(live, "POST", f"{base}/labour", tokens.duty, helper)
    crane = {"description": "高空作业车租赁", "amount": "200"}
    _api(live, "POST", f"{base}/extra-costs", tokens.duty, crane)
    paid = {"quoted": "80", "paid": True, "note": "更换入户阀门"}
    _api(live, "PUT", f"{base}/paid-repair", tokens.duty, paid)

    valves, bulbs = 2 * Decimal("1280.00"), 3 * Decimal("12.80")
    wang, li = _labour(Decimal(45)), _labour(Decimal(30))
    total = valves + bulbs + wang + li + Decimal(200)
    assert (wang, total) == (Decimal("54.38"), Decimal("2889.03"))
    assert _costs(live, order)["total"] == str(total)

    page, _ = open_page(browser, f"{live.base}/?status=resolved#token={tokens.duty}")
    drawer = _drawer(page, order)
    costs = drawer.locator(".drawer-costs")
    assert f"合计 {_yuan(total)}" in costs.locator(".cost-total").inner_text()
    assert "¥2,889.03" in costs.inner_text()

    rows = costs.locator(".cost-parts tbody tr")
    assert [rows.nth(i).locator("td").all_inner_texts()[:6] for i in range(rows.count())] == [
        ["铜闸阀", "DN25", "2", "个", "¥1,280.00", "¥2,560.00"],
        ["LED 灯泡", "E27 20W", "3", "个", "¥12.80", "¥38.40"],
    ]
    for i in range(2):
        assert "已领用" in rows.nth(i).inner_text() and "王工" in rows.nth(i).inner_text()
    assert costs.locator(".cost-parts .cost-remove").count() == 0  # issued: not removable

    labour = costs.locator(".cost-labour tbody tr")
    cells = [labour.nth(i).locator("td").all_inner_texts()[:5] for i in range(labour.count())]
    assert cells == [
        ["李师傅", f"{yesterday.month}月{yesterday.day}日", "30 分钟", "¥72.50/小时", _yuan(li)],
        ["王工", _day(arrived), "45 分钟", "¥72.50/小时", _yuan(wang)],
    ]
    on_site = costs.locator(".cost-labour tr[data-on-site]")
    assert "现场计时" in on_site.inner_text() and "到场" in on_site.inner_text()
    assert "现场计时" not in costs.locator(".cost-labour tr[data-labour]").inner_text()
    assert "协助更换" in costs.locator(".cost-labour tr[data-labour]").inner_text()
    assert "值班员登记" in costs.locator(".cost-labour tr[data-labour]").inner_text()

    extra = costs.locator(".cost-extras tbody tr").first
    assert extra.locator("td").all_inner_texts()[:2] == ["高空作业车租赁", "¥200.00"]
    repair = costs.locator(".paid-repair").inner_text()
    assert "向住户收取 ¥80.00" in repair and "已收款" in repair and "更换入户阀门" in repair
    _clean(page, "#drawer .drawer-costs .cost-total")
    _clean(page, "#drawer .drawer-costs table")
    page.close()


def test_parts_labour_and_costs_added_in_the_drawer_land_in_the_api_and_others_show_live(
    browser: Browser, live: Live
) -> None:
    tokens = live.tokens
    order = create_order(live.base, tokens.duty, "3栋楼道灯不亮", assignee="wang-gong")["id"]
    base = f"/api/v1/work-orders/{order}"
    page, _ = open_page(browser, f"{live.base}/#token={tokens.duty}")
    drawer = _drawer(page, order)
    costs = drawer.locator(".drawer-costs")

    # a part searched by name, shown with its stock, reserved from the drawer
    costs.locator("[data-keep=cost-part-q]").fill("灯泡")
    option = costs.locator('.part-option[data-part="LED-20W"]')
    assert "可用 10 个" in option.inner_text() and "¥12.80/个" in option.inner_text()
    option.click()
    costs.locator("[data-keep=cost-part-qty]").fill("3")
    costs.locator("[data-act=add-part]").click()
    costs.locator(".cost-parts tr[data-state=reserved]", has_text="LED 灯泡").wait_for()
    assert _lines(live, order) == [("LED-20W", "3", "reserved")]
    assert _available(live, "LED-20W") == "7"
    assert "另有预留备件 ¥38.40" in costs.inner_text()

    # more than the stock: the API's refusal in its words, and nothing reserved
    _pick(costs, "闸阀", "VALVE-DN25", "9")
    error = costs.locator(".part-error")
    error.filter(has_text="可用 5 个，不足 9 个").wait_for()
    assert "铜闸阀" in error.inner_text() and "(" not in error.inner_text()
    assert _lines(live, order) == [("LED-20W", "3", "reserved")]

    # 李师傅's forty minutes helping, on a day typed in
    today = datetime.now(SHANGHAI).date()
    day1, day2 = today - timedelta(days=2), today - timedelta(days=1)
    form = costs.locator("[data-form=labour]")
    form.locator("[data-keep=cost-labour-person]").select_option("li-shifu")
    form.locator("[data-keep=cost-labour-date]").fill(day1.isoformat())
    form.locator("[data-keep=cost-labour-minutes]").fill("40")
    form.locator("[data-keep=cost-labour-note]").fill("协助更换灯具")
    form.locator("[data-act=add-labour]").click()
    row = costs.locator(".cost-labour tr[data-labour]", has_text="李师傅")
    row.wait_for()
    assert row.locator("td").all_inner_texts()[:5] == [
        "李师傅",
        f"{day1.month}月{day1.day}日",
        "40 分钟",
        "¥72.50/小时",
        _yuan(_labour(Decimal(40))),
    ]
    entries = _costs(live, order)["entries"]
    assert [(e["person"], e["minutes"], e["work_date"], e["note"]) for e in entries] == [
        ("li-shifu", 40, day1.isoformat(), "协助更换灯具")
    ]

    costs.locator("[data-keep=cost-extra-desc]").fill("垃圾清运")
    costs.locator("[data-keep=cost-extra-amount]").fill("35.5")
    costs.locator("[data-act=add-extra]").click()
    costs.locator(".cost-extras tr", has_text="垃圾清运").wait_for()
    assert "¥35.50" in costs.locator(".cost-extras").inner_text()
    assert [(x["description"], x["amount"]) for x in _costs(live, order)["extras"]] == [
        ("垃圾清运", "35.50")
    ]

    # 王工 records his own time and a part from his phone meanwhile: the drawer follows, and
    # what the duty room is typing stays
    costs.locator("[data-keep=cost-extra-desc]").fill("还没写完的说明")
    page.wait_for_timeout(QUIET_MS)  # the drawer's own reloads done: the rest is the stream's
    mine = {"minutes": 15, "work_date": day2.isoformat(), "note": "取梯子"}
    _api(live, "POST", f"{base}/labour", tokens.technician, mine)
    _api(live, "POST", f"{base}/parts", tokens.technician, {"part": "CABLE-2.5", "quantity": "2.5"})
    costs.locator(".cost-labour tr[data-labour]", has_text="取梯子").wait_for()
    costs.locator(".cost-parts tr", has_text="电线").wait_for()
    theirs = costs.locator(".cost-labour tr[data-labour]", has_text="取梯子")
    assert theirs.locator("td").all_inner_texts()[:3] == [
        "王工",
        f"{day2.month}月{day2.day}日",
        "15 分钟",
    ]
    assert "王工登记" in theirs.inner_text()
    cable = costs.locator(".cost-parts tr", has_text="电线").locator("td").all_inner_texts()
    assert cable[:6] == ["电线", "BV 2.5mm²", "2.5", "米", "¥3.45", "¥8.63"]  # 8.625 rounds up
    assert costs.locator("[data-keep=cost-extra-desc]").input_value() == "还没写完的说明"
    expected = _labour(Decimal(40)) + _labour(Decimal(15)) + Decimal("35.50")
    assert f"合计 {_yuan(expected)}" in costs.locator(".cost-total").inner_text()

    # the bulbs taken off again (asked twice): the reservation goes back to the store
    remove = costs.locator(".cost-parts tr", has_text="LED 灯泡").locator(".cost-remove")
    remove.click()
    assert remove.inner_text() == "确认移除？"
    remove.click()
    costs.locator(".cost-parts tr", has_text="LED 灯泡").wait_for(state="detached")
    assert _lines(live, order) == [("CABLE-2.5", "2.5", "reserved")]
    assert _available(live, "LED-20W") == "10"

    # 李师傅's entry was a mistake: removed the same way
    wrong = costs.locator(".cost-labour tr[data-labour]", has_text="李师傅").locator(".cost-remove")
    wrong.click()
    wrong.click()
    costs.locator(".cost-labour tr[data-labour]", has_text="李师傅").wait_for(state="detached")
    assert [e["person"] for e in _costs(live, order)["entries"]] == ["wang-gong"]

    # a 有偿维修: the resident is charged 1,234.50 and has paid
    costs.locator(".paid-edit summary").click()
    costs.locator("[data-keep=cost-paid-quoted]").fill("1234.5")
    costs.locator("[data-keep=cost-paid-paid]").select_option("true")
    costs.locator("[data-act=paid-repair]").click()
    costs.locator(".paid-repair[data-paid=true]").wait_for()
    assert "向住户收取 ¥1,234.50" in costs.locator(".paid-repair").inner_text()
    paid = _costs(live, order)["paid_repair"]
    assert (paid["quoted"], paid["paid"]) == ("1234.50", True)
    _clean(page, "#drawer .drawer-costs table")
    page.close()


def _task(browser: Browser, live: Live, order: int) -> tuple[Page, Locator]:
    page, _ = open_page(browser, f"{live.base}/tasks#token={live.tokens.technician}", phone=True)
    task = page.locator(f'[data-task="{order}"]')
    task.locator(".task-head").click()
    task.locator(".task-parts").wait_for()
    return page, task


def test_a_technician_records_parts_and_time_on_the_phone(browser: Browser, live: Live) -> None:
    tokens = live.tokens
    order = create_order(live.base, tokens.duty, "1栋电梯厅照明故障", assignee="wang-gong")["id"]
    _step(live, order, "accepted")
    _step(live, order, "on_site")
    page, task = _task(browser, live, order)
    assert page.viewport_size == PHONE
    parts = task.locator(".task-parts")
    assert "尚未登记用料" in parts.inner_text()
    assert "现场计时" not in task.locator(".task-labour").inner_text()  # still on site

    parts.locator("[data-keep=cost-part-q]").fill("电线")
    option = parts.locator('.part-option[data-part="CABLE-2.5"]')
    assert "可用 100 米" in option.inner_text()
    option.click()
    parts.locator("[data-keep=cost-part-qty]").fill("2.5")
    # the results repainted by a later search answer keep the part chosen and its quantity
    parts.locator("[data-keep=cost-part-q]").fill("CABLE")
    parts.locator('[data-picker][data-answered="CABLE"]').wait_for()
    assert parts.locator("[data-keep=cost-part-qty]").input_value() == "2.5"
    add = parts.locator("[data-act=add-part]")
    box = add.bounding_box()
    assert box is not None and box["height"] >= 44  # a thumb's target
    add.click()
    line = parts.locator("li[data-state=reserved]", has_text="电线")
    line.wait_for()
    assert "2.5 米" in line.inner_text() and "已预留" in line.inner_text()
    assert _lines(live, order) == [("CABLE-2.5", "2.5", "reserved")]
    assert _available(live, "CABLE-2.5") == "97.5"

    # more valves than the store holds: the API's words, on the phone
    _pick(parts, "DN25", "VALVE-DN25", "6")
    parts.locator(".part-error", has_text="可用 5 个，不足 6 个").wait_for()
    assert _lines(live, order) == [("CABLE-2.5", "2.5", "reserved")]

    labour = task.locator(".task-labour")
    today = datetime.now(SHANGHAI).date()
    assert labour.locator("[data-keep=cost-labour-date]").input_value() == today.isoformat()
    labour.locator("[data-keep=cost-labour-minutes]").fill("20")
    labour.locator("[data-keep=cost-labour-note]").fill("取梯子")
    record = labour.locator("[data-act=add-labour]")
    box = record.bounding_box()
    assert box is not None and box["height"] >= 44
    record.click()
    entry = labour.locator("li[data-labour]", has_text="取梯子")
    entry.wait_for()
    assert "20 分钟" in entry.inner_text() and f"{today.month}月{today.day}日" in entry.inner_text()
    entries = _costs(live, order)["entries"]
    assert [(e["person"], e["minutes"], e["work_date"], e["note"]) for e in entries] == [
        ("wang-gong", 20, today.isoformat(), "取梯子")
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _clean(page, f'[data-task="{order}"] .task-parts .cost-list')
    _clean(page, f'[data-task="{order}"] .task-labour .cost-list')

    # the duty room adds a part to his order: his phone shows it without a reload (the page's
    # own reloads have settled first, so only the stream can bring it)
    page.wait_for_timeout(QUIET_MS)
    base = f"/api/v1/work-orders/{order}"
    _api(live, "POST", f"{base}/parts", tokens.duty, {"part": "LED-20W", "quantity": "2"})
    parts.locator("li[data-state=reserved]", has_text="LED 灯泡").wait_for()
    page.close()
