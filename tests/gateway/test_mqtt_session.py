"""The gateway's MQTT client id: one persistent session per gateway instance, and a second
gateway taking over the same id is logged and counted on both sides."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest
import yaml

from gateway.metrics import gateway_exposition
from gateway.mqtt_session import gateway_client_id
from gateway.service import Gateway
from gateway.sinks.local_store import LocalStore
from propwatch.clock import SystemClock
from propwatch.settings import Settings
from propwatch.site import Site, load_site
from tests.support.servers import Mosquitto, wait_until


def _site(tmp: Path, site_id: str) -> Site:
    doc = {
        "site": {"id": site_id, "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-b", "name": "B区"}],
        "assets": [
            {"id": "door-north", "name": "北门门禁", "kind": "access_controller"}
            | {"zone": "zone-b", "device": "door-north"}
        ],
        "devices": [{"id": "door-north", "protocol": "mqtt", "profile": "access_controller"}],
    }
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


def _gateway(site: Site, broker: Mosquitto, var: Path, instance: str | None = None) -> Gateway:
    settings = Settings(var_dir=var, instance_id=instance)
    return Gateway(site, settings, SystemClock(), broker.url, LocalStore(var / "telemetry.db"))


def test_each_instance_of_a_site_has_a_client_id_of_its_own() -> None:
    ids = {gateway_client_id("hexie", None), gateway_client_id("hexie", "spare")}

    assert ids == {"propwatch-gateway-hexie", "propwatch-gateway-hexie-spare"}


def test_a_second_gateway_on_the_same_client_id_is_logged_and_counted_on_both_sides(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = _site(tmp_path, f"twin-{time.monotonic_ns()}")
    caplog.set_level(logging.WARNING, logger="gateway.mqtt_session")

    async def run() -> tuple[str, str]:
        async with _gateway(site, mosquitto, tmp_path / "a") as first:
            await asyncio.sleep(0.3)  # its announcement is retained
            async with _gateway(site, mosquitto, tmp_path / "b") as second:
                # the second took the session; the first's reconnect (1 s) finds it taken
                await asyncio.to_thread(
                    wait_until,
                    lambda: second.session.took_over >= 1 and first.session.taken_over >= 1,
                    15,
                    "both sides to notice",
                )
                return gateway_exposition(first), gateway_exposition(second)

    first_metrics, second_metrics = asyncio.run(run())

    # the two keep taking the session from each other: at least one each by now
    assert re.search(r"^propwatch_gateway_mqtt_session_taken_over_total [1-9]", first_metrics, re.M)
    assert re.search(r"^propwatch_gateway_mqtt_session_took_over_total [1-9]", second_metrics, re.M)
    warnings = [r.getMessage() for r in caplog.records]
    assert any("took over the session of" in w for w in warnings), warnings
    assert any("taken over meanwhile by" in w for w in warnings), warnings


def test_a_gateway_restarted_after_a_clean_stop_takes_nothing_over(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    site = _site(tmp_path, f"restart-{time.monotonic_ns()}")

    async def life() -> None:
        async with _gateway(site, mosquitto, tmp_path / "var"):
            await asyncio.sleep(0.3)  # connected and announced

    async def next_life() -> tuple[int, int, bool | None]:
        async with _gateway(site, mosquitto, tmp_path / "var") as gw:
            session = gw.session
            await asyncio.to_thread(
                wait_until, lambda: session.previous is not None, 10, "the last holder"
            )
            assert session.previous is not None
            return session.took_over, session.taken_over, session.previous.online

    asyncio.run(life())
    took, taken, previous_online = asyncio.run(next_life())

    assert (took, taken, previous_online) == (0, 0, False)
