"""Screenshots of the duty room (值班室) and the technician page (我的任务) for the docs.

    .venv/bin/python docs/screenshots/make.py     # writes duty-room.png, technician.png, device.png

It seeds a fresh SQLite database with a Monday evening at 和谐花园 (alarms, work orders in every
stage, tonight's lighting patrol with one dark circuit) through the maintenance services, serves
the real API with uvicorn on a loopback port, and photographs both pages in headless Chromium
(Debian's `chromium`) with the browser's clock fixed at the same evening. `tests/api/
test_pages_screenshots.py` runs it into a temporary folder on every test run.
"""

from __future__ import annotations

import argparse
import math
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from sqlalchemy import select

from api.app import create_app
from api.auth import ApiRole, Principal, TokenRegistry, issue_token
from api.deps import AppContext
from gateway.readings import Sample
from gateway.sinks.local_store import LocalStore, LocalStoreReader
from maintenance.alarms.models import Alarm
from maintenance.alarms.service import acknowledge_alarm, apply_alarm_event, shelve_alarm
from maintenance.db import Database
from maintenance.lighting import night_lighting_check
from maintenance.plans.service import record_check
from maintenance.registry.models import Asset
from maintenance.registry.service import sync_registry
from maintenance.work_orders.models import Source, Status
from maintenance.work_orders.service import NewWorkOrder, annotate, create_work_order, transition
from propwatch.clock import ManualClock
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import Category, Priority, Site, load_site

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SITE = ROOT / "examples" / "hexie-garden" / "site.yaml"
EVENING = datetime(2026, 11, 23, 12, 15, tzinfo=UTC)  # 20:15 in Shanghai, a Monday


def _alarm(
    ctx: AppContext,
    site: Site,
    asset: str,
    alarm_type: str,
    severity: Severity,
    message: str,
    at: datetime,
    *,
    episode: str | None = None,
    cleared_at: datetime | None = None,
) -> int:
    event = AlarmEvent(
        site_id=site.id,
        occurred_at=at,
        action=AlarmAction.RAISE,
        episode_id=episode or f"{asset}:{alarm_type}:{at.isoformat()}",
        asset_id=asset,
        alarm_type=alarm_type,
        severity=severity,
        rule_id=f"{asset}-{alarm_type}",
        message=message,
    )
    with ctx.db.session() as s:
        apply_alarm_event(s, site.spec, event, at)
        if cleared_at is not None:
            clear = event.model_copy(
                update={
                    "event_id": f"{event.event_id}:clear",
                    "action": AlarmAction.CLEAR,
                    "occurred_at": cleared_at,
                }
            )
            apply_alarm_event(s, site.spec, clear, cleared_at)
        return int(s.scalars(select(Alarm.id).where(Alarm.episode_id == event.episode_id)).one())


def _order(
    ctx: AppContext,
    site: Site,
    key: str,
    title: str,
    *,
    at: datetime,
    category: Category = Category.GENERAL,
    priority: Priority = Priority.GENERAL,
    assignee: str | None = None,
    asset: str | None = None,
    zone: str | None = None,
    description: str = "",
    details: dict[str, object] | None = None,
    source: Source = Source.MANUAL,
) -> int:
    with ctx.db.session() as s:
        wo, _ = create_work_order(
            s,
            site.spec,
            NewWorkOrder(
                site_id=site.id,
                source=source,
                source_key=f"screenshot:{key}",
                category=category,
                priority=priority,
                title=title,
                reported_at=at,
                asset_code=asset,
                description=description,
                assignee=assignee,
                zone_code=zone,
                details=details or {},
            ),
            at,
            actor="chen-kf",
        )
        return wo.id


def _step(
    ctx: AppContext, site: Site, wo: int, to: Status, at: datetime, who: str, note: str = ""
) -> None:
    with ctx.db.session() as s:
        transition(s, site.spec, wo, to, actor=who, now=at, note=note)


def _state(
    ctx: AppContext,
    site: Site,
    asset: str,
    at: datetime,
    values: dict[str, object],
    *,
    online: bool = True,
    alarms: tuple[str, ...] = (),
) -> None:
    with ctx.db.session() as s:
        row = s.scalars(select(Asset).where(Asset.site_id == site.id, Asset.code == asset)).one()
        row.state = {"online": online, "values": values, "active_alarms": list(alarms)}
        row.state_at = at


