"""The duty room's alarm board, its 声光告警 and its 告警历史 in real headless Chromium.

The page's own timers run on Playwright's clock where a test must show that something stops
(the chime, the title flash): time is moved forward instead of waited for. The browser APIs the
page calls (Web Audio, Notification) are the real ones, wrapped by an init script that records
the calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from maintenance.alarms.reconcile import apply_asset_state
from propwatch.events import ActiveCondition, AssetStateEvent, Severity
from propwatch.site import Site
from tests.api.browser import chromium
from tests.api.pages import Live, clear_alarm, live_server, open_page, raise_alarm

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE_TITLE = "值班室 · propwatch"
ALERT = "【紧急告警】"

# Records every oscillator the page starts, with its frequency and whether audio was running.
OBSERVE_AUDIO = """
window.__tones = [];
const RealAudioContext = window.AudioContext;
window.AudioContext = class extends RealAudioContext {
  createOscillator() {
    const osc = super.createOscillator();
    const start = osc.start.bind(osc);
    osc.start = (when) => {
      window.__tones.push({ hz: osc.frequency.value, running: this.state === "running" });
      start(when);
    };
    return osc;
  }
};
"""

# Records every desktop notification and permission request the page makes.
OBSERVE_NOTIFICATIONS = """
window.__notes = [];
window.__asked = 0;
const RealNotification = window.Notification;
window.Notification = class extends RealNotification {
  constructor(title, options) {
    super(title, options);
    this.entry = { title, tag: options.tag, body: options.body, closed: false };
    window.__notes.push(this.entry);
  }
  close() {
    this.entry.closed = true;
    super.close();
  }
};
const realAsk = RealNotification.requestPermission.bind(RealNotification);
window.Notification.requestPermission = (...args) => {
  window.__asked += 1;
  return realAsk(...args);
};
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path, example_site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", example_site, tmp_path / "var") as server:
        yield server


@pytest.fixture
def live_db(database_url: str, tmp_path: Path, example_site: Site) -> Iterator[Live]:
    """The same server on SQLite and on PostgreSQL, for what reads the journal."""
    with live_server(database_url, example_site, tmp_path / "var") as server:
        yield server


def duty_room(browser: Browser, live: Live, **kwargs: Any) -> Page:
    page, _ = open_page(browser, f"{live.base}/#token={live.tokens.duty}", **kwargs)
    return page


def install_clock(page: Page) -> None:
    page.clock.install()


def tones(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("window.__tones"))


