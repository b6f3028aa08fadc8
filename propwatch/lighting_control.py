"""照明定时控制: the site file's lighting schedule — which circuits switch on and off, when.

A switch names one lighting asset and some of its circuits, when they go on (sunset with an
offset, or a fixed local time) and when they go off (sunrise with an offset, or a fixed local
time such as 23:30 for decorative lights). Each switching is sent as a command (遥控) to the
circuit's writable command point, with a time to live, so a gateway that comes back after its
time never replays it. The maintenance service issues them (`maintenance.lighting_control`);
this module only says what the file may contain, checked by `propwatch check-config` against the
device profiles (a circuit without a writable on/off point cannot be scheduled).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from propwatch.config_errors import unknown_reference
from propwatch.durations import Seconds
from propwatch.messages import say
from propwatch.profiles import DataType, ModbusProfile, Profile

ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
MAX_OFFSET = 6 * 3600.0
"""The furthest a switching may lie from sunset or sunrise (6 h)."""
CIRCUIT_POINT = re.compile(r"^(?:circuit_(\d+)_)?command$")
"""The on/off point of a circuit: `circuit_<n>_command` on a panel, `command` on one circuit."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SwitchTime(_M):
    """When a switching happens: exactly one of an offset from sunset or sunrise, or `at`, a
    fixed local time (a time before noon belongs to the night that began the day before)."""

    after_sunset: Seconds | None = Field(default=None, ge=0, le=MAX_OFFSET)
    before_sunset: Seconds | None = Field(default=None, ge=0, le=MAX_OFFSET)
    after_sunrise: Seconds | None = Field(default=None, ge=0, le=MAX_OFFSET)
    before_sunrise: Seconds | None = Field(default=None, ge=0, le=MAX_OFFSET)
    at: time | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SwitchTime:
        given = [k for k, v in self.model_dump().items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                say(
                    "开关时间须且只须写一项：after_sunset、before_sunset、after_sunrise、"
                    f"before_sunrise 或 at（这里写了 {'、'.join(given) or '无'}）",
                    "a switching time takes exactly one of after_sunset, before_sunset, "
                    f"after_sunrise, before_sunrise or at (got {', '.join(given) or 'none'})",
                )
            )
        return self

    @property
    def anchor(self) -> Literal["sunset", "sunrise", "at"]:
        if self.at is not None:
            return "at"
        return "sunset" if "sunset" in self._given() else "sunrise"

    @property
    def offset(self) -> float:
        """Seconds after the anchor (negative: before it); 0 for a fixed time."""
        name = self._given()
        value = getattr(self, name)
        if name == "at":
            return 0.0
        return float(value) if name.startswith("after") else -float(value)

    def _given(self) -> str:
        return next(k for k, v in self.model_dump().items() if v is not None)

    def zh(self) -> str:
        """日落后10分钟, 日出前15分钟, 23:30."""
        if self.at is not None:
            return f"{self.at:%H:%M}"
        name = self._given()
        minutes = round(abs(self.offset) / 60)
        word = "日落" if "sunset" in name else "日出"
        if minutes == 0:
            return f"{word}时"
        return f"{word}{'后' if name.startswith('after') else '前'}{minutes}分钟"


class LightingSwitch(_M):
    """One schedule: these circuits of one asset on at `on` and off at `off`, every night."""

    id: str = Field(pattern=ID, max_length=64)
    name: str = ""
    asset: str
    circuits: list[int] | None = Field(
        default=None, min_length=1, description="circuit numbers; unset: every circuit"
    )
    on: SwitchTime
    off: SwitchTime
    ttl: Seconds | None = Field(
        default=None, ge=10, le=3600, description="each command's time to live (section's)"
    )
    enabled: bool = True


class LightingControl(_M):
    """照明定时控制: the switches, and how long each command may wait to be executed."""

    ttl: Seconds = Field(default=600.0, ge=10, le=3600)
    switches: list[LightingSwitch] = Field(default_factory=list)


def circuit_points(profile: ModbusProfile, circuits: list[int] | None) -> dict[str, int | None]:
    """The on/off point of each circuit a switch names (all the profile's when unset): point
    name → circuit number (None for an asset that is one circuit). Unknown numbers are left out
    (`lighting_control_problems` reports them)."""
    found: dict[int | None, str] = {}
    for p in profile.points:
        m = CIRCUIT_POINT.match(p.name)
        if m and p.writable is not None and p.type is DataType.BOOL:
            found[int(m.group(1)) if m.group(1) else None] = p.name
    if circuits is None:
        return {name: n for n, name in sorted(found.items(), key=lambda i: i[0] or 0)}
    return {found[n]: n for n in circuits if n in found}


def lighting_control_problems(
    control: LightingControl,
    assets: dict[str, str | None],
    profiles_of_devices: dict[str, Profile],
) -> list[tuple[tuple[str | int, ...], str]]:
    """A switch naming an unknown asset, an asset without a Modbus device, or a circuit its
    profile has no writable on/off point for would never switch anything: refuse it. `assets`
    maps asset id → its device id; `profiles_of_devices` device id → its profile."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    seen: dict[str, int] = {}
    for i, sw in enumerate(control.switches):
        loc: tuple[str | int, ...] = ("lighting_control", "switches", i)
        if sw.id in seen:
            out.append(
                (
                    (*loc, "id"),
                    say(
                        f"id {sw.id} 重复（lighting_control.switches[{seen[sw.id]}] 已使用）",
                        f"id {sw.id} is used twice (also lighting_control.switches[{seen[sw.id]}])",
                    ),
                )
            )
        seen.setdefault(sw.id, i)
        if sw.asset not in assets:
            out.append(((*loc, "asset"), unknown_reference("资产", "asset", sw.asset, set(assets))))
            continue
        device = assets[sw.asset]
        profile = profiles_of_devices.get(device or "")
        if device is None or profile is None:
            if device is None:
                out.append(
                    (
                        (*loc, "asset"),
                        say(
                            f"资产 {sw.asset} 没有接入设备，无法遥控开关灯",
                            f"asset {sw.asset} has no device to send commands to",
                        ),
                    )
                )
            continue  # a device or profile that failed to load is reported where it is
        if not isinstance(profile, ModbusProfile):
            out.append(
                (
                    (*loc, "asset"),
                    say(
                        f"资产 {sw.asset} 的设备不是 Modbus 设备，不能遥控",
                        f"asset {sw.asset}'s device is not a Modbus device: it takes no commands",
                    ),
                )
            )
            continue
        every = circuit_points(profile, None)
        if not every:
            out.append(
                (
                    (*loc, "asset"),
                    say(
                        f"资产 {sw.asset}（型号 {profile.model}）没有可遥控的回路合闸点",
                        f"asset {sw.asset} (profile {profile.model}) has no writable circuit "
                        "on/off point",
                    ),
                )
            )
            continue
        numbers = {n for n in every.values() if n is not None}
        for j, n in enumerate(sw.circuits or []):
            if n not in numbers:
                out.append(
                    (
                        (*loc, "circuits", j),
                        say(
                            f"资产 {sw.asset}（型号 {profile.model}）没有可遥控的第{n}回路"
                            f"（有 {'、'.join(str(k) for k in sorted(numbers)) or '无'}）",
                            f"asset {sw.asset} (profile {profile.model}) has no writable "
                            f"circuit {n} (it has "
                            f"{', '.join(map(str, sorted(numbers))) or 'none'})",
                        ),
                    )
                )
    return out
