"""照明配电箱: a lighting circuit panel with a dusk-to-dawn time switch (路灯/庭院灯/地库照明).

Each circuit has a contactor commanded by a coil, a breaker, and a string of LED lamps. The
panel switches on at dusk and off at dawn for the site's latitude and longitude (astral, civil
twilight), like an astronomical time switch (经纬度时控开关). Measured current is the sum of
the lamps that still light, so a dead lamp lowers it proportionally and a tripped breaker (跳闸)
drops it to zero while the command stays on — what a night patrol (夜间巡查) would find.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import dawn, dusk

from simulators.model import UnknownFault, Value, make_rng

NOMINAL_V = 220.0
POWER_FACTOR = 0.95
CIRCUITS = 8


@dataclass
class Circuit:
    """One outgoing circuit: lamps of one wattage behind a contactor and a breaker."""

    number: int
    lamps: int
    lamp_watts: float
    phase: int  # 0, 1, 2: which phase of the supply feeds it
    failed: int = 0
    breaker_tripped: bool = False
    command: bool = False
    manual_until: datetime | None = None  # a written coil holds until the next switching time
    rated_setting: float | None = None  # 额定电流 as set at commissioning (a holding register)
    failure_debt: float = field(default=0.0, repr=False)

    @property
    def rated_current(self) -> float:
        return self.lamps * self.lamp_watts / (NOMINAL_V * POWER_FACTOR)

    def current(self, volts: float) -> float:
        if not self.command or self.breaker_tripped or volts <= 0:
            return 0.0
        # LED drivers draw constant power: current rises a little as the voltage sags.
        return (self.lamps - self.failed) * self.lamp_watts / (volts * POWER_FACTOR)


class LightingPanel:
    """Eight circuits on three phases, switched by an astronomical clock."""

    kind = "lighting_panel"
    FAULTS: ClassVar[tuple[str, ...]] = (
        "lamp_failure",
        "lamp_degradation",
        "breaker_trip",
        "undervoltage",
        "clock_fault",
    )

    def __init__(
        self,
        seed: int | str,
        tz: ZoneInfo,
        start: datetime,
        latitude: float,
        longitude: float,
        circuits: int = CIRCUITS,
    ) -> None:
        self.rng = make_rng(seed)
        self.tz = tz
        self.observer = Observer(latitude=latitude, longitude=longitude)
        self.last = start
        self.auto = True
        self.circuits = [
            Circuit(
                number=i + 1,
                lamps=self.rng.randint(8, 24),
                lamp_watts=self.rng.choice((30.0, 40.0, 60.0)),
                phase=i % 3,
            )
            for i in range(circuits)
        ]
        self.faults: dict[str, dict[str, Any]] = {}
        self._sun: dict[date, tuple[datetime, datetime]] = {}
        self._phase_offset = [self.rng.uniform(-2.0, 2.0) for _ in range(3)]
        self.energy_kwh = 3_000.0 + self.rng.uniform(0, 2_000)

    # ---- the astronomical clock -----------------------------------------------------------
    def twilight(self, day: date) -> tuple[datetime, datetime]:
        """Dawn and dusk of a local date (cached: astral costs ~0.1 ms per call)."""
        got = self._sun.get(day)
        if got is None:
            got = (
                dawn(self.observer, day, tzinfo=self.tz),
                dusk(self.observer, day, tzinfo=self.tz),
            )
            self._sun = {day: got, **{d: v for d, v in self._sun.items() if d >= day}}
        return got

    def should_be_on(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        if "clock_fault" in self.faults:
            # A time switch whose clock was reset: it runs the default 18:00-06:00 programme
            # shifted by the reset offset.
            hours = float(self.faults["clock_fault"].get("offset_hours", 6.0))
            local = local + timedelta(hours=hours)
            return local.hour >= 18 or local.hour < 6
        day_dawn, day_dusk = self.twilight(local.date())
        return local < day_dawn or local >= day_dusk

    def next_switch(self, now: datetime) -> datetime:
        local = now.astimezone(self.tz)
        for offset in range(3):
            day_dawn, day_dusk = self.twilight(local.date() + timedelta(days=offset))
            for t in (day_dawn, day_dusk):
                if t > local:
                    return t
        return local + timedelta(days=1)

    # ---- faults and commands --------------------------------------------------------------
    def _circuits_of(self, params: dict[str, Any]) -> list[Circuit]:
        which = params.get("circuit")
        if which is None or which == "all":
            return list(self.circuits)
        numbers = which if isinstance(which, list) else [which]
        out = [c for c in self.circuits if c.number in {int(n) for n in numbers}]
        if not out:
            raise UnknownFault(f"lighting panel has circuits 1-{len(self.circuits)}, not {which}")
        return out

    def inject(self, fault: str, params: dict[str, Any]) -> None:
        if fault not in self.FAULTS:
            raise UnknownFault(
                f"lighting_panel has no fault {fault!r}; known: {', '.join(self.FAULTS)}"
            )
        # Validate the circuits now, not on the next request.
        chosen = self._circuits_of(params if "circuit" in params else {"circuit": 1})
        if fault == "lamp_degradation":
            chosen = self._circuits_of(params)
        self.faults[fault] = dict(params)
        if fault == "lamp_failure":
            for c in chosen:
                c.failed = min(c.lamps, c.failed + int(params.get("lamps", 1)))
        elif fault == "breaker_trip":
            for c in chosen:
                c.breaker_tripped = True

    def clear(self, fault: str | None = None) -> None:
        """Repair: relamp, reset breakers, restore the supply or the clock."""
        if fault in (None, "lamp_failure", "lamp_degradation"):
            for c in self.circuits:
                c.failed = 0
                c.failure_debt = 0.0
        if fault in (None, "breaker_trip"):
            for c in self.circuits:
                c.breaker_tripped = False
        if fault is None:
            self.faults.clear()
        else:
            self.faults.pop(fault, None)

    def command(self, name: str, value: Value) -> None:
        """A written coil overrides the time switch until its next dusk or dawn."""
        if name == "auto_mode":
            self.auto = bool(value)
            return
        for c in self.circuits:
            if name == f"circuit_{c.number}_command":
                c.command = bool(value)
                c.manual_until = self.next_switch(self.last)
            elif name == f"circuit_{c.number}_rated_current":
                c.rated_setting = float(value)

    # ---- physics --------------------------------------------------------------------------
    def _advance(self, now: datetime) -> None:
        dt = (now - self.last).total_seconds()
        if dt < 0:
            return
        self.last = now
        scheduled = self.should_be_on(now)
        for c in self.circuits:
            if c.manual_until is not None and now >= c.manual_until:
                c.manual_until = None
            if self.auto and c.manual_until is None:
                c.command = scheduled
        if "lamp_degradation" in self.faults:
            params = self.faults["lamp_degradation"]
            per_day = float(params.get("per_day", 1.0))
            for c in self._circuits_of(params):
                # Lamps die while burning: failures only accumulate with the circuit on.
                if c.command and not c.breaker_tripped:
                    c.failure_debt += per_day * dt / 86400
                while c.failure_debt >= 1.0 and c.failed < c.lamps:
                    c.failure_debt -= 1.0
                    c.failed += 1
        load_kw = sum(c.current(NOMINAL_V) for c in self.circuits) * NOMINAL_V / 1000
        self.energy_kwh += load_kw * POWER_FACTOR * dt / 3600

    def phase_voltage(self, phase: int, now: datetime) -> float:
        local = now.astimezone(self.tz)
        # Late at night the grid is lightly loaded and the voltage rises a little.
        night = 1.0 if local.hour < 6 or local.hour >= 23 else 0.0
        sag = (
            float(self.faults["undervoltage"].get("volts", 185))
            if ("undervoltage" in self.faults)
            else None
        )
        base = sag if sag is not None else NOMINAL_V + 4.0 * night + self._phase_offset[phase]
        return base + self.rng.gauss(0, 0.6)

    def values(self, now: datetime) -> dict[str, Value]:
        self._advance(now)
        volts = [self.phase_voltage(p, now) for p in range(3)]
        out: dict[str, Value] = {"auto_mode": self.auto, "energy_kwh": self.energy_kwh}
        for c in self.circuits:
            v = volts[c.phase]
            amps = c.current(v)
            if amps > 0:
                amps = max(0.0, amps * (1 + self.rng.gauss(0, 0.01)))
            prefix = f"circuit_{c.number}_"
            out[prefix + "command"] = c.command
            out[prefix + "current"] = amps
            out[prefix + "voltage"] = v
            out[prefix + "rated_current"] = (
                c.rated_current if c.rated_setting is None else c.rated_setting
            )
        return out
