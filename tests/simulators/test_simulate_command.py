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
    env = {**os.environ, "PROPWATCH_VAR_DIR": str(tmp_path / "var")}
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
    status = _cli(env, site, "status")
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
