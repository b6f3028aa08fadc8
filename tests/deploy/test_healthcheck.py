"""The image's health check against real peers: a real mosquitto and a real HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from tests.deploy.files import DEPLOY, load_script
from tests.support.servers import start_mosquitto, wait_until

health = load_script(DEPLOY / "healthcheck.py", "propwatch_healthcheck")


def test_role_is_the_first_subcommand_of_the_command_line() -> None:
    argv = ["/opt/venv/bin/python", "/opt/venv/bin/propwatch", "gateway", "--site", "/s/api.yaml"]
    assert health.role_of(argv) == "gateway"


def test_gateway_is_unhealthy_without_its_mqtt_session(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path)
    try:
        assert not health.check("gateway", Settings(mqtt_url=broker.url))
    finally:
        broker.stop()


def test_gateway_is_healthy_while_its_mqtt_session_is_up(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path)
    client = MqttConnection(broker.url, "healthcheck-test")
    client.start()
    try:
        wait_until(client.connected.is_set, 10, "the MQTT connection")
        assert health.check("gateway", Settings(mqtt_url=broker.url))
    finally:
        client.stop()
        broker.stop()


class _Healthz(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b'{"status": "degraded"}'

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def healthz_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_api_is_unhealthy_when_healthz_answers_503(
    healthz_server: http.server.HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Healthz, "status", 503)
    settings = Settings(api_host="0.0.0.0", api_port=healthz_server.server_address[1])
    assert not health.check("api", settings)


def test_api_is_healthy_when_healthz_answers_200(healthz_server: http.server.HTTPServer) -> None:
    settings = Settings(api_host="0.0.0.0", api_port=healthz_server.server_address[1])
    assert health.check("api", settings)


def test_unknown_role_is_unhealthy() -> None:
    assert not health.check(None, Settings())


def test_gateway_with_metrics_port_is_unhealthy_when_it_reports_no_broker(
    healthz_server: http.server.HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Healthz, "body", b'{"mqtt_connected": false, "queue_depth": 0}')
    port = healthz_server.server_address[1]
    settings = Settings(gateway_metrics_host="0.0.0.0", gateway_metrics_port=port)
    assert not health.check("gateway", settings)


def test_gateway_with_metrics_port_is_healthy_while_connected(
    healthz_server: http.server.HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Healthz, "body", b'{"mqtt_connected": true, "queue_depth": 0}')
    port = healthz_server.server_address[1]
    settings = Settings(gateway_metrics_host="0.0.0.0", gateway_metrics_port=port)
    assert health.check("gateway", settings)
