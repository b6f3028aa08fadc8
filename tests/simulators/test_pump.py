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
