"""Generated properties for the many-sites figures: N site files x M assets in one folder.

    .venv/bin/python -m bench.many_sites DIR                      # 200 sites x 50 assets
    .venv/bin/python -m bench.many_sites DIR --sites 3 --assets 50

Each file is a property of its own as a company would write it: ids `site-001`, …, a zh-CN name
(city + estate), a region (区域: the city company), three zones (片区) with their technicians,
security and service staff and a supervisor, a duty rota, and `--assets` assets in a realistic
mix (elevators and lighting panels behind Modbus gateways, secondary-water-supply pumps, fire
pumps without a device, access controllers over MQTT) with the example's edge rules, 时限表,
alarm routes, escalation ladder and a plan mix from the shipped template library (elevator
half-monthly to yearly, daily patrols and weekly disinfection, pump and tank service, lighting
and door checks, a weekly gate check of the property's own). Modbus devices point at ports
nothing listens on: the central services never poll devices, only the gateway does.

The figures' scripts (`bench/many_sites_*.py`) call `write_sites`; this module imports nothing
from the tests.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REGIONS = (
    ("hangzhou", "杭州", 30.27, 120.15),
    ("shanghai", "上海", 31.23, 121.47),
    ("nanjing", "南京", 32.06, 118.79),
    ("suzhou", "苏州", 31.30, 120.58),
    ("hefei", "合肥", 31.82, 117.23),
)
"""区域 (city companies): id, name, latitude, longitude; sites are dealt out in turn."""

ESTATES = ("阳光", "翠苑", "锦绣", "金桂", "碧水", "紫荆", "银杏", "天悦", "云栖", "和谐")
KINDS = ("花园", "家园", "名苑", "华庭", "雅居", "新城", "公馆", "广场", "湾", "府")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = (
    "建国",
    "志强",
    "海燕",
    "丽华",
    "晓明",
    "国平",
    "春梅",
    "文杰",
    "秀英",
    "德华",
    "红霞",
    "永刚",
    "立新",
)

MIX = (
    ("elevator", 0.24),
    ("water_pump", 0.12),
    ("fire_pump", 0.04),
    ("lighting_panel", 0.20),
    ("access_controller", 0.40),
)
"""Share of a site's assets per kind (12 : 6 : 2 : 10 : 20 of 50)."""

ZONES = (("zone-a", "A区"), ("zone-b", "B区"), ("zone-c", "C区"))
BUILDINGS_PER_ZONE = 4
FIRST_PORT = 30000
"""Modbus ports of the generated devices: nothing listens on them (two a site)."""

RULES: list[dict[str, Any]] = [
    {
        "id": "pump-outlet-pressure-low",
        "asset_kind": "water_pump",
        "metric": "outlet_pressure",
        "below": 0.15,
        "hysteresis": 0.05,
        "on_delay": "3s",
        "off_delay": "10s",
        "alarm_type": "low_outlet_pressure",
        "severity": "critical",
        "message": "出水压力过低，可能停水",
    },
    {
        "id": "pump-bearing-hot",
        "asset_kind": "water_pump",
        "metric": "bearing_temperature",
        "above": 80,
        "hysteresis": 5,
        "on_delay": "30s",
        "alarm_type": "bearing_overheat",
        "severity": "major",
        "message": "水泵轴承温度过高",
    },
    {
        "id": "door-forced",
        "asset_kind": "access_controller",
        "metric": "door_forced",
        "above": 0.5,
        "alarm_type": "door_forced_open",
        "severity": "major",
        "message": "门被强行打开",
    },
    {
        "id": "door-held-open",
        "asset_kind": "access_controller",
        "metric": "door_held_open",
        "above": 0.5,
        "alarm_type": "door_held_open",
        "severity": "minor",
        "message": "门长时间未关闭，请保安巡查关门并检查闭门器",
    },
    {
        "id": "controller-comm-loss",
        "asset_kind": "access_controller",
        "kind": "communication_loss",
        "alarm_type": "communication_loss",
        "severity": "major",
        "message": "门禁控制器通信中断，请检查网络和供电",
    },
    {
        "id": "lift-faults",
        "asset_kind": "elevator",
        "kind": "fault_flags",
        "flags": {
            "fault_door_lock": {
                "alarm_type": "elevator_door_lock",
                "message": "电梯门锁回路故障，电梯停梯",
                "severity": "critical",
            },
            "fault_entrapment": {
                "alarm_type": "elevator_entrapment",
                "message": "电梯困人，立即救援",
                "severity": "critical",
            },
            "fault_leveling": {
                "alarm_type": "elevator_leveling",
                "message": "电梯平层误差超限",
                "severity": "major",
            },
        },
    },
    {
        "id": "lighting-undervoltage",
        "asset_kind": "lighting_panel",
        "metric": "circuit_1_voltage",
        "below": 198,
        "hysteresis": 4,
        "on_delay": "30s",
        "alarm_type": "lighting_undervoltage",
        "severity": "minor",
        "message": "照明配电箱供电电压偏低",
    },
]