def local(at: str | datetime) -> str:
    """A time as the page shows it: 12月1日 14:05 in Shanghai."""
    t = datetime.fromisoformat(at) if isinstance(at, str) else at
    t = t.astimezone(SHANGHAI)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def local_input(at: datetime) -> str:
    """A time as typed into a datetime-local field by someone in Shanghai."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def row(page: Page, alarm_id: int) -> Any:
    return page.locator(f'#alarm-list [data-alarm="{alarm_id}"]')


# --- the board ------------------------------------------------------------------------------


def test_the_board_shows_every_attention_state_in_words_with_names_and_local_times(
    browser: Browser, live: Live
) -> None:
    ctx, site = live.ctx, live.site
    unack = raise_alarm(ctx, site, "pump-1", Severity.CRITICAL, "出水压力过低，可能停水")
    acked = raise_alarm(
        ctx, site, "pump-1", Severity.MAJOR, "水泵轴承温度过高", alarm_type="bearing_overheat"
    )
    live.post(f"/api/v1/alarms/{acked}/acknowledge")
    returned = raise_alarm(
        ctx, site, "pump-1", Severity.MAJOR, "水泵过载保护动作", alarm_type="pump_overload"
    )
    clear_alarm(ctx, site, returned)
    shelved = raise_alarm(
        ctx, site, "pump-1", Severity.WARNING, "水泵振动呈上升趋势", alarm_type="vibration"
    )
    live.post(
        f"/api/v1/alarms/{shelved}/shelve",
        {"until": (datetime.now(SHANGHAI) + timedelta(hours=4)).isoformat(), "reason": "待保养"},
    )
    live.post("/api/v1/assets/hexie/lighting-b/out-of-service", {"reason": "配电箱检修"})
    suppressed = raise_alarm(
        ctx, site, "lighting-b", Severity.MINOR, "照明配电箱供电电压偏低", alarm_type="undervolt"
    )
    removed = raise_alarm(
        ctx, site, "lift-1-1", Severity.MINOR, "电梯平层误差超限", alarm_type="elevator_leveling"
    )
    live.post(f"/api/v1/alarms/{removed}/out-of-service", {"reason": "平层传感器送修"})
    stale = raise_alarm(
        ctx, site, "door-north", Severity.MAJOR, "门被强行打开", alarm_type="door_forced_open"
    )
    _device_goes_offline(live, "door-north", stale)
    late = raise_alarm(
        ctx,
        site,
        "pump-1",
        Severity.CRITICAL,
        "水泵缺水干转保护动作",
        alarm_type="pump_dry_run",
        ago=timedelta(minutes=30),
    )
    normal = raise_alarm(
        ctx, site, "pump-1", Severity.MINOR, "水泵缺相保护动作", alarm_type="pump_phase_loss"
    )
    live.post(f"/api/v1/alarms/{normal}/acknowledge")
    clear_alarm(ctx, site, normal)

    page = duty_room(browser, live)
    row(page, late).wait_for()
    expected = {
        unack: "未确认",
        acked: "已确认",
        returned: "已恢复未确认",
        shelved: "已搁置",
        suppressed: "设计抑制",
        removed: "已停用",
        stale: "未确认",
        late: "未确认",
    }
    for alarm_id, words in expected.items():
        assert row(page, alarm_id).locator(".state-chip").inner_text() == words, alarm_id
    assert row(page, normal).count() == 0  # acknowledged and returned: off the board

    assert "状态未知（设备离线）" in row(page, stale).inner_text()
    assert "迟到" in row(page, late).inner_text()
    assert "迟到" not in row(page, unack).inner_text()
    assert "设备已停用：配电箱检修" in row(page, suppressed).inner_text()
    assert "平层传感器送修" in row(page, removed).inner_text()
    assert "待保养" in row(page, shelved).inner_text()
    for alarm_id in (suppressed, removed, shelved):
        assert row(page, alarm_id).get_by_role("button", name="确认").count() == 0

    back = row(page, returned)
    assert "已恢复" in back.locator(".tag.returned").inner_text()
    decoration = back.locator(".msg").evaluate("e => getComputedStyle(e).textDecorationLine")
    assert decoration == "line-through"
    assert back.get_by_role("button", name="确认").count() == 1

    alarm = live.get(f"/api/v1/alarms/{unack}")
    first = row(page, unack)
    assert "1号生活水泵" in first.inner_text() and "pump-1" not in first.inner_text()
    assert first.locator(".when").inner_text() == local(alarm["raised_at"])
    assert "1栋1号电梯" in row(page, removed).inner_text()

    states = page.eval_on_selector_all(
        "#alarm-list [data-alarm]", "rs => rs.map(r => r.dataset.state)"
    )
    rank = [
        "unacknowledged",
        "returned_unacknowledged",
        "acknowledged",
        "shelved",
        "suppressed",
        "out_of_service",
    ]
    assert states == sorted(states, key=rank.index)  # what waits for 确认 comes first
    assert "null" not in page.inner_text("#alarms") and "undefined" not in page.inner_text(
        "#alarms"
    )
    page.close()


def _device_goes_offline(live: Live, asset: str, alarm_id: int) -> None:
    """The gateway's retained snapshot: the device is offline and still holds this condition."""
    alarm = live.get(f"/api/v1/alarms/{alarm_id}")
    now = live.ctx.clock.now()
    event = AssetStateEvent(
        site_id=live.site.id,
        occurred_at=now,
        asset_id=asset,
        online=False,
        conditions=[
            ActiveCondition(
                episode_id=alarm["episode_id"],
                alarm_type=alarm["alarm_type"],
                severity=Severity(alarm["severity"]),
                rule_id=f"{asset}-{alarm['alarm_type']}",
                since=datetime.fromisoformat(alarm["raised_at"]),
                message=alarm["message"],
            )
        ],
    )
    with live.ctx.db.session() as s:
        apply_asset_state(s, live.site.spec, event, now)


