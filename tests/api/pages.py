"""What the page tests share: a live server over a fresh database, a browser page on it, and
alarms and work orders seeded through the maintenance services and the API.

The server's clock is set to the wall clock, since the browser counts down with its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select

from api.app import create_app
from api.deps import AppContext
from maintenance.alarms.models import Alarm
from maintenance.alarms.service import apply_alarm_event
from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer, make_ctx, make_tokens
from tests.api.live import serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

WAIT_MS = 10_000
DESK: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class Live:
    base: str
    tokens: Tokens
    ctx: AppContext
    site: Site

    def get(self, path: str, token: str | None = None) -> Any:
        r = httpx.get(f"{self.base}{path}", headers=bearer(token or self.tokens.duty))
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = httpx.post(f"{self.base}{path}", json=body, headers=bearer(self.tokens.duty))
        assert r.status_code in (200, 201), r.text
        return r.json()


@contextmanager
def live_server(database_url: str, site: Site, var_dir: Path) -> Iterator[Live]:
    db = Database(database_url)
    db.upgrade()
    try:
        ctx = make_ctx(db, site, ManualClock(datetime.now(UTC)), var_dir)
        tokens = make_tokens(ctx, site)
        with serve(create_app(ctx)) as base:
            yield Live(base, tokens, ctx, site)
    finally:
        db.dispose()


def open_page(
    browser: Browser,
    url: str,
    *,
    phone: bool = False,
    before: str | None = None,
    permissions: list[str] | None = None,
    setup: Callable[[Page], None] | None = None,
) -> tuple[Page, list[str]]:
    """A page on `url`, in a browser context of its own, once its event stream is live.

    `before` is a script run ahead of the page's own (to observe the browser APIs it calls),
    `permissions` are granted to the context, `setup` runs on the page before it loads."""
    context = browser.new_context(
        viewport=PHONE if phone else DESK, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    if permissions:
        context.grant_permissions(permissions)
    page = context.new_page()
    if before is not None:
        page.add_init_script(before)
    if setup is not None:
        setup(page)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.wait_for_selector("body[data-stream=live]")
    return page, requested


def create_order(base: str, token: str, title: str, **fields: Any) -> dict[str, Any]:
    body = {"site_id": "hexie", "title": title, "category": "general", **fields}
    r = httpx.post(f"{base}/api/v1/work-orders", json=body, headers=bearer(token))
    assert r.status_code == 201, r.text
    return dict(r.json())


def alarm_event(
    site: Site,
    asset: str,
    severity: Severity,
    message: str,
    *,
    at: datetime,
    alarm_type: str = "outlet_pressure_low",
    action: AlarmAction = AlarmAction.RAISE,
    episode: str | None = None,
) -> AlarmEvent:
    return AlarmEvent(
        site_id=site.id,
        occurred_at=at,
        action=action,
        episode_id=episode or f"{asset}:{alarm_type}:{message}",
        asset_id=asset,
        alarm_type=alarm_type,
        severity=severity,
        rule_id=f"{asset}-{alarm_type}",
        message=message,
    )


def raise_alarm(
    ctx: AppContext,
    site: Site,
    asset: str,
    severity: Severity,
    message: str,
    *,
    alarm_type: str = "outlet_pressure_low",
    ago: timedelta = timedelta(0),
    episode: str | None = None,
) -> int:
    """An alarm the gateway raised `ago` before now (over the late limit it arrives late)."""
    now = ctx.clock.now()
    event = alarm_event(
        site, asset, severity, message, at=now - ago, alarm_type=alarm_type, episode=episode
    )
    with ctx.db.session() as s:
        apply_alarm_event(s, site.spec, event, now)
        return int(s.scalars(select(Alarm.id).where(Alarm.episode_id == event.episode_id)).one())


def clear_alarm(ctx: AppContext, site: Site, alarm_id: int, ago: timedelta = timedelta(0)) -> None:
    """The gateway's clear of that alarm's episode."""
    now = ctx.clock.now()
    with ctx.db.session() as s:
        alarm = s.get(Alarm, alarm_id)
        assert alarm is not None
        event = AlarmEvent(
            site_id=site.id,
            occurred_at=now - ago,
            action=AlarmAction.CLEAR,
            episode_id=alarm.episode_id,
            asset_id=alarm.asset_code,
            alarm_type=alarm.alarm_type,
            severity=Severity(alarm.severity),
            rule_id=alarm.rule_id,
            message=alarm.message,
        )
        apply_alarm_event(s, site.spec, event, now)
