"""Vendor MQTT devices: a topic of the vendor's own (ids such as `NG-01`, which cannot be our
device ids) in the site file, and a state the profile's map does not know yet."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from gateway.dead_letters import DeadLetters
from gateway.metrics import gateway_exposition
from gateway.mqtt_ingest import MqttIngest
from gateway.readings import Sample
from gateway.service import Gateway
from gateway.sinks.influx import InfluxSink
from propwatch.clock import SystemClock
from propwatch.events import AlarmEvent, AssetStateEvent, parse_event, state_topic
from propwatch.mqtt import MqttConnection
from propwatch.profiles import MqttProfile
from propwatch.settings import Settings
from propwatch.site import Site, inspect_site, load_site
from tests.support.servers import Mosquitto, VictoriaMetrics, wait_until

CHILLER_PROFILE = {
    "model": "ng_chiller",
    "protocol": "mqtt",
    "kind": "chiller",
    "vendor": "NG",
    "topic": "ng/{device}/up",
    "timestamp_path": "ts",
    "fields": [
        {"name": "run_state", "label": "运行状态", "path": "state", "type": "int"}
        | {"map": {"RUN": 1, "STOP": 0, "FAULT": 2}},
        {"name": "supply_temp_c", "label": "供水温度", "path": "t.supply", "unit": "°C"},
    ],
}


def _site(tmp: Path, site_id: str, devices: Sequence[Mapping[str, object]]) -> Path:
    (tmp / "profiles").mkdir(parents=True, exist_ok=True)
    (tmp / "profiles" / "ng_chiller.yaml").write_text(yaml.safe_dump(CHILLER_PROFILE), "utf-8")
    doc = {
        "site": {"id": site_id, "name": "和谐花园", "latitude": 30.27, "longitude": 120.15},
        "zones": [{"id": "zone-a", "name": "A区"}],
        "assets": [
            {"id": "chiller-1", "name": "1号冷水机组", "kind": "chiller", "zone": "zone-a"}
            | {"device": "chiller-1"}
        ],
        "devices": devices,
    }
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    _, problems = inspect_site(path)
    return problems


def test_a_device_reads_its_vendor_topic_from_the_site_file(tmp_path: Path) -> None:
    path = _site(
        tmp_path,
        "vendor",
        [
            {"id": "chiller-1", "protocol": "mqtt", "profile": "ng_chiller"}
            | {"topic": "ng/NG-01/up"}
        ],
    )

    site = load_site(path)

    assert site.spec.devices[0].topic == "ng/NG-01/up"


def test_two_devices_on_one_topic_and_wildcards_are_refused_with_their_lines(
    tmp_path: Path,
) -> None:
    path = _site(
        tmp_path,
        "vendor",
        [
            {"id": "chiller-1", "protocol": "mqtt", "profile": "ng_chiller", "topic": "ng/a"},
            {"id": "chiller-2", "protocol": "mqtt", "profile": "ng_chiller", "topic": "ng/a"},
            {"id": "chiller-3", "protocol": "mqtt", "profile": "ng_chiller"},
            {"id": "chiller-4", "protocol": "mqtt", "profile": "ng_chiller"}
            | {"topic": "ng/chiller-3/up"},  # the profile's topic of chiller-3
        ],
    )
    wrong = _site(
        tmp_path / "wrong",
        "vendor",
        [
            {"id": "chiller-1", "protocol": "mqtt", "profile": "ng_chiller", "topic": "ng/+"},
            {"id": "pump-1", "protocol": "modbus_tcp", "profile": "water_pump", "topic": "x"},
        ],
    )

    shared, malformed = _problems(path), _problems(wrong)

    assert len(shared) == 2, shared
    assert "devices[1].topic" in shared[0] and "chiller-1" in shared[0]
    assert "devices[3].topic" in shared[1] and "chiller-3" in shared[1]
    assert any("devices[0]" in p and "+" in p for p in malformed), malformed
    assert any("devices[1]" in p and "MQTT" in p for p in malformed), malformed
    assert all(p.startswith(f"{path.parent}/") for p in shared + malformed)


def test_a_map_whose_values_are_not_of_the_field_type_is_refused(tmp_path: Path) -> None:
    bad = CHILLER_PROFILE | {
        "fields": [{"name": "run_state", "path": "state", "type": "bool", "map": {"RUN": 1}}]
    }
    path = _site(tmp_path, "vendor", [{"id": "chiller-1", "protocol": "mqtt"} | {"profile": "x"}])
    (tmp_path / "profiles" / "x.yaml").write_text(yaml.safe_dump(bad), "utf-8")

    problems = _problems(path)

    assert any("x.yaml" in p and "not a bool value" in p for p in problems), problems


def test_an_unknown_state_marks_its_field_bad_and_keeps_the_other_fields(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    site_id = f"vendor-{time.monotonic_ns()}"
    path = _site(
        tmp_path,
        site_id,
        [
            {"id": "chiller-1", "protocol": "mqtt", "profile": "ng_chiller"}
            | {"topic": "ng/NG-01/up"}
        ],
    )
    site: Site = load_site(path)
    events: list[AlarmEvent | AssetStateEvent] = []
    ts = "2026-12-01T08:00:0{}+08:00"
    messages = [
        {"state": "MAINT", "t": {"supply": 7.5}, "ts": ts.format(1)},  # a state not in the map
        {"state": "RUN", "t": {"supply": 7.0}, "ts": ts.format(2)},
    ]

    async def run() -> tuple[int, str]:
        spy = MqttConnection(mosquitto.url, f"{site_id}-spy")
        spy.on_message = lambda m: events.append(parse_event(bytes(m.payload)))
        spy.subscribe(state_topic(site_id, "chiller-1"))
        spy.start()
        await spy.wait_connected()
        sink = InfluxSink(victoria_metrics.url, "t", "o", "b")
        settings = Settings(var_dir=tmp_path / "var")
        async with Gateway(site, settings, SystemClock(), mosquitto.url, sink, 0.0) as gw:
            assert gw.ingest is not None
            ingest = gw.ingest
            await asyncio.sleep(0.3)  # the SUBACK
            device = MqttConnection(mosquitto.url, f"{site_id}-NG-01")
            device.start()
            await device.wait_connected()
            body = json.dumps(messages[0]).encode()
            await asyncio.to_thread(device.publish("ng/NG-01/up", body).wait_for_publish, 5)
            await asyncio.to_thread(
                wait_until, lambda: ingest.received == 1 and not ingest.unacknowledged, 10, "one"
            )
            unknown_state = [
                e for e in events if isinstance(e, AssetStateEvent) and "supply_temp_c" in e.values
            ]
            body = json.dumps(messages[1]).encode()
            await asyncio.to_thread(device.publish("ng/NG-01/up", body).wait_for_publish, 5)
            await asyncio.to_thread(
                wait_until, lambda: ingest.received == 2 and not ingest.unacknowledged, 10, "two"
            )
            device.stop()
            metrics = gateway_exposition(gw)
            letters = gw.dead_letters.count
        spy.stop()
        assert unknown_state and unknown_state[-1].values["run_state"] is None
        assert unknown_state[-1].values["supply_temp_c"] == 7.5
        return letters, metrics

    letters, metrics = asyncio.run(run())

    victoria_metrics.flush()
    query = f'{{__name__=~"chiller_.*",site="{site_id}"}}'
    wait_until(lambda: len(victoria_metrics.export(query)) == 2, 15, "both series")
    stored = {s["metric"]["__name__"]: s["values"] for s in victoria_metrics.export(query)}
    assert stored == {"chiller_supply_temp_c": [7.5, 7.0], "chiller_run_state": [1]}
    assert letters == 0, "the message was kept, not dead-lettered"
    line = 'propwatch_gateway_mqtt_unknown_values_total{device="chiller-1",field="run_state"} 1'
    assert line in metrics


def test_a_message_of_unknown_values_only_is_a_dead_letter(tmp_path: Path) -> None:
    path = _site(
        tmp_path,
        "vendor",
        [{"id": "chiller-1", "protocol": "mqtt", "profile": "ng_chiller", "topic": "ng/NG-01/up"}],
    )
    site = load_site(path)
    device = site.spec.devices[0]
    profile = site.profiles["ng_chiller"]
    assert isinstance(profile, MqttProfile)
    dead = DeadLetters(tmp_path / "dead.db")
    samples: list[Sample] = []
    ingest = MqttIngest(
        site.id,
        [(device, "chiller-1", profile)],
        MqttConnection("mqtt://127.0.0.1:1", "unused"),
        SystemClock(),
        dead,
        samples.append,
    )

    ingest.handle("ng/NG-01/up", b'{"state": "MAINT"}')

    assert samples == [] and dead.flush()
    assert "not in the profile's map" in dead.recent(1)[0][2]
    assert ingest.unknown_values[("chiller-1", "run_state")] == 1