def test_acknowledging_a_returned_alarm_takes_it_off_the_board(
    browser: Browser, live: Live
) -> None:
    alarm_id = raise_alarm(live.ctx, live.site, "pump-1", Severity.MAJOR, "水泵过载保护动作")
    clear_alarm(live.ctx, live.site, alarm_id)
    page = duty_room(browser, live)
    row(page, alarm_id).get_by_role("button", name="确认").click()
    page.wait_for_selector("#alarm-list .ok-note")  # the board is empty again

    alarm = live.get(f"/api/v1/alarms/{alarm_id}")
    assert alarm["isa_state"] == "normal" and alarm["acknowledged_by"] == "duty"
    page.close()


def test_an_alarm_raised_then_cleared_after_the_page_loaded_follows_from_the_stream(
    browser: Browser, live: Live
) -> None:
    page = duty_room(browser, live)
    page.wait_for_selector("#alarm-list .ok-note")
    page.evaluate("window.loadedOnce = true")

    alarm_id = raise_alarm(live.ctx, live.site, "lift-1-1", Severity.MAJOR, "电梯平层误差超限")
    page.wait_for_selector(f'#alarm-list [data-alarm="{alarm_id}"][data-state=unacknowledged]')
    clear_alarm(live.ctx, live.site, alarm_id)
    page.wait_for_selector(
        f'#alarm-list [data-alarm="{alarm_id}"][data-state=returned_unacknowledged]'
    )

    assert "已恢复未确认" in row(page, alarm_id).inner_text()
    assert page.evaluate("window.loadedOnce") is True  # the same document: no reload
    page.close()


def test_the_alarm_board_works_on_a_390px_phone(browser: Browser, live: Live) -> None:
    alarm_id = raise_alarm(
        live.ctx,
        live.site,
        "lift-1-1",
        Severity.CRITICAL,
        "电梯门锁回路故障，电梯停梯，轿厢内可能有人被困，请立即通知维保单位到场处理",
    )
    page = duty_room(browser, live, phone=True)
    button = row(page, alarm_id).get_by_role("button", name="确认")
    button.wait_for()

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    button.click()
    page.wait_for_selector(f'#alarm-list [data-alarm="{alarm_id}"][data-state=acknowledged]')
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.close()


# --- 声光告警 -------------------------------------------------------------------------------


def test_a_new_critical_alarm_chimes_and_flashes_the_title_until_it_is_acknowledged(
    browser: Browser, live: Live
) -> None:
    page = duty_room(browser, live, before=OBSERVE_AUDIO, setup=install_clock)
    page.wait_for_selector("#alarm-list .ok-note")
    assert tones(page) == [] and page.title() == BASE_TITLE

    alarm_id = raise_alarm(live.ctx, live.site, "pump-1", Severity.CRITICAL, "出水压力过低")
    page.wait_for_selector("body[data-alerting]")
    page.clock.run_for(4_000)
    played = tones(page)
    assert len(played) >= 4  # a two-tone chime, repeated
    assert {t["hz"] for t in played} == {880, 660} and all(t["running"] for t in played)
    titles = []
    for _ in range(4):
        page.clock.run_for(1_000)
        titles.append(page.title())
    assert BASE_TITLE in titles
    assert f"{ALERT}1号生活水泵 出水压力过低" in titles
    assert "出水压力过低" in page.locator("#alert-banner").inner_text()

    row(page, alarm_id).get_by_role("button", name="确认").click()
    page.wait_for_selector("body:not([data-alerting])")
    heard = len(tones(page))
    page.clock.run_for(10_000)

    assert len(tones(page)) == heard  # the chime has stopped
    assert page.title() == BASE_TITLE
    assert page.locator("#alert-banner").is_hidden()
    page.close()


