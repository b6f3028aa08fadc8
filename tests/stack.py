"""A site's services as real processes (`propwatch simulate|gateway|maintenance|api|demo`), each
on its own var dir, that a test can kill, stop and start again.

The alarm list is read from the maintenance database, and the gateway's truth from the retained
asset snapshots on the broker, so a test compares the two as an operator would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from maintenance.alarms.models import Alarm
from maintenance.db import Database
from propwatch.events import TOPIC_ROOT, AssetStateEvent, parse_event
from propwatch.mqtt import MqttConnection
from tests.conftest import EXAMPLE_SITE
from tests.support.servers import free_port

PROPWATCH = str(Path(sys.executable).with_name("propwatch"))


def quick_site_copy(tmp_path: Path, poll_interval: float = 0.2) -> Path:
    """The example site on free ports with quick polls and short rule delays (same profiles)."""
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    for d in doc["devices"]:
        if d["protocol"] == "modbus_tcp":
            d["poll_interval"] = f"{poll_interval}s"
    ports: dict[int, int] = {}
    for d in doc["devices"]:
        if "port" in d:
            d["port"] = ports.setdefault(d["port"], free_port())
    for r in doc["rules"]:
        if "on_delay" in r or r.get("kind", "threshold") in ("threshold", "fault_flags"):
            r["on_delay"] = "0.4s"
        if "off_delay" in r or r.get("kind", "threshold") in ("threshold", "fault_flags"):
            r["off_delay"] = "0.4s"
    doc["plans"] = []  # no plan orders: the alarm list is what these tests watch
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class Service:
    """One `propwatch` command as a child process; its output goes to a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already runs"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [PROPWATCH, *self.argv],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit (as systemd or Docker stop it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"{self.name} did not stop within 30 s of SIGTERM") from None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class SiteStack:
    """simulate + gateway + maintenance for one site file, against one broker and database."""

    site_file: Path
    mqtt_url: str
    database_url: str
    root: Path
    services: dict[str, Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("simulate", "gateway", "maintenance"):
            var = self.root / name
            var.mkdir(parents=True, exist_ok=True)
            env = {
                **os.environ,
                "PROPWATCH_MQTT_URL": self.mqtt_url,
                "PROPWATCH_VAR_DIR": str(var),
                "PROPWATCH_DATABASE_URL": self.database_url,
            }
            self.services[name] = Service(
                name, [name, "--site", str(self.site_file)], env, self.root / f"{name}.log"
            )

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    def start(self) -> None:
        for name in ("simulate", "maintenance", "gateway"):
            self.services[name].start()

    def close(self) -> None:
        for service in self.services.values():
            service.kill()

    def control(self, *args: str) -> None:
        simulator_control(self.site_file, self.services["simulate"].env, *args)

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{s.tail()}" for n, s in self.services.items())


def simulator_control(site_file: Path, env: dict[str, str], *args: str) -> None:
    """`propwatch simulate --site F inject|clear …` against the simulator running with `env`."""
    done = subprocess.run(
        [PROPWATCH, "simulate", "--site", str(site_file), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"simulate {args}: {done.stderr}"


def open_alarms(db: Database, site_id: str) -> set[tuple[str, str]]:
    """(asset, alarm type) of every alarm the duty room sees as active."""
    with db.session() as s:
        rows = s.execute(
            select(Alarm.asset_code, Alarm.alarm_type).where(
                Alarm.site_id == site_id, Alarm.cleared_at.is_(None), Alarm.raise_count > 0
            )
        )
        return {(a, t) for a, t in rows}


def open_episodes(db: Database, site_id: str) -> set[tuple[str, str]]:
    with db.session() as s:
        rows = s.execute(
            select(Alarm.asset_code, Alarm.episode_id).where(
                Alarm.site_id == site_id, Alarm.cleared_at.is_(None), Alarm.raise_count > 0
            )
        )
        return {(a, e) for a, e in rows}


class Snapshots:
    """The retained asset snapshots on the broker, as the maintenance side receives them."""

    def __init__(self, mqtt_url: str, site_id: str) -> None:
        self._lock = threading.Lock()
        self.latest: dict[str, AssetStateEvent] = {}
        self.conn = MqttConnection(mqtt_url, f"test-snapshots-{time.monotonic_ns()}")
        self.conn.on_message = self._on_message
        self.conn.subscribe(f"{TOPIC_ROOT}/{site_id}/state/+", qos=1)

    def _on_message(self, msg: Any) -> None:
        event = parse_event(bytes(msg.payload))
        if isinstance(event, AssetStateEvent):
            with self._lock:
                old = self.latest.get(event.asset_id)
                if old is None or old.occurred_at <= event.occurred_at:
                    self.latest[event.asset_id] = event

    def __enter__(self) -> Snapshots:
        self.conn.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.stop()

    def episodes(self) -> set[tuple[str, str]]:
        with self._lock:
            return {
                (asset, c.episode_id)
                for asset, e in self.latest.items()
                for c in e.conditions or []
            }


def stack_ready(db: Database, snapshots: Snapshots, assets: int = 4) -> bool:
    """The database is migrated and every asset's snapshot is on the broker."""
    try:
        open_alarms(db, "")
    except SQLAlchemyError:
        return False
    return len(snapshots.latest) >= assets


def wait_for(
    check: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str]
) -> float:
    """Seconds until `check` held; fails with the services' logs after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs()}")


def dump(value: object) -> str:
    return json.dumps(sorted(value) if isinstance(value, set) else value, ensure_ascii=False)
