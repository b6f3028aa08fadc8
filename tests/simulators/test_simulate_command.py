"""`propwatch simulate` as a user runs it: a process serving the site, controlled from another."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from propwatch.site import Site
from tests.support.servers import wait_until


@pytest.fixture
def simulator(modbus_site: Site, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    env = {**os.environ, "PROPWATCH_VAR_DIR": str(tmp_path / "var"), "PROPWATCH_LANG": "zh"}
    env.pop("PROPWATCH_MQTT_URL", None)
    command = [sys.executable, "-m", "propwatch.cli", "simulate", "--site", str(modbus_site.path)]
    proc = subprocess.Popen(
        [*command, "--speed", "60", "--start", "2026-03-02T08:00:00+08:00"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sock = tmp_path / "var" / "simulate-hexie.sock"
    try:
        wait_until(lambda: sock.exists() or proc.poll() is not None, 20, "the control socket")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield modbus_site.path, env
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert not sock.exists(), "the socket is removed on exit"


def _cli(env: dict[str, str], site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "propwatch.cli", "simulate", "--site", str(site), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_inject_then_status_shows_the_fault_in_simulated_time(
    simulator: tuple[Path, dict[str, str]],
) -> None:
    site, env = simulator
    injected = _cli(env, site, "inject", "lift-1-1", "entrapment")
    status = _cli(env, site, "status", "--json")
    assert injected.returncode == 0, injected.stderr
    assert "已执行" in injected.stdout
    doc = json.loads(status.stdout)
    assert doc["devices"]["lift-1-1"]["faults"] == ["entrapment"]
    assert doc["now"].startswith("2026-03-02T0")  # --start, running at 60x


def test_refused_command_exits_non_zero_with_the_reason(
    simulator: tuple[Path, dict[str, str]],
) -> None:
    site, env = simulator
    result = _cli(env, site, "comm", "pump-1", "garbled")
    assert result.returncode == 1 and "garbled" in result.stderr


def _active(env: dict[str, str], site: Path) -> dict[str, list[str]]:
    status = _cli(env, site, "status", "--json")
    assert status.returncode == 0, status.stderr
    return {d: e["faults"] for d, e in json.loads(status.stdout)["devices"].items()}


def test_clear_one_fault_leaves_the_others(simulator: tuple[Path, dict[str, str]]) -> None:
    site, env = simulator
    for fault in ("entrapment", "leveling"):
        assert _cli(env, site, "inject", "lift-1-1", fault).returncode == 0
    cleared = _cli(env, site, "clear", "lift-1-1", "entrapment")
    assert cleared.returncode == 0, cleared.stderr
    assert "已执行: clear lift-1-1 entrapment" in cleared.stdout
    assert _active(env, site)["lift-1-1"] == ["leveling"]


def test_clear_without_a_fault_or_with_all_clears_every_fault(
    simulator: tuple[Path, dict[str, str]],
) -> None:
    site, env = simulator
    for clear in ((), ("all",)):
        for fault in ("entrapment", "leveling"):
            assert _cli(env, site, "inject", "lift-1-1", fault).returncode == 0
        cleared = _cli(env, site, "clear", "lift-1-1", *clear)
        assert cleared.returncode == 0, cleared.stderr
        assert _active(env, site)["lift-1-1"] == []


def test_clear_of_a_fault_the_device_does_not_have_is_refused(
    simulator: tuple[Path, dict[str, str]],
) -> None:
    site, env = simulator
    result = _cli(env, site, "clear", "lift-1-1", "bearing_drift")
    assert result.returncode == 1 and "bearing_drift" in result.stderr


def test_status_lists_each_device_by_name_with_its_faults_and_the_active_ones(
    simulator: tuple[Path, dict[str, str]],
) -> None:
    site, env = simulator
    assert _cli(env, site, "inject", "pump-1", "overload").returncode == 0
    status = _cli(env, site, "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    pump = next(line for line in lines if line.strip().startswith("pump-1 "))
    assert "1号生活水泵" in pump and "当前故障: overload" in pump
    assert any(line.split()[:1] == ["bearing_drift"] and "轴承温度" in line for line in lines)