def test_a_major_alarm_chimes_only_when_its_work_order_is_an_emergency(
    browser: Browser, live: Live
) -> None:
    # pump_dry_run is routed to an emergency order by the site file, bearing_overheat is not
    urgent = raise_alarm(
        live.ctx, live.site, "pump-1", Severity.MAJOR, "水泵缺水干转", alarm_type="pump_dry_run"
    )
    ordinary = raise_alarm(
        live.ctx, live.site, "pump-1", Severity.MAJOR, "轴承温度高", alarm_type="bearing_overheat"
    )
    page = duty_room(browser, live, before=OBSERVE_AUDIO, setup=install_clock)
    page.wait_for_selector(f'#alarm-list [data-alarm="{urgent}"].alerting')
    page.wait_for_selector("#order-list [data-order]")

    assert page.locator("body").get_attribute("data-alerting") == "1"
    assert "alerting" not in (row(page, ordinary).get_attribute("class") or "")
    page.clock.run_for(2_000)
    assert tones(page)
    assert "水泵缺水干转" in page.locator("#alert-banner").inner_text()
    assert "轴承温度高" not in page.locator("#alert-banner").inner_text()
    page.close()


def test_muting_stops_the_chime_for_the_browser_session_while_the_title_keeps_flashing(
    browser: Browser, live: Live
) -> None:
    raise_alarm(live.ctx, live.site, "pump-1", Severity.CRITICAL, "出水压力过低")
    page = duty_room(browser, live, before=OBSERVE_AUDIO, setup=install_clock)
    page.wait_for_selector("body[data-alerting]")
    for _ in range(10):  # the chime starts once the page's audio has resumed, in real time
        page.clock.run_for(1_000)
        if tones(page):
            break
    assert tones(page)

    page.get_by_role("button", name="静音", exact=True).click()
    page.wait_for_selector("body[data-sound=muted]")
    heard = len(tones(page))
    titles = []
    for _ in range(6):
        page.clock.run_for(1_000)
        titles.append(page.title())
    assert len(tones(page)) == heard
    assert any(t.startswith(ALERT) for t in titles)  # still visible
    assert page.evaluate("sessionStorage.getItem('propwatch.muted')") == "1"

    page.reload()  # the same tab: still muted
    page.wait_for_selector("body[data-alerting]")
    page.clock.run_for(6_000)
    assert tones(page) == []
    unmute = page.get_by_role("button", name="取消静音")
    assert unmute.get_attribute("aria-pressed") == "true"

    unmute.click()
    page.wait_for_selector("body[data-sound=on]")
    page.clock.run_for(2_000)
    assert tones(page)
    page.close()


def test_a_desktop_notification_is_shown_when_allowed_and_closed_by_acknowledging(
    browser: Browser, live: Live
) -> None:
    page = duty_room(browser, live, before=OBSERVE_NOTIFICATIONS, permissions=["notifications"])
    page.wait_for_selector("#alarm-list .ok-note")
    assert page.locator("#notify-ask").is_hidden()  # nothing to ask: already granted

    alarm_id = raise_alarm(live.ctx, live.site, "lift-1-1", Severity.CRITICAL, "电梯困人")
    page.wait_for_function("() => window.__notes.length === 1")
    (note,) = page.evaluate("window.__notes")
    assert note["title"] == f"{ALERT}1栋1号电梯 电梯困人"
    assert note["tag"] == f"propwatch-alarm-{alarm_id}" and not note["closed"]

    row(page, alarm_id).get_by_role("button", name="确认").click()
    page.wait_for_function("() => window.__notes[0].closed")
    page.wait_for_selector("body:not([data-alerting])")
    assert page.evaluate("window.__notes.length") == 1  # one notification per alarm
    assert page.evaluate("window.__asked") == 0
    page.close()


