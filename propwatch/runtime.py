"""Compose the components for each command and run them until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from api.app import create_app
from api.auth import ApiRole, Principal, TokenRegistry, new_token
from api.deps import AppContext
from api.webhooks.delivery import WebhookDispatcher
from gateway.service import Gateway
from maintenance.db import Database
from maintenance.service import MaintenanceService
from propwatch.clock import Clock, ScaledClock, SystemClock
from propwatch.embedded_broker import EmbeddedBroker
from propwatch.settings import Settings
from propwatch.site import Role, Site, load_site
from simulators.control import default_control_path
from simulators.fleet import Fleet
from simulators.scenario import Scenario, load_scenario

log = logging.getLogger("propwatch")


class _StopSignals:
    """Ctrl-C and SIGTERM ask for a clean stop from the moment the command starts: one that
    arrives while components are still starting stops them once they are up, with their
    shutdown (the maintenance consumer leaves what it holds unacknowledged), instead of killing
    the process half-way. Once stopping, the signals kill again, for a shutdown that hangs."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            self._loop.add_signal_handler(sig, self.requested.set)

    def restore(self) -> None:
        if self._loop is not None:
            for sig in self.SIGNALS:
                self._loop.remove_signal_handler(sig)
            self._loop = None

    async def wait(self) -> None:
        await self.requested.wait()
        self.restore()


def _scenario_for(site: Site, explicit: Path | None) -> Scenario | None:
    path = explicit or site.path.parent / "scenario.yaml"
    return load_scenario(path) if path.exists() else None


def _admin_token(settings: Settings, tokens: TokenRegistry) -> str:
    token = settings.admin_token.get_secret_value() if settings.admin_token else new_token()
    tokens.add(token, Principal("admin", ApiRole.ADMIN, frozenset({"*"})))
    return token


def _technician_links(site: Site, tokens: TokenRegistry, base: str) -> str:
    """The demo's phones: one 我的任务 link per technician, each seeing only their own tasks."""
    lines = []
    for person in site.spec.people:
        if person.role is not Role.TECHNICIAN:
            continue
        token = new_token()
        sites = frozenset({site.id})
        tokens.add(token, Principal(f"demo-{person.id}", ApiRole.TECHNICIAN, sites, person.id))
        lines.append(f"\n  我的任务 {person.name} ({person.id}): {base}/tasks#token={token}")
    return "".join(lines)


class _ApiServer(uvicorn.Server):
    """uvicorn inside our loop: signals belong to the supervisor, not to uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _api_server(ctx: AppContext, settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(ctx),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="off",
    )
    return _ApiServer(config)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    stop = _StopSignals()
    stop.install()
    try:
        return await _run(args, settings, stop)
    finally:
        stop.restore()


async def _run(args: argparse.Namespace, settings: Settings, stop: _StopSignals) -> int:
    site = load_site(args.site) if args.site else None
    clock = SystemClock()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        if args.command == "db":
            db = Database(settings.resolved_database_url())
            try:
                db.upgrade()
                print(f"database at {db.url} is at migration {db.revision()}")
            finally:
                db.dispose()
            return 0
        assert site is not None
        mqtt_url = settings.mqtt_url
        if mqtt_url is None and args.command in ("demo",):
            broker = await stack.enter_async_context(EmbeddedBroker())
            mqtt_url = broker.url
            log.info("embedded MQTT broker at %s", mqtt_url)
        needs_mqtt = args.command in ("gateway", "maintenance") or (
            args.command == "simulate" and any(d.protocol == "mqtt" for d in site.spec.devices)
        )
        if mqtt_url is None and needs_mqtt:
            log.error("PROPWATCH_MQTT_URL is not set")
            return 2
        if args.command in ("demo", "simulate"):
            scenario = _scenario_for(site, args.scenario)
            sim_clock: Clock = clock
            if args.command == "simulate":
                speed = args.speed or (scenario.speed if scenario else 1.0)
                sim_clock = ScaledClock(speed, args.start)
            control = getattr(args, "control", None) or default_control_path(
                settings.var_dir, site.id
            )
            await stack.enter_async_context(
                Fleet(site, sim_clock, mqtt_url, scenario, control_path=control)
            )
        tokens = TokenRegistry()
        health: dict[str, Callable[[], dict[str, Any]]] = {}
        db = Database(settings.resolved_database_url())
        if args.command in ("demo", "maintenance"):
            assert mqtt_url is not None
            maint = await stack.enter_async_context(
                MaintenanceService(site, settings, clock, mqtt_url, db)
            )
            health["maintenance"] = maint.health
        if args.command in ("demo", "gateway"):
            assert mqtt_url is not None
            gw = await stack.enter_async_context(Gateway(site, settings, clock, mqtt_url))
            health["gateway"] = gw.health
        if args.command in ("demo", "api"):
            db.upgrade()
            ctx = AppContext(
                db=db,
                sites={site.id: site},
                clock=clock,
                tokens=tokens,
                health=health,
                var_dir=settings.var_dir,
            )
            token = _admin_token(settings, tokens)
            await stack.enter_async_context(WebhookDispatcher(db, clock))
            server = _api_server(ctx, settings)
            api_task = asyncio.create_task(server.serve())
            base = f"http://{settings.api_host}:{settings.api_port}"
            phones = (
                _technician_links(site, tokens, base)
                if args.command == "demo"
                else f"\n  我的任务 (tasks):   {base}/tasks#token={token}"
            )
            print(
                f"\n  值班室 (duty room): {base}/#token={token}"
                f"{phones}"
                f"\n  API:               {base}/api/v1/work-orders"
                f"\n  访问令牌 (token):  {token}\n  按 Ctrl-C 停止\n",
                flush=True,
            )
            try:
                await stop.wait()
            finally:
                server.should_exit = True
                await api_task
        else:
            await stop.wait()
        log.info("stopping")
    return 0
