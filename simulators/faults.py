"""故障目录: what each simulated fault makes the device do, for `simulate inject --help` and
`simulate status`. One entry per name in each model's FAULTS (a test keeps them equal), so a
tester picks a fault by its effect, not by reading the model's code."""

from __future__ import annotations

from simulators.access_controller import AccessController
from simulators.elevator import Elevator
from simulators.lighting import LightingPanel
from simulators.pump import WaterPump

# kind -> fault -> (zh-CN, English, parameters it takes)
EFFECTS: dict[str, dict[str, tuple[str, str, str]]] = {
    Elevator.kind: {
        "door_lock": ("门锁回路断开, 电梯停梯", "door lock circuit open, the lift stops", ""),
        "entrapment": (
            "轿厢停在两层之间、门关闭、有人 (困人)",
            "car stops between floors, doors shut, passengers inside",
            "",
        ),
        "overspeed": (
            "下一次运行超速, 限速器动作停梯",
            "the next trip runs too fast and the governor stops the car",
            "ratio=1.25",
        ),
        "leveling": (
            "停靠时平层误差超限",
            "the car stops off level at landings",
            "error_mm=40",
        ),
        "comm_loss": (
            "监测终端与控制柜通讯中断, 读数冻结",
            "terminal loses the controller, readings freeze",
            "",
        ),
        "door_wear": (
            "门机磨损, 关门逐日变慢, 最终门锁故障停梯",
            "door operator wears, closing slows each day, then a door lock fault",
            "per_day=0.5",
        ),
    },
    WaterPump.kind: {
        "pressure_collapse": ("出水压力跌落", "outlet pressure collapses", "residual_mpa=0.04"),
        "dry_run": (
            "水箱缺水干转, 压力跌落, 约 10 秒后缺水保护动作",
            "runs dry, pressure collapses, dry-run protection trips after ~10 s",
            "trip_after=10",
        ),
        "overload": (
            "电流过大, 约 8 秒后过载保护动作停泵",
            "overcurrent, overload protection trips after ~8 s",
            "trip_after=8",
        ),
        "phase_loss": (
            "缺相, 约 3 秒后缺相保护动作停泵",
            "a supply phase is lost, protection trips after ~3 s",
            "trip_after=3",
        ),
        "vibration_drift": (
            "振动逐日上升 (轴承/联轴器劣化)",
            "vibration rises day by day (bearing or coupling wear)",
            "per_day=1.5",
        ),
        "bearing_drift": (
            "轴承温度逐日上升",
            "bearing temperature rises day by day",
            "per_day=6",
        ),
    },
    LightingPanel.kind: {
        "lamp_failure": (
            "回路灯具损坏, 电流下降",
            "lamps of a circuit fail, its current drops",
            "circuit=1 lamps=1",
        ),
        "lamp_degradation": (
            "灯具亮着时逐个损坏",
            "lamps fail one by one while lit",
            "circuit=all per_day=1",
        ),
        "breaker_trip": (
            "回路断路器跳闸, 电流为零",
            "a circuit's breaker trips, no current",
            "circuit=1",
        ),
        "undervoltage": (
            "供电电压偏低",
            "supply voltage sags",
            "volts=185",
        ),
        "clock_fault": (
            "时控器时钟复位, 开关灯时间错位",
            "the time switch's clock resets, lights switch at the wrong hours",
            "offset_hours=6",
        ),
    },
    AccessController.kind: {
        "door_forced": ("门被强行打开", "the door is forced open", ""),
        "door_held_open": (
            "门被撑开, 超时未关",
            "the door is propped open past its limit",
            "after=30",
        ),
        "tamper": ("控制器防拆开关动作", "the controller's tamper switch trips", ""),
        "malformed_json": ("上报的报文不是 JSON", "publishes payloads that are not JSON", ""),
        "truncated_json": ("上报的报文被截断", "publishes truncated payloads", ""),
        "silent": ("停止上报", "stops publishing", ""),
    },
}
