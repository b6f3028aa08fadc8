"""Device profiles: register maps (Modbus) and payload maps (MQTT) as data files.

A new device model is a new YAML file here or beside the site file; no code changes.
Built-in profiles live in `propwatch/profiles/` and are also what the simulators serve.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from propwatch.config_errors import one_of, unknown_reference
from propwatch.config_file import (
    MAX_DOCUMENT_BYTES,
    ConfigError,
    Loc,
    format_loc,
    line_of,
    read_yaml,
    validate_file,
)
from propwatch.durations import Seconds
from propwatch.messages import lang, say

BUILTIN_DIR = Path(__file__).parent / "profiles"


class Function(StrEnum):
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"
    HOLDING = "holding"
    INPUT = "input"


class DataType(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"


REGISTER_WIDTH = {
    DataType.BOOL: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.INT64: 4,
    DataType.FLOAT32: 2,
    DataType.FLOAT64: 4,
}


class WordOrder(StrEnum):
    """Byte order of a multi-register value: ABCD is big-endian words and bytes."""

    ABCD = "ABCD"
    CDAB = "CDAB"
    BADC = "BADC"
    DCBA = "DCBA"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Writable(_Strict):
    """遥控: a command may write the point (a coil with FC 5, a holding register with FC 6, or
    FC 16 when the value spans several registers), then the gateway reads `readback` (the point
    itself unless named) and the command is done only if it shows the value written.

    `min`/`max` and `allowed` are in engineering units (after scale and offset), checked by the
    API before anything is sent and by the gateway again before it writes; `tolerance` is how far
    a numeric read-back may lie from the value written (a setpoint read back as a measurement).
    """

    min: float | None = None
    max: float | None = None
    allowed: list[bool | int | float] | None = Field(default=None, min_length=1, max_length=64)
    readback: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    tolerance: float | None = Field(default=None, ge=0)


class ModbusPoint(_Strict):
    """One value in a register map."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    # 测点名称 shown to people (出水压力); unset: the point's name
    label: str = Field(default="", max_length=40)
    function: Function
    address: int = Field(ge=0, le=65535)
    type: DataType = DataType.UINT16
    order: WordOrder = WordOrder.ABCD
    length: int | None = Field(default=None, ge=1, le=125, description="registers, for strings")
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    poll_class: str = "normal"
    deadband: float | None = Field(default=None, ge=0)
    # Report by exception: the longest a point may stay unreported while within its deadband
    # (e.g. "15min"); unset: the gateway's PROPWATCH_GATEWAY_HEARTBEAT.
    heartbeat: Seconds | None = Field(default=None, gt=0)
    description: str = ""
    # 遥控: unset, the point is read only (`writable: true` for no limits)
    writable: Writable | None = None

    @field_validator("writable", mode="before")
    @classmethod
    def _writable_flag(cls, value: object) -> object:
        if value is True:
            return {}
        return None if value is False else value

    @model_validator(mode="after")
    def _consistent(self) -> ModbusPoint:
        bit_fn = self.function in (Function.COIL, Function.DISCRETE_INPUT)
        if bit_fn and self.type is not DataType.BOOL:
            raise ValueError(
                say(
                    f"{self.function} 测点只有一位：type 须为 bool",
                    f"{self.function} points hold single bits: type must be bool",
                )
            )
        if self.type is DataType.STRING and self.length is None:
            raise ValueError(
                say(
                    "string 测点需要 length（寄存器个数）",
                    "a string point needs length (registers)",
                )
            )
        if self.type is not DataType.STRING and self.length is not None:
            raise ValueError(
                say("length 只用于 string 测点", "length applies to string points only")
            )
        if self.type in (DataType.BOOL, DataType.STRING) and (self.scale, self.offset) != (1, 0):
            raise ValueError(
                say(
                    f"scale 和 offset 只用于数值，不能用于 {self.type} 测点",
                    f"scale and offset apply to numbers, not to {self.type} points",
                )
            )
        if self.type in (DataType.BOOL, DataType.STRING) and self.deadband is not None:
            raise ValueError(
                say(
                    f"deadband 只用于数值，不能用于 {self.type} 测点",
                    f"deadband applies to numbers, not to {self.type} points",
                )
            )
        if self.scale == 0:
            raise ValueError(
                say(
                    "scale 为 0 会让每个读数都等于 offset",
                    "scale 0 would turn every reading into the offset",
                )
            )
        if self.address + self.width > 65536:
            raise ValueError(
                say(
                    f"测点超出地址 65535（占 {self.width} 个寄存器）",
                    f"the point runs past address 65535 ({self.width} registers)",
                )
            )
        return self

    @property
    def width(self) -> int:
        """Registers (or bits) the point occupies."""
        if self.type is DataType.STRING:
            assert self.length is not None
            return self.length
        return REGISTER_WIDTH[self.type]


