"""Build the Grafana dashboards (one per asset kind) from the device profiles.

Each panel names profile points; titles and units come from the profile, so a dashboard can only
show what the gateway writes: measurement = the profile's `kind`, one field per point, tags
`site`, `asset`, `device` (see `gateway/readings.py::to_line`). Run after changing a profile or a
panel below, and commit the JSON:

    .venv/bin/python deploy/grafana/build_dashboards.py
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from propwatch.profiles import BUILTIN_DIR, ModbusProfile, Profile, load_profile_file  # noqa: E402

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "influxdb", "uid": "propwatch-influxdb"}

# Profile units to Grafana unit ids; anything else is shown as a suffix.
UNITS = {
    "Hz": "hertz",
    "A": "amp",
    "V": "volt",
    "degC": "celsius",
    "%": "percent",
    "m/s": "velocityms",
    "mm": "lengthmm",
    "m": "lengthm",
    "h": "h",
    "kWh": "kwatth",
}

Panel = Literal["timeseries", "state", "stat", "rate"]


@dataclass(frozen=True)
class PanelSpec:
    """One panel: its points, how to show them, and how wide it is (of 24 columns)."""

    title: str
    points: tuple[str, ...]
    kind: Panel = "timeseries"
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    file: str
    title: str
    profile: str
    description: str
    panels: list[PanelSpec] = field(default_factory=list)


def _circuits(suffix: str) -> tuple[str, ...]:
    return tuple(f"circuit_{i}_{suffix}" for i in range(1, 9))


DASHBOARDS = [
    DashboardSpec(
        uid="propwatch-pumps",
        file="pumps.json",
        title="二次供水水泵 (water pumps)",
        profile="water_pump",
        description="出水压力、频率、电流、轴承温度、振动与故障信号；压力过低即可能停水。",
        panels=[
            PanelSpec("出水压力 (当前)", ("outlet_pressure",), "stat", 6, 5),
            PanelSpec("变频器频率 (当前)", ("frequency",), "stat", 6, 5),
            PanelSpec("累计运行小时", ("run_hours",), "stat", 6, 5),
            PanelSpec("故障代码", ("fault_code",), "stat", 6, 5),
            PanelSpec("出水压力", ("outlet_pressure",)),
            PanelSpec("变频器频率与电机电流", ("frequency", "motor_current")),
            PanelSpec("轴承温度", ("bearing_temperature",)),
            PanelSpec("振动速度", ("vibration",)),
            PanelSpec(
                "运行与故障信号",
                ("running", "fault_overload", "fault_dry_run", "fault_phase_loss"),
                "state",
                24,
            ),
        ],
    ),
    DashboardSpec(
        uid="propwatch-elevators",
        file="elevators.json",
        title="电梯 (elevators)",
        profile="elevator",
        description="楼层、速度、载荷、平层误差与故障信号；困人与门锁回路故障需立即处置。",
        panels=[
            PanelSpec("当前楼层", ("floor",), "stat", 6, 5),
            PanelSpec("故障代码", ("fault_code",), "stat", 6, 5),
            PanelSpec("累计运行次数", ("trip_count",), "stat", 6, 5),
            PanelSpec("累计开关门次数", ("door_cycles",), "stat", 6, 5),
            PanelSpec(
                "故障信号",
                (
                    "fault_entrapment",
                    "fault_door_lock",
                    "fault_overspeed",
                    "fault_leveling",
                    "fault_comm",
                ),
                "state",
                24,
            ),
            PanelSpec("运行状态", ("running", "door_open", "leveled", "in_service"), "state", 24),
            PanelSpec("楼层", ("floor",)),
            PanelSpec("轿厢速度", ("car_speed",)),
            PanelSpec("载荷", ("load_percent",)),
            PanelSpec("停靠平层误差", ("leveling_error",)),
            PanelSpec("每时段运行次数", ("trip_count",), "rate"),
            PanelSpec("每时段开关门次数", ("door_cycles",), "rate"),
        ],
    ),
    DashboardSpec(
        uid="propwatch-lighting",
        file="lighting.json",
        title="公共照明 (lighting panels)",
        profile="lighting_panel",
        description="各回路合闸命令、电流与电压；合闸而电流为零即跳闸，电流偏低即有灯具损坏。",
        panels=[
            PanelSpec("自动 (经纬度时控)", ("auto_mode",), "stat", 8, 5),
            PanelSpec("累计电能", ("energy_kwh",), "stat", 8, 5),
            PanelSpec("每时段用电", ("energy_kwh",), "rate", 8, 5),
            PanelSpec("回路合闸命令", _circuits("command"), "state", 24, 9),
            PanelSpec("回路电流", _circuits("current"), width=24, height=9),
            PanelSpec("回路额定电流 (调试设定)", _circuits("rated_current"), "stat", 24, 5),
            PanelSpec("回路电压", _circuits("voltage"), width=24),
        ],
    ),
    DashboardSpec(
        uid="propwatch-access",
        file="access.json",
        title="门禁 (access control)",
        profile="access_controller",
        description="门状态、强行开门、长时间未关、防拆与刷卡次数。",
        panels=[
            PanelSpec(
                "门状态与报警信号",
                ("door_open", "door_forced", "door_held_open", "tamper"),
                "state",
                24,
            ),
            PanelSpec("每时段刷卡 (通过 / 拒绝)", ("swipes_granted", "swipes_denied"), "rate"),
            PanelSpec("累计刷卡", ("swipes_granted", "swipes_denied"), "stat"),
        ],
    ),
]


def _points(profile: Profile) -> dict[str, tuple[str, str, str]]:
    """Point name -> (type, unit, description) for Modbus and MQTT profiles alike."""
    if isinstance(profile, ModbusProfile):
        return {p.name: (p.type.value, p.unit, p.description) for p in profile.points}
    return {f.name: (f.type, f.unit, "") for f in profile.fields}


def flux(measurement: str, points: tuple[str, ...], kind: Panel, is_bool: bool) -> str:
    """The Flux query of one panel; the test reads measurement and fields back from it."""
    fields = " or ".join(f'r._field == "{p}"' for p in points)
    lines = [
        "from(bucket: v.defaultBucket)",
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)",
        f'  |> filter(fn: (r) => r._measurement == "{measurement}")',
        f"  |> filter(fn: (r) => {fields})",
        "  |> filter(fn: (r) => r.site =~ /^${site:regex}$/ and r.asset =~ /^${asset:regex}$/)",
    ]
    if is_bool:
        lines.append("  |> toInt()")
    if kind == "stat":
        lines.append("  |> last()")
    elif kind == "rate":
        lines.append("  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)")
        lines.append("  |> difference(nonNegative: true)")
    else:
        fn = "max" if kind == "state" else "mean"
        lines.append(f"  |> aggregateWindow(every: v.windowPeriod, fn: {fn}, createEmpty: false)")
    lines.append('  |> keep(columns: ["_time", "_value", "_field", "asset"])')
    return "\n".join(lines)


def _panel(
    spec: PanelSpec, measurement: str, points: dict[str, tuple[str, str, str]], pid: int
) -> dict[str, Any]:
    missing = [p for p in spec.points if p not in points]
    if missing:
        raise KeyError(f"{measurement}: panel {spec.title!r} names unknown points {missing}")
    types = {points[p][0] for p in spec.points}
    is_bool = types == {"bool"}
    unit = points[spec.points[0]][1]
    defaults: dict[str, Any] = {"unit": UNITS.get(unit, f"suffix:{unit}" if unit else "none")}
    overrides = [
        {
            "matcher": {"id": "byRegexp", "options": f".*{p}.*"},
            "properties": [{"id": "displayName", "value": f"{desc} ${{__field.labels.asset}}"}],
        }
        for p in spec.points
        if (desc := points[p][2])
    ]
    panel_type = {"timeseries": "timeseries", "rate": "timeseries", "state": "state-timeline"}
    if spec.kind == "rate":
        defaults["custom"] = {"drawStyle": "bars", "fillOpacity": 60}
        defaults["unit"] = "none" if not unit else defaults["unit"]
    if is_bool:
        defaults["unit"] = "none"
        defaults["mappings"] = [
            {"type": "value", "options": {"0": {"text": "否", "color": "green"}}},
            {"type": "value", "options": {"1": {"text": "是", "color": "red"}}},
        ]
        if spec.points[0] in ("running", "door_open", "auto_mode") or spec.points[0].endswith(
            "_command"
        ):
            defaults["mappings"] = [
                {"type": "value", "options": {"0": {"text": "关", "color": "text"}}},
                {"type": "value", "options": {"1": {"text": "开", "color": "blue"}}},
            ]
    return {
        "id": pid,
        "type": panel_type.get(spec.kind, "stat"),
        "title": spec.title,
        "datasource": DATASOURCE,
        "gridPos": {"h": spec.height, "w": spec.width, "x": 0, "y": 0},
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "query": flux(measurement, spec.points, spec.kind, is_bool),
            }
        ],
    }


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard(spec: DashboardSpec, profile: Profile) -> dict[str, Any]:
    points = _points(profile)
    measurement = profile.kind
    panels, x, y, row_h = [], 0, 0, 0
    for pid, p in enumerate(spec.panels, 1):
        panel = _panel(p, measurement, points, pid)
        if x + p.width > 24:
            x, y, row_h = 0, y + row_h, 0
        panel["gridPos"].update(x=x, y=y)
        x, row_h = x + p.width, max(row_h, p.height)
        panels.append(panel)
    tag_values = (
        'import "influxdata/influxdb/schema"\n'
        'schema.tagValues(bucket: v.defaultBucket, tag: "{tag}", '
        'predicate: (r) => r._measurement == "{m}"{extra}, start: -30d)'
    )
    return {
        "uid": spec.uid,
        "title": spec.title,
        "description": spec.description,
        "tags": ["propwatch", measurement],
        "timezone": "browser",
        "editable": False,
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                _variable("site", "小区", tag_values.format(tag="site", m=measurement, extra="")),
                _variable(
                    "asset",
                    "设备",
                    tag_values.format(
                        tag="asset", m=measurement, extra=" and r.site =~ /^${site:regex}$/"
                    ),
                ),
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def build() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    out = {}
    for spec in DASHBOARDS:
        profile = load_profile_file(BUILTIN_DIR / f"{spec.profile}.yaml")
        text = json.dumps(dashboard(spec, profile), ensure_ascii=False, indent=2) + "\n"
        out[spec.file] = text
    return out


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in build().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
