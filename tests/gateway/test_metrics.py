"""The gateway's Prometheus endpoint, scraped over real HTTP from a running gateway."""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.metrics import Exposition
from gateway.readings import Sample
from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from propwatch.clock import SystemClock
from propwatch.settings import Settings
from propwatch.site import Site
from tests.support.servers import Mosquitto


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def _scrape_after(site: Site, tmp_path: Path, broker: Mosquitto, samples: int) -> list[str]:
    settings = Settings(var_dir=tmp_path, gateway_metrics_port=0)
    replies: list[str] = []

    async def run() -> None:
        sink = LocalStore(tmp_path / "telemetry.db")
        async with Gateway(site, settings, SystemClock(), broker.url, sink=sink) as gw:
            # No simulator runs: the pump's polls fail, so only these samples come in.
            for i in range(samples):
                gw.writer.offer(
                    Sample("hexie", "pump-1", "pump-1", "water_pump", datetime.now(UTC), {"x": i})
                )
            assert gw.metrics_server is not None
            base = f"http://127.0.0.1:{gw.metrics_server.port}"
            assert gw.ingest is not None
            for path in ("/metrics", "/healthz", "/nope"):
                # door messages other tests left on the shared broker may come in too
                before = gw.ingest.mapped
                status, ctype, body = await asyncio.to_thread(_get, base + path)
                replies.append(f"{status}|{ctype}|{body}|{before}|{gw.ingest.mapped}")

    asyncio.run(run())
    return replies


@pytest.fixture
def replies(example_site: Site, tmp_path: Path, mosquitto: Mosquitto) -> list[str]:
    return _scrape_after(example_site, tmp_path, mosquitto, samples=7)


def test_metrics_are_prometheus_text_with_points_queue_and_outbox(replies: list[str]) -> None:
    status, ctype, rest = replies[0].split("|", 2)
    body, before, after = rest.rsplit("|", 2)

    assert status == "200" and ctype.startswith("text/plain; version=0.0.4")
    found = re.search(r"^propwatch_gateway_points_in_total (\d+)$", body, re.MULTILINE)
    assert found is not None
    counted = int(found[1])
    # the 7 offered, and any MQTT sample mapped while the scrape ran
    assert 7 + int(before) <= counted <= 7 + int(after)
    for family in (
        "points_out_total",
        "queue_depth",
        "outbox_points",
        "priority_pending",
        "dead_letters_total",
        "mqtt_connected",
        "device_online",
        "device_poll_latency_seconds",
    ):
        assert f"# TYPE propwatch_gateway_{family} " in body


def test_every_modbus_device_has_its_state_and_poll_latency(replies: list[str]) -> None:
    body = replies[0].split("|", 2)[2].rsplit("|", 2)[0]

    assert 'propwatch_gateway_device_online{device="pump-1"}' in body
    assert 'propwatch_gateway_device_poll_latency_seconds{device="pump-1"}' in body


def test_healthz_is_json_and_unknown_paths_are_404(replies: list[str]) -> None:
    health_status, health_type, rest = replies[1].split("|", 2)
    health = rest.rsplit("|", 2)[0]
    missing_status = replies[2].split("|", 1)[0]

    assert (health_status, health_type) == ("200", "application/json")
    assert '"queue_depth"' in health and '"outbox"' in health
    assert missing_status == "404"


def test_label_values_are_escaped() -> None:
    e = Exposition()
    e.add("x", "gauge", "help", [({"device": 'a"b\\c\nd'}, 1.5)])

    assert 'x{device="a\\"b\\\\c\\nd"} 1.5' in e.text()
