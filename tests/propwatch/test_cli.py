"""`propwatch` as a new user meets it: every command's --help, and every command started with a
dependency missing or broken, run as real processes. What stops a start is one clear line
naming what and where, exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from propwatch.cli import build_parser
from propwatch.settings import Settings
from tests.conftest import EXAMPLE_SITE
from tests.support.servers import free_port, wait_until

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and sub-command of the parser, found in it (a new one is covered)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from _commands(child, (*path, name))


COMMANDS = [path for path, _ in _commands(build_parser())]


def _run(
    *args: str, env: dict[str, str] | None = None, lang: str = "en", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROPWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "propwatch.cli", *args],
        env={**base, "PROPWATCH_LANG": lang, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
    )


def _the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's line: exit 2, no traceback, the last line of stderr."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "nothing said"
    assert not LOG_LINE.match(lines[-1]), lines[-1]
    return lines[-1]


def _simulate_parts(path: tuple[str, ...]) -> tuple[str, ...]:
    """simulate's actions need --site before the action, as a user types them."""
    if path[0] == "simulate" and len(path) > 1:
        return ("simulate", "--site", str(EXAMPLE_SITE), *path[1:])
    return path


def test_the_parser_has_the_commands_the_design_names() -> None:
    top = {path[0] for path in COMMANDS}
    assert top == {
        "demo",
        "gateway",
        "maintenance",
        "api",
        "simulate",
        "check-config",
        "db",
        "assets",
        "contractors",
        "contracts",
        "plans",
    }
    assert {("simulate", a) for a in ("inject", "clear", "comm", "status")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=["-".join(p) for p in COMMANDS])
def test_every_command_help_describes_it_and_each_option_and_lists_its_settings(
    path: tuple[str, ...],
) -> None:
    parser = dict(_commands(build_parser()))[path]
    result = _run(*_simulate_parts(path), "--help")
    assert result.returncode == 0, result.stderr
    assert parser.description and parser.description in " ".join(result.stdout.split())
    for action in parser._actions:
        assert action.help, f"{'/'.join(path)}: {action.option_strings or action.dest} has no help"
    registers = ("assets", "contractors", "contracts", "plans")
    if path[0] in ("check-config", *registers) or len(path) > 1:
        return  # the control actions talk to a socket; check-config and registers read no setting
    for name, _, english in Settings.read_by(path[0]):
        assert re.search(rf"^\s+{name}\s+{re.escape(english)}", result.stdout, re.M), name
    assert "PROPWATCH_VAR_DIR" in result.stdout


def test_the_settings_each_command_reads_are_the_ones_settings_declare() -> None:
    # every setting is read by some command, and only known commands are named
    named = {c for name in Settings.model_fields for c in _readers(name)}
    assert named <= {"demo", "gateway", "maintenance", "api", "simulate", "db"}
    assert all(_readers(name) for name in Settings.model_fields)


def _readers(field: str) -> list[str]:
    extra = Settings.model_fields[field].json_schema_extra
    assert isinstance(extra, dict)
    commands = extra["commands"]
    assert isinstance(commands, list)
    return [str(c) for c in commands]


def test_help_is_chinese_when_the_locale_is() -> None:
    result = _run("gateway", "--help", lang="", env={"LANG": "zh_CN.UTF-8"})
    assert "边缘网关" in result.stdout and "读取的环境变量" in result.stdout


def test_inject_help_lists_the_sites_devices_by_name_and_what_each_fault_does() -> None:
    result = _run("simulate", "--site", str(EXAMPLE_SITE), "inject", "--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^\s+lift-1-1\s+1栋1号电梯 \(elevator\)", out, re.M)
    assert re.search(r"^\s+door_held_open\s+the door is propped open", out, re.M)
    assert re.search(r"^\s+lamp_failure\s+lamps of a circuit fail.*--param lamps=1", out, re.M)


def test_inject_help_without_a_site_says_how_to_list_them() -> None:
    result = _run("simulate", "inject", "--help")
    assert result.returncode == 0
    assert "Add --site to list the site's devices" in result.stdout


# ---- start-up failures --------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _closed_port() -> int:
    return free_port()  # nothing listens on it