SLA = [
    {"priority": "emergency", "respond": "15m", "arrive": "1h", "resolve": "4h", "revisit": "1wd"},
    {"priority": "important", "respond": "2h", "arrive": "4h", "resolve": "12h", "revisit": "1wd"},
    {"priority": "general", "respond": "8h", "resolve": "24h", "revisit": "1wd"},
]

ROUTES = [
    {"alarm_type": "low_outlet_pressure", "category": "water_supply", "priority": "emergency"},
    {"alarm_type": "bearing_overheat", "category": "water_supply", "priority": "important"},
    {"alarm_type": "door_forced_open", "category": "access_control", "priority": "important"},
    {"alarm_type": "door_held_open", "category": "access_control", "priority": "general"},
    {"alarm_type": "communication_loss", "priority": "important"},
    {"alarm_type": "elevator_entrapment", "category": "elevator", "priority": "emergency"},
    {"alarm_type": "elevator_door_lock", "category": "elevator", "priority": "emergency"},
    {"alarm_type": "elevator_leveling", "category": "elevator", "priority": "important"},
    {"alarm_type": "lighting_undervoltage", "category": "lighting", "priority": "general"},
]

ESCALATION = [
    {"id": "respond-breach", "limit": "respond", "action": "notify_duty"},
    {"id": "arrive-breach", "limit": "arrive", "action": "notify_supervisor"},
    {"id": "resolve-warn", "limit": "resolve", "at": 0.8, "action": "notify_assignee"},
    {"id": "resolve-breach", "limit": "resolve", "action": "notify_supervisor"},
    {"id": "resolve-raise", "limit": "resolve", "at": 1.5, "action": "raise_priority"},
    {"id": "revisit-breach", "limit": "revisit", "action": "notify_duty"},
]

PLANS: list[dict[str, Any]] = [
    {"id": "lift-half-monthly", "template": "elevator-half-monthly"},
    {"id": "lift-quarterly", "template": "elevator-quarterly"},
    {"id": "lift-half-yearly", "template": "elevator-half-yearly"},
    {"id": "lift-yearly", "template": "elevator-yearly"},
    {"id": "lift-patrol", "template": "elevator-daily-patrol"},
    {"id": "lift-disinfection", "template": "elevator-weekly-disinfection"},
    {"id": "pump-monthly", "template": "water-pump-monthly"},
    {"id": "tank-cleaning", "template": "water-tank-cleaning"},
    {"id": "fire-pump-monthly", "template": "fire-pump-monthly"},
    {"id": "lighting-monthly", "template": "lighting-circuit-monthly"},
    {"id": "door-monthly", "template": "access-controller-monthly", "non_working_day": "skip"},
    {
        "id": "gate-weekly",
        "name": "大门人行通道周检",
        "targets": {"kinds": ["access_controller"], "buildings": ["大门"]},
        "cron": "30 9 * * 5",
        "non_working_day": "next",
        "role": "security",
        "time_limit": "4h",
        "category": "access_control",
        "checklist": [
            {"id": "g-01", "text": "出门按钮、对讲主机工作正常"},
            {"id": "g-02", "text": "闭门器关门到位，无异响"},
            {"id": "g-03", "text": "门禁电源电压", "unit": "V", "low": 11.5, "high": 13.8},
        ],
    },
]


