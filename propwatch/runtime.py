"""Compose the components for each command and run them until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import stat
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

from api.app import create_app
from api.auth import ApiRole, Principal, TokenRegistry, new_token, weak_token_reason
from api.deps import AppContext
from api.rate_limit import RateLimiter
from api.resident_gate import ResidentGate
from api.webhooks.delivery import WebhookDispatcher
from api.webhooks.targets import WebhookTargets
from gateway.service import Gateway
from gateway.sinks.reads import make_reader
from maintenance.db import Database
from maintenance.service import MaintenanceService
from propwatch.clock import Clock, ScaledClock, SystemClock
from propwatch.embedded_broker import EmbeddedBroker
from propwatch.messages import say
from propwatch.settings import Settings
from propwatch.site import Role, Site, load_site
from propwatch.site_directory import SiteDirectory
from propwatch.startup import (
    StartFailed,
    bind_listener,
    broker_unreachable,
    check_ports_free,
    check_var_dir,
    database_unreachable,
)
from simulators.control import default_control_path
from simulators.fleet import Fleet
from simulators.scenario import Scenario, load_scenario

log = logging.getLogger("propwatch")

# 我的任务 links handed out by `propwatch demo` stop working after this
TECHNICIAN_LINK_LIFETIME = timedelta(days=30)


class StartRefused(StartFailed):
    """A setting the command will not run with; the message says what to do instead."""


@contextlib.contextmanager
def _reaching(mqtt_url: str | None, database_url: str) -> Iterator[None]:
    """A broker or database that does not answer while a component starts, as one line."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise database_unreachable(database_url, exc) from exc
    except ConnectionError as exc:
        if mqtt_url is None:
            raise
        raise broker_unreachable(mqtt_url, exc) from exc


def _check_simulated_ports(site: Site) -> None:
    """Every host:port the site's simulated Modbus devices listen on is free, or the one
    taken is named with its devices (pymodbus alone says `Could not start listen`)."""
    by_port: dict[tuple[str, int], list[str]] = {}
    for d in site.spec.devices:
        if d.protocol == "modbus_tcp":
            by_port.setdefault((d.host, d.port), []).append(d.id)
    for (host, port), ids in by_port.items():
        what = say(f"模拟设备 {', '.join(ids)}", f"simulated device {', '.join(ids)}")
        check_ports_free(f"{what} ({site.path})", host, [port])


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


def given_admin_token(settings: Settings) -> str | None:
    """`PROPWATCH_ADMIN_TOKEN`, unless it is an example value or too weak to guard the admin
    role (then the command refuses to start); None when unset."""
    if settings.admin_token is None:
        return None
    token = settings.admin_token.get_secret_value()
    reason = weak_token_reason(token)
    if reason is not None:
        raise StartRefused(
            f"PROPWATCH_ADMIN_TOKEN 不安全, 拒绝启动: {reason}。\n"
            "  请换成随机值, 例如 `openssl rand -hex 32` 的输出; 或者不设置它, "
            "由 propwatch 每次启动时生成并显示一个。\n"
            "  (admin token refused: use a random value such as `openssl rand -hex 32`, "
            "or leave it unset to have one generated and shown at start)"
        )
    return token


def _admin_token(given: str | None, tokens: TokenRegistry) -> str:
    token = given or new_token()
    tokens.add(token, Principal("admin", ApiRole.ADMIN, frozenset({"*"})))
    return token


def _technician_links(site: Site, tokens: TokenRegistry, base: str, now: datetime) -> str:
    """The demo's phones: one 我的任务 link per technician, each seeing only their own tasks,
    valid for `TECHNICIAN_LINK_LIFETIME`."""
    lines = []
    expires = now + TECHNICIAN_LINK_LIFETIME
    for person in site.spec.people:
        if person.role is not Role.TECHNICIAN:
            continue
        token = new_token()
        sites = frozenset({site.id})
        principal = Principal(f"demo-{person.id}", ApiRole.TECHNICIAN, sites, person.id, expires)
        tokens.add(token, principal)
        lines.append(f"\n  我的任务 {person.name} ({person.id}): {base}/tasks#token={token}")
    return "".join(lines)


def masked_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy can parse: print none of it
        return "(unprintable URL)"


def private_var_dir(var_dir: Path) -> None:
    """Everything this process creates is readable by its user only (0700 directories, 0600
    files: databases, outboxes, attachments), whatever umask it was started with. A var dir
    left open to every user (0755 from an earlier start) is closed to 0700; one the operator
    gave a group on purpose (0750 under systemd and Docker) is left as it is."""
    os.umask(os.umask(0o077) | 0o077)
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(var_dir.stat().st_mode)
    if mode & 0o007:
        try:
            var_dir.chmod(mode & 0o700)
        except PermissionError:
            log.warning("var dir %s is open to every user and not ours to close", var_dir)
        else:
            log.info("var dir %s was open to every user: now %o", var_dir, mode & 0o700)


