"""二次供水 booster pump on a VFD: demand follows household water use over the day."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from simulators.model import UnknownFault, Value, bump, lag, local_hour, make_rng

RATED_HZ = 50.0
SETPOINT_MPA = 0.38
AMBIENT_C = 24.0
# Seconds a fault lasts before the drive's protection trips (`trip_after` overrides).
TRIP_AFTER_S = {"overload": 8.0, "dry_run": 10.0, "phase_loss": 3.0}


def household_demand(hour: float) -> float:
    """Share of peak flow: low at night, peaks for the morning and evening routines."""
    return min(
        1.0,
        0.08
        + 0.75 * bump(hour, 7.5, 1.3)
        + 0.85 * bump(hour, 20.0, 1.8)
        + 0.35 * bump(hour, 12.0, 1.5),
    )


class WaterPump:
    """Physics: frequency tracks demand to hold pressure; current follows frequency;
    bearing temperature lags load; degradations drift over simulated days."""

    kind = "water_pump"
    FAULTS: ClassVar[tuple[str, ...]] = (
        "pressure_collapse",
        "dry_run",
        "overload",
        "phase_loss",
        "vibration_drift",
        "bearing_drift",
    )

    def __init__(self, seed: int | str, tz: ZoneInfo, start: datetime) -> None:
        self.rng = make_rng(seed)
        self.tz = tz
        self.last = start
        self.run_command = True
        self.running = True
        self.frequency = 35.0
        self.current = 8.0
        self.pressure = SETPOINT_MPA
        self.bearing_c = 40.0
        self.vibration = 2.0
        self.run_hours = 1234.5 + self.rng.uniform(0, 500)
        self.faults: dict[str, dict[str, Any]] = {}
        self.drift_vibration = 0.0
        self.drift_bearing = 0.0
        self.since: dict[str, datetime] = {}
        self.tripped: set[str] = set()

    def inject(self, fault: str, params: dict[str, Any]) -> None:
        if fault not in self.FAULTS:
            raise UnknownFault(
                f"water_pump has no fault {fault!r}; known: {', '.join(self.FAULTS)}"
            )
        self.faults[fault] = dict(params)
        self.since[fault] = self.last

    def clear(self, fault: str | None = None) -> None:
        """Repair and reset: a tripped drive restarts once its fault is cleared."""
        if fault is None:
            self.faults.clear()
            self.tripped.clear()
            self.drift_vibration = self.drift_bearing = 0.0
        else:
            self.faults.pop(fault, None)
            self.tripped.discard(fault)

    def command(self, name: str, value: Value) -> None:
        if name == "run_command":
            self.run_command = bool(value)

    def _advance(self, now: datetime) -> None:
        dt = (now - self.last).total_seconds()
        if dt <= 0:
            return
        self.last = now
        # Protection trips after the fault has lasted a while (热继电器 / 缺水保护 / 缺相保护).
        for fault, default_s in TRIP_AFTER_S.items():
            if fault in self.faults and fault not in self.tripped:
                after = float(self.faults[fault].get("trip_after", default_s))
                if (now - self.since.get(fault, now)).total_seconds() >= after:
                    self.tripped.add(fault)
        self.running = self.run_command and not self.tripped
        demand = household_demand(local_hour(now, self.tz)) * self.rng.uniform(0.93, 1.07)
        dry = "dry_run" in self.faults and self.running
        collapse = "pressure_collapse" in self.faults or dry
        if self.running:
            # The VFD raises speed with demand; on a burst pipe it runs flat out and still
            # loses pressure.
            target_hz = RATED_HZ if collapse else 28.0 + 20.0 * demand
            self.frequency = lag(self.frequency, target_hz, dt, 3.0)
        else:
            self.frequency = lag(self.frequency, 0.0, dt, 1.5)
        load = (self.frequency / RATED_HZ) ** 2
        if collapse:
            params = self.faults.get("pressure_collapse") or self.faults.get("dry_run") or {}
            target_p = float(params.get("residual_mpa", 0.04))
            self.pressure = lag(self.pressure, target_p, dt, 2.0)
        elif self.running:
            self.pressure = lag(self.pressure, SETPOINT_MPA - 0.03 * demand, dt, 2.0)
        else:
            self.pressure = lag(self.pressure, 0.12, dt, 20.0)  # static head from the roof tank
        self.current = 1.2 + 17.0 * load if self.running else 0.0
        if self.running and dry:
            self.current *= 0.45  # an impeller turning in air draws little
        if self.running and "overload" in self.faults:
            self.current *= 1.35  # a seizing bearing or a jammed impeller
        if self.running and "phase_loss" in self.faults:
            self.current *= 1.7  # two phases carry the whole load
        for name, attr, per_day in (
            ("vibration_drift", "drift_vibration", 1.5),
            ("bearing_drift", "drift_bearing", 6.0),
        ):
            if name in self.faults:
                rate = float(self.faults[name].get("per_day", per_day))
                setattr(self, attr, getattr(self, attr) + rate * dt / 86400)
        target_c = AMBIENT_C + 28.0 * load + self.drift_bearing
        self.bearing_c = lag(self.bearing_c, target_c, dt, 1200.0)
        self.vibration = (1.2 + 1.8 * load + self.drift_vibration) if self.running else 0.05
        if self.running:
            self.run_hours += dt / 3600

    def values(self, now: datetime) -> dict[str, Value]:
        self._advance(now)
        g = self.rng.gauss
        running = self.running
        fault_code = 0
        for code, name in ((1, "overload"), (2, "dry_run"), (3, "phase_loss")):
            if name in self.tripped:
                fault_code = code
        return {
            "run_command": self.run_command,
            "running": running,
            "fault_overload": "overload" in self.tripped,
            "fault_dry_run": "dry_run" in self.tripped,
            "fault_phase_loss": "phase_loss" in self.tripped,
            "frequency": max(0.0, self.frequency + (g(0, 0.05) if running else 0.0)),
            "motor_current": max(0.0, self.current + (g(0, 0.08) if running else 0.0)),
            "outlet_pressure": max(0.0, self.pressure + g(0, 0.002)),
            "bearing_temperature": self.bearing_c + g(0, 0.1),
            "vibration": max(0.0, self.vibration + g(0, 0.05)),
            "run_hours": self.run_hours,
            "fault_code": fault_code,
        }