@dataclass(frozen=True)
class GeneratedSite:
    site_id: str
    name: str
    region: str
    path: Path
    asset_ids: tuple[str, ...]
    access_controllers: tuple[str, ...]  # asset ids, each behind an MQTT device of its own


def site_id(i: int) -> str:
    return f"site-{i:03d}"


def site_name(i: int) -> str:
    """A distinct zh-CN name for site i (0-based): city, estate and kind, 500 before a repeat."""
    _, city, _, _ = REGIONS[i % len(REGIONS)]
    j = i // len(REGIONS)
    name = f"{city}{ESTATES[j % len(ESTATES)]}{KINDS[(j // len(ESTATES)) % len(KINDS)]}"
    rounds = j // (len(ESTATES) * len(KINDS))
    return name + (f"{rounds + 1}期" if rounds else "")


def _person(k: int) -> str:
    """A zh-CN full name; 260 before a repeat (20 surnames x 13 given names, coprime)."""
    return SURNAMES[k % len(SURNAMES)] + GIVEN[k % len(GIVEN)]


def site_data(i: int, assets: int) -> dict[str, Any]:
    """The site file of site i (0-based) as data."""
    region, _, lat, lon = REGIONS[i % len(REGIONS)]
    name = site_name(i)
    people: list[dict[str, Any]] = []
    zones: list[dict[str, Any]] = []
    supervisor = {"id": "supervisor", "name": _person(i * 7), "role": "supervisor"}
    people.append({**supervisor, "phone": f"139{i:04d}0000"})
    for z, (zone_id, zone_name) in enumerate(ZONES):
        tech = {"id": f"tech-{z + 1}", "name": _person(i * 7 + z + 1)}
        people.append({**tech, "role": "technician", "phone": f"138{i:04d}{z:04d}"})
        people.append(
            {"id": f"security-{z + 1}", "name": _person(i * 7 + z + 4), "role": "security"}
        )
        buildings = [f"{z * BUILDINGS_PER_ZONE + b + 1}栋" for b in range(BUILDINGS_PER_ZONE)]
        if z == 0:
            buildings += ["水泵房", "大门"]
        zones.append(
            {
                "id": zone_id,
                "name": zone_name,
                "buildings": buildings,
                "technicians": [f"tech-{z + 1}"],
                "security": [f"security-{z + 1}"],
                "service": ["service"],
                "supervisor": "supervisor",
            }
        )
    people.append({"id": "service", "name": _person(i * 7 + 3), "role": "service"})

    asset_rows: list[dict[str, Any]] = []
    devices: list[dict[str, Any]] = []
    port = FIRST_PORT + 2 * i
    counts = [round(assets * share) for _, share in MIX]
    counts[-1] += assets - sum(counts)
    for (kind, _), count in zip(MIX, counts, strict=True):
        for n in range(count):
            z = n % len(ZONES)
            zone_id = ZONES[z][0]
            building = f"{z * BUILDINGS_PER_ZONE + (n // len(ZONES)) % BUILDINGS_PER_ZONE + 1}栋"
            asset_id = f"{kind.replace('_', '-')}-{n + 1}"
            row: dict[str, Any] = {"id": asset_id, "kind": kind, "zone": zone_id}
            if kind == "elevator":
                row.update(name=f"{building}{n // 6 + 1}号电梯", building=building)
                devices.append(_modbus(asset_id, "elevator", port, n + 1, "1s"))
            elif kind == "water_pump":
                row.update(name=f"{n + 1}号生活水泵", zone="zone-a", building="水泵房")
                devices.append(_modbus(asset_id, "water_pump", port + 1, n + 1, "1s"))
            elif kind == "fire_pump":
                row.update(name=f"{n + 1}号消防水泵", zone="zone-a", building="水泵房")
            elif kind == "lighting_panel":
                row.update(name=f"{ZONES[z][1]}公共照明配电箱{n // 3 + 1}", building=building)
                devices.append(_modbus(asset_id, "lighting_panel", port, 100 + n, "5s"))
            else:
                gate = n == 0
                row.update(
                    name="大门人行通道门禁" if gate else f"{building}单元门禁{n}",
                    zone="zone-a" if gate else zone_id,
                    building="大门" if gate else building,
                )
                devices.append({"id": asset_id, "protocol": "mqtt", "profile": kind})
            if kind != "fire_pump":
                row["device"] = asset_id
            row["install_date"] = f"{2018 + (i + n) % 7}-0{1 + n % 9}-15"
            row["warranty_end"] = f"{2025 + (i + n) % 4}-0{1 + n % 9}-15"
            asset_rows.append(row)
    return {
        "site": {
            "id": site_id(i + 1),
            "name": name,
            "timezone": "Asia/Shanghai",
            "latitude": round(lat + (i % 17) * 0.01, 4),
            "longitude": round(lon + (i % 13) * 0.01, 4),
            "address": f"{name}物业服务中心",
            "region": region,
        },
        "people": people,
        "zones": zones,
        "duty": {
            "day_starts": "08:00",
            "night_starts": "20:00",
            "day_technician": "tech-1",
            "night_technician": "tech-2",
        },
        "assets": asset_rows,
        "devices": devices,
        "rules": RULES,
        "sla": SLA,
        "alarm_routes": ROUTES,
        "escalation": ESCALATION,
        "chattering": {"raises": 5, "within": "10m"},
        "plans": PLANS,
        "night_lighting": {"after_sunset": "30m", "min_current_ratio": 0.5, "min_current_a": 0.2},
        "warranty_reminder_days": 30,
    }


