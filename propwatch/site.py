"""The site file: one property (小区) described as data.

Zones (片区) with their staff, assets, devices, edge rules, the time-limit table (维护时限表),
alarm routing and plans. Secrets never live here; they come from `Settings`.
"""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from propwatch.config_file import ConfigError, format_loc, line_of, read_yaml, validate_file
from propwatch.durations import Limit, Seconds, TimeLimit
from propwatch.events import Severity
from propwatch.profiles import Profile, load_profile

ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class Priority(StrEnum):
    """分级响应: 紧急 / 重要 / 一般."""

    EMERGENCY = "emergency"
    IMPORTANT = "important"
    GENERAL = "general"


PRIORITY_ZH = {Priority.EMERGENCY: "紧急", Priority.IMPORTANT: "重要", Priority.GENERAL: "一般"}


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteInfo(_M):
    id: str = Field(pattern=ID)
    name: str
    timezone: str = "Asia/Shanghai"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    address: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Role(StrEnum):
    TECHNICIAN = "technician"
    SECURITY = "security"
    SERVICE = "service"
    SUPERVISOR = "supervisor"


class Person(_M):
    id: str = Field(pattern=ID)
    name: str
    role: Role
    phone: str = ""


class Zone(_M):
    """片区: a zone whose technician, security and service staff answer for its facilities."""

    id: str = Field(pattern=ID)
    name: str
    buildings: list[str] = Field(default_factory=list)
    technicians: list[str] = Field(default_factory=list)
    security: list[str] = Field(default_factory=list)
    service: list[str] = Field(default_factory=list)
    supervisor: str | None = None


class DutyRota(_M):
    """值班: who takes alarms by day and by night."""

    day_starts: time = time(8, 0)
    night_starts: time = time(20, 0)
    day_technician: str | None = None
    night_technician: str | None = None


class Asset(_M):
    id: str = Field(pattern=ID)
    name: str
    kind: str
    zone: str
    building: str = ""
    location: str = ""
    install_date: date | None = None
    warranty_end: date | None = None
    device: str | None = None
    channel: str | None = Field(
        default=None, description="point-name prefix when one device watches several assets"
    )


class Device(_M):
    id: str = Field(pattern=ID)
    protocol: Literal["modbus_tcp", "modbus_rtu", "mqtt"]
    profile: str
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    serial_port: str | None = None
    baudrate: int = 9600
    poll_interval: Seconds = 1.0
    timeout: Seconds = 1.0

    @model_validator(mode="after")
    def _transport(self) -> Device:
        if self.protocol == "modbus_rtu" and not self.serial_port:
            raise ValueError("a modbus_rtu device needs serial_port")
        return self


class ThresholdRule(_M):
    """Raise when a metric stays past a limit for `on_delay`; clear once it is back inside the
    hysteresis band for `off_delay`."""

    id: str = Field(pattern=ID)
    kind: Literal["threshold"] = "threshold"
    asset: str | None = None
    asset_kind: str | None = None
    metric: str
    above: float | None = None
    below: float | None = None
    hysteresis: float = 0.0
    on_delay: Seconds = 0.0
    off_delay: Seconds = 0.0
    alarm_type: str
    severity: Severity = Severity.MAJOR
    message: str = ""

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("a threshold rule needs exactly one of above or below")
        if (self.asset is None) == (self.asset_kind is None):
            raise ValueError("a rule applies to exactly one of asset or asset_kind")
        return self


class Category(StrEnum):
    ELEVATOR = "elevator"
    WATER_SUPPLY = "water_supply"
    LIGHTING = "lighting"
    ACCESS_CONTROL = "access_control"
    FIRE = "fire"
    GENERAL = "general"


CATEGORY_ZH = {
    Category.ELEVATOR: "电梯",
    Category.WATER_SUPPLY: "供水",
    Category.LIGHTING: "照明",
    Category.ACCESS_CONTROL: "门禁",
    Category.FIRE: "消防",
    Category.GENERAL: "综合",
}

KIND_CATEGORY = {
    "elevator": Category.ELEVATOR,
    "water_pump": Category.WATER_SUPPLY,
    "fire_pump": Category.FIRE,
    "lighting_circuit": Category.LIGHTING,
    "lighting_panel": Category.LIGHTING,
    "access_controller": Category.ACCESS_CONTROL,
}


class SlaPolicy(_M):
    """One row of the 维护时限表: limits for a category (or `*`) and a priority."""

    category: Category | Literal["*"] = "*"
    priority: Priority
    respond: Limit | None = None
    arrive: Limit | None = None
    resolve: Limit | None = None
    revisit: Limit | None = None


