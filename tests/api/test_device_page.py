"""设备详情 in real Chromium, at a desk and on a 390 × 844 phone: live values with zh-CN names and
units, a state chip that agrees with the open alarm, and a trend whose points, over each range
chosen, are the means of what the gateway's sink wrote into victoria-metrics."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from gateway.readings import Sample
from gateway.sinks.influx import InfluxSink
from gateway.sinks.victoria import VictoriaReader
from maintenance.alarms.reconcile import apply_asset_state
from propwatch.events import AssetStateEvent, Severity
from propwatch.site import Site, load_site
from tests.api.browser import chromium
from tests.api.pages import PHONE, WAIT_MS, Live, live_server, open_page, raise_alarm
from tests.conftest import EXAMPLE_SITE
from tests.support.servers import VictoriaMetrics, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# each test a site of its own: the session's victoria-metrics keeps what earlier tests wrote
_sites = count(1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(tmp_path: Path) -> Site:
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["site"]["id"] = f"device-view-{next(_sites)}"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


@pytest.fixture
def live(tmp_path: Path, site: Site, victoria_metrics: VictoriaMetrics) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", site, tmp_path / "var") as server:
        server.ctx.telemetry = VictoriaReader(victoria_metrics.url)
        yield server
        server.ctx.telemetry.close()


def pressure(t: int) -> float:
    return 0.3 + 0.05 * math.sin(t / 900) + 0.01 * math.sin(t * 1.7)


def written(site_id: str, now: datetime) -> list[Sample]:
    """The last 70 minutes at 1 s, and a reading a minute for the 30 days before."""
    end = int(now.timestamp())
    stamps = [*range(end - 31 * 86400, end - 4200, 60), *range(end - 4200, end)]
    return [
        Sample(
            site_id,
            "pump-1",
            "pump-1",
            "water_pump",
            datetime.fromtimestamp(t, UTC),
            {"outlet_pressure": pressure(t)},
            {"outlet_pressure": "MPa"},
        )
        for t in stamps
    ]


def write(vm: VictoriaMetrics, samples: list[Sample]) -> None:
    """Through the gateway's sink; back once the store can search every point."""
    sink = InfluxSink(vm.url, "token", "org", "propwatch")
    for first in range(0, len(samples), 5000):
        sink.write_samples(samples[first : first + 5000])
    sink.client.close()
    vm.flush()
    selector = f'{{__name__="water_pump_outlet_pressure",site="{samples[0].site_id}"}}'
    wait_until(
        lambda: sum(len(s["values"]) for s in vm.export(selector)) >= len(samples),
        20,
        "the written points to be searchable",
    )


def means(samples: list[Sample], start: str, stop: str, step: int) -> list[tuple[float, float]]:
    """The window means of what was written, computed here."""
    lo, hi = datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(stop).timestamp()
    windows: dict[int, list[float]] = defaultdict(list)
    for s in samples:
        t = s.at.timestamp()
        if lo <= t < hi:
            windows[int(t) // step * step].append(float(s.values["outlet_pressure"]))
    return [(float(t), sum(v) / len(v)) for t, v in sorted(windows.items())]


def plotted(page: Page) -> dict[str, Any]:
    data: dict[str, Any] = page.eval_on_selector("#trend-chart", "e => e.plotted")
    return data


def show_range(page: Page, label: str, key: str) -> dict[str, Any]:
    page.get_by_role("button", name=label, exact=True).click()
    page.wait_for_selector(f'#trend-chart[data-range="{key}"]:not([data-loading])')
    return plotted(page)


def assert_matches(shown: dict[str, Any], samples: list[Sample]) -> None:
    got = [(datetime.fromisoformat(t).timestamp(), v) for t, v in shown["points"]]
    want = means(samples, shown["from"], shown["to"], shown["step"])
    assert [t for t, _ in got] == [t for t, _ in want]
    for (t, g), (_, w) in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-9), t
    assert len(got) <= 1001