def _modbus(device_id: str, profile: str, port: int, unit: int, poll: str) -> dict[str, Any]:
    return {
        "id": device_id,
        "protocol": "modbus_tcp",
        "profile": profile,
        "host": "127.0.0.1",
        "port": port,
        "unit_id": unit,
        "poll_interval": poll,
    }


COMPANY = {"id": "huaxin", "name": "华信物业集团"}


def organisation_data() -> dict[str, Any]:
    """`organisation.yaml`: the company and the regions the generated sites name."""
    return {
        "company": COMPANY,
        "regions": [{"id": rid, "name": f"{city}区域公司"} for rid, city, _, _ in REGIONS],
    }


def write_sites(folder: Path, sites: int, assets: int) -> list[GeneratedSite]:
    """Write `sites` site files of `assets` assets each into `folder` (created if missing),
    and the organisation file beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    org = yaml.dump(organisation_data(), Dumper=yaml.CSafeDumper, allow_unicode=True)
    (folder / "organisation.yaml").write_text(org, encoding="utf-8")
    out = []
    for i in range(sites):
        data = site_data(i, assets)
        sid = data["site"]["id"]
        path = folder / f"{sid}.yaml"
        text = yaml.dump(
            data, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False, width=120
        )
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        out.append(
            GeneratedSite(
                sid,
                data["site"]["name"],
                data["site"]["region"],
                path,
                tuple(a["id"] for a in data["assets"]),
                tuple(a["id"] for a in data["assets"] if a["kind"] == "access_controller"),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50)
    args = parser.parse_args()
    written = write_sites(args.folder, args.sites, args.assets)
    print(f"{len(written)} site files x {args.assets} assets in {args.folder}")


if __name__ == "__main__":
    main()
