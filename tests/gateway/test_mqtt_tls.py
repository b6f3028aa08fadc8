"""MQTT ingestion over TLS with username and password, all taken from Settings."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.readings import Sample
from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from propwatch.clock import SystemClock
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site
from tests.support.servers import Mosquitto, require_binary, start_mosquitto


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Path]]:
    """mosquitto with a throwaway CA, a certificate for 127.0.0.1 and one password user."""
    openssl = require_binary("openssl")
    passwd = require_binary("mosquitto_passwd")
    d = tmp_path
    ca = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"]
    _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout",
         "ca.key", "-out", "ca.crt", "-subj", "/CN=propwatch test CA", cwd=d)  # fmt: skip
    _run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
         "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _run(openssl, "x509", "-req", "-in", "server.csr", *ca, "-out", "server.crt",
         "-days", "1", "-extfile", "san.ext", cwd=d)  # fmt: skip
    _run(passwd, "-b", "-c", "passwd", "gateway", "s3cret", cwd=d)
    conf = (
        f"cafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"
        f"password_file {d / 'passwd'}\nallow_anonymous false\n"
    )
    broker = start_mosquitto(d, extra_conf=conf)
    yield broker, d / "ca.crt"
    broker.stop()


def test_gateway_ingests_over_tls_with_the_settings_credentials(
    example_site: Site, tmp_path: Path, tls_broker: tuple[Mosquitto, Path]
) -> None:
    broker, ca = tls_broker
    url = f"mqtts://127.0.0.1:{broker.port}"
    settings = Settings(
        var_dir=tmp_path / "var",
        mqtt_username="gateway",
        mqtt_password="s3cret",  # type: ignore[arg-type]
        mqtt_ca_file=ca,
    )
    offered: list[Sample] = []

    async def run() -> None:
        sink = LocalStore(tmp_path / "telemetry.db")
        async with Gateway(example_site, settings, SystemClock(), url, sink=sink) as gw:
            original = gw.writer.offer
            gw.writer.offer = lambda s: offered.append(s) or original(s)  # type: ignore[method-assign]
            device = MqttConnection(url, "door-north", username="gateway", password="s3cret",
                                    ca_file=str(ca))  # fmt: skip
            device.start()
            await device.wait_connected()
            await asyncio.sleep(0.3)
            body = json.dumps({"door": {"open": True}}).encode()
            await asyncio.to_thread(
                device.publish("devices/door-north/events", body, qos=1).wait_for_publish, 5
            )
            deadline = time.monotonic() + 10
            while not any(s.device_id == "door-north" for s in offered):
                assert time.monotonic() < deadline, "no sample from the TLS broker"
                await asyncio.sleep(0.05)
            device.stop()

    asyncio.run(run())

    door = next(s for s in offered if s.device_id == "door-north")
    assert door.values == {"door_open": True}


def test_a_wrong_password_is_refused_by_the_broker(tls_broker: tuple[Mosquitto, Path]) -> None:
    broker, ca = tls_broker
    conn = MqttConnection(
        f"mqtts://127.0.0.1:{broker.port}",
        "intruder",
        username="gateway",
        password="wrong",
        ca_file=str(ca),
    )

    async def run() -> None:
        conn.start()
        try:
            with pytest.raises(ConnectionError):
                await conn.wait_connected(within=1.5)
        finally:
            conn.stop()

    asyncio.run(run())