def seed(ctx: AppContext, site: Site) -> dict[str, str]:
    """A Monday evening at 和谐花园; returns a duty token and 王工's technician token."""
    now = EVENING
    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    with ctx.db.session() as s:
        sync_registry(s, site, now - 72 * h)
        night_lighting_check(s, site, now - 4 * h)  # the check starts counting from here
        tokens = {
            "duty": issue_token(
                s, name="值班员", role=ApiRole.DUTY, sites=[site.id], person=None, now=now
            ),
            "technician": issue_token(
                s,
                name="wang",
                role=ApiRole.TECHNICIAN,
                sites=[site.id],
                person="wang-gong",
                now=now,
            ),
        }

    # telemetry as the gateway last reported it
    _state(
        ctx,
        site,
        "pump-1",
        now - 2 * m,
        {"running": True, "outlet_pressure": 0.16, "frequency": 48.5, "motor_current": 21.3},
        alarms=("outlet_pressure_low",),
    )
    _state(ctx, site, "lift-1-1", now - m, {"floor": 7, "in_service": False}, alarms=("door_lock",))
    _state(ctx, site, "door-north", now - 50 * m, {}, online=False)
    lights: dict[str, object] = {}
    for n in range(1, 9):
        lights |= {
            f"circuit_{n}_command": True,
            f"circuit_{n}_current": 0.31 if n == 5 else 2.1 + n / 50,
            f"circuit_{n}_rated_current": 2.2,
        }
    _state(ctx, site, "lighting-b", now - 25 * m, lights)
    with ctx.db.session() as s:
        night_lighting_check(s, site, now - 20 * m)  # tonight's patrol and the dark circuit

    # alarms: two new ones that opened orders, one acknowledged, one shelved, and one that has
    # returned by itself before anyone acknowledged it (已恢复未确认)
    _alarm(
        ctx,
        site,
        "pump-1",
        "outlet_pressure_low",
        Severity.CRITICAL,
        "出水压力 0.16 MPa，低于限值 0.25 MPa",
        now - 35 * m,
    )
    _alarm(
        ctx,
        site,
        "lift-1-1",
        "door_lock",
        Severity.MAJOR,
        "门锁回路故障，电梯已停梯",
        now - 12 * m,
    )
    door = _alarm(
        ctx,
        site,
        "door-north",
        "comm_loss",
        Severity.MINOR,
        "门禁控制器通讯中断",
        now - 48 * m,
        episode=f"{site.id}/door-north/comm/door-north/",
    )
    _alarm(
        ctx,
        site,
        "lighting-b",
        "lighting_undervoltage",
        Severity.MINOR,
        "照明配电箱供电电压偏低",
        now - 30 * m,
        cleared_at=now - 18 * m,
    )
    bearing = _alarm(
        ctx,
        site,
        "pump-1",
        "bearing_temperature_high",
        Severity.WARNING,
        "轴承温度 71.5 °C，高于预警值 70 °C",
        now - 3 * h,
    )
    with ctx.db.session() as s:
        acknowledge_alarm(s, door, actor="值班员", now=now - 40 * m)
        shelve_alarm(
            s,
            bearing,
            actor="值班员",
            until=now + 12 * h,
            reason="已安排明早更换润滑脂",
            now=now - 2 * h,
        )

    # work orders in every stage
    stairs = _order(
        ctx,
        site,
        "stairs",
        "2栋3楼楼道灯不亮",
        at=now - 40 * h,
        category=Category.LIGHTING,
        assignee="li-shifu",
        zone="zone-a",
        description="业主来电：2栋3楼楼道声控灯不亮，晚上上下楼不便。",
    )
    _step(ctx, site, stairs, Status.ACCEPTED, now - 38 * h, "li-shifu")
    intercom = _order(
        ctx,
        site,
        "intercom",
        "1栋1单元可视对讲无声音",
        at=now - 5 * h,
        assignee="wang-gong",
        zone="zone-a",
        description="1栋1单元门口机按键有反应，但户内分机听不到声音。",
    )
    _step(ctx, site, intercom, Status.ACCEPTED, now - 4 * h, "wang-gong")
    _step(ctx, site, intercom, Status.ON_SITE, now - 3 * h, "wang-gong")
    with ctx.db.session() as s:
        annotate(
            s, intercom, actor="wang-gong", now=now - 150 * m, note="门口机音频板松动，已重新插接"
        )
    drain = _order(
        ctx,
        site,
        "drain",
        "4栋地下车库排水沟堵塞",
        at=now - 10 * h,
        priority=Priority.IMPORTANT,
        assignee="li-shifu",
        zone="zone-b",
    )
    _step(ctx, site, drain, Status.ACCEPTED, now - 9 * h, "li-shifu")
    _step(ctx, site, drain, Status.ON_HOLD, now - 8 * h, "li-shifu", "等待疏通车，约明早8点到")
    pump_check = _order(
        ctx,
        site,
        "pump-check",
        "保养：1号生活水泵 月度检查",
        at=now - 6 * h,
        category=Category.WATER_SUPPLY,
        assignee="wang-gong",
        asset="pump-1",
        source=Source.PLAN,
        description="保养计划：二次供水水泵月度检查（pump-monthly）\n设备：1号生活水泵（pump-1）",
        details={
            "plan_id": "pump-monthly",
            "checklist": [
                {
                    "id": "p-01",
                    "text": "水泵运行无异响、无漏水",
                    "measurement": False,
                    "unit": None,
                    "low": None,
                    "high": None,
                    "result": None,
                },
                {
                    "id": "p-02",
                    "text": "出水压力",
                    "measurement": True,
                    "unit": "MPa",
                    "low": 0.25,
                    "high": 0.6,
                    "result": None,
                },
                {
                    "id": "p-03",
                    "text": "控制柜指示灯、仪表正常",
                    "measurement": False,
                    "unit": None,
                    "low": None,
                    "high": None,
                    "result": None,
                },
            ],
        },
    )
    with ctx.db.session() as s:
        record_check(s, site, pump_check, "p-01", by="wang-gong", now=now - 5 * h, passed=True)
    _order(
        ctx,
        site,
        "roof",
        "3栋屋面排水口清理",
        at=now - 2 * h,
        assignee="wang-gong",
        zone="zone-b",
    )
    return tokens