@pytest.mark.parametrize("phone", [False, True], ids=["desk", "phone"])
def test_the_device_view_shows_live_values_its_alarm_and_a_trend_of_what_was_written(
    browser: Browser, live: Live, victoria_metrics: VictoriaMetrics, phone: bool
) -> None:
    now, site_id = live.ctx.clock.now(), live.site.id
    samples = written(site_id, now)
    write(victoria_metrics, samples)
    with live.ctx.db.session() as s:
        apply_asset_state(
            s,
            live.site.spec,
            AssetStateEvent(
                site_id=site_id,
                occurred_at=now,
                asset_id="pump-1",
                values={"outlet_pressure": 0.047, "running": True, "bearing_temperature": 41.25},
            ),
            now,
        )
    alarm = raise_alarm(live.ctx, live.site, "pump-1", Severity.CRITICAL, "出水压力过低，可能停水")

    page, requested = open_page(
        browser,
        f"{live.base}/device?site={site_id}&asset=pump-1#token={live.tokens.duty}",
        phone=phone,
    )
    page.wait_for_selector('#trend-chart[data-range="24h"]:not([data-loading])')

    # live values by their zh-CN names, with units
    values = page.locator("#live-body")
    values.locator('[data-point="outlet_pressure"]').wait_for()
    assert "出水压力" in values.inner_text()
    assert "0.047 MPa" in values.locator('[data-point="outlet_pressure"]').inner_text()
    assert "41.25 ℃" in values.locator('[data-point="bearing_temperature"]').inner_text()
    assert "是" in values.locator('[data-point="running"]').inner_text()
    # the chip agrees with the open alarm, which is listed
    page.wait_for_selector(f'#open-alarms [data-alarm="{alarm}"]')
    assert page.locator("#state-chip").get_attribute("data-state") == "alarm"
    assert "出水压力过低" in page.locator("#open-alarms").inner_text()
    assert "紧急" in page.locator("#open-alarms").inner_text()
    # the alarm opened an order, which the order history shows with its zh-CN status
    page.wait_for_selector("#order-list [data-order]")
    assert "出水压力过低" in page.locator("#order-list").inner_text()
    assert "保修截止" in page.locator("#record-body").inner_text()
    assert "2027年6月1日" in page.locator("#record-body").inner_text()
    assert "object" not in page.locator("#record-body").inner_text()
    assert "1号生活水泵" in page.locator("#record-body").inner_text()
    plans = page.locator("#plan-list").inner_text()
    assert "每月5日 09:00" in plans and "RRULE" not in plans

    assert plotted(page)["point"] == "frequency"  # the first measured point of the pump
    page.select_option("#trend-point", "outlet_pressure")
    page.wait_for_selector('#trend-chart[data-point="outlet_pressure"]:not([data-loading])')
    day = plotted(page)
    assert (day["range"], day["step"]) == ("24h", 120)
    assert_matches(day, samples)
    hour = show_range(page, "1小时", "1h")
    assert hour["step"] == 5 and len(hour["points"]) >= 700
    assert_matches(hour, samples)
    week = show_range(page, "7天", "7d")
    assert_matches(week, samples)
    if not phone:
        month = show_range(page, "30天", "30d")
        assert month["step"] == 3600
        assert_matches(month, samples)

    assert "range=" in page.url and "point=outlet_pressure" in page.url
    assert "出水压力" in page.locator("#trend-summary").inner_text()
    assert "T" not in page.locator("#trend-summary").inner_text()  # local times, not ISO
    if phone:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = page.locator("#trend-chart canvas").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert requested and all(u.startswith(live.base) for u in requested)


def test_the_device_view_without_an_asset_says_how_to_open_it(browser: Browser, live: Live) -> None:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{live.base}/device#token={live.tokens.duty}")
    page.wait_for_selector("body[data-stream=none]")
    assert "缺少 site 或 asset" in page.locator("main").inner_text()
    context.close()
