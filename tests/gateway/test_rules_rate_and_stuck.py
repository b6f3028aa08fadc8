from __future__ import annotations

from gateway.rules.rate import RateOfChangeAlarm
from gateway.rules.stuck import StuckValueAlarm
from propwatch.events import AlarmAction
from propwatch.site import RateOfChangeRule, StuckRule
from tests.gateway.rule_support import rule, sample


def _rate_alarm() -> RateOfChangeAlarm:
    r = rule(
        kind="rate_of_change",
        metric="outlet_pressure",
        fall=0.1,
        per="1m",
        window="30s",
        off_delay="10s",
        alarm_type="pressure_dropping",
        message="出水压力骤降",
    )
    assert isinstance(r, RateOfChangeRule)
    return RateOfChangeAlarm(r, "hexie", "pump-1")


def test_fast_pressure_fall_raises_a_rate_alarm_with_the_rate_as_evidence() -> None:
    alarm = _rate_alarm()
    events = []
    for t in range(0, 40):
        events += alarm.evaluate(sample(t, outlet_pressure=0.38 - 0.005 * t))
    assert [e.action for e in events] == [AlarmAction.RAISE]
    assert events[0].evidence["rate"] < -0.1
    assert events[0].message == "出水压力骤降"


def test_slow_pressure_change_raises_nothing() -> None:
    alarm = _rate_alarm()
    events = []
    for t in range(0, 300):
        events += alarm.evaluate(sample(t, outlet_pressure=0.38 - 0.0005 * t))
    assert events == []


def test_rate_alarm_clears_after_the_value_settles_for_the_off_delay() -> None:
    alarm = _rate_alarm()
    events = []
    for t in range(0, 30):
        events += alarm.evaluate(sample(t, outlet_pressure=0.38 - 0.005 * t))
    for t in range(30, 120):
        events += alarm.evaluate(sample(t, outlet_pressure=0.235))
    assert [e.action for e in events] == [AlarmAction.RAISE, AlarmAction.CLEAR]
    assert events[0].episode_id == events[1].episode_id


def _stuck_alarm() -> StuckValueAlarm:
    r = rule(kind="stuck", metric="outlet_pressure", duration="10m", tolerance=0.001)
    assert isinstance(r, StuckRule)
    return StuckValueAlarm(r, "hexie", "pump-1")


def test_value_frozen_for_the_duration_raises_stuck_value() -> None:
    alarm = _stuck_alarm()
    events = []
    for t in range(0, 700, 10):
        events += alarm.evaluate(sample(t, outlet_pressure=0.3712))
    assert [(e.action, e.alarm_type) for e in events] == [(AlarmAction.RAISE, "stuck_value")]
    assert events[0].evidence["unchanged_seconds"] >= 600


def test_noise_within_tolerance_still_counts_as_stuck_but_movement_clears() -> None:
    alarm = _stuck_alarm()
    events = []
    for t in range(0, 700, 10):
        events += alarm.evaluate(sample(t, outlet_pressure=0.3712 + (0.0005 if t % 20 else 0)))
    events += alarm.evaluate(sample(710, outlet_pressure=0.35))
    assert [e.action for e in events] == [AlarmAction.RAISE, AlarmAction.CLEAR]


def test_a_moving_value_is_never_stuck() -> None:
    alarm = _stuck_alarm()
    events = []
    for t in range(0, 3600, 10):
        events += alarm.evaluate(sample(t, outlet_pressure=0.37 + 0.01 * (t % 30) / 10))
    assert events == []
