"""No secret in any output: every `propwatch` command runs as a real process with every secret
given (admin token, database password, MQTT password, InfluxDB token, notification secrets),
verbose, and neither its stdout/stderr nor any file it leaves under var/ holds one of them.
What it creates under var/ is its user's alone (0700 directories, 0600 files)."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from maintenance.db import Database
from maintenance.registry.models import Asset
from propwatch.runtime import masked_url
from simulators.control import default_control_path
from tests.stack import PROPWATCH, quick_site_copy
from tests.support.postgres import Postgres
from tests.support.servers import Mosquitto, VictoriaMetrics, free_port, wait_until

pytestmark = pytest.mark.servers


@dataclass
class Secrets:
    admin_token: str = field(default_factory=lambda: "pw_" + secrets.token_urlsafe(24))
    db_password: str = field(default_factory=lambda: "dbpw" + secrets.token_hex(10))
    mqtt_password: str = field(default_factory=lambda: "mqpw" + secrets.token_hex(10))
    influx_token: str = field(default_factory=lambda: "influx" + secrets.token_hex(12))
    robot_key: str = field(default_factory=lambda: "robot" + secrets.token_hex(12))
    smtp_password: str = field(default_factory=lambda: "smtp" + secrets.token_hex(10))

    def values(self) -> dict[str, str]:
        return dict(vars(self))


@dataclass
class Command:
    name: str
    argv: list[str]
    env: dict[str, str]
    out: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.out.open("ab") as log:
            self.proc = subprocess.Popen(
                [PROPWATCH, "-v", *self.argv], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def run(self) -> int:
        self.start()
        assert self.proc is not None
        return self.proc.wait(120)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def text(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _healthy(port: int) -> bool:
    return _get(f"http://127.0.0.1:{port}/healthz")[0] == 200


def _gateway_connected(port: int) -> bool:
    status, body = _get(f"http://127.0.0.1:{port}/healthz")
    return status in (200, 503) and b'"mqtt_connected": true' in body.replace(b'":true', b'": true')


def _assets_with_state(url: str) -> bool:
    db = Database(url)
    try:
        with db.session() as s:
            return (
                s.scalar(select(Asset.id).where(Asset.state_at.is_not(None)).limit(1)) is not None
            )
    finally:
        db.dispose()


@pytest.fixture
def world(
    tmp_path: Path, mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, postgres: Postgres
) -> Iterator[tuple[Secrets, dict[str, str], Path, list[Command]]]:
    given = Secrets()
    plain = postgres.create_database()
    # trust authentication ignores the password, but every command is handed it
    database_url = plain.replace("propwatch@", f"propwatch:{given.db_password}@")
    host = mosquitto.url.removeprefix("mqtt://")
    env = {
        **os.environ,
        "PROPWATCH_MQTT_URL": f"mqtt://{host}",
        "PROPWATCH_MQTT_USERNAME": "gateway",
        "PROPWATCH_MQTT_PASSWORD": given.mqtt_password,
        "PROPWATCH_INFLUX_URL": victoria_metrics.url,
        "PROPWATCH_INFLUX_TOKEN": given.influx_token,
        "PROPWATCH_DATABASE_URL": database_url,
        "PROPWATCH_ADMIN_TOKEN": given.admin_token,
        "PROPWATCH_NOTIFY_SECRETS": json.dumps(
            {"wecom-zone-a-key": given.robot_key, "smtp-password": given.smtp_password}
        ),
    }
    commands: list[Command] = []
    yield given, env, tmp_path, commands
    for c in commands:
        c.stop()
    postgres.drop_database(plain)


def _command(
    tmp_path: Path, commands: list[Command], env: dict[str, str], name: str, *argv: str
) -> Command:
    var = tmp_path / "var" / name
    c = Command(name, list(argv), {**env, "PROPWATCH_VAR_DIR": str(var)}, tmp_path / f"{name}.out")
    commands.append(c)
    return c


def _leaks(given: Secrets, places: dict[str, bytes]) -> list[str]:
    found = []
    for where, content in places.items():
        for name, value in given.values().items():
            if value.encode() in content:
                found.append(f"{name} in {where}")
    return found


def test_no_command_prints_or_keeps_a_secret_it_was_given(
    world: tuple[Secrets, dict[str, str], Path, list[Command]],
) -> None:
    given, env, tmp_path, commands = world
    site = quick_site_copy(tmp_path)
    site_arg = ("--site", str(site))

    check = _command(tmp_path, commands, env, "check-config", "check-config", *site_arg)
    assert check.run() == 0, check.text()
    upgrade = _command(tmp_path, commands, env, "db", "db", "upgrade")
    assert upgrade.run() == 0, upgrade.text()
    assert f"database at {masked_url(env['PROPWATCH_DATABASE_URL'])} is at migration" in (
        upgrade.text()
    )
    assert ":***@" in upgrade.text()

    simulate = _command(tmp_path, commands, env, "simulate", "simulate", *site_arg)
    simulate.start()
    control = default_control_path(tmp_path / "var" / "simulate", "hexie")
    wait_until(lambda: control.exists() or not simulate.alive(), 60, "the simulator")
    status = _command(tmp_path, commands, env, "simulate-status", "simulate", *site_arg, "status")
    status.env = simulate.env  # the same var dir: the running simulator's control socket
    assert status.run() == 0, status.text()

    metrics = free_port()
    gateway = _command(tmp_path, commands, env, "gateway", "gateway", *site_arg)
    gateway.env["PROPWATCH_GATEWAY_METRICS_PORT"] = str(metrics)
    gateway.start()
    wait_until(lambda: _gateway_connected(metrics) or not gateway.alive(), 60, "the gateway")

    maintenance = _command(tmp_path, commands, env, "maintenance", "maintenance", *site_arg)
    maintenance.start()
    wait_until(
        lambda: _assets_with_state(env["PROPWATCH_DATABASE_URL"]) or not maintenance.alive(),
        60,
        "asset states through MQTT into the database",
    )

    api_port = free_port()
    api = _command(tmp_path, commands, env, "api", "api", *site_arg)
    api.env["PROPWATCH_API_PORT"] = str(api_port)
    api.start()
    wait_until(lambda: _healthy(api_port) or not api.alive(), 60, "the api")
    status_code, _ = _get(f"http://127.0.0.1:{api_port}/api/v1/tokens", given.admin_token)
    assert status_code == 200  # the given admin token works: it was really handed over

    for c in (simulate, gateway, maintenance, api):
        assert c.alive(), c.text()
    for c in (api, maintenance, gateway, simulate):
        assert c.stop() == 0, c.text()

    demo_port = free_port()
    (tmp_path / "demo-site").mkdir()
    demo_site = quick_site_copy(tmp_path / "demo-site")  # devices of its own, on other ports
    demo = _command(tmp_path, commands, env, "demo", "demo", "--site", str(demo_site))
    demo.env["PROPWATCH_API_PORT"] = str(demo_port)
    del demo.env["PROPWATCH_MQTT_URL"]  # the embedded broker, with the clients' password
    del demo.env["PROPWATCH_DATABASE_URL"]
    demo.start()
    wait_until(lambda: _healthy(demo_port) or not demo.alive(), 90, "the demo")
    assert demo.stop() == 0, demo.text()

    outputs = {f"output of {c.name}": c.out.read_bytes() for c in commands}
    kept = {
        f"{p.relative_to(tmp_path)}": p.read_bytes()
        for p in (tmp_path / "var").rglob("*")
        if p.is_file()
    }
    assert _leaks(given, outputs | kept) == []
    assert "访问令牌 (token):  使用 PROPWATCH_ADMIN_TOKEN" in api.text()
    assert re.search(r"我的任务 \S+ \(\S+\): http://\S+/tasks#token=pw_", demo.text())


def test_everything_created_under_var_is_private(
    world: tuple[Secrets, dict[str, str], Path, list[Command]],
) -> None:
    """SQLite databases (with their -wal and -shm), outboxes, dead letters, the simulator's
    control socket and attachments, created under a umask that would have made them public."""
    _, env, tmp_path, commands = world
    site = quick_site_copy(tmp_path)
    demo_port = free_port()
    var = tmp_path / "var" / "demo"
    demo = _command(tmp_path, commands, env, "demo", "demo", "--site", str(site))
    demo.env |= {"PROPWATCH_API_PORT": str(demo_port)}
    del demo.env["PROPWATCH_MQTT_URL"]
    del demo.env["PROPWATCH_DATABASE_URL"]
    del demo.env["PROPWATCH_ADMIN_TOKEN"]
    old = os.umask(0o022)
    try:
        demo.start()
    finally:
        os.umask(old)
    wait_until(lambda: _healthy(demo_port) or not demo.alive(), 90, "the demo")
    token = re.search(r"访问令牌 \(token\):  (\S+)", demo.text())
    assert token is not None, demo.text()
    _upload_photo(demo_port, token.group(1))

    running = [var, *var.rglob("*")]  # while running: -wal, -shm and the socket too
    names = {p.name for p in running}
    assert {"propwatch.db-wal", "outbox.db", "simulate-hexie.sock"} <= names, names
    assert any("attachments" in p.parts for p in running if p.is_file())
    assert _loose(running, tmp_path) == {}
    demo.stop()
    assert _loose([var, *var.rglob("*")], tmp_path) == {}


def _loose(paths: list[Path], root: Path) -> dict[str, str]:
    """Paths any other user could read, write or enter, with their modes."""
    modes = {}
    for p in paths:
        try:
            mode = stat.S_IMODE(p.lstat().st_mode)
        except FileNotFoundError:  # a journal SQLite removed meanwhile
            continue
        if mode & 0o077:
            modes[str(p.relative_to(root))] = oct(mode)
    return modes


def test_an_existing_var_dir_open_to_everyone_is_closed(
    world: tuple[Secrets, dict[str, str], Path, list[Command]],
) -> None:
    """An install from before this release left var/ at 0755."""
    _, env, tmp_path, commands = world
    var = tmp_path / "var" / "db"
    var.mkdir(parents=True)
    var.chmod(0o755)
    upgrade = _command(tmp_path, commands, env, "db", "db", "upgrade")
    del upgrade.env["PROPWATCH_DATABASE_URL"]
    assert upgrade.run() == 0, upgrade.text()
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    assert stat.S_IMODE((var / "propwatch.db").stat().st_mode) == 0o600


def _upload_photo(port: int, token: str) -> None:
    """A work order and a photo on it, through the API as a phone would."""
    base = f"http://127.0.0.1:{port}/api/v1"
    order = urllib.request.Request(
        f"{base}/work-orders",
        data=json.dumps({"site_id": "hexie", "title": "照明故障"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(order, timeout=10) as answer:
        wo_id = json.loads(answer.read())["id"]
    boundary = "propwatch-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + b"\xff\xd8\xff\xe0 photo"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    photo = urllib.request.Request(
        f"{base}/work-orders/{wo_id}/attachments",
        data=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    with urllib.request.urlopen(photo, timeout=10) as answer:
        assert answer.status == 201