@contextmanager
def _serve(ctx: AppContext) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def pump_day(site: Site, end: datetime) -> list[Sample]:
    """pump-1's day to `end`, a reading a minute: outlet pressure about 0.30 MPa, lower at the
    morning and evening peaks of demand, then the fall to 0.16 MPa of the evening's alarm."""
    out = []
    for i in range(24 * 60, 0, -1):
        at = end - timedelta(minutes=i)
        hour = (at + timedelta(hours=8)).hour + at.minute / 60  # Shanghai
        peaks = 0.03 * math.exp(-(((hour - 7.5) / 1.2) ** 2)) + 0.04 * math.exp(
            -(((hour - 19) / 1.5) ** 2)
        )
        pressure = 0.31 - peaks + 0.006 * math.sin(i / 7)
        if i <= 40:  # 19:35 on: the fault
            pressure = 0.16 + 0.004 * math.sin(i)
        out.append(
            Sample(
                site.id,
                "pump-1",
                "pump-1",
                "water_pump",
                at,
                {"outlet_pressure": round(pressure, 3), "frequency": 48.5 if i > 40 else 50.0},
                {"outlet_pressure": "MPa", "frequency": "Hz"},
            )
        )
    return out


def make(out_dir: Path = HERE, chromium: str = "/usr/bin/chromium") -> list[Path]:
    """Write duty-room.png, technician.png and device.png to `out_dir`; returns their paths."""
    from playwright.sync_api import sync_playwright

    site = load_site(SITE)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="propwatch-shots-") as tmp:
        db = Database(f"sqlite:///{tmp}/demo.db")
        db.upgrade()
        ctx = AppContext(
            db=db,
            sites={site.id: site},
            clock=ManualClock(EVENING),
            tokens=TokenRegistry(),
            stream_poll_seconds=0.1,
            var_dir=Path(tmp) / "var",
        )
        ctx.tokens.add("unused", Principal("admin", ApiRole.ADMIN, frozenset({"*"})))
        tokens = seed(ctx, site)
        store = LocalStore(Path(tmp) / "telemetry.db", retention=timedelta(days=3650))
        store.write_sync(pump_day(site, EVENING))
        ctx.telemetry = LocalStoreReader(Path(tmp) / "telemetry.db")
        duty_png, phone_png = out_dir / "duty-room.png", out_dir / "technician.png"
        device_png = out_dir / "device.png"
        try:
            with _serve(ctx) as base, sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(
                    viewport={"width": 1440, "height": 900},
                    locale="zh-CN",
                    timezone_id="Asia/Shanghai",
                )
                page.clock.set_fixed_time(EVENING)
                page.goto(f"{base}/#token={tokens['duty']}")
                for ready in (
                    "#alarm-list table",
                    "#order-list table",
                    "#asset-list .zone",
                    "#lighting-body .lighting-head",
                    "#stocktake-body table",
                ):
                    page.wait_for_selector(ready, timeout=15_000)
                page.wait_for_selector("#order-list .countdown:not(:empty)")
                # the flashing of an unacknowledged emergency alarm, stopped at its first frame
                page.screenshot(path=str(duty_png), full_page=True, animations="disabled")

                phone = browser.new_page(
                    viewport={"width": 390, "height": 844},
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                    locale="zh-CN",
                    timezone_id="Asia/Shanghai",
                )
                phone.clock.set_fixed_time(EVENING)
                phone.goto(f"{base}/tasks#token={tokens['technician']}")
                phone.wait_for_selector("[data-task]", timeout=15_000)
                phone.locator("[data-task] .task-head", has_text="月度检查").click()
                phone.wait_for_selector(".checklist", timeout=15_000)
                phone.screenshot(path=str(phone_png), full_page=True)

                page.goto(
                    f"{base}/device?site={site.id}&asset=pump-1&point=outlet_pressure&range=24h"
                    f"#token={tokens['duty']}"
                )
                page.wait_for_selector(
                    '#trend-chart[data-point="outlet_pressure"][data-range="24h"]'
                    ":not([data-loading])",
                    timeout=15_000,
                )
                page.wait_for_selector("#order-list [data-order]", timeout=15_000)
                page.screenshot(path=str(device_png), full_page=True, animations="disabled")
                browser.close()
        finally:
            db.dispose()
    return [duty_png, phone_png, device_png]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    for path in make(args.out, args.chromium):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
