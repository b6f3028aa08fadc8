"""Start real mosquitto, victoria-metrics and PostgreSQL processes for tests.

A missing binary skips the test with the reason; with PROPWATCH_REQUIRE_SERVERS=1 (CI) it fails,
so CI can never pass by skipping.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REQUIRE = os.environ.get("PROPWATCH_REQUIRE_SERVERS") == "1"


def require_binary(name: str, *extra_dirs: str) -> str:
    path = shutil.which(name)
    for d in extra_dirs:
        if path is None and Path(d, name).exists():
            path = str(Path(d, name))
    if path is None:
        reason = f"{name} is not installed (apt-get install the Debian package; see .ci/run)"
        if REQUIRE:
            pytest.fail(f"PROPWATCH_REQUIRE_SERVERS=1 but {reason}")
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll a condition with a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Mosquitto:
    port: int
    proc: subprocess.Popen[bytes]
    conf: Path
    binary: str

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def start(self) -> None:
        """(Re)start on the same port, e.g. after `stop()` in a restart test."""
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), 10, "mosquitto to listen")


@dataclass(frozen=True)
class BrokerLimits:
    """Mosquitto's per-client bounds: QoS 1 messages in flight (sent, not yet acknowledged),
    and queued beyond those; 0 is unlimited. Past the queue, Mosquitto drops, connected
    subscriber or not, and says nothing to anyone but its own log."""

    max_inflight_messages: int
    max_queued_messages: int


UNLIMITED = BrokerLimits(0, 0)
STOCK_LIMITS = BrokerLimits(20, 1000)
"""Mosquitto 2.0's defaults, what a broker nobody configured for us has."""
SHIPPED_LIMITS = BrokerLimits(100, 1_000_000)
"""deploy/site/mosquitto/mosquitto.conf."""


def start_mosquitto(tmp: Path, extra_conf: str = "", limits: BrokerLimits = UNLIMITED) -> Mosquitto:
    binary = require_binary("mosquitto", "/usr/sbin")
    port = free_port()
    conf = tmp / "mosquitto.conf"
    persistence = tmp / "mosquitto-data"
    persistence.mkdir(exist_ok=True)
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        # Unlimited unless a test asks for limits: the default of 1000 silently drops QoS 1
        # messages for a subscriber that falls behind.
        f"max_queued_messages {limits.max_queued_messages}\n"
        f"max_inflight_messages {limits.max_inflight_messages}\n"
        "persistence true\n"
        f"persistence_location {persistence}/\n"
        # Save the in-memory store every second (the default is 30 min): a crashed broker
        # otherwise forgets every session and queued message since the last save.
        "autosave_interval 1\n"
        # Run as root, mosquitto drops to the `mosquitto` user, which cannot write the persistence
        # file under pytest's private temp dir: a restart would then silently forget sessions.
        f"user {getpass.getuser()}\n"
        f"{extra_conf}"
    )
    m = Mosquitto(port, None, conf, binary)  # type: ignore[arg-type]
    m.start()
    return m


@dataclass
class VictoriaMetrics:
    port: int
    proc: subprocess.Popen[bytes]
    data: Path
    binary: str
    dedup: bool = True
    """`-dedup.minScrapeInterval=1ms`: a batch written twice (a replay after a crash between the
    store's 204 and the outbox's delete) is kept once, as InfluxDB does by itself. Off only to
    count what the writer itself sends twice."""
    latency_offset: str = "0s"
    """`-search.latencyOffset`: 0s here so that tests see what they wrote at once; the
    server's own default (30s) where a test reads as production does."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.data}",
                "-retentionPeriod=100y",
                f"-search.latencyOffset={self.latency_offset}",
                "-loggerLevel=ERROR",
                *(["-dedup.minScrapeInterval=1ms"] if self.dedup else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._healthy, 20, "victoria-metrics to answer /health")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def flush(self) -> None:
        """Make freshly ingested points searchable now."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5).read()

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every series matching a selector, as victoria-metrics' JSON lines export."""
        data = urllib.parse.urlencode({"match[]": match, "start": "0"}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/export", data=data, timeout=30) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]


def start_victoria_metrics(
    tmp: Path, dedup: bool = True, latency_offset: str = "0s"
) -> VictoriaMetrics:
    binary = require_binary("victoria-metrics")
    vm = VictoriaMetrics(
        free_port(),
        None,  # type: ignore[arg-type]
        tmp / "vm-data",
        binary,
        dedup,
        latency_offset,
    )
    vm.start()
    return vm