def _site_on(tmp_path: Path, port: int) -> Path:
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    for d in doc["devices"]:
        if d.get("port") == 15020:
            d["port"] = port
        elif "port" in d:
            d["port"] = free_port()
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_a_taken_device_port_is_named_with_its_device(tmp_path: Path, taken_port: int) -> None:
    site = _site_on(tmp_path, taken_port)
    env = {"PROPWATCH_VAR_DIR": str(tmp_path / "var"), "PROPWATCH_MQTT_URL": "mqtt://127.0.0.1:1"}
    line = _the_one_line(_run("simulate", "--site", str(site), env=env))
    assert f"127.0.0.1:{taken_port}" in line and "pump-1" in line
    assert "address already in use" in line


def test_demo_on_a_taken_device_port_says_the_same(tmp_path: Path, taken_port: int) -> None:
    site = _site_on(tmp_path, taken_port)
    env = {"PROPWATCH_VAR_DIR": str(tmp_path / "var"), "PROPWATCH_API_PORT": str(free_port())}
    line = _the_one_line(_run("demo", "--site", str(site), env=env, lang="zh"))
    assert f"模拟设备 pump-1 ({site}) 无法监听 127.0.0.1:{taken_port}: 端口已被占用" in line


@pytest.mark.parametrize("command", ["maintenance", "simulate"])
def test_an_unreachable_broker_is_named_by_host_and_port(tmp_path: Path, command: str) -> None:
    port = _closed_port()
    env = {
        "PROPWATCH_VAR_DIR": str(tmp_path / "var"),
        "PROPWATCH_MQTT_URL": f"mqtt://user:hunter2@127.0.0.1:{port}",
    }
    site = _site_on(tmp_path, free_port())
    result = _run(command, "--site", str(site), env=env)
    line = _the_one_line(result)
    assert line.startswith(f"MQTT broker 127.0.0.1:{port} unreachable (PROPWATCH_MQTT_URL)")
    assert "hunter2" not in result.stderr


def test_the_gateway_starts_without_its_broker_and_says_so(tmp_path: Path) -> None:
    """The edge keeps polling and queues alarms on disk while the broker is away (DESIGN): a
    broker down at boot is a warning naming it, not a refusal."""
    port = _closed_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROPWATCH_")}
    env = {
        **base,
        "PROPWATCH_LANG": "en",
        "PROPWATCH_VAR_DIR": str(tmp_path / "var"),
        "PROPWATCH_MQTT_URL": f"mqtt://127.0.0.1:{port}",
    }
    log = tmp_path / "gateway.log"
    site = _site_on(tmp_path, free_port())
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "propwatch.cli", "gateway", "--site", str(site)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "starting anyway" in log.read_text(), 30, "the gateway's warning")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    text = log.read_text()
    assert f"no MQTT connection to 127.0.0.1:{port}" in text and "Traceback" not in text


@pytest.mark.parametrize("command", ["gateway", "maintenance"])
def test_a_missing_broker_url_says_which_setting(tmp_path: Path, command: str) -> None:
    env = {"PROPWATCH_VAR_DIR": str(tmp_path / "var")}
    line = _the_one_line(_run(command, "--site", str(EXAMPLE_SITE), env=env))
    assert f"propwatch {command} needs an MQTT broker: set PROPWATCH_MQTT_URL" in line


