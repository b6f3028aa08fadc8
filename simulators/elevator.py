"""电梯: a passenger lift with traffic that follows the day (上下班高峰 7-9 and 17-19).

The car moves between floors on a trapezoidal speed profile, opens and closes its doors at each
stop and counts trips and door cycles the way an elevator IoT terminal (电梯物联网采集终端) does.
Faults follow the national monitoring codes in spirit: door lock circuit (门锁回路故障), 困人
(car stopped between floors, door closed, someone inside), overspeed (超速), leveling error
(平层误差) and loss of communication between the terminal and the controller (通讯中断).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from simulators.model import UnknownFault, Value, bump, local_hour, make_rng, plateau

FLOOR_HEIGHT_M = 3.0
RATED_SPEED = 1.75  # m/s
ACCEL = 0.8  # m/s²
RATED_LOAD_KG = 1000.0  # 13 persons
PERSON_KG = 72.0
DOOR_OPENING_S = 2.5
DOOR_CLOSING_S = 3.0
OVERSPEED_RATIO = 1.15  # 限速器 electrical switch trips above this share of rated speed
LEVELED_MM = 15  # 平层 tolerance
BETWEEN_FLOORS_M = 0.25  # farther than this from a landing the doors cannot open


class Direction(IntEnum):
    STOPPED = 0
    UP = 1
    DOWN = 2


class DoorState(IntEnum):
    CLOSED = 0
    OPENING = 1
    OPEN = 2
    CLOSING = 3


class FaultCode(IntEnum):
    """故障代码 shown by the terminal, most urgent first when several are active."""

    NONE = 0
    DOOR_LOCK = 1
    ENTRAPMENT = 2
    OVERSPEED = 3
    LEVELING = 4
    COMM_LOSS = 5


_CODE_PRIORITY = (
    FaultCode.ENTRAPMENT,
    FaultCode.OVERSPEED,
    FaultCode.DOOR_LOCK,
    FaultCode.LEVELING,
    FaultCode.COMM_LOSS,
)


class Phase(IntEnum):
    IDLE = 0
    DOOR_OPENING = 1
    DOOR_OPEN = 2
    DOOR_CLOSING = 3
    MOVING = 4
    HALTED = 5  # out of service: stopped by a safety circuit


def calls_per_hour(hour: float) -> float:
    """Landing calls per hour: quiet at night, plateaus at the commuting peaks."""
    return (
        4.0
        + 110.0 * plateau(hour, 7.0, 9.0, 0.4)
        + 100.0 * plateau(hour, 17.0, 19.0, 0.4)
        + 30.0 * bump(hour, 12.0, 1.5)
        + 25.0 * plateau(hour, 9.0, 17.0, 1.0)
        + 20.0 * plateau(hour, 19.0, 22.0, 0.7)
    )


@dataclass
class _Trip:
    """A trapezoidal run from `start_m` to `end_m` beginning at `t0` (seconds of sim time)."""

    start_m: float
    end_m: float
    t0: float
    vmax: float

    @property
    def distance(self) -> float:
        return abs(self.end_m - self.start_m)

    @property
    def sign(self) -> float:
        return 1.0 if self.end_m >= self.start_m else -1.0

    def _peak(self) -> tuple[float, float]:
        """Top speed actually reached and time spent accelerating."""
        d = self.distance
        t_acc = self.vmax / ACCEL
        if ACCEL * t_acc * t_acc >= d:  # never reaches vmax: a triangle profile
            t_acc = math.sqrt(d / ACCEL)
        return ACCEL * t_acc, t_acc

    @property
    def top_speed(self) -> float:
        return self._peak()[0]

    @property
    def duration(self) -> float:
        v, t_acc = self._peak()
        if v <= 0:
            return 0.0
        cruise = (self.distance - ACCEL * t_acc * t_acc) / v
        return 2 * t_acc + max(0.0, cruise)

    def at(self, t: float) -> tuple[float, float]:
        """Position (m) and speed (m/s, unsigned) `t` seconds into the run."""
        v, t_acc = self._peak()
        total = self.duration
        t = min(max(t, 0.0), total)
        if t < t_acc:
            s, speed = 0.5 * ACCEL * t * t, ACCEL * t
        elif t <= total - t_acc:
            s, speed = 0.5 * ACCEL * t_acc * t_acc + v * (t - t_acc), v
        else:
            r = total - t
            s, speed = self.distance - 0.5 * ACCEL * r * r, ACCEL * r
        return self.start_m + self.sign * s, speed


class Elevator:
    """One car, its doors and its terminal; values are the terminal's view of the controller."""

    kind = "elevator"
    FAULTS: ClassVar[tuple[str, ...]] = (
        "door_lock",
        "entrapment",
        "overspeed",
        "leveling",
        "comm_loss",
        "door_wear",
    )

    def __init__(
        self,
        seed: int | str,
        tz: ZoneInfo,
        start: datetime,
        lowest_floor: int = -1,
        top_floor: int | None = None,
    ) -> None:
        self.rng = make_rng(seed)
        self.tz = tz
        self.origin = start
        self.last_t = 0.0
        self.lowest = lowest_floor
        self.top = top_floor if top_floor is not None else self.rng.choice((11, 18, 26, 33))
        self.lobby = 1
        self.floors = [f for f in range(self.lowest, self.top + 1) if f != 0]
        self.governor_trips = False
        self.call_due = False
        self.position_m = self._level(self.lobby)
        self.speed = 0.0
        self.direction = Direction.STOPPED
        self.phase = Phase.IDLE
        self.phase_end = self._next_call_delay(0.0)
        self.trip: _Trip | None = None
        self.stops: list[tuple[int, int]] = []  # (floor, passengers boarding (+) or leaving (-))
        self.passengers = 0
        self.trips = 50_000 + self.rng.randrange(200_000)
        self.door_cycles = self.trips + self.rng.randrange(20_000)
        self.run_seconds = (8_000 + self.rng.uniform(0, 4_000)) * 3600
        self.leveling_mm = 0
        self.faults: dict[str, dict[str, Any]] = {}
        self.latched: set[FaultCode] = set()
        self.door_wear = 0.0  # extra closing seconds from a worn door operator
        self._frozen: dict[str, Value] | None = None

    # ---- geometry -------------------------------------------------------------------------
    def _level(self, floor: int) -> float:
        """Height of a landing above the lowest one (no floor 0 in Chinese numbering)."""
        index = floor - self.lowest - (1 if self.lowest < 0 < floor else 0)
        return index * FLOOR_HEIGHT_M

    def _floors(self) -> list[int]:
        return self.floors

    def _nearest_floor(self) -> int:
        return min(self._floors(), key=lambda f: abs(self._level(f) - self.position_m))

    def between_floors(self) -> bool:
        return abs(self._level(self._nearest_floor()) - self.position_m) > BETWEEN_FLOORS_M

    # ---- faults ---------------------------------------------------------------------------
    def inject(self, fault: str, params: dict[str, Any]) -> None:
        if fault not in self.FAULTS:
            raise UnknownFault(f"elevator has no fault {fault!r}; known: {', '.join(self.FAULTS)}")
        self.faults[fault] = dict(params)
        if fault == "door_lock":
            self.latched.add(FaultCode.DOOR_LOCK)
            self._halt()
        elif fault == "entrapment":
            self._strand(int(params.get("passengers", 0)))
        elif fault == "comm_loss":
            self._frozen = None

    def clear(self, fault: str | None = None) -> None:
        names = list(self.faults) if fault is None else [fault]
        for name in names:
            self.faults.pop(name, None)
            if name == "door_wear":
                self.door_wear = 0.0
        if fault is None or fault in ("door_lock", "entrapment", "overspeed"):
            # 救援/复位: a technician resets the controller and levels the car at a landing.
            self.latched.clear()
            if self.phase is Phase.HALTED and not self.faults.keys() & {"door_lock"}:
                self.position_m = self._level(self._nearest_floor())
                self.passengers = 0
                self._enter(Phase.DOOR_OPENING, self.last_t)
        if fault is None or fault == "leveling":
            self.leveling_mm = 0
            self.latched.discard(FaultCode.LEVELING)

    def command(self, name: str, value: Value) -> None:
        """The terminal is read-only; writes are ignored like on a real 采集终端."""

    def _halt(self) -> None:
        """Safety circuit opens: the car stops where it is, doors stay as they are."""
        self.speed = 0.0
        self.direction = Direction.STOPPED
        self.trip = None
        self.stops.clear()
        self.phase = Phase.HALTED
        self.phase_end = math.inf

    def _strand(self, passengers: int) -> None:
        """困人: the car stops between two landings with people inside and the doors shut."""
        floor = self._nearest_floor()
        other = floor + 1 if floor < self.top else floor - 1
        if other == 0:
            other = 1 if floor < 0 else -1
        frac = self.rng.uniform(0.3, 0.7)
        self.position_m = self._level(floor) + frac * (self._level(other) - self._level(floor))
        self.passengers = max(self.passengers, passengers or self.rng.randint(1, 4))
        self.latched.add(FaultCode.ENTRAPMENT)
        self._halt()

    # ---- physics --------------------------------------------------------------------------
    def _hour_at(self, t: float) -> float:
        return local_hour(self.origin, self.tz) + t / 3600.0

    def _next_call_delay(self, t: float) -> float:
        rate = calls_per_hour(self._hour_at(t) % 24) / 3600.0
        wait = self.rng.expovariate(rate)
        # A long wait is cut at 10 minutes and re-drawn, so the rate follows the time of day.
        self.call_due = wait <= 600.0
        return t + min(wait, 600.0)

    def _enter(self, phase: Phase, t: float) -> None:
        self.phase = phase
        if phase is Phase.DOOR_OPENING:
            self.phase_end = t + DOOR_OPENING_S
        elif phase is Phase.DOOR_OPEN:
            self.phase_end = t + self.rng.uniform(3.0, 7.0)
        elif phase is Phase.DOOR_CLOSING:
            self.phase_end = t + DOOR_CLOSING_S + self.door_wear
        elif phase is Phase.IDLE:
            self.phase_end = self._next_call_delay(t)

    def _new_call(self, hour: float) -> None:
        """Draw who calls the car: down to the lobby in the morning, up from it at night."""
        upper = [f for f in self._floors() if f > self.lobby]
        morning = plateau(hour, 7.0, 9.0, 0.4)
        evening = plateau(hour, 17.0, 19.0, 0.4)
        r = self.rng.random()
        group = 1 + min(int(self.rng.expovariate(0.7)), 11)
        if r < 0.7 * morning:
            origin, dest = self.rng.choice(upper), self.lobby
        elif r < 0.7 * (morning + evening):
            origin, dest = self.lobby, self.rng.choice(upper)
            group = 1 + min(int(self.rng.expovariate(0.4)), 11)
        else:
            floors = self._floors()
            origin = self.rng.choice(floors)
            dest = self.rng.choice([f for f in floors if f != origin])
            group = 1 + min(int(self.rng.expovariate(1.2)), 5)
        self.stops = [(origin, group), (dest, -group)]

    def _depart_or_idle(self, t: float) -> None:
        here = self._nearest_floor()
        if self.stops and self.stops[0][0] == here and not self.between_floors():
            _, delta = self.stops.pop(0)
            self.passengers = max(0, self.passengers + delta)
            self._enter(Phase.DOOR_OPENING, t)
            return
        if not self.stops:
            self._enter(Phase.IDLE, t)
            return
        target = self._level(self.stops[0][0])
        vmax = RATED_SPEED * (
            float(self.faults["overspeed"].get("ratio", 1.25)) if "overspeed" in self.faults else 1
        )
        self.trip = _Trip(self.position_m, target, t, vmax)
        self.direction = Direction.UP if target > self.position_m else Direction.DOWN
        self.phase = Phase.MOVING
        self.phase_end = t + self.trip.duration
        self.trips += 1
        limit = RATED_SPEED * OVERSPEED_RATIO
        self.governor_trips = self.trip.top_speed > limit
        if self.governor_trips:
            # 限速器-安全钳: the governor catches the car the moment it passes the limit.
            self.phase_end = t + limit / ACCEL

    def _step_phase(self, t: float) -> None:
        """The phase that ends at `t` hands over to the next one."""
        if self.phase is Phase.IDLE and not self.call_due:
            self._enter(Phase.IDLE, t)
        elif self.phase is Phase.IDLE:
            self._new_call(self._hour_at(t) % 24)
            self._depart_or_idle(t)
        elif self.phase is Phase.DOOR_OPENING:
            self._enter(Phase.DOOR_OPEN, t)
        elif self.phase is Phase.DOOR_OPEN:
            self._enter(Phase.DOOR_CLOSING, t)
        elif self.phase is Phase.DOOR_CLOSING:
            self.door_cycles += 1
            self._depart_or_idle(t)
        elif self.phase is Phase.MOVING and self.governor_trips:
            assert self.trip is not None
            self.position_m, _ = self.trip.at(t - self.trip.t0)
            self.run_seconds += t - self.trip.t0
            self.latched.add(FaultCode.OVERSPEED)
            self.governor_trips = False
            self._halt()
        elif self.phase is Phase.MOVING:
            assert self.trip is not None
            self.position_m = self.trip.end_m
            self.run_seconds += self.trip.duration
            self.trip = None
            self.speed = 0.0
            self.direction = Direction.STOPPED
            if "leveling" in self.faults:
                mm = float(self.faults["leveling"].get("error_mm", 40))
                self.leveling_mm = round(self.rng.choice((-1, 1)) * mm * self.rng.uniform(0.8, 1.2))
                self.position_m += self.leveling_mm / 1000.0
                self.latched.add(FaultCode.LEVELING)
            else:
                self.leveling_mm = round(self.rng.gauss(0, 3))
            self._depart_or_idle(t)

    def _advance(self, now: datetime) -> None:
        t = (now - self.origin).total_seconds()
        if t <= self.last_t:
            return
        if "door_wear" in self.faults:
            per_day = float(self.faults["door_wear"].get("per_day", 0.5))
            self.door_wear += per_day * (t - self.last_t) / 86400
            if self.door_wear > 4.0:  # the door no longer proves its lock: the lift stops
                self.latched.add(FaultCode.DOOR_LOCK)
                if self.phase is not Phase.HALTED and self.phase is not Phase.MOVING:
                    self._halt()
        while self.phase_end <= t:
            self._step_phase(self.phase_end)
        if self.phase is Phase.MOVING and self.trip is not None:
            self.position_m, self.speed = self.trip.at(t - self.trip.t0)
        self.last_t = t

    # ---- outputs --------------------------------------------------------------------------
    def door_state(self) -> DoorState:
        return {
            Phase.DOOR_OPENING: DoorState.OPENING,
            Phase.DOOR_OPEN: DoorState.OPEN,
            Phase.DOOR_CLOSING: DoorState.CLOSING,
        }.get(self.phase, DoorState.CLOSED)

    def entrapped(self) -> bool:
        """困人 as the terminal judges it, whatever caused the stop."""
        return (
            self.phase is Phase.HALTED
            and self.between_floors()
            and self.door_state() is DoorState.CLOSED
            and self.passengers > 0
        )

    def fault_code(self) -> FaultCode:
        active = set(self.latched)
        if self.entrapped():
            active.add(FaultCode.ENTRAPMENT)
        if "comm_loss" in self.faults:
            active.add(FaultCode.COMM_LOSS)
        return next((c for c in _CODE_PRIORITY if c in active), FaultCode.NONE)

    def values(self, now: datetime) -> dict[str, Value]:
        self._advance(now)
        if "comm_loss" in self.faults:
            # The terminal keeps answering but has lost the controller: readings freeze.
            if self._frozen is None:
                self._frozen = self._snapshot()
            return {**self._frozen, "fault_code": int(FaultCode.COMM_LOSS), "fault_comm": True}
        self._frozen = None
        return self._snapshot()

    def _snapshot(self) -> dict[str, Value]:
        load = 100.0 * self.passengers * PERSON_KG / RATED_LOAD_KG
        if self.passengers:
            load += self.rng.gauss(0, 1.5)
        moving = self.phase is Phase.MOVING
        speed = self.speed + (self.rng.gauss(0, 0.008) if moving else 0.0)
        code = self.fault_code()
        door = self.door_state()
        return {
            "running": moving,
            "moving_up": moving and self.direction is Direction.UP,
            "moving_down": moving and self.direction is Direction.DOWN,
            "door_open": door is not DoorState.CLOSED,
            "leveled": not moving and abs(self.leveling_mm) <= LEVELED_MM,
            "in_service": self.phase is not Phase.HALTED,
            "fault_door_lock": FaultCode.DOOR_LOCK in self.latched,
            "fault_entrapment": self.entrapped() or FaultCode.ENTRAPMENT in self.latched,
            "fault_overspeed": FaultCode.OVERSPEED in self.latched,
            "fault_leveling": FaultCode.LEVELING in self.latched,
            "fault_comm": False,
            "floor": self._nearest_floor(),
            "direction": int(self.direction),
            "door_state": int(door),
            "car_speed": max(0.0, speed),
            "load_percent": max(0.0, load),
            "car_position": self.position_m,
            "trip_count": self.trips,
            "door_cycles": self.door_cycles,
            "run_hours": self.run_seconds / 3600.0,
            "leveling_error": self.leveling_mm if not moving else 0,
            "fault_code": int(code),
            "top_floor": self.top,
            "lowest_floor": self.lowest,
        }
