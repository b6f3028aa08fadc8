"""电梯 model: traffic over the day and the faults the monitoring terminal reports, on a
ManualClock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from simulators.elevator import RATED_SPEED, Elevator, FaultCode
from simulators.model import Value

TZ = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 3, 2, 0, 0, tzinfo=TZ).astimezone(UTC)


def _run(e: Elevator, start: datetime, seconds: int, step: float = 1.0) -> list[dict[str, Value]]:
    out = []
    t = start
    for _ in range(int(seconds / step)):
        t += timedelta(seconds=step)
        out.append(e.values(t))
    return out


def _trips_in_hour(e: Elevator, hour: int) -> int:
    start = MIDNIGHT + timedelta(hours=hour)
    e.values(start)
    before = e.trips
    e.values(start + timedelta(hours=1))
    return e.trips - before


def test_commuting_peaks_carry_several_times_the_night_traffic() -> None:
    e = Elevator("peak", TZ, MIDNIGHT)
    night = _trips_in_hour(e, 3)
    morning = _trips_in_hour(e, 8)
    e.values(MIDNIGHT + timedelta(hours=18))
    evening = _trips_in_hour(e, 18)
    assert morning > 4 * max(night, 1)
    assert evening > 4 * max(night, 1)


def test_floor_speed_and_load_stay_physical_through_a_busy_hour() -> None:
    e = Elevator("bounds", TZ, MIDNIGHT + timedelta(hours=7))
    samples = _run(e, MIDNIGHT + timedelta(hours=7), 3600)
    floors = {int(v["floor"]) for v in samples}
    assert min(floors) >= e.lowest and max(floors) <= e.top and 0 not in floors
    assert max(float(v["car_speed"]) for v in samples) <= RATED_SPEED * 1.05
    assert all(0 <= float(v["load_percent"]) < 130 for v in samples)
    # Doors never stand open while the car moves.
    assert not any(v["running"] and v["door_open"] for v in samples)
    assert any(v["running"] for v in samples) and any(v["door_open"] for v in samples)


def test_counters_only_grow() -> None:
    e = Elevator("counters", TZ, MIDNIGHT)
    first = e.values(MIDNIGHT + timedelta(hours=8))
    later = e.values(MIDNIGHT + timedelta(hours=20))
    assert int(later["trip_count"]) > int(first["trip_count"])
    assert int(later["door_cycles"]) > int(first["door_cycles"])
    assert float(later["run_hours"]) > float(first["run_hours"])


def test_injected_entrapment_is_car_between_floors_door_closed_with_load() -> None:
    e = Elevator("trap", TZ, MIDNIGHT)
    now = MIDNIGHT + timedelta(hours=9)
    e.values(now)
    e.inject("entrapment", {})
    v = e.values(now + timedelta(seconds=30))
    assert v["fault_code"] == FaultCode.ENTRAPMENT and v["fault_entrapment"] is True
    assert v["running"] is False and v["door_open"] is False
    assert float(v["load_percent"]) > 0
    assert e.between_floors()


def test_clearing_entrapment_levels_the_car_and_opens_the_doors() -> None:
    e = Elevator("rescue", TZ, MIDNIGHT)
    now = MIDNIGHT + timedelta(hours=9)
    e.values(now)
    e.inject("entrapment", {})
    e.clear("entrapment")
    v = e.values(now + timedelta(seconds=1))
    assert v["fault_code"] == FaultCode.NONE and v["in_service"] is True
    assert not e.between_floors()


def test_door_lock_fault_takes_the_lift_out_of_service() -> None:
    e = Elevator("lock", TZ, MIDNIGHT)
    now = MIDNIGHT + timedelta(hours=8)
    e.values(now)
    e.inject("door_lock", {})
    later = _run(e, now, 120)
    assert all(v["fault_door_lock"] and not v["running"] for v in later)
    assert later[-1]["fault_code"] in (FaultCode.DOOR_LOCK, FaultCode.ENTRAPMENT)


def test_overspeed_trips_the_governor_on_the_next_long_run() -> None:
    e = Elevator("fast", TZ, MIDNIGHT, top_floor=26)
    now = MIDNIGHT + timedelta(hours=8)
    e.values(now)
    e.inject("overspeed", {"ratio": 1.3})
    samples = _run(e, now, 1800, step=0.25)
    assert samples[-1]["fault_overspeed"] is True and samples[-1]["in_service"] is False
    assert max(float(v["car_speed"]) for v in samples) > RATED_SPEED


def test_leveling_fault_stops_the_car_off_the_landing() -> None:
    e = Elevator("level", TZ, MIDNIGHT)
    now = MIDNIGHT + timedelta(hours=8)
    e.values(now)
    e.inject("leveling", {"error_mm": 45})
    samples = _run(e, now, 600)
    first_trip = samples[0]["trip_count"]
    stopped = [v for v in samples if not v["running"] and v["trip_count"] != first_trip]
    assert any(abs(int(v["leveling_error"])) > 30 for v in stopped)
    assert samples[-1]["fault_code"] == FaultCode.LEVELING


def test_lost_controller_link_freezes_readings_and_reports_code_5() -> None:
    e = Elevator("comm", TZ, MIDNIGHT)
    now = MIDNIGHT + timedelta(hours=8)
    e.values(now)
    e.inject("comm_loss", {})
    a = e.values(now + timedelta(seconds=1))
    b = e.values(now + timedelta(minutes=10))
    assert a["fault_code"] == b["fault_code"] == FaultCode.COMM_LOSS
    assert a["trip_count"] == b["trip_count"] and b["fault_comm"] is True


def test_worn_door_operator_ends_in_a_door_lock_fault_after_days() -> None:
    e = Elevator("wear", TZ, MIDNIGHT)
    e.values(MIDNIGHT)
    e.inject("door_wear", {"per_day": 1.0})
    assert e.values(MIDNIGHT + timedelta(days=2))["fault_code"] == FaultCode.NONE
    v = e.values(MIDNIGHT + timedelta(days=6))
    assert v["fault_code"] in (FaultCode.DOOR_LOCK, FaultCode.ENTRAPMENT)


def test_same_seed_same_day() -> None:
    a, b = Elevator("s", TZ, MIDNIGHT), Elevator("s", TZ, MIDNIGHT)
    t = MIDNIGHT + timedelta(hours=10)
    assert a.values(t) == b.values(t)