@pytest.mark.parametrize(
    "args",
    [
        ("api", "--site", str(EXAMPLE_SITE)),
        ("db", "upgrade"),
        ("db", "upgrade", "--site", str(EXAMPLE_SITE)),
    ],
)
def test_an_unreachable_database_is_named_by_host_and_port_never_the_password(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    port = _closed_port()
    env = {
        "PROPWATCH_VAR_DIR": str(tmp_path / "var"),
        "PROPWATCH_DATABASE_URL": f"postgresql+psycopg://propwatch:s3cret@127.0.0.1:{port}/pw",
        "PROPWATCH_API_PORT": str(free_port()),
    }
    result = _run(*args, env=env)
    line = _the_one_line(result)
    assert line.startswith(f"database 127.0.0.1:{port}/pw unreachable (PROPWATCH_DATABASE_URL)")
    assert "s3cret" not in result.stderr + result.stdout


def test_maintenance_with_an_unreachable_database_says_so(tmp_path: Path) -> None:
    port = _closed_port()
    env = {
        "PROPWATCH_VAR_DIR": str(tmp_path / "var"),
        "PROPWATCH_DATABASE_URL": f"postgresql+psycopg://propwatch:s3cret@127.0.0.1:{port}/pw",
        "PROPWATCH_MQTT_URL": f"mqtt://127.0.0.1:{_closed_port()}",
    }
    result = _run("maintenance", "--site", str(EXAMPLE_SITE), env=env)
    line = _the_one_line(result)
    assert "unreachable" in line and "s3cret" not in result.stderr


@pytest.mark.parametrize("command", ["api", "demo"])
def test_a_taken_api_port_is_named(tmp_path: Path, taken_port: int, command: str) -> None:
    site = _site_on(tmp_path, free_port())
    env = {"PROPWATCH_VAR_DIR": str(tmp_path / "var"), "PROPWATCH_API_PORT": str(taken_port)}
    line = _the_one_line(_run(command, "--site", str(site), env=env))
    assert line == (
        f"HTTP API (PROPWATCH_API_PORT) cannot listen on 127.0.0.1:{taken_port}: "
        "address already in use"
    )


@pytest.mark.parametrize("command", ["gateway", "maintenance", "api", "demo", "db", "simulate"])
def test_a_var_dir_the_service_user_may_not_write_is_named(tmp_path: Path, command: str) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    var = locked / "var"
    env = {
        "PROPWATCH_VAR_DIR": str(var),
        "PROPWATCH_MQTT_URL": "mqtt://127.0.0.1:1",
        "PROPWATCH_API_PORT": str(free_port()),
    }
    args = ["db", "upgrade"] if command == "db" else [command, "--site", str(EXAMPLE_SITE)]
    if os.geteuid() == 0:  # root writes anywhere: start it as nobody, as a service user would
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) runs the command as another user"
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    else:
        locked.chmod(0o500)
        prefix = []
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROPWATCH_")}
    result = subprocess.run(
        [*prefix, sys.executable, "-m", "propwatch.cli", *args],
        env={**base, "PROPWATCH_LANG": "en", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    line = _the_one_line(result)
    assert line.startswith(f"var dir {var} is not writable: permission denied (PROPWATCH_VAR_DIR")


BROKEN_SITE = """\
site: {id: broken, name: 坏站点, timezone: Asia/Shanghai}
devices:
  - {id: pump-1, protocol: modbus_tcp, profile: no_such_profile, host: 127.0.0.1, port: 1}
"""


@pytest.mark.parametrize(
    "command", ["check-config", "gateway", "maintenance", "api", "demo", "simulate"]
)
def test_a_site_file_with_errors_prints_the_loaders_messages_one_per_line(
    tmp_path: Path, command: str
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(BROKEN_SITE, encoding="utf-8")
    env = {"PROPWATCH_VAR_DIR": str(tmp_path / "var"), "PROPWATCH_MQTT_URL": "mqtt://127.0.0.1:1"}
    result = _run(command, "--site", str(site), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if not LOG_LINE.match(line)]
    assert lines[0] == "configuration error:"
    assert lines[1:] and all(line.startswith(f"  {site}:") for line in lines[1:]), lines


def test_a_missing_site_file_is_one_line_too(tmp_path: Path) -> None:
    result = _run("gateway", "--site", str(tmp_path / "nowhere.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "nowhere.yaml" in result.stderr


def test_verbose_adds_the_traceback(tmp_path: Path, taken_port: int) -> None:
    site = _site_on(tmp_path, free_port())
    env = {"PROPWATCH_VAR_DIR": str(tmp_path / "var"), "PROPWATCH_API_PORT": str(taken_port)}
    result = _run("--verbose", "api", "--site", str(site), env=env)
    assert result.returncode == 2 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("HTTP API (PROPWATCH_API_PORT)")


def test_a_setting_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    env = {"PROPWATCH_VAR_DIR": str(tmp_path / "var"), "PROPWATCH_API_PORT": "eighty"}
    line = _the_one_line(_run("api", "--site", str(EXAMPLE_SITE), env=env))
    assert line.startswith("setting PROPWATCH_API_PORT='eighty' is invalid: ")