class _ApiServer(uvicorn.Server):
    """uvicorn inside our loop: signals belong to the supervisor, not to uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _api_server(ctx: AppContext, settings: Settings, sites: SiteDirectory) -> uvicorn.Server:
    app = create_app(ctx)
    app.state.site_directory = sites  # GET /api/v1/site-files
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="off",
    )
    return _ApiServer(config)


def _banner(
    command: str,
    base: str,
    token: str,
    generated: bool,
    site: Site | None,
    tokens: TokenRegistry,
    clock: Clock,
) -> str:
    """What `demo` and `api` print at start. A token is shown only when it was generated here;
    the one given in PROPWATCH_ADMIN_TOKEN is never printed (stdout ends up in journals)."""
    fragment = f"#token={token}" if generated else ""
    lines = [f"  值班室 (duty room): {base}/{fragment}"]
    if command == "demo" and site is not None:
        lines.append(_technician_links(site, tokens, base, clock.now()).strip("\n"))
        lines.append(f"  (手机链接 {TECHNICIAN_LINK_LIFETIME.days} 天内有效)")
    elif generated:
        lines.append(f"  我的任务 (tasks):   {base}/tasks{fragment}")
    lines.append(f"  API:               {base}/api/v1/work-orders")
    if generated:
        lines.append(f"  访问令牌 (token):  {token}  (本次启动生成, 重启后失效)")
    else:
        lines.append("  访问令牌 (token):  使用 PROPWATCH_ADMIN_TOKEN 中设置的值 (不在此显示)")
    lines.append("  按 Ctrl-C 停止")
    return "\n" + "\n".join(lines) + "\n"


async def run(args: argparse.Namespace, settings: Settings) -> int:
    stop = _StopSignals()
    stop.install()
    try:
        return await _run(args, settings, stop)
    finally:
        stop.restore()


def open_sites(args: argparse.Namespace, clock: Clock) -> SiteDirectory:
    """The site files a central command serves: `--site FILE`, or every file of `--sites DIR`.

    One file that fails stops the start (as it always has); in a folder, a refused file is
    logged and shown in `/api/v1/site-files` while every good one starts. Blocking (disk)."""
    if args.site is not None:
        directory = SiteDirectory.of_file(args.site, clock)
    else:
        folder: Path = args.sites
        if not folder.is_dir():
            raise StartFailed(
                say(
                    f"站点文件目录 {folder} 不存在或不是目录 (--sites / PROPWATCH_SITES_DIR)",
                    f"the sites folder {folder} does not exist or is not a folder"
                    " (--sites / PROPWATCH_SITES_DIR)",
                )
            )
        directory = SiteDirectory(folder, clock)
    directory.rescan()
    if directory.single_file and not directory.sites:
        load_site(args.site)  # raises the file's problems, one per line
    if not directory.sites:
        log.warning("no site loads from %s yet; add site files, they are picked up", args.sites)
    return directory


def _follow(ctx: AppContext, directory: SiteDirectory, sites: Mapping[str, Site]) -> None:
    """A rescan changed the sites or the organisation: the routes see the new snapshot."""
    ctx.organisation = directory.organisation
    ctx.sites = dict(sites)


def _on_sighup(directory: SiteDirectory) -> Callable[[], None]:
    """SIGHUP rescans the site files at once (installed for `maintenance` and `api`)."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, directory.request_rescan)

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return restore