def test_notification_permission_is_asked_only_when_the_button_is_pressed(
    browser: Browser, live: Live
) -> None:
    raise_alarm(live.ctx, live.site, "pump-1", Severity.CRITICAL, "出水压力过低")

    def prompt(page: Page) -> None:
        # what a browser that has never been asked says: "default" (headless says "denied")
        cdp = page.context.new_cdp_session(page)
        cdp.send(
            "Browser.setPermission",
            {"permission": {"name": "notifications"}, "setting": "prompt", "origin": live.base},
        )

    page = duty_room(browser, live, before=OBSERVE_NOTIFICATIONS, setup=prompt)
    page.wait_for_selector("body[data-alerting]")
    ask = page.get_by_role("button", name="开启桌面通知")
    assert ask.is_visible()
    assert page.evaluate("window.__asked") == 0  # not on load

    ask.click()
    page.wait_for_function("() => window.__asked === 1")
    page.wait_for_selector("#notify-ask", state="hidden")  # headless Chromium refuses
    assert page.locator("#notify-note").inner_text() == "桌面通知已被浏览器禁止"
    assert page.evaluate("window.__notes.length") == 0
    page.close()


# --- 告警历史 -------------------------------------------------------------------------------


def history_rows(page: Page) -> list[list[str]]:
    return list(
        page.eval_on_selector_all(
            "#history-list tbody tr",
            "rs => rs.map(r => [...r.cells].map(c => c.innerText.trim()))",
        )
    )


def wait_rows(page: Page, count: int) -> None:
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.wait_for_function(
            "n => document.querySelectorAll('#history-list tbody tr').length === n"
            " || (n === 0 && document.querySelector('#history-list p'))",
            arg=count,
        )
    except PlaywrightError as exc:  # say what the page showed instead
        rows = page.locator("#history-list tbody tr").count()
        shown = page.inner_text("#history-list")[:300]
        raise AssertionError(f"{count} rows wanted, {rows} shown: {shown!r}") from exc


def query(page: Page) -> None:
    """Press 查询 and wait until the answer is on screen."""
    page.locator("#history-filters").get_by_role("button", name="查询").click()
    page.wait_for_selector("#history-list:not([aria-busy])")


def test_the_history_lists_each_change_in_words_and_filters_by_asset_type_state_and_time(
    browser: Browser, live_db: Live
) -> None:
    live = live_db
    ctx, site = live.ctx, live.site
    now = ctx.clock.now()
    pump = raise_alarm(
        ctx, site, "pump-1", Severity.CRITICAL, "出水压力过低", ago=timedelta(minutes=5)
    )
    live.post(f"/api/v1/alarms/{pump}/acknowledge")
    clear_alarm(ctx, site, pump, ago=timedelta(minutes=1))
    raise_alarm(
        ctx,
        site,
        "door-north",
        Severity.MAJOR,
        "门被强行打开",
        alarm_type="door_forced_open",
        ago=timedelta(hours=3),
    )
    page = duty_room(browser, live)
    page.get_by_role("tab", name="告警历史").click()
    wait_rows(page, 4)

    rows = history_rows(page)
    assert [r[3] for r in rows] == ["确认", "恢复", "告警", "告警"]
    assert [r[4] for r in rows] == ["已确认", "已恢复", "未确认", "未确认"]
    assert [r[5] for r in rows] == ["duty", "网关", "网关", "网关"]
    assert [r[1] for r in rows] == ["1号生活水泵"] * 3 + ["北门门禁"]
    assert rows[0][0] == local(now)
    assert rows[1][0] == local(now - timedelta(minutes=1))
    assert rows[3][0] == local(now - timedelta(hours=3))
    assert rows[3][6] == "迟到告警"
    assert "pump-1" not in page.inner_text("#history-list")

    filters = page.locator("#history-filters")
    filters.locator("select[name=asset]").select_option(label="北门门禁")
    query(page)
    assert [r[2] for r in history_rows(page)] == ["重要 门被强行打开"]

    filters.locator("select[name=asset]").select_option(value="")
    filters.locator("select[name=alarm_type]").select_option(label="出水压力过低")
    query(page)
    assert [r[3] for r in history_rows(page)] == ["确认", "恢复", "告警"]

    filters.locator("select[name=alarm_type]").select_option(value="")
    filters.locator("select[name=state]").select_option(label="已确认")
    query(page)
    assert [r[3] for r in history_rows(page)] == ["确认"]

    filters.locator("select[name=state]").select_option(value="")
    filters.locator("input[name=since]").fill(local_input(now - timedelta(hours=1)))
    query(page)
    assert [r[1] for r in history_rows(page)] == ["1号生活水泵"] * 3

    filters.locator("input[name=since]").fill("")
    filters.locator("input[name=until]").fill(local_input(now - timedelta(hours=1)))
    query(page)
    assert [r[1] for r in history_rows(page)] == ["北门门禁"]

    filters.locator("select[name=asset]").select_option(label="1号生活水泵")
    query(page)
    assert page.locator("#history-list").inner_text() == "没有符合条件的告警记录"
    page.close()