DEFAULT_POLL_CLASSES = {"fast": 0.5, "normal": 1.0, "slow": 10.0}


class ModbusProfile(_Strict):
    """A register map for one Modbus device model.

    `poll_classes` multiply the device's poll interval per point (`slow` points such as run-hour
    counters are read every tenth poll); `max_gap` is how many unused registers (or bits) a
    coalesced read may span to save a request.
    """

    model: str
    protocol: Literal["modbus"] = "modbus"
    kind: str
    vendor: str = ""
    description: str = ""
    max_gap: int = Field(default=8, ge=0, le=124)
    poll_classes: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_POLL_CLASSES))
    points: list[ModbusPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_overlap(self, info: ValidationInfo) -> ModbusProfile:
        if info.context and info.context.get("located_checks"):
            return self  # the loader reports these with their own file lines
        problems = profile_problems(self)
        if problems:
            raise ValueError("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in problems))
        return self

    def point(self, name: str) -> ModbusPoint:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)


def profile_problems(profile: ModbusProfile) -> list[tuple[Loc, str]]:
    """What a schema cannot see point by point: duplicate names, overlapping registers,
    undefined poll classes — each with the location it concerns."""
    out: list[tuple[Loc, str]] = []
    for name, multiplier in profile.poll_classes.items():
        if not multiplier > 0:
            out.append(
                (
                    ("poll_classes", name),
                    say("轮询等级的倍数须为正数", "a poll class multiplier must be positive"),
                )
            )
    names: dict[str, int] = {}
    taken: dict[tuple[Function, int], str] = {}
    for i, p in enumerate(profile.points):
        if p.name in names:
            out.append(
                (
                    ("points", i, "name"),
                    say(
                        f"测点名 {p.name} 重复（points[{names[p.name]}] 已使用）",
                        f"point name {p.name} is used twice (points[{names[p.name]}])",
                    ),
                )
            )
        names.setdefault(p.name, i)
        if p.poll_class not in profile.poll_classes:
            out.append(
                (
                    ("points", i, "poll_class"),
                    unknown_reference("轮询等级", "poll class", p.poll_class, profile.poll_classes),
                )
            )
        for a in range(p.address, p.address + p.width):
            other = taken.get((p.function, a))
            if other:
                out.append(
                    (
                        ("points", i, "address"),
                        say(
                            f"测点 {p.name} 与 {other} 在 {p.function} 地址 {a} 重叠",
                            f"point {p.name} overlaps {other} at {p.function} address {a}",
                        ),
                    )
                )
                break
            taken[(p.function, a)] = p.name
    for i, p in enumerate(profile.points):
        if p.writable is not None:
            out += [
                (("points", i, "writable", *loc), m) for loc, m in writable_problems(profile, p)
            ]
    return out


def writable_problems(profile: ModbusProfile, p: ModbusPoint) -> list[tuple[Loc, str]]:
    """What is wrong with a point's `writable`: only coils and holding registers can be written,
    limits must suit the type, and the read-back point must exist and hold the same kind."""
    w = p.writable
    assert w is not None
    out: list[tuple[Loc, str]] = []
    if p.function not in (Function.COIL, Function.HOLDING):
        out.append(
            (
                (),
                say(
                    f"只有线圈（coil）和保持寄存器（holding）可写，{p.function} 测点不能遥控",
                    f"only coil and holding points can be written, not {p.function} points",
                ),
            )
        )
    if p.type is DataType.STRING:
        out.append(((), say("string 测点不能遥控", "string points cannot be written")))
    is_bool = p.type is DataType.BOOL
    if is_bool:
        for name in ("min", "max", "tolerance"):
            if getattr(w, name) is not None:
                out.append(
                    (
                        (name,),
                        say(f"{name} 只用于数值测点", f"{name} applies to numeric points only"),
                    )
                )
    if w.min is not None and w.max is not None and w.min > w.max:
        out.append((("min",), say(f"min {w.min} 大于 max {w.max}", f"min {w.min} > max {w.max}")))
    for n, value in enumerate(w.allowed or []):
        if isinstance(value, bool) != is_bool:
            kind = say("true 或 false", "true or false") if is_bool else say("数值", "a number")
            out.append(
                (
                    ("allowed", n),
                    say(f"{value!r} 须为{kind}", f"{value!r} must be {kind}"),
                )
            )
        elif not is_bool and (
            (w.min is not None and value < w.min) or (w.max is not None and value > w.max)
        ):
            out.append(
                (
                    ("allowed", n),
                    say(f"{value} 超出 min/max", f"{value} lies outside min/max"),
                )
            )
    if w.readback is not None:
        names = {q.name: q for q in profile.points}
        back = names.get(w.readback)
        if back is None:
            out.append((("readback",), unknown_reference("测点", "point", w.readback, names)))
        elif (back.type is DataType.BOOL) != is_bool or back.type is DataType.STRING:
            out.append(
                (
                    ("readback",),
                    say(
                        f"回读测点 {back.name} 是 {back.type}，与 {p.type} 不能比较",
                        f"read-back point {back.name} is {back.type}, not comparable to {p.type}",
                    ),
                )
            )
    return out


class MqttField(_Strict):
    """One value in a JSON payload, found by a dotted path such as `door.state`."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(default="", max_length=40)
    path: str
    type: Literal["bool", "int", "float", "string"] = "float"
    unit: str = ""
    scale: float = 1.0
    map: dict[str, float | int | bool | str] | None = None
    """Payload value (as text) → the value stored, all of the field's `type`: a field of the
    store keeps one type, and InfluxDB refuses a batch that mixes them."""

    @model_validator(mode="after")
    def _map_of_its_type(self) -> MqttField:
        if self.map is None:
            return self
        for key, value in self.map.items():
            if not _of_type(value, self.type):
                raise ValueError(
                    say(
                        f"map 中 {key}: {value!r} 不是字段类型 {self.type} 的值；"
                        f"map 的值须与 type 一致（type 缺省为 float）",
                        f"map entry {key}: {value!r} is not a {self.type} value; a map's "
                        f"values must be of the field's type (float unless `type` says)",
                    )
                )
        if self.type == "float":  # 1 and 1.0 alike: the store keeps floats for this field
            object.__setattr__(self, "map", {k: float(v) for k, v in self.map.items()})
        return self


def _of_type(value: float | int | bool | str, type_: str) -> bool:
    if isinstance(value, bool):
        return type_ == "bool"
    if isinstance(value, int):
        return type_ in ("int", "float")
    if isinstance(value, float):
        return type_ == "float"
    return type_ == "string"


class MqttProfile(_Strict):
    """A payload map for one MQTT device model. `{device}` in topics is the device's id."""

    model: str
    protocol: Literal["mqtt"] = "mqtt"
    kind: str
    vendor: str = ""
    description: str = ""
    topic: str = Field(description="subscription pattern, `{device}` replaced by the device id")
    timestamp_path: str | None = None
    max_payload_bytes: int = 65536
    heartbeat: Seconds = Field(
        default=30.0, gt=0, description="the longest a healthy unit of the model stays quiet"
    )
    offline_after: Seconds | None = Field(
        default=None, gt=0, description="silence before a unit is offline (three heartbeats)"
    )
    fields: list[MqttField] = Field(min_length=1)

    def allowed_silence(self) -> float:
        """通信中断 for a device that only speaks when it has something to say: silent longer
        than this (three missed heartbeats unless the profile says) and it is offline."""
        return self.offline_after if self.offline_after is not None else 3 * self.heartbeat


Profile = ModbusProfile | MqttProfile


class PointFace(BaseModel):
    """How people see one point: its zh-CN name (测点名称) and its unit."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    unit: str
    numeric: bool  # a number or a bool (0/1): it has a trend; text has none
    # 遥控: whether a command may write it, and what it takes (the device page's controls)
    writable: bool = False
    switch: bool = False  # an on/off point (a coil or a bool register)
    min: float | None = None
    max: float | None = None
    allowed: list[bool | int | float] | None = None


def point_faces(profile: Profile) -> dict[str, PointFace]:
    """Every point of a profile by name, labelled; a point without a `label` shows its name."""
    if isinstance(profile, ModbusProfile):
        return {
            p.name: PointFace(
                name=p.name,
                label=p.label or p.name,
                unit=p.unit,
                numeric=str(p.type) != "string",
                writable=p.writable is not None,
                switch=p.type is DataType.BOOL,
                min=p.writable.min if p.writable else None,
                max=p.writable.max if p.writable else None,
                allowed=p.writable.allowed if p.writable else None,
            )
            for p in profile.points
        }
    return {
        p.name: PointFace(
            name=p.name, label=p.label or p.name, unit=p.unit, numeric=str(p.type) != "string"
        )
        for p in profile.fields
    }


def load_profile(name: str, search: list[Path] | None = None) -> Profile:
    """Find `name.yaml` on the search path (site directory first), then the built-ins."""
    dirs = [*(search or []), BUILTIN_DIR]
    for d in dirs:
        path = d / f"{name}.yaml"
        if path.exists():
            return load_profile_file(path)
    known = {f.stem for d in dirs if d.is_dir() for f in d.glob("*.yaml")}
    searched = ", ".join(str(d) for d in dirs)
    raise ConfigError(
        [
            unknown_reference("设备型号", "profile", name, known)
            + say(
                f"（在 {searched} 中查找 {name}.yaml）", f" (looked for {name}.yaml in {searched})"
            )
        ]
    )


class _ProfileCache:
    """Checked profiles by path, kept while the file's bytes stay the same.

    Every site file of a folder names the same few models: a folder of 200 sites would parse
    and validate the four built-ins 1,600 times. A profile is frozen and its check depends on
    nothing but its bytes, its path and the language problems are worded in, so an entry keeps
    those with the profile or the problems; an edited file has other bytes and is read again
    (the bytes are compared, not the mtime: an edit within one clock tick is still seen).
    """

    def __init__(self) -> None:
        # by the path as given: problems name the file the way the caller did
        self._entries: dict[Path, tuple[bytes, str, Profile | tuple[str, ...]]] = {}

    def load(self, path: Path) -> Profile:
        try:
            if path.stat().st_size > MAX_DOCUMENT_BYTES:  # refused unread, by read_yaml
                return _load_profile_file(path)
            raw = path.read_bytes()
        except OSError:
            return _load_profile_file(path)  # read_yaml words why it cannot be read
        language = lang()
        entry = self._entries.get(path)
        if entry is None or entry[0] != raw or entry[1] != language:
            try:
                found: Profile | tuple[str, ...] = _load_profile_file(path)
            except ConfigError as exc:
                found = tuple(exc.problems)  # the problems, not the exception and its frames
            # two threads missing at once both parse; either entry is right
            entry = self._entries[path] = (raw, language, found)
        if isinstance(entry[2], tuple):
            raise ConfigError(list(entry[2]))
        return entry[2]


PROFILES = _ProfileCache()


def load_profile_file(path: Path) -> Profile:
    """The checked profile of one file (cached while its bytes do not change)."""
    return PROFILES.load(path)


def _load_profile_file(path: Path) -> Profile:
    data, lines = read_yaml(path)
    protocol = data.get("protocol") if isinstance(data, dict) else None
    if protocol not in (None, "modbus", "mqtt"):  # it picks the schema: a typo must say so
        line = lines.get(("protocol",), "?")
        raise ConfigError([f"{path}:{line}: protocol: {one_of(protocol, ['modbus', 'mqtt'])}"])
    if isinstance(data, dict) and data.get("protocol") == "mqtt":
        return validate_file(path, MqttProfile, data, lines)
    profile = validate_file(path, ModbusProfile, data, lines, {"located_checks": True})
    problems = profile_problems(profile)
    if problems:
        raise ConfigError(
            [
                f"{path}:{line_of(lines, loc) or '?'}: {format_loc(loc)}: {msg}"
                for loc, msg in problems
            ]
        )
    return profile
