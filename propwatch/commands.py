"""遥控: commands to devices as they travel between the maintenance side and the gateway.

A command is written to one writable point of a profile (`propwatch.profiles.Writable`). The
maintenance side publishes it on the site's gateway command topic (QoS 1); the gateway checks it
again, writes it, reads the read-back point and publishes the result on the command-result topic
of the asset, which the maintenance side's event consumer stores on the command's row.

A command carries its `expires_at`: a gateway never executes one after it (a gateway back from
an outage, handed yesterday's queued switch-on by its persistent session, answers `expired`).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from propwatch.events import TOPIC_ROOT, UtcTime
from propwatch.profiles import DataType, Function, ModbusPoint, ModbusProfile

CommandValue = bool | int | float

PENDING, SENT, DONE, FAILED, EXPIRED, REFUSED = (
    "pending",
    "sent",
    "done",
    "failed",
    "expired",
    "refused",
)
STATES = (PENDING, SENT, DONE, FAILED, EXPIRED, REFUSED)
FINAL = frozenset({DONE, FAILED, EXPIRED, REFUSED})
STATE_ZH = {
    PENDING: "待下发",
    SENT: "已下发",
    DONE: "已执行",
    FAILED: "执行失败",
    EXPIRED: "已过期",
    REFUSED: "已拒绝",
}

_INT_RANGES = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
}


def command_topic(site_id: str) -> str:
    """Where the site's gateway takes its commands (it subscribes with QoS 1)."""
    return f"{TOPIC_ROOT}/{site_id}/gateway/commands"


def result_topic(site_id: str, asset_id: str) -> str:
    """Where the gateway answers a command to one of the site's assets."""
    return f"{TOPIC_ROOT}/{site_id}/command-results/{asset_id}"


RESULT_STREAM = "command-results"


class DeviceCommand(BaseModel):
    """One command as the gateway receives it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    command_id: int = Field(ge=1)
    site_id: str
    asset_id: str
    device_id: str
    point: str
    value: CommandValue
    issued_at: UtcTime
    expires_at: UtcTime


class CommandResult(BaseModel):
    """What the gateway did with a command: done (read back), failed, expired or refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    command_id: int = Field(ge=1)
    site_id: str
    asset_id: str
    state: Literal["done", "failed", "expired", "refused"]
    read_back: CommandValue | str | None = None
    reason: str = Field(default="", max_length=500)
    at: UtcTime


class CommandRefused(ValueError):
    """A command that must not be sent: the point is not writable or the value is not allowed.
    `field` is the request field it concerns (`point` or `value`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def writable_point(profile: ModbusProfile, name: str) -> ModbusPoint:
    """The point a command may write, or `CommandRefused` saying why not (zh-CN)."""
    point = next((p for p in profile.points if p.name == name), None)
    if point is None:
        raise CommandRefused("point", f"设备型号 {profile.model} 没有测点 {name}")
    if point.writable is None:
        raise CommandRefused("point", f"测点「{point.label or point.name}」只读，不能遥控")
    return point


def checked_value(point: ModbusPoint, value: object) -> CommandValue:
    """The value to write, as the point's type takes it, or `CommandRefused` (zh-CN) when it is
    of the wrong kind, out of range or not among the allowed values."""
    label = point.label or point.name
    w = point.writable
    assert w is not None
    if point.type is DataType.BOOL:
        if isinstance(value, bool):
            checked: CommandValue = value
        elif isinstance(value, int) and value in (0, 1):
            checked = bool(value)
        else:
            raise CommandRefused("value", f"「{label}」的值须为 true 或 false，不能是 {value!r}")
    else:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CommandRefused("value", f"「{label}」的值须为数值，不能是 {value!r}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer beyond any float
            finite = False
        if not finite:
            raise CommandRefused("value", f"「{label}」的值须为有限数值")
        checked = value
        unit = point.unit
        if w.min is not None and value < w.min:
            raise CommandRefused("value", f"「{label}」的值 {value}{unit} 低于下限 {w.min:g}{unit}")
        if w.max is not None and value > w.max:
            raise CommandRefused("value", f"「{label}」的值 {value}{unit} 高于上限 {w.max:g}{unit}")
        if point.type in _INT_RANGES:
            raw = (value - point.offset) / point.scale
            if abs(raw - round(raw)) > 1e-6:
                step = f"{point.scale:g}{unit}"
                raise CommandRefused(
                    "value", f"「{label}」只能以 {step} 为单位设定，不能是 {value}"
                )
            low, high = _INT_RANGES[point.type]
            if not low <= round(raw) <= high:
                raise CommandRefused("value", f"「{label}」的值 {value} 超出寄存器能表示的范围")
            plain = point.scale == 1 and point.offset == 0
            checked = round(raw) if plain else round(raw) * point.scale + point.offset
    if w.allowed is not None and not any(_same(checked, a) for a in w.allowed):
        shown = "、".join(_shown(a) for a in w.allowed)
        raise CommandRefused("value", f"「{label}」只能设为 {shown}，不能是 {_shown(checked)}")
    return checked


def _same(a: CommandValue, b: CommandValue) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _shown(value: CommandValue) -> str:
    if isinstance(value, bool):
        return "开（true）" if value else "关（false）"
    return f"{value:g}"


def read_back_matches(
    written: ModbusPoint, back: ModbusPoint, value: CommandValue, got: object
) -> bool:
    """Whether the read-back value confirms the one written: the same bit, or a number within
    the profile's tolerance (or within what the read-back point's encoding can hold)."""
    if isinstance(value, bool) or back.type is DataType.BOOL:
        return isinstance(got, bool) and got is bool(value)
    if isinstance(got, bool) or not isinstance(got, int | float):
        return False
    assert written.writable is not None
    tolerance = written.writable.tolerance
    if tolerance is None:
        # float32 keeps about 7 digits; an integer register keeps one step of its scale
        tolerance = max(abs(float(value)) * 1e-6, 1e-9)
        if back.type in _INT_RANGES:
            tolerance = max(tolerance, abs(back.scale) / 2)
    return abs(float(got) - float(value)) <= tolerance


def write_function(point: ModbusPoint, registers: int) -> int:
    """The Modbus function a write of this point uses: 5 (one coil), 6 (one register) or 16."""
    if point.function is Function.COIL:
        return 5
    return 6 if registers == 1 else 16