DEFAULT_SLA: tuple[SlaPolicy, ...] = (
    SlaPolicy(
        priority=Priority.EMERGENCY,
        respond=TimeLimit(0.25, "hours"),
        arrive=TimeLimit(1, "hours"),
        resolve=TimeLimit(4, "hours"),
        revisit=TimeLimit(1, "working_days"),
    ),
    SlaPolicy(
        priority=Priority.IMPORTANT,
        respond=TimeLimit(2, "hours"),
        arrive=TimeLimit(4, "hours"),
        resolve=TimeLimit(12, "hours"),
        revisit=TimeLimit(1, "working_days"),
    ),
    SlaPolicy(
        priority=Priority.GENERAL,
        respond=TimeLimit(8, "hours"),
        resolve=TimeLimit(24, "hours"),
        revisit=TimeLimit(1, "working_days"),
    ),
)


class AlarmRoute(_M):
    """Which work order an alarm type becomes."""

    alarm_type: str
    category: Category | None = None
    priority: Priority
    create_work_order: bool = True


class SiteFile(_M):
    """The whole site file."""

    site: SiteInfo
    people: list[Person] = Field(default_factory=list)
    zones: list[Zone] = Field(min_length=1)
    duty: DutyRota = DutyRota()
    assets: list[Asset] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)
    rules: list[ThresholdRule] = Field(default_factory=list)
    sla: list[SlaPolicy] = Field(default_factory=lambda: list(DEFAULT_SLA))
    alarm_routes: list[AlarmRoute] = Field(default_factory=list)
    plans: list[dict[str, Any]] = Field(default_factory=list)

    def zone(self, zone_id: str) -> Zone:
        return next(z for z in self.zones if z.id == zone_id)

    def asset(self, asset_id: str) -> Asset:
        return next(a for a in self.assets if a.id == asset_id)

    def assets_of_device(self, device_id: str) -> list[Asset]:
        return [a for a in self.assets if a.device == device_id]


def reference_problems(spec: SiteFile) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references that a schema alone cannot check, each with the location it concerns."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for section in ("people", "zones", "assets", "devices", "rules"):
        seen: set[str] = set()
        for i, item in enumerate(getattr(spec, section)):
            if item.id in seen:
                out.append(((section, i, "id"), f"id {item.id!r} is used twice"))
            seen.add(item.id)
    people = {p.id for p in spec.people}
    zones = {z.id for z in spec.zones}
    devices = {d.id for d in spec.devices}
    assets = {a.id for a in spec.assets}
    for i, z in enumerate(spec.zones):
        for role in ("technicians", "security", "service"):
            for j, pid in enumerate(getattr(z, role)):
                if pid not in people:
                    out.append((("zones", i, role, j), f"unknown person {pid!r}"))
        if z.supervisor and z.supervisor not in people:
            out.append((("zones", i, "supervisor"), f"unknown person {z.supervisor!r}"))
    for role in ("day_technician", "night_technician"):
        pid = getattr(spec.duty, role)
        if pid and pid not in people:
            out.append((("duty", role), f"unknown person {pid!r}"))
    for i, a in enumerate(spec.assets):
        if a.zone not in zones:
            out.append((("assets", i, "zone"), f"unknown zone {a.zone!r}"))
        if a.device and a.device not in devices:
            out.append((("assets", i, "device"), f"unknown device {a.device!r}"))
    for i, r in enumerate(spec.rules):
        if r.asset and r.asset not in assets:
            out.append((("rules", i, "asset"), f"unknown asset {r.asset!r}"))
    return out


class Site:
    """A loaded site file with its resolved device profiles."""

    def __init__(self, path: Path, spec: SiteFile, profiles: dict[str, Profile]) -> None:
        self.path = path
        self.spec = spec
        self.profiles = profiles

    @property
    def id(self) -> str:
        return self.spec.site.id

    def profile_of(self, device_id: str) -> Profile:
        device = next(d for d in self.spec.devices if d.id == device_id)
        return self.profiles[device.profile]


def load_site(path: Path | str) -> Site:
    """Load and cross-check a site file and every profile it names."""
    path = Path(path)
    data, lines = read_yaml(path)
    spec = validate_file(path, SiteFile, data, lines)
    problems = [
        f"{path}:{line_of(lines, loc)}: {format_loc(loc)}: {msg}"
        for loc, msg in reference_problems(spec)
    ]
    profiles: dict[str, Profile] = {}
    search = [path.parent / "profiles", path.parent]
    for i, device in enumerate(spec.devices):
        if device.profile in profiles:
            continue
        try:
            profile = load_profile(device.profile, search)
        except ConfigError as exc:
            line = lines.get(("devices", i, "profile"), "?")
            problems += [f"{path}:{line}: devices[{i}].profile: {p}" for p in exc.problems]
            continue
        expected = "mqtt" if device.protocol == "mqtt" else "modbus"
        if profile.protocol != expected:
            line = lines.get(("devices", i, "profile"), "?")
            problems.append(
                f"{path}:{line}: devices[{i}].profile: {device.profile} is a {profile.protocol} "
                f"profile but the device speaks {device.protocol}"
            )
            continue
        profiles[device.profile] = profile
    if problems:
        raise ConfigError(problems)
    return Site(path, spec, profiles)
