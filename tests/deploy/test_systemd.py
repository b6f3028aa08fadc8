"""systemd units for a bare edge box: verified by systemd-analyze, real CLI commands, hardened."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from propwatch.cli import build_parser
from propwatch.settings import Settings
from tests.deploy.files import DEPLOY
from tests.support.servers import require_binary

UNITS_DIR = DEPLOY / "systemd"
UNITS = sorted(UNITS_DIR.glob("*.service"))
INSTALLED_BINARY = "/opt/propwatch/venv/bin/propwatch"


def _unit(path: Path) -> dict[str, list[str]]:
    """`Section.Key` -> every value given (keys such as DeviceAllow= repeat)."""
    out: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out[f"{section}.{key}"].append(value)
    return out


def test_units_are_shipped_for_every_service() -> None:
    names = {p.name for p in UNITS}
    assert {"propwatch-gateway.service", "propwatch-maintenance.service"} <= names
    assert "propwatch-api.service" in names


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_passes_systemd_analyze_verify(path: Path, tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze")
    _copy_units(tmp_path)
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / path.name)], capture_output=True, text=True, timeout=60
    )
    problems = [line for line in result.stderr.splitlines() if "propwatch" in line]
    assert result.returncode == 0 and not problems, result.stderr


def _copy_units(tmp_path: Path) -> None:
    """The units expect the install under /opt/propwatch; point them at this checkout's binary."""
    here = str(Path(sys.executable).with_name("propwatch"))
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace(INSTALLED_BINARY, here)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_exposure_stays_low_in_systemd_analyze_security(path: Path, tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze")
    _copy_units(tmp_path)
    # --threshold is the overall exposure x10: 25 means "2.5 or better" (an unhardened unit: 9.6).
    cmd = [analyze, "security", "--offline=yes", "--threshold=25", str(tmp_path / path.name)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-600:] + result.stderr


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_exec_lines_are_real_cli_invocations(path: Path) -> None:
    unit = _unit(path)
    for key in ("Service.ExecStart", "Service.ExecStartPre"):
        for line in unit.get(key, []):
            binary, *args = shlex.split(line)
            assert binary == INSTALLED_BINARY
            build_parser().parse_args(args)  # exits (SystemExit) on an unknown command


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_environment_names_are_settings(path: Path) -> None:
    for assignment in _unit(path).get("Service.Environment", []):
        name = assignment.split("=", 1)[0]
        assert name.startswith("PROPWATCH_")
        assert name.removeprefix("PROPWATCH_").lower() in Settings.model_fields, name


def test_environment_file_example_names_only_settings() -> None:
    for line in (UNITS_DIR / "propwatch.env.example").read_text().splitlines():
        name = line.lstrip("#").split("=", 1)[0]
        if name.startswith("PROPWATCH_"):
            assert name.removeprefix("PROPWATCH_").lower() in Settings.model_fields, name


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_runs_unprivileged_with_state_directory_and_secrets_file(path: Path) -> None:
    unit = _unit(path)
    assert unit.get("Service.DynamicUser") == ["yes"] or unit.get("Service.User") == ["propwatch"]
    assert unit["Service.EnvironmentFile"] == ["/etc/propwatch/propwatch.env"]
    (state,) = unit["Service.StateDirectory"]
    assert f"PROPWATCH_VAR_DIR=/var/lib/{state}" in unit["Service.Environment"]
    assert unit["Service.NoNewPrivileges"] == ["yes"]
    assert unit["Service.ProtectSystem"] == ["strict"]
    assert unit["Service.CapabilityBoundingSet"] == [""]


@pytest.mark.parametrize(
    "path", [p for p in UNITS if _unit(p)["Service.Type"] != ["oneshot"]], ids=lambda p: p.name
)
def test_long_running_units_restart_always(path: Path) -> None:
    unit = _unit(path)
    assert unit["Service.Restart"] == ["always"]
    assert unit["Unit.StartLimitIntervalSec"] == ["0"]


def test_sysusers_file_creates_the_user_the_units_run_as(tmp_path: Path) -> None:
    sysusers = require_binary("systemd-sysusers")
    conf = UNITS_DIR / "propwatch.sysusers"
    (tmp_path / "etc").mkdir()
    subprocess.run([sysusers, f"--root={tmp_path}", str(conf)], check=True, capture_output=True)
    users = {line.split(":")[0] for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    named = {u for p in UNITS for u in _unit(p).get("Service.User", [])}
    assert named and named <= users
