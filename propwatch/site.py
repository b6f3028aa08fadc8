"""The site file: one property (小区) described as data.

Zones (片区) with their staff, assets, devices, edge rules, the time-limit table (维护时限表),
alarm routing and plans. Secrets never live here; they come from `Settings`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from propwatch.config_errors import did_you_mean, nearest, unknown_reference
from propwatch.config_file import (
    ConfigError,
    Loc,
    format_loc,
    line_of,
    read_yaml,
    validate_file,
)
from propwatch.contractors import Contract, Contractor, contractor_problems
from propwatch.costs import CostSettings
from propwatch.durations import Limit, Seconds, TimeLimit
from propwatch.events import Severity
from propwatch.lighting_control import LightingControl, lighting_control_problems
from propwatch.messages import say
from propwatch.notification_channels import Notifications, notification_problems
from propwatch.patrols import patrol_problems
from propwatch.profiles import MqttProfile, PointFace, Profile, load_profile, point_faces
from propwatch.quality import QualitySettings, inspection_plan_problems, quality_problems
from propwatch.register_files import Register, RegisterKind
from propwatch.register_files import where as register_where
from propwatch.service_targets import ServiceTargets
from propwatch.statutory import StatutoryInspections
from propwatch.time_bounds import OUT_OF_RANGE_EN, OUT_OF_RANGE_ZH, within_bounds
from propwatch.work_order_fields import WorkOrderFields

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
    # 区域/城市公司: the region of the company this property belongs to (`organisation.yaml`
    # beside the site files names it); None: directly under the company
    region: str | None = Field(default=None, pattern=ID)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            hint = did_you_mean(v, available_timezones())
            raise ValueError(
                say(
                    f"未知时区 {v}（应为 IANA 名称，如 Asia/Shanghai）",
                    f"unknown time zone {v} (an IANA name such as Asia/Shanghai)",
                )
                + hint
            ) from exc
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
    email: str = Field(default="", description="for the e-mail notification channel")
    contractor: str | None = Field(default=None, description="维保单位 this person works for")


class Zone(_M):
    """片区: a zone whose technician, security and service staff answer for its facilities."""

    id: str = Field(pattern=ID)
    name: str
    buildings: list[str] = Field(default_factory=list)
    technicians: list[str] = Field(default_factory=list)
    security: list[str] = Field(default_factory=list)
    service: list[str] = Field(default_factory=list)
    supervisor: str | None = None


class DutyShift(_M):
    """One dated line of the 排班表: who is on day and night duty from that date's day start.

    A night shift belongs to the date it starts on: 02:00 on the 2nd is the night of the 1st.
    """

    date: date
    day_technician: str | None = None
    night_technician: str | None = None


class DutyRota(_M):
    """值班: who takes alarms by day and by night; dated `shifts` override the standing pair."""

    day_starts: time = time(8, 0)
    night_starts: time = time(20, 0)
    day_technician: str | None = None
    night_technician: str | None = None
    shifts: list[DutyShift] = Field(default_factory=list)
    operators: int = Field(
        default=1,
        ge=1,
        le=50,
        description="值班员 watching the alarm list at once; divides the alarm-rate KPIs",
    )


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
    parent: str | None = Field(
        default=None,
        pattern=ID,
        description="the asset that holds this one (a pump room its pumps and cabinet)",
    )


class Device(_M):
    id: str = Field(pattern=ID)
    protocol: Literal["modbus_tcp", "modbus_rtu", "mqtt"]
    profile: str
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    serial_port: str | None = None
    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    poll_interval: Seconds = Field(default=1.0, gt=0)
    timeout: Seconds = Field(default=1.0, gt=0)
    max_gap: int | None = Field(
        default=None, ge=0, le=124, description="registers a read may skip (profile default)"
    )
    offline_after: Seconds | None = Field(
        default=None, gt=0, description="MQTT: silence before the device is offline (profile's)"
    )
    topic: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="MQTT: the device's own topic, e.g. with a vendor id (profile's with {device})",
    )

    @model_validator(mode="after")
    def _transport(self) -> Device:
        if self.topic is not None:
            if self.protocol != "mqtt":
                raise ValueError(
                    say("topic（主题）只用于 MQTT 设备", "topic is for MQTT devices only")
                )
            if any(c in self.topic for c in "+#\x00"):
                raise ValueError(
                    say(
                        f"topic {self.topic!r} 不能含通配符 + 或 #：每台设备订阅它自己的主题",
                        f"topic {self.topic!r} may not hold the wildcards + or #: each device "
                        "is subscribed on a topic of its own",
                    )
                )
        if self.offline_after is not None and self.protocol != "mqtt":
            raise ValueError(
                say(
                    "offline_after（静默多久算离线）只用于 MQTT 设备；Modbus 设备的离线次数"
                    "在 communication_loss 规则中设置",
                    "offline_after (the silence allowed) is for MQTT devices; a Modbus device's "
                    "failed polls are set in a communication_loss rule",
                )
            )
        if self.protocol == "modbus_rtu" and not self.serial_port:
            raise ValueError(
                say(
                    "modbus_rtu 设备需要 serial_port（串口）",
                    "a modbus_rtu device needs serial_port",
                )
            )
        return self


class _RuleTarget(_M):
    """What every edge rule shares: an id and the asset (or kind of asset) it watches."""

    id: str = Field(pattern=ID)
    asset: str | None = None
    asset_kind: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> _RuleTarget:
        if (self.asset is None) == (self.asset_kind is None):
            raise ValueError(
                say(
                    "规则须且只能写 asset 或 asset_kind 之一",
                    "a rule applies to exactly one of asset or asset_kind",
                )
            )
        return self

    def applies_to(self, asset: Asset) -> bool:
        return self.asset == asset.id or (
            self.asset_kind is not None and self.asset_kind == asset.kind
        )

    def metrics(self) -> list[str]:
        """Point names the rule reads (checked against the device profile)."""
        metric = getattr(self, "metric", None)
        return [metric] if isinstance(metric, str) else []


class ThresholdRule(_RuleTarget):
    """Raise when a metric stays past a limit for `on_delay`; clear once it is back inside the
    hysteresis band for `off_delay`."""

    kind: Literal["threshold"] = "threshold"
    metric: str
    above: float | None = None
    below: float | None = None
    hysteresis: float = Field(default=0.0, ge=0)
    on_delay: Seconds = 0.0
    off_delay: Seconds = 0.0
    alarm_type: str
    severity: Severity = Severity.MAJOR
    message: str = ""

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError(
                say(
                    "阈值规则须且只能写 above 或 below 之一",
                    "a threshold rule needs exactly one of above or below",
                )
            )
        return self


class RateOfChangeRule(_RuleTarget):
    """变化率: raise when a metric rises (or falls) faster than `rise`/`fall` per `per` seconds,
    measured over `window` (a pipe burst drops pressure long before it crosses a limit)."""

    kind: Literal["rate_of_change"]
    metric: str
    rise: float | None = Field(default=None, gt=0)
    fall: float | None = Field(default=None, gt=0)
    per: Seconds = 60.0
    window: Seconds = 60.0
    on_delay: Seconds = 0.0
    off_delay: Seconds = 0.0
    alarm_type: str
    severity: Severity = Severity.MAJOR
    message: str = ""

    @model_validator(mode="after")
    def _direction(self) -> RateOfChangeRule:
        if self.rise is None and self.fall is None:
            raise ValueError(
                say(
                    "变化率规则需要 rise、fall 或两者",
                    "a rate_of_change rule needs rise, fall or both",
                )
            )
        if self.per <= 0 or self.window <= 0:
            raise ValueError(
                say("per 和 window 须为正的时长", "per and window must be positive durations")
            )
        return self


class StuckRule(_RuleTarget):
    """数值不变: a sensor whose value has not moved by more than `tolerance` for `duration` is
    probably frozen (a dead transmitter often repeats its last value)."""

    kind: Literal["stuck"]
    metric: str
    duration: Seconds
    tolerance: float = Field(default=0.0, ge=0)
    on_delay: Seconds = 0.0
    off_delay: Seconds = 0.0
    alarm_type: str = "stuck_value"
    severity: Severity = Severity.MINOR
    message: str = "传感器数值长时间不变，疑似故障"

    @model_validator(mode="after")
    def _positive(self) -> StuckRule:
        if self.duration <= 0:
            raise ValueError(say("duration 须为正的时长", "duration must be positive"))
        return self


class FaultMapping(_M):
    """One fault code or flag as the duty room should read it."""

    alarm_type: str
    message: str
    severity: Severity = Severity.MAJOR


class FaultCodeRule(_RuleTarget):
    """故障代码: map a controller's fault code (elevator controllers report one number) to alarm
    types. With `bits: true` the metric is a bit mask and the keys are bit numbers."""

    kind: Literal["fault_code"]
    metric: str
    codes: dict[int, FaultMapping] = Field(min_length=1)
    bits: bool = False
    unknown: FaultMapping | None = Field(
        default=None, description="raised for a non-zero code that is not listed"
    )
    on_delay: Seconds = 0.0
    off_delay: Seconds = 0.0

    @model_validator(mode="after")
    def _codes(self) -> FaultCodeRule:
        if 0 in self.codes and not self.bits:
            raise ValueError(
                say("代码 0 表示无故障，不能映射", "code 0 means no fault and cannot be mapped")
            )
        if self.bits and any(not 0 <= b < 64 for b in self.codes):
            raise ValueError(say("位号须在 0 到 63 之间", "bit numbers must be between 0 and 63"))
        return self


class FaultFlagsRule(_RuleTarget):
    """故障标志: boolean fault points (pump overload, dry run, phase loss) to alarm types."""

    kind: Literal["fault_flags"]
    flags: dict[str, FaultMapping] = Field(min_length=1)
    on_delay: Seconds = 0.0
    off_delay: Seconds = 0.0

    def metrics(self) -> list[str]:
        return list(self.flags)


class CommunicationLossRule(_RuleTarget):
    """通信中断: how the gateway calls a device offline (after `offline_after` failed polls) and
    online again (after `online_after` good ones), and how the alarm reads."""

    kind: Literal["communication_loss"]
    offline_after: int = Field(default=3, ge=1)
    online_after: int = Field(default=2, ge=1)
    alarm_type: str = "communication_loss"
    severity: Severity = Severity.MAJOR
    message: str = "设备通信中断"


class AnomalyRule(_RuleTarget):
    """趋势异常: a robust z-score of the recent level against a learned baseline (median and
    MAD of past levels at the same hour of day over `baseline`), silent during `warmup`. It
    flags a slow drift — pump vibration creeping up — days before a fixed threshold would."""

    kind: Literal["anomaly"]
    method: Literal["robust_z"] = "robust_z"
    metric: str
    direction: Literal["above", "below", "both"] = "above"
    season: Literal["daily", "none"] = Field(
        default="daily", description="daily: one baseline per hour of day (load follows the day)"
    )
    threshold: float = Field(default=3.5, gt=0)
    clear_at: float | None = Field(default=None, ge=0, description="z to clear (default 2/3)")
    bucket: Seconds = 300.0
    level: Seconds = 3600.0
    baseline: Seconds = 7 * 86400.0
    warmup: Seconds = 86400.0
    min_spread: float = Field(default=0.0, ge=0, description="floor of the robust spread")
    on_delay: Seconds = 0.0
    off_delay: Seconds = Field(default=6 * 3600.0, description="a trend rarely heals by itself")
    alarm_type: str
    severity: Severity = Severity.WARNING
    message: str = ""

    @model_validator(mode="after")
    def _windows(self) -> AnomalyRule:
        if self.bucket <= 0:
            raise ValueError(say("bucket 须为正的时长", "bucket must be a positive duration"))
        if self.level < self.bucket:
            raise ValueError(
                say("level 至少要覆盖一个 bucket", "level must span at least one bucket")
            )
        if not self.level < self.warmup <= self.baseline:
            raise ValueError(
                say(
                    "时长须递增：level < warmup <= baseline",
                    "durations must grow: level < warmup <= baseline",
                )
            )
        if self.clear_at is not None and self.clear_at >= self.threshold:
            raise ValueError(say("clear_at 须小于 threshold", "clear_at must be below threshold"))
        return self


def _rule_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "threshold"))
    return str(getattr(value, "kind", "threshold"))


Rule = Annotated[
    Annotated[ThresholdRule, Tag("threshold")]
    | Annotated[RateOfChangeRule, Tag("rate_of_change")]
    | Annotated[StuckRule, Tag("stuck")]
    | Annotated[FaultCodeRule, Tag("fault_code")]
    | Annotated[FaultFlagsRule, Tag("fault_flags")]
    | Annotated[CommunicationLossRule, Tag("communication_loss")]
    | Annotated[AnomalyRule, Tag("anomaly")],
    Discriminator(
        _rule_kind,
        custom_error_type="unknown_rule_kind",
        custom_error_message=(
            "unknown rule kind; use threshold, rate_of_change, stuck, fault_code, fault_flags, "
            "communication_loss or anomaly"
        ),
    ),
]
"""An edge rule; `kind` picks the model (threshold when absent, as in older site files)."""


class Category(StrEnum):
    ELEVATOR = "elevator"
    WATER_SUPPLY = "water_supply"
    LIGHTING = "lighting"
    ACCESS_CONTROL = "access_control"
    FIRE = "fire"
    GENERAL = "general"
    COMPLAINT = "complaint"


CATEGORY_ZH = {
    Category.ELEVATOR: "电梯",
    Category.WATER_SUPPLY: "供水",
    Category.LIGHTING: "照明",
    Category.ACCESS_CONTROL: "门禁",
    Category.FIRE: "消防",
    Category.GENERAL: "综合",
    Category.COMPLAINT: "投诉",
}


class ComplaintTier(StrEnum):
    """投诉分级: a complaint's tier is its priority (一般 general, 复杂 important, 重大 emergency),
    so the time-limit table, the escalation ladder and the lists need nothing of their own."""

    GENERAL = "general"  # 一般投诉: service attitude, cleaning; customer service, 3 working days
    COMPLEX = (
        "complex"  # 复杂投诉: repair disputes, neighbours; the project manager, 7 working days
    )
    MAJOR = (
        "major"  # 重大投诉: safety incidents, group complaints; the emergency team, 24 h / 15 wd
    )


COMPLAINT_TIER_ZH = {
    ComplaintTier.GENERAL: "一般投诉",
    ComplaintTier.COMPLEX: "复杂投诉",
    ComplaintTier.MAJOR: "重大投诉",
}
TIER_PRIORITY = {
    ComplaintTier.GENERAL: Priority.GENERAL,
    ComplaintTier.COMPLEX: Priority.IMPORTANT,
    ComplaintTier.MAJOR: Priority.EMERGENCY,
}
PRIORITY_TIER = {p: t for t, p in TIER_PRIORITY.items()}


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
    # 投诉闭环管理，分级处理 (the tier is the priority, `ComplaintTier`): 一般投诉 resolved within
    # 3 working days, 复杂投诉 within 7, 重大投诉 intervened within 24 h and solved within 15
    # working days; 跟踪回访 by phone within 24 h of completion, in person within 72 h for 重大.
    SlaPolicy(
        category=Category.COMPLAINT,
        priority=Priority.GENERAL,
        resolve=TimeLimit(3, "working_days"),
        revisit=TimeLimit(24, "hours"),
    ),
    SlaPolicy(
        category=Category.COMPLAINT,
        priority=Priority.IMPORTANT,
        resolve=TimeLimit(7, "working_days"),
        revisit=TimeLimit(24, "hours"),
    ),
    SlaPolicy(
        category=Category.COMPLAINT,
        priority=Priority.EMERGENCY,
        respond=TimeLimit(24, "hours"),
        resolve=TimeLimit(15, "working_days"),
        revisit=TimeLimit(72, "hours"),
    ),
)


class EscalationAction(StrEnum):
    NOTIFY_ASSIGNEE = "notify_assignee"
    NOTIFY_SUPERVISOR = "notify_supervisor"
    NOTIFY_DUTY = "notify_duty"
    RAISE_PRIORITY = "raise_priority"


class EscalationStep(_M):
    """One rung of the 升级 ladder, fired once per work order.

    It fires at `at` x the span from the start of the clock to the `limit`'s due time (0.8 = 80 %,
    1.0 = breach), plus `after`, unless the limit was met first or the order is on hold.
    """

    id: str = Field(pattern=ID)
    limit: Literal["respond", "arrive", "resolve", "revisit"] = "resolve"
    at: float = Field(default=1.0, gt=0)
    after: Seconds = 0.0
    action: EscalationAction
    priorities: list[Priority] = Field(
        default_factory=list, description="priorities it applies to (all when empty)"
    )


DEFAULT_ESCALATION: tuple[EscalationStep, ...] = (
    EscalationStep(id="respond-breach", limit="respond", action=EscalationAction.NOTIFY_DUTY),
    EscalationStep(id="arrive-breach", limit="arrive", action=EscalationAction.NOTIFY_SUPERVISOR),
    EscalationStep(
        id="resolve-warn", limit="resolve", at=0.8, action=EscalationAction.NOTIFY_ASSIGNEE
    ),
    EscalationStep(id="resolve-breach", limit="resolve", action=EscalationAction.NOTIFY_SUPERVISOR),
    EscalationStep(
        id="resolve-raise", limit="resolve", at=1.5, action=EscalationAction.RAISE_PRIORITY
    ),
    EscalationStep(id="revisit-breach", limit="revisit", action=EscalationAction.NOTIFY_DUTY),
)


class Chattering(_M):
    """频繁告警: `raises` new episodes of one alarm type on one asset within `within`."""

    raises: int = Field(default=5, ge=2)
    within: Seconds = 600.0


class AlarmRoute(_M):
    """Which work order an alarm type becomes."""

    alarm_type: str
    category: Category | None = None
    priority: Priority
    create_work_order: bool = True


class PlanTargets(_M):
    """Which assets a plan covers: those named in `assets`, plus those matching every filter
    given among `kinds`, `zones` and `buildings` (elevators in zone A: kinds and zones)."""

    assets: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    buildings: list[str] = Field(default_factory=list)

    def empty(self) -> bool:
        return not (self.assets or self.kinds or self.zones or self.buildings)

    def covers(self, asset: Asset) -> bool:
        if asset.id in self.assets:
            return True
        if not (self.kinds or self.zones or self.buildings):
            return False
        return (
            (not self.kinds or asset.kind in self.kinds)
            and (not self.zones or asset.zone in self.zones)
            and (not self.buildings or asset.building in self.buildings)
        )


class ChecklistItem(_M):
    """检查项: a pass/fail check, or a measurement with its unit and limits."""

    id: str = Field(pattern=ID)
    text: str
    unit: str | None = None
    low: float | None = None
    high: float | None = None

    @property
    def is_measurement(self) -> bool:
        return self.unit is not None or self.low is not None or self.high is not None


class MeterTrigger(_M):
    """计量保养: an occurrence each time a telemetry counter passes the next multiple of `every`."""

    metric: str
    every: float = Field(gt=0)
    unit: str = ""


class OutOfService(_M):
    """停用公告: the work takes the equipment out of service; residents are told beforehand."""

    kind: Literal["elevator", "water_supply", "other"]
    hours: float = Field(gt=0, le=72)
    notice_days: int = Field(default=1, ge=0, le=14)


class PlanSpec(_M):
    """公共设施保养计划: one plan; `template` fills every field the plan leaves out.

    Exactly one of `rrule` (RFC 5545), `cron` (five fields), `every` (an interval) or `meter`
    (a telemetry counter) says when it falls due, unless the template does.
    """

    id: str = Field(pattern=ID, max_length=64)  # the plan tables' code column
    template: str | None = None
    name: str | None = None
    targets: PlanTargets = PlanTargets()
    rrule: str | None = None
    cron: str | None = None
    every: Seconds | None = Field(
        default=None, ge=3600, description="an interval of at least an hour (1h, 7d)"
    )
    meter: MeterTrigger | None = None
    start: datetime | None = Field(
        default=None, description="local time the recurrence counts from (site time zone)"
    )
    checklist: list[ChecklistItem] | None = None
    role: Role | None = None
    time_limit: Limit | None = None
    category: Category | None = None
    priority: Priority | None = None
    non_working_day: Literal["keep", "skip", "next", "previous"] | None = None
    out_of_service: OutOfService | None = None
    enabled: bool = True
    absorbs: list[str] = Field(
        default_factory=list,
        description="plans (ids, or template ids) whose visits this plan's visit replaces "
        "when one falls within `absorb_window` of it (套保: one visit, both checklists)",
    )
    absorb_window: Seconds | None = Field(
        default=None, ge=0, le=31 * 86400, description="how close an absorbed visit must be (7d)"
    )
    floating: bool | None = Field(
        default=None, description="next due counted from the last completion (`every`)"
    )
    estimated_hours: float | None = Field(
        default=None, gt=0, le=200, description="labour hours a visit takes (forecast)"
    )

    @model_validator(mode="after")
    def _one_recurrence(self) -> PlanSpec:
        given = [k for k in ("rrule", "cron", "every", "meter") if getattr(self, k) is not None]
        if given == ["every", "meter"]:
            given = ["every"]  # time or meter, whichever comes first (a floating plan)
        if self.id in self.absorbs:
            raise ValueError(say("计划不能吸收它自己", "a plan cannot absorb itself"))
        if len(given) > 1:
            raise ValueError(
                say(
                    f"一个计划只能有一种周期，这里写了 {'、'.join(given)}",
                    f"a plan has one recurrence; got {', '.join(given)}",
                )
            )
        if not given and self.template is None:
            raise ValueError(
                say(
                    "没有 template 的计划需要 rrule、cron、every 或 meter 之一",
                    "a plan without a template needs rrule, cron, every or meter",
                )
            )
        if self.template is None and self.checklist is None:
            raise ValueError(
                say(
                    "没有 template 的计划需要 checklist（检查项）",
                    "a plan without a template needs a checklist",
                )
            )
        if self.start is not None and self.start.tzinfo is not None:
            raise ValueError(
                say(
                    "start 是小区时区的当地时间，请去掉时区偏移",
                    "start is a local time in the site's time zone; drop the offset",
                )
            )
        if self.start is not None and not within_bounds(self.start):
            raise ValueError(say(f"start：{OUT_OF_RANGE_ZH}", f"start: {OUT_OF_RANGE_EN}"))
        return self


class NightLighting(_M):
    """夜间照明: after sunset each night, a patrol per zone and a work order per dark circuit."""

    enabled: bool = True
    after_sunset: Seconds = 1800.0
    min_current_ratio: float = Field(default=0.5, gt=0, le=1)
    min_current_a: float = Field(default=0.2, ge=0)


class SiteFile(_M):
    """The whole site file."""

    site: SiteInfo
    people: list[Person] = Field(default_factory=list)
    zones: list[Zone] = Field(min_length=1)
    duty: DutyRota = DutyRota()
    assets: list[Asset] = Field(default_factory=list)
    assets_file: str | None = Field(
        default=None,
        pattern=r"^[^/\\]+\.(csv|xlsx)$",
        description="设备台账: a CSV or XLSX beside the site file whose rows join `assets`",
    )
    devices: list[Device] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    sla: list[SlaPolicy] = Field(default_factory=lambda: list(DEFAULT_SLA))
    alarm_routes: list[AlarmRoute] = Field(default_factory=list)
    escalation: list[EscalationStep] = Field(default_factory=lambda: list(DEFAULT_ESCALATION))
    chattering: Chattering = Chattering()
    plans: list[PlanSpec] = Field(default_factory=list)
    night_lighting: NightLighting = NightLighting()
    lighting_control: LightingControl = LightingControl()
    warranty_reminder_days: int = Field(default=30, ge=0, le=365)
    statutory_inspections: StatutoryInspections = StatutoryInspections()
    notifications: Notifications = Notifications()
    work_orders: WorkOrderFields = WorkOrderFields()
    quality: QualitySettings = QualitySettings()
    service_targets: ServiceTargets = ServiceTargets()
    costs: CostSettings = CostSettings()
    contractors: list[Contractor] = Field(default_factory=list)
    contracts: list[Contract] = Field(default_factory=list)
    contract_reminder_days: int = Field(default=30, ge=0, le=365)
    contractors_file: str | None = Field(
        default=None,
        pattern=r"^[^/\\]+\.(csv|xlsx)$",
        description="维保单位: a CSV or XLSX beside the site file whose rows join `contractors`",
    )
    contracts_file: str | None = Field(
        default=None,
        pattern=r"^[^/\\]+\.(csv|xlsx)$",
        description="维保合同: a CSV or XLSX beside the site file whose rows join `contracts`",
    )
    plans_file: str | None = Field(
        default=None,
        pattern=r"^[^/\\]+\.(csv|xlsx)$",
        description="保养计划: a CSV or XLSX beside the site file whose rows join `plans`",
    )
    # 户数 per building (楼栋), each listed in a zone's `buildings`: complaints per 100 households
    households: dict[str, Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=dict)

    def zone(self, zone_id: str) -> Zone:
        return next(z for z in self.zones if z.id == zone_id)

    def asset(self, asset_id: str) -> Asset:
        return next(a for a in self.assets if a.id == asset_id)

    def assets_of_device(self, device_id: str) -> list[Asset]:
        return [a for a in self.assets if a.device == device_id]


def _twice(section: str, first: int, value: str) -> str:
    return say(
        f"id {value} 重复（{section}[{first}] 已使用）",
        f"id {value} is used twice (also {section}[{first}])",
    )


def reference_problems(spec: SiteFile) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references that a schema alone cannot check, each with the location it concerns
    and the nearest existing id when one is close (a typo)."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for section in ("people", "zones", "assets", "devices", "rules"):
        seen: dict[str, int] = {}
        for i, item in enumerate(getattr(spec, section)):
            if item.id in seen:
                out.append(((section, i, "id"), _twice(section, seen[item.id], item.id)))
            seen.setdefault(item.id, i)
    people = {p.id for p in spec.people}
    zones = {z.id for z in spec.zones}
    devices = {d.id for d in spec.devices}
    assets = {a.id for a in spec.assets}

    def person(loc: tuple[str | int, ...], pid: str) -> None:
        out.append((loc, unknown_reference("人员", "person", pid, people)))

    for i, z in enumerate(spec.zones):
        for role in ("technicians", "security", "service"):
            for j, pid in enumerate(getattr(z, role)):
                if pid not in people:
                    person(("zones", i, role, j), pid)
        if z.supervisor and z.supervisor not in people:
            person(("zones", i, "supervisor"), z.supervisor)
    for role in ("day_technician", "night_technician"):
        pid = getattr(spec.duty, role)
        if pid and pid not in people:
            person(("duty", role), pid)
        for i, shift in enumerate(spec.duty.shifts):
            pid = getattr(shift, role)
            if pid and pid not in people:
                person(("duty", "shifts", i, role), pid)
    steps: dict[str, int] = {}
    for i, step in enumerate(spec.escalation):
        if step.id in steps:
            out.append((("escalation", i, "id"), _twice("escalation", steps[step.id], step.id)))
        steps.setdefault(step.id, i)
    for i, a in enumerate(spec.assets):
        if a.zone not in zones:
            out.append((("assets", i, "zone"), unknown_reference("片区", "zone", a.zone, zones)))
        if a.device and a.device not in devices:
            out.append(
                (("assets", i, "device"), unknown_reference("设备", "device", a.device, devices))
            )
    out += parent_problems(spec.assets)
    kinds = {a.kind for a in spec.assets}
    for i, r in enumerate(spec.rules):
        if r.asset and r.asset not in assets:
            out.append((("rules", i, "asset"), unknown_reference("资产", "asset", r.asset, assets)))
        # a kind no asset has is allowed (assets come later); one a letter off is a typo
        if r.asset_kind and r.asset_kind not in kinds and nearest(r.asset_kind, kinds):
            out.append(
                (
                    ("rules", i, "asset_kind"),
                    unknown_reference("资产类型", "asset kind", r.asset_kind, kinds),
                )
            )
    plan_ids: dict[str, int] = {}
    nests = any(p.absorbs for p in spec.plans)
    templates = _plan_templates() if nests or any(p.template for p in spec.plans) else set()
    absorbable = {p.id for p in spec.plans} | templates if nests else set()
    for i, plan in enumerate(spec.plans):
        if plan.id in plan_ids:
            out.append((("plans", i, "id"), _twice("plans", plan_ids[plan.id], plan.id)))
        plan_ids.setdefault(plan.id, i)
        for j, aid in enumerate(plan.targets.assets):
            if aid not in assets:
                out.append(
                    (
                        ("plans", i, "targets", "assets", j),
                        unknown_reference("资产", "asset", aid, assets),
                    )
                )
        for j, zid in enumerate(plan.targets.zones):
            if zid not in zones:
                out.append(
                    (
                        ("plans", i, "targets", "zones", j),
                        unknown_reference("片区", "zone", zid, zones),
                    )
                )
        if plan.template is not None and plan.template not in templates:
            out.append(
                (
                    ("plans", i, "template"),
                    unknown_reference("计划模板", "template", plan.template, templates),
                )
            )
        for j, name in enumerate(plan.absorbs):
            if name not in absorbable:
                out.append(
                    (
                        ("plans", i, "absorbs", j),
                        unknown_reference("计划或模板", "plan or template", name, absorbable),
                    )
                )
    out += notification_problems(spec.notifications, zones)
    out += quality_problems(spec.quality, zones)
    patrol_points = assets | {p.id for p in spec.quality.places}
    out += patrol_problems(spec.quality.patrols, patrol_points, people)
    out += inspection_plan_problems(spec.quality, zones, people)
    out += contractor_problems(spec)
    buildings = {b for z in spec.zones for b in z.buildings}
    for building in spec.households:
        if building not in buildings:
            out.append(
                (
                    ("households", building),
                    unknown_reference("楼栋", "building of a zone", building, buildings),
                )
            )
    return out


def parent_problems(assets: list[Asset]) -> list[tuple[tuple[str | int, ...], str]]:
    """A parent that is not an asset, or a chain of parents that comes back to where it began
    (the hierarchy is a tree: rolling up a child's alarms must end)."""
    by_id = {a.id: a for a in assets}
    out: list[tuple[tuple[str | int, ...], str]] = []
    for i, a in enumerate(assets):
        if a.parent is None:
            continue
        if a.parent == a.id:
            out.append(
                (("assets", i, "parent"), say("上级不能是自己", "an asset cannot hold itself"))
            )
            continue
        if a.parent not in by_id:
            out.append(
                (("assets", i, "parent"), unknown_reference("资产", "asset", a.parent, by_id))
            )
            continue
        chain = [a.id]
        up: str | None = a.parent
        while up is not None and up in by_id and up not in chain:
            chain.append(up)
            up = by_id[up].parent
        if up == a.id:
            out.append(
                (
                    ("assets", i, "parent"),
                    say(
                        f"上级关系成环：{' → '.join([*chain, a.id])}",
                        f"the parents form a cycle: {' -> '.join([*chain, a.id])}",
                    ),
                )
            )
    return out


def _plan_templates() -> set[str]:
    """Ids of the shipped plan templates (the library lives with the maintenance service)."""
    from maintenance.plans.library import template_library

    return set(template_library())


class Site:
    """A loaded site file with its resolved device profiles."""

    def __init__(
        self,
        path: Path,
        spec: SiteFile,
        profiles: dict[str, Profile],
        registers: dict[str, Register[Any]] | None = None,
    ) -> None:
        self.path = path
        self.spec = spec
        self.profiles = profiles
        # the registers (`assets_file`, `plans_file` …) by section, whose rows are in `spec`:
        # their edits reload the site
        self.registers = registers or {}

    @property
    def assets_path(self) -> Path | None:
        register = self.registers.get("assets")
        return register.path if register is not None else None

    @property
    def register_paths(self) -> list[Path]:
        return [r.path for r in self.registers.values()]

    @property
    def id(self) -> str:
        return self.spec.site.id

    def profile_of(self, device_id: str) -> Profile:
        device = next(d for d in self.spec.devices if d.id == device_id)
        return self.profiles[device.profile]

    def profile_of_asset(self, asset_id: str) -> Profile | None:
        """The profile of the device an asset is read through (None: no device)."""
        asset = next((a for a in self.spec.assets if a.id == asset_id), None)
        if asset is None or asset.device is None:
            return None
        device = next((d for d in self.spec.devices if d.id == asset.device), None)
        return self.profiles.get(device.profile) if device is not None else None

    def point_faces(self, asset_id: str) -> dict[str, PointFace]:
        """The labelled points of an asset's device (none for an asset without a device)."""
        profile = self.profile_of_asset(asset_id)
        return point_faces(profile) if profile is not None else {}


def load_site(path: Path | str) -> Site:
    """Load and cross-check a site file and every profile it names."""
    site, problems = inspect_site(Path(path))
    if problems or site is None:
        raise ConfigError(problems)
    return site


def rule_metric_problems(
    spec: SiteFile, profiles: dict[str, Profile]
) -> list[tuple[tuple[str | int, ...], str]]:
    """A rule naming a point its asset's device does not have would never fire: refuse it."""
    devices = {d.id: d for d in spec.devices}
    out: list[tuple[tuple[str | int, ...], str]] = []
    for i, rule in enumerate(spec.rules):
        for asset in spec.assets:
            device = devices.get(asset.device or "")
            if not rule.applies_to(asset) or device is None or device.profile not in profiles:
                continue
            profile = profiles[device.profile]
            names = {p.name for p in getattr(profile, "points", getattr(profile, "fields", []))}
            for metric in rule.metrics():
                if metric not in names:
                    loc: tuple[str | int, ...] = (
                        ("rules", i, "metric")
                        if hasattr(rule, "metric")
                        else ("rules", i, "flags", metric)
                    )
                    out.append(
                        (
                            loc,
                            say(
                                f"资产 {asset.id}（型号 {device.profile}）没有测点 {metric}",
                                f"asset {asset.id} (profile {device.profile}) "
                                f"has no point {metric}",
                            )
                            + did_you_mean(metric, names),
                        )
                    )
    return out


def _profile_path(name: str, search: list[Path]) -> Path | None:
    return next((d / f"{name}.yaml" for d in search if (d / f"{name}.yaml").exists()), None)


def inspect_site(path: Path) -> tuple[Site | None, list[str]]:
    """Every problem of a site file and of every profile it names, not just the first one."""
    data, lines = read_yaml(path)
    return inspect_parsed(path, data, lines)


def inspect_parsed(
    path: Path,
    data: Any,
    lines: dict[Loc, int],
    replace: dict[str, Register[Any]] | None = None,
) -> tuple[Site | None, list[str]]:
    """`inspect_site` of a file already parsed (`check_config` reads each file once); with
    `replace`, those registers (by section) instead of the files the site file names (an
    import's check)."""
    problems: list[str] = []
    try:
        spec: SiteFile | None = validate_file(path, SiteFile, data, lines)
    except ConfigError as exc:
        spec, problems = None, list(exc.problems)
    registers: dict[str, Register[Any]] = {}
    where = _where_in(path, lines, {}, {})
    if spec is not None:
        from propwatch.register_kinds import KINDS

        own: dict[str, int] = {}
        for kind in KINDS.values():
            register = (replace or {}).get(kind.section)
            name = getattr(spec, kind.file_field)
            if register is None and name is not None:
                register = kind.read(path.parent / name)
            if register is None:
                continue
            own[kind.section] = len(getattr(spec, kind.section))
            spec, register_problems = _merged(spec, kind, register)
            problems += register_problems
            registers[kind.section] = register
        where = _where_in(path, lines, registers, own)
        problems += [where(loc) + msg for loc, msg in reference_problems(spec)]
    raw_devices = data.get("devices") if isinstance(data, dict) else None
    profiles: dict[str, Profile] = {}
    failed: set[str] = set()
    search = [path.parent / "profiles", path.parent]
    for i, device in enumerate(raw_devices if isinstance(raw_devices, list) else []):
        name = device.get("profile") if isinstance(device, dict) else None
        if not isinstance(name, str) or name in profiles or name in failed:
            continue
        line = lines.get(("devices", i, "profile"), "?")
        try:
            profile = load_profile(name, search)
        except ConfigError as exc:
            failed.add(name)
            # a problem inside the profile file is reported where it is; "not found" at the device
            problems += [
                p if p.startswith(f"{exc_path}:") else f"{path}:{line}: devices[{i}].profile: {p}"
                for p in exc.problems
                for exc_path in [_profile_path(name, search)]
            ]
            continue
        protocol = device.get("protocol")
        expected = "mqtt" if protocol == "mqtt" else "modbus"
        if profile.protocol != expected:
            problems.append(
                f"{path}:{line}: devices[{i}].profile: "
                + say(
                    f"{name} 是 {profile.protocol} 型号，而设备的协议是 {protocol}",
                    f"{name} is a {profile.protocol} profile but the device speaks {protocol}",
                )
            )
            continue
        profiles[name] = profile
    if spec is None:
        return None, problems
    problems += [
        where(loc) + msg
        for loc, msg in rule_metric_problems(spec, profiles) + topic_problems(spec, profiles)
    ]
    device_profiles = {d.id: profiles[d.profile] for d in spec.devices if d.profile in profiles}
    problems += [
        f"{path}:{line_of(lines, loc)}: {format_loc(loc)}: {msg}"
        for loc, msg in lighting_control_problems(
            spec.lighting_control, {a.id: a.device for a in spec.assets}, device_profiles
        )
    ]
    return Site(path, spec, profiles, registers), problems


def _merged(
    spec: SiteFile, kind: RegisterKind[Any], register: Register[Any]
) -> tuple[SiteFile, list[str]]:
    """The site file's items of the register's section followed by the register's; a register
    row whose id the site file already has is refused there (and left out, so it is reported
    once)."""
    section = kind.section
    mine = getattr(spec, section)
    own = {item.id: i for i, item in enumerate(mine)}
    problems = register.formatted()
    kept: list[Any] = []
    rows: list[int] = []
    for item, row in zip(register.items, register.rows, strict=True):
        if item.id in own:
            problems.append(
                f"{register.path}:{row}: id: "
                + say(
                    f"编号 {item.id} 已在站点文件的 {section}[{own[item.id]}] 中",
                    f"id {item.id} is already the site file's {section}[{own[item.id]}]",
                )
            )
            continue
        kept.append(item)
        rows.append(row)
    register.items, register.rows = kept, rows
    return spec.model_copy(update={section: [*mine, *kept]}), problems


def _where_in(
    path: Path, lines: dict[Loc, int], registers: dict[str, Register[Any]], own: dict[str, int]
) -> Callable[[Loc], str]:
    """`file:line: field: ` of a location; an item of a section past the site file's own
    (`own` of them) is a row of that section's register, named by its row and column."""

    def where(loc: Loc) -> str:
        register = registers.get(str(loc[0])) if loc else None
        if register is not None and len(loc) >= 2 and isinstance(loc[1], int):
            i = loc[1] - own[str(loc[0])]
            if i >= 0:
                from propwatch.register_kinds import KINDS

                column = KINDS[str(loc[0])].column(loc[2:], register.items[i])
                return register_where(register.path, register.rows[i], column)
        return f"{path}:{line_of(lines, loc)}: {format_loc(loc)}: "

    return where


def mqtt_topic(device: Device, profile: MqttProfile) -> str:
    """The topic an MQTT device publishes on: its own `topic` in the site file (a vendor's id
    such as `NG-01` in it), else its profile's with `{device}` replaced by the device id."""
    return device.topic or profile.topic.replace("{device}", device.id)


def topic_problems(
    spec: SiteFile, profiles: dict[str, Profile]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Two MQTT devices on one topic: the gateway could not tell whose a message is."""
    seen: dict[str, int] = {}
    out: list[tuple[tuple[str | int, ...], str]] = []
    for i, device in enumerate(spec.devices):
        profile = profiles.get(device.profile)
        if device.protocol != "mqtt" or not isinstance(profile, MqttProfile):
            continue
        topic = mqtt_topic(device, profile)
        if topic in seen:
            first = spec.devices[seen[topic]].id
            loc: tuple[str | int, ...] = ("devices", i, "topic" if device.topic else "id")
            out.append(
                (
                    loc,
                    say(
                        f"MQTT 主题 {topic} 已属于设备 {first}，两台设备不能共用一个主题",
                        f"MQTT topic {topic} is already device {first}'s; two devices cannot "
                        "share a topic",
                    ),
                )
            )
        seen.setdefault(topic, i)
    return out
