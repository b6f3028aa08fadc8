"""The drift detector against the simulated pump, over simulated days on a ManualClock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.readings import Sample
from gateway.rules.anomaly import AnomalyAlarm
from gateway.rules.threshold import ThresholdAlarm
from propwatch.clock import ManualClock
from propwatch.events import AlarmAction, AlarmEvent
from propwatch.site import AnomalyRule, ThresholdRule
from simulators.pump import WaterPump
from tests.gateway.rule_support import rule

DAY = 86400.0
STEP = 60.0  # one poll a minute keeps ten simulated days fast


def _detectors() -> tuple[AnomalyAlarm, ThresholdAlarm]:
    anomaly = rule(
        kind="anomaly",
        metric="vibration",
        threshold=3.5,
        warmup="1d",
        baseline="7d",
        alarm_type="vibration_trend",
        min_spread=0.05,
        message="水泵振动呈上升趋势，建议安排检修",
    )
    threshold = rule(
        metric="vibration",
        above=7.1,
        hysteresis=0.5,
        alarm_type="vibration_high",
        message="水泵振动超限",
    )
    assert isinstance(anomaly, AnomalyRule) and isinstance(threshold, ThresholdRule)
    return AnomalyAlarm(anomaly, "hexie", "pump-1"), ThresholdAlarm(threshold, "hexie", "pump-1")


def _run_days(
    days: float, drift_from_day: float | None, per_day: float = 0.75
) -> tuple[list[tuple[float, AlarmEvent]], list[tuple[float, AlarmEvent]]]:
    clock = ManualClock()
    pump = WaterPump("pump-1", ZoneInfo("Asia/Shanghai"), clock.now())
    anomaly, threshold = _detectors()
    start: datetime = clock.now()
    found_a: list[tuple[float, AlarmEvent]] = []
    found_t: list[tuple[float, AlarmEvent]] = []
    while (elapsed := (clock.now() - start).total_seconds()) < days * DAY:
        if drift_from_day is not None and elapsed >= drift_from_day * DAY:
            pump.faults.setdefault("vibration_drift", {"per_day": per_day})
        clock.advance(STEP)
        values = pump.values(clock.now())
        s = Sample("hexie", "pump-1", "pump-1", "water_pump", clock.now(), values)
        found_a += [(elapsed / DAY, e) for e in anomaly.evaluate(s)]
        found_t += [(elapsed / DAY, e) for e in threshold.evaluate(s)]
    return found_a, found_t


def test_vibration_drift_is_flagged_days_before_the_threshold_trips() -> None:
    anomaly, threshold = _run_days(10, drift_from_day=2.0)
    assert [e.action for _, e in anomaly] == [AlarmAction.RAISE]  # one episode, no flapping
    assert threshold and threshold[0][1].action is AlarmAction.RAISE
    assert threshold[0][0] - anomaly[0][0] >= 2.0, (anomaly[0][0], threshold[0][0])
    assert anomaly[0][1].evidence["z"] >= 3.5


def test_a_healthy_pump_raises_no_anomaly_across_a_week_of_daily_cycles() -> None:
    anomaly, _ = _run_days(8, drift_from_day=None)
    assert anomaly == []


def test_nothing_is_raised_during_warm_up_even_on_a_drifting_pump() -> None:
    anomaly, _ = _run_days(1, drift_from_day=0.0, per_day=20.0)
    assert anomaly == []