def test_more_loads_the_next_page_of_the_history_without_repeating_a_row(
    browser: Browser, live_db: Live
) -> None:
    live = live_db
    for n in range(55):
        raise_alarm(
            live.ctx,
            live.site,
            "pump-1",
            Severity.MINOR,
            f"第{n}次压力波动",
            ago=timedelta(seconds=n),
        )
    page = duty_room(browser, live)
    page.get_by_role("tab", name="告警历史").click()
    wait_rows(page, 50)
    more = page.get_by_role("button", name="更多")
    assert more.is_visible()

    more.click()
    wait_rows(page, 55)
    ids = page.eval_on_selector_all("#history-list tbody tr", "rs => rs.map(r => r.dataset.entry)")
    assert len(set(ids)) == 55
    messages = [r[2] for r in history_rows(page)]
    assert messages == [f"次要 第{n}次压力波动" for n in range(55)]  # newest first
    assert more.is_hidden()
    page.close()


def test_the_first_page_of_the_history_follows_the_stream(browser: Browser, live: Live) -> None:
    raise_alarm(live.ctx, live.site, "pump-1", Severity.MAJOR, "轴承温度高")
    page = duty_room(browser, live)
    page.get_by_role("tab", name="告警历史").click()
    wait_rows(page, 1)

    raise_alarm(live.ctx, live.site, "lift-1-1", Severity.MAJOR, "电梯平层误差超限")
    wait_rows(page, 2)
    assert history_rows(page)[0][1] == "1栋1号电梯"
    page.close()


def test_a_busy_answer_is_asked_again_and_the_history_shows(browser: Browser, live: Live) -> None:
    # a database too busy to admit the read answers 503 with Retry-After: the page asks again
    # instead of leaving the panel on an error
    raise_alarm(live.ctx, live.site, "pump-1", Severity.MINOR, "压力波动", ago=timedelta(seconds=5))
    page = duty_room(browser, live)
    answers: list[int] = []

    def busy_once(route: Route) -> None:
        if answers:
            answers.append(200)
            route.continue_()
            return
        answers.append(503)
        route.fulfill(
            status=503,
            headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
            body='{"title": "database busy", "detail": "数据库繁忙，请稍后重试"}',
        )

    page.route("**/api/v1/alarms/history*", busy_once)
    page.get_by_role("tab", name="告警历史").click()
    wait_rows(page, 1)
    assert answers == [503, 200]
    assert [r[2] for r in history_rows(page)] == ["次要 压力波动"]
    page.close()
