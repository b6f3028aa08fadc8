"""二次供水 pump model: demand over the day, physics that hang together, drift over days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from simulators.pump import WaterPump

TZ = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 3, 2, 0, 0, tzinfo=TZ).astimezone(UTC)


def _at(pump: WaterPump, hour: float) -> dict[str, float]:
    v = pump.values(MIDNIGHT + timedelta(hours=hour))
    return {k: float(x) for k, x in v.items() if isinstance(x, (int, float))}


def test_frequency_and_current_rise_from_night_to_the_morning_peak() -> None:
    pump = WaterPump("p", TZ, MIDNIGHT)
    night, peak = _at(pump, 3), _at(pump, 7.5)
    assert peak["frequency"] > night["frequency"] + 5
    assert peak["motor_current"] > night["motor_current"] + 2


def test_outlet_pressure_holds_its_band_all_day() -> None:
    pump = WaterPump("p", TZ, MIDNIGHT)
    pressures = [_at(pump, h / 4)["outlet_pressure"] for h in range(1, 96)]
    assert all(0.32 <= p <= 0.40 for p in pressures)


def test_bearing_temperature_drifts_up_over_a_week() -> None:
    pump = WaterPump("p", TZ, MIDNIGHT)
    _at(pump, 2)
    pump.inject("bearing_drift", {"per_day": 6})
    first = _at(pump, 3)["bearing_temperature"]
    week = _at(pump, 3 + 7 * 24)["bearing_temperature"]
    assert 35 < week - first < 50


def test_pressure_collapse_drops_pressure_while_the_vfd_runs_flat_out() -> None:
    pump = WaterPump("p", TZ, MIDNIGHT)
    _at(pump, 10)
    pump.inject("pressure_collapse", {})
    v = _at(pump, 10 + 30 / 3600)
    assert v["outlet_pressure"] < 0.1 and v["frequency"] > 45


def test_dry_run_unloads_the_motor_then_the_protection_trips() -> None:
    pump = WaterPump("p", TZ, MIDNIGHT)
    _at(pump, 10)
    pump.inject("dry_run", {"trip_after": 10})
    running_dry = _at(pump, 10 + 6 / 3600)
    tripped = _at(pump, 10 + 12 / 3600)
    assert running_dry["running"] == 1 and running_dry["fault_dry_run"] == 0
    # The VFD chases the lost pressure, yet the motor draws far less than at that speed wet.
    wet = 1.2 + 17 * (running_dry["frequency"] / 50) ** 2
    assert running_dry["motor_current"] < 0.6 * wet
    assert running_dry["outlet_pressure"] < 0.15
    assert tripped["running"] == 0 and tripped["fault_dry_run"] == 1 and tripped["fault_code"] == 2
    assert tripped["motor_current"] == 0


def test_phase_loss_overcurrent_trips_and_clearing_restarts() -> None:
    pump = WaterPump("p", TZ, MIDNIGHT)
    normal = _at(pump, 10)
    pump.inject("phase_loss", {})
    assert _at(pump, 10 + 1 / 3600)["motor_current"] > 1.5 * normal["motor_current"]
    assert _at(pump, 10 + 5 / 3600)["fault_code"] == 3
    pump.clear("phase_loss")
    assert _at(pump, 10 + 6 / 3600)["running"] == 1
