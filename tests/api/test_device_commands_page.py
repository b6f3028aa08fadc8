"""设备详情 · 遥控 in real Chromium against the real stack: the page's control → the API → the
maintenance service → real mosquitto → the gateway → real Modbus TCP to the simulated lighting
panel → read-back → the result on the page; a refused value shows the API's zh-CN reason and
keeps nothing; a technician's token sees the record but no controls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from maintenance.service import MaintenanceService
from propwatch.clock import ManualClock, SystemClock
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from simulators.fleet import Fleet
from simulators.lighting import LightingPanel
from tests.api.browser import chromium
from tests.api.pages import PHONE, Live, live_server, open_page
from tests.conftest import EXAMPLE_SITE
from tests.maintenance.helpers import directory_of
from tests.support.servers import Mosquitto, free_port, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

_sites = count(1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """The example site under an id of its own (the session's broker keeps other tests'
    gateway sessions), its devices on free ports, polled every 0.3 s."""
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["site"]["id"] = f"device-commands-{next(_sites)}"
    ports: dict[int, int] = {}
    for d in doc["devices"]:
        if "port" in d:
            d["port"] = ports.setdefault(d["port"], free_port())
            d["poll_interval"] = "0.3s"
    doc["plans"] = []
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


class Stack:
    """Simulators, the maintenance service and the gateway, on an event loop of their own in a
    thread (the browser is driven synchronously from the test)."""

    def __init__(self, site: Site, database_url: str, var: Path, mqtt_url: str) -> None:
        self.site, self.database_url, self.var, self.mqtt_url = site, database_url, var, mqtt_url
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.panel: LightingPanel | None = None
        self.gateway: Gateway | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="stack", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # shown by the test
            self.failed = exc
            self.ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        clock = SystemClock()
        settings = Settings(var_dir=self.var, database_url=self.database_url)
        async with (
            Fleet(self.site, clock, self.mqtt_url) as fleet,
            MaintenanceService(directory_of(self.site, clock), settings, clock, self.mqtt_url),
            Gateway(
                self.site,
                settings,
                clock,
                self.mqtt_url,
                sink=LocalStore(self.var / "telemetry.db"),
            ) as gw,
        ):
            panel = fleet.models["lighting-b"]
            assert isinstance(panel, LightingPanel)
            self.panel, self.gateway = panel, gw
            for _ in range(600):  # every device polled once: at most 30 s
                if all(p.health.polls for p in gw.pollers):
                    break
                await asyncio.sleep(0.05)
            self.ready.set()
            await self._stop.wait()

    def __enter__(self) -> Stack:
        self._thread.start()
        if not self.ready.wait(60) or self.failed is not None:
            raise RuntimeError(f"the stack did not start: {self.failed!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def live(tmp_path: Path, site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", site, tmp_path / "var") as server:
        yield server


def _commands(live: Live) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = live.get(f"/api/v1/assets/{live.site.id}/lighting-b/commands")
    return answer


def _confirm(page: Page, control: str, button: str, question: str) -> None:
    page.locator(f'#command-controls [data-point="{control}"]').get_by_role(
        "button", name=button, exact=True
    ).click()
    page.wait_for_selector("#command-confirm:not([hidden])")
    assert question in page.locator("#command-question").inner_text()
    page.locator("#command-ok").click()


@pytest.mark.parametrize("phone", [False, True], ids=["desk", "phone"])
def test_the_duty_room_switches_a_circuit_from_the_device_page_through_every_real_peer(
    browser: Browser, live: Live, mosquitto: Mosquitto, tmp_path: Path, phone: bool
) -> None:
    assert isinstance(live.ctx.clock, ManualClock)
    with Stack(live.site, live.ctx.db.url, tmp_path / "var", mosquitto.url) as stack:
        panel = stack.panel
        assert panel is not None
        circuit = panel.circuits[0]
        wanted = not circuit.command
        live.ctx.clock.set(datetime.now(UTC))  # the commands' time to live counts from here
        page, requested = open_page(
            browser,
            f"{live.base}/device?site={live.site.id}&asset=lighting-b#token={live.tokens.duty}",
            phone=phone,
        )
        page.wait_for_selector('#command-controls [data-point="circuit_1_command"]')
        assert page.locator("#commands").is_visible()
        # every writable point of the panel has a control, and nothing read-only does
        controls = page.locator("#command-controls [data-point]")
        names = [controls.nth(i).get_attribute("data-point") for i in range(controls.count())]
        assert names == [
            *(f"circuit_{n}_command" for n in range(1, 9)),
            "auto_mode",
            *(f"circuit_{n}_rated_current" for n in range(1, 9)),
        ]
        assert (
            "范围 0–100A"
            in page.locator('#command-controls [data-point="circuit_2_rated_current"]').inner_text()
        )

        # 取消: nothing is sent
        page.locator('#command-controls [data-point="circuit_1_command"]').get_by_role(
            "button", name="开" if wanted else "关", exact=True
        ).click()
        page.locator("#command-cancel").click()
        assert page.locator("#command-confirm").is_hidden()
        assert _commands(live) == []

        # 合闸 / 分闸, confirmed: written, read back, and the page says so
        word = "开" if wanted else "关"
        _confirm(page, "circuit_1_command", word, f"确认将「第1回路合闸命令」设为 {word}")
        page.wait_for_selector('#command-result[data-state="done"]', timeout=20_000)
        result = page.locator("#command-result").inner_text()
        assert result == f"第1回路合闸命令 → {word}：已执行，回读 {word}", result
        assert circuit.command is wanted  # the simulated contactor
        made = _commands(live)
        assert [(c["point"], c["value"], c["state"], c["read_back"]) for c in made] == [
            ("circuit_1_command", wanted, "done", wanted)
        ]
        row = page.locator(f'#command-list [data-command="{made[0]["id"]}"]')
        wait_until(lambda: row.count() == 1 and "已执行" in row.inner_text(), 10, "the row")
        text = row.inner_text()
        assert made[0]["requested_at_local"] in text and "T" not in made[0]["requested_at_local"]
        assert f"第1回路合闸命令 → {word}" in text and "duty" in text and f"回读 {word}" in text

        # out of range: the API's zh-CN reason, nothing kept or sent
        page.locator('[aria-label="第2回路额定电流设定值"]').fill("250")
        _confirm(page, "circuit_2_rated_current", "设定", "确认将「第2回路额定电流」设为 250 A")
        page.wait_for_selector('#command-result[data-state="refused"]')
        refused = page.locator("#command-result").inner_text()
        assert refused == "未下发：「第2回路额定电流」的值 250A 高于上限 100A", refused
        assert len(_commands(live)) == 1

        # a value within range is set and read back
        page.locator('[aria-label="第2回路额定电流设定值"]').fill("3.5")
        _confirm(page, "circuit_2_rated_current", "设定", "设为 3.5 A")
        page.wait_for_selector('#command-result[data-state="done"]', timeout=20_000)
        assert "第2回路额定电流 → 3.5 A：已执行，回读 3.5 A" in (
            page.locator("#command-result").inner_text()
        )
        assert panel.circuits[1].rated_setting == pytest.approx(3.5)
        if phone:
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert requested and all(u.startswith(live.base) for u in requested)
        page.context.close()


def test_a_technician_sees_the_commands_but_no_controls(browser: Browser, live: Live) -> None:
    page, _ = open_page(
        browser,
        f"{live.base}/device?site={live.site.id}&asset=lighting-b#token={live.tokens.technician}",
    )
    # the list's "加载中…" placeholder is a <p> too: wait for what the API answered
    page.locator("#command-list", has_text="暂无遥控记录").wait_for()
    assert page.locator("#commands").is_visible()
    assert page.locator("#command-controls button").count() == 0
    assert "仅值班员或管理员可遥控" in page.locator("#command-controls").inner_text()
    assert "暂无遥控记录" in page.locator("#command-list").inner_text()
    page.context.close()


def test_a_device_without_writable_points_has_no_command_panel(
    browser: Browser, live: Live
) -> None:
    page, _ = open_page(
        browser, f"{live.base}/device?site={live.site.id}&asset=door-north#token={live.tokens.duty}"
    )
    page.wait_for_selector("#record-body dl")
    assert page.locator("#commands").is_hidden()
    page.context.close()