async def _run(args: argparse.Namespace, settings: Settings, stop: _StopSignals) -> int:
    clock = SystemClock()
    directory: SiteDirectory | None = None
    if args.command in ("maintenance", "api"):
        directory = await asyncio.to_thread(open_sites, args, clock)
    site = load_site(args.site) if args.site and directory is None else None
    admin_token = given_admin_token(settings) if args.command in ("demo", "api") else None
    check_var_dir(settings.var_dir)
    private_var_dir(settings.var_dir)
    database_url = settings.resolved_database_url()
    health: dict[str, Callable[[], dict[str, Any]]] = {}
    async with contextlib.AsyncExitStack() as stack:
        listener = None
        if args.command in ("demo", "api"):  # held from the start: a taken port starts nothing
            listener = bind_listener(
                "HTTP API (PROPWATCH_API_PORT)", settings.api_host, settings.api_port
            )
            stack.callback(listener.close)
        if args.command == "db":
            db = Database.from_settings(settings)
            try:
                with _reaching(None, database_url):
                    await asyncio.to_thread(db.upgrade)
                print(f"database at {masked_url(db.url)} is at migration {db.revision()}")
            finally:
                db.dispose()
            return 0
        if directory is not None:
            stack.callback(_on_sighup(directory))
            watch = asyncio.create_task(directory.watch(settings.sites_rescan), name="site-files")
            stack.callback(watch.cancel)
            health["sites"] = directory.health
        mqtt_url = settings.mqtt_url
        if mqtt_url is None and args.command in ("demo",):
            broker = await stack.enter_async_context(EmbeddedBroker())
            mqtt_url = broker.url
            log.info("embedded MQTT broker at %s", mqtt_url)
        needs_mqtt = args.command in ("gateway", "maintenance") or (
            args.command == "simulate"
            and site is not None
            and any(d.protocol == "mqtt" for d in site.spec.devices)
        )
        if mqtt_url is None and needs_mqtt:
            raise StartFailed(
                say(
                    f"propwatch {args.command} 需要 MQTT 代理: 请设置 PROPWATCH_MQTT_URL,"
                    " 如 mqtt://127.0.0.1:1883",
                    f"propwatch {args.command} needs an MQTT broker: set PROPWATCH_MQTT_URL,"
                    " e.g. mqtt://127.0.0.1:1883",
                )
            )
        if args.command in ("demo", "simulate"):
            assert site is not None
            scenario = _scenario_for(site, args.scenario)
            sim_clock: Clock = clock
            if args.command == "simulate":
                speed = args.speed or (scenario.speed if scenario else 1.0)
                sim_clock = ScaledClock(speed, args.start)
            control = getattr(args, "control", None) or default_control_path(
                settings.var_dir, site.id
            )
            _check_simulated_ports(site)
            with _reaching(mqtt_url, database_url):
                await stack.enter_async_context(
                    Fleet(site, sim_clock, mqtt_url, scenario, control_path=control)
                )
        tokens = TokenRegistry()
        db = Database.from_settings(settings)
        if args.command in ("demo", "maintenance"):
            assert mqtt_url is not None
            served = directory or SiteDirectory.of_file(args.site, clock)
            if directory is None:
                await asyncio.to_thread(served.rescan)
            with _reaching(mqtt_url, database_url):
                maint = await stack.enter_async_context(
                    MaintenanceService(served, settings, clock, mqtt_url, db)
                )
            health["maintenance"] = maint.health
        if args.command in ("demo", "gateway"):
            assert mqtt_url is not None and site is not None
            if settings.gateway_metrics_port is not None:
                check_ports_free(
                    "PROPWATCH_GATEWAY_METRICS_PORT",
                    settings.gateway_metrics_host,
                    [settings.gateway_metrics_port],
                )
            with _reaching(mqtt_url, database_url):
                gw = await stack.enter_async_context(Gateway(site, settings, clock, mqtt_url))
            health["gateway"] = gw.health
        if args.command in ("demo", "api"):
            assert listener is not None
            with _reaching(None, database_url):
                await asyncio.to_thread(db.upgrade)
            served_api = directory or SiteDirectory.of_file(args.site, clock)
            if directory is None:
                await asyncio.to_thread(served_api.rescan)
            trends = make_reader(settings)
            stack.callback(trends.close)
            ctx = AppContext(
                db=db,
                sites=dict(served_api.sites),
                organisation=served_api.organisation,
                clock=clock,
                tokens=tokens,
                health=health,
                # 扫码报修: the public endpoint's limits and the key of reporters' phones
                resident=ResidentGate(
                    per_phone_per_hour=settings.resident_reports_per_phone,
                    per_address_per_hour=settings.resident_reports_per_address,
                    phone_key_file=settings.resident_phone_key_file,
                ),
                var_dir=settings.var_dir,
                video_max_bytes=settings.attachment_video_max_mb * 1024 * 1024,
                webhook_targets=WebhookTargets.allowing(settings.webhook_allow_hosts),
                rate_limiter=(
                    RateLimiter(settings.api_rate_limit, settings.api_rate_burst)
                    if settings.api_rate_limit > 0
                    else None
                ),
                telemetry=trends,
                public_base_url=settings.public_base_url,
            )
            token = _admin_token(admin_token, tokens)
            await stack.enter_async_context(
                WebhookDispatcher(
                    db, clock, targets=ctx.webhook_targets, region_of=ctx.region_of_site
                )
            )
            # every rescan that changes a site hands the routes a new snapshot
            served_api.on_change(lambda sites: _follow(ctx, served_api, sites))
            server = _api_server(ctx, settings, served_api)
            api_task = asyncio.create_task(server.serve(sockets=[listener]))
            base = f"http://{settings.api_host}:{settings.api_port}"
            banner = _banner(args.command, base, token, admin_token is None, site, tokens, clock)
            print(banner, flush=True)
            try:
                await stop.wait()
            finally:
                server.should_exit = True
                await api_task
        else:
            await stop.wait()
        log.info("stopping")
    return 0
