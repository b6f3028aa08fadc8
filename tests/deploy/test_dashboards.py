"""Every Grafana query asks for a measurement and fields that the gateway writes.

The gateway writes measurement = the profile's `kind`, tags site/asset/device and one field per
profile point (`gateway/readings.py::to_line`), so the profiles are the truth checked here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.readings import Sample, to_line
from propwatch.profiles import BUILTIN_DIR, ModbusProfile, Profile, load_profile_file
from tests.deploy.files import DEPLOY, load_script

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
MEASUREMENT = re.compile(r'r\._measurement\s*==\s*"([^"]+)"')
FIELD = re.compile(r'r\._field\s*==\s*"([^"]+)"')
COLUMN = re.compile(r"\br\.(\w+)")
WRITTEN_COLUMNS = {"_measurement", "_field", "_value", "_time", "site", "asset", "device"}


def _profiles() -> dict[str, Profile]:
    profiles = (load_profile_file(p) for p in sorted(BUILTIN_DIR.glob("*.yaml")))
    return {p.kind: p for p in profiles}


def _fields(profile: Profile) -> set[str]:
    if isinstance(profile, ModbusProfile):
        return {p.name for p in profile.points}
    return {f.name for f in profile.fields}


def _queries(path: Path) -> list[tuple[str, str]]:
    """(where, Flux) for every panel target and template variable of a dashboard."""
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    found = [
        (f"{path.name}: panel {p['title']!r}", t["query"])
        for p in doc["panels"]
        for t in p.get("targets", [])
    ]
    found += [(f"{path.name}: variable {v['name']}", v["query"]) for v in doc["templating"]["list"]]
    return found


def test_dashboards_are_shipped() -> None:
    assert {p.name for p in DASHBOARDS} >= {
        "pumps.json",
        "elevators.json",
        "lighting.json",
        "access.json",
    }


def test_every_profile_kind_has_a_dashboard() -> None:
    shown = {
        m for path in DASHBOARDS for _, query in _queries(path) for m in MEASUREMENT.findall(query)
    }
    assert set(_profiles()) <= shown


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_names_a_written_measurement_and_field(path: Path) -> None:
    profiles = _profiles()
    for where, query in _queries(path):
        measurements = MEASUREMENT.findall(query)
        assert measurements, f"{where}: no measurement filter"
        for m in measurements:
            assert m in profiles, f"{where}: measurement {m!r} is no profile's kind"
            unknown = set(FIELD.findall(query)) - _fields(profiles[m])
            assert not unknown, f"{where}: fields {sorted(unknown)} are not points of {m}"
        columns = set(COLUMN.findall(query)) - WRITTEN_COLUMNS
        assert not columns, f"{where}: filters on {sorted(columns)}, which the gateway never tags"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panel_targets_query_a_field(path: Path) -> None:
    for where, query in _queries(path):
        if "panel" in where:
            assert FIELD.findall(query), f"{where}: no field filter"


def test_line_protocol_of_a_profile_uses_kind_and_point_names() -> None:
    """The premise of the checks above, taken from the gateway's own serializer."""
    from datetime import UTC, datetime

    at = datetime.now(UTC)
    line = to_line(Sample("hexie", "pump-1", "pump-1", "water_pump", at, {"vibration": 1.5}))
    assert line.startswith("water_pump,site=hexie,asset=pump-1,device=pump-1 vibration=1.5 ")


def test_committed_dashboards_match_the_generator() -> None:
    builder = load_script(GRAFANA / "build_dashboards.py", "propwatch_build_dashboards")
    built = builder.build()
    assert sorted(built) == [p.name for p in DASHBOARDS]
    for name, text in built.items():
        committed = (GRAFANA / "dashboards" / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run deploy/grafana/build_dashboards.py"


def test_panels_use_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/influxdb.yaml").read_text())
    (source,) = provisioned["datasources"]
    assert source["jsonData"]["version"] == "Flux"
    for path in DASHBOARDS:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for panel in doc["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], f"{path.name}: {panel['title']}"
