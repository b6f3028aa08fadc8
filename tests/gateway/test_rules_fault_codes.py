from __future__ import annotations

from gateway.rules.fault_codes import FaultCodeAlarm, FaultFlagsAlarm
from propwatch.events import AlarmAction, Severity
from propwatch.site import FaultCodeRule, FaultFlagsRule
from tests.gateway.rule_support import rule, sample

ELEVATOR_CODES = {
    3: {
        "alarm_type": "elevator_door_lock_fault",
        "message": "门锁回路故障",
        "severity": "critical",
    },
    7: {"alarm_type": "elevator_overspeed", "message": "电梯超速", "severity": "critical"},
}


def _elevator(**extra: object) -> FaultCodeAlarm:
    r = rule(kind="fault_code", metric="fault_code", codes=ELEVATOR_CODES, **extra)
    assert isinstance(r, FaultCodeRule)
    return FaultCodeAlarm(r, "hexie", "lift-1")


def test_a_mapped_code_raises_its_alarm_type_with_the_chinese_message() -> None:
    alarm = _elevator()
    alarm.evaluate(sample(0, asset="lift-1", fault_code=0))
    events = alarm.evaluate(sample(1, asset="lift-1", fault_code=3))
    assert [(e.action, e.alarm_type, e.message, e.severity) for e in events] == [
        (AlarmAction.RAISE, "elevator_door_lock_fault", "门锁回路故障", Severity.CRITICAL)
    ]
    assert events[0].evidence["code"] == 3


def test_a_new_code_raises_its_alarm_and_never_clears_the_one_it_hides() -> None:
    alarm = _elevator()
    first = alarm.evaluate(sample(0, asset="lift-1", fault_code=3))
    events = alarm.evaluate(sample(1, asset="lift-1", fault_code=7))
    assert [(e.alarm_type, e.action) for e in events] == [("elevator_overspeed", AlarmAction.RAISE)]
    assert sorted(alarm.active_types()) == ["elevator_door_lock_fault", "elevator_overspeed"]
    cleared = alarm.evaluate(sample(2, asset="lift-1", fault_code=0))
    assert sorted((e.alarm_type, e.action) for e in cleared) == [
        ("elevator_door_lock_fault", AlarmAction.CLEAR),
        ("elevator_overspeed", AlarmAction.CLEAR),
    ]
    assert first[0].episode_id in {e.episode_id for e in cleared}


def test_fault_bits_are_conditions_of_their_own() -> None:
    r = rule(
        kind="fault_code",
        metric="fault_word",
        bits=True,
        codes={
            0: {"alarm_type": "door_lock", "message": "门锁", "severity": "critical"},
            1: {"alarm_type": "entrapment", "message": "困人", "severity": "critical"},
        },
    )
    assert isinstance(r, FaultCodeRule)
    alarm = FaultCodeAlarm(r, "s", "lift-1")
    alarm.evaluate(sample(0, asset="lift-1", fault_word=0b10))
    raised = alarm.evaluate(sample(1, asset="lift-1", fault_word=0b11))
    assert [(e.alarm_type, e.action) for e in raised] == [("door_lock", AlarmAction.RAISE)]
    cleared = alarm.evaluate(sample(2, asset="lift-1", fault_word=0b10))
    assert [(e.alarm_type, e.action) for e in cleared] == [("door_lock", AlarmAction.CLEAR)]
    assert alarm.active_types() == ["entrapment"]


def test_code_zero_clears_and_a_repeated_code_raises_once() -> None:
    alarm = _elevator()
    events = []
    for t, code in enumerate([3, 3, 3, 0, 0]):
        events += alarm.evaluate(sample(t, asset="lift-1", fault_code=code))
    assert [e.action for e in events] == [AlarmAction.RAISE, AlarmAction.CLEAR]


def test_an_unlisted_code_raises_the_unknown_mapping_with_the_code_in_its_message() -> None:
    alarm = _elevator(unknown={"alarm_type": "elevator_fault", "message": "电梯故障代码"})
    events = alarm.evaluate(sample(0, asset="lift-1", fault_code=42))
    assert [(e.alarm_type, e.message) for e in events] == [("elevator_fault", "电梯故障代码 (42)")]


def test_an_unlisted_code_without_unknown_mapping_is_ignored() -> None:
    assert _elevator().evaluate(sample(0, asset="lift-1", fault_code=42)) == []


def test_bit_mask_codes_raise_one_alarm_per_set_bit() -> None:
    r = rule(
        kind="fault_code",
        metric="fault_word",
        bits=True,
        codes={
            0: {"alarm_type": "pump_overload", "message": "水泵过载"},
            2: {"alarm_type": "pump_phase_loss", "message": "水泵缺相"},
        },
    )
    assert isinstance(r, FaultCodeRule)
    events = FaultCodeAlarm(r, "hexie", "pump-1").evaluate(sample(0, fault_word=0b101))
    assert sorted(e.alarm_type for e in events) == ["pump_overload", "pump_phase_loss"]


def test_pump_fault_flags_raise_and_clear_their_own_episodes() -> None:
    r = rule(
        kind="fault_flags",
        flags={
            "fault_dry_run": {"alarm_type": "pump_dry_run", "message": "水泵缺水干转"},
            "fault_overload": {"alarm_type": "pump_overload", "message": "水泵过载"},
        },
    )
    assert isinstance(r, FaultFlagsRule)
    alarm = FaultFlagsAlarm(r, "hexie", "pump-1")
    raised = alarm.evaluate(sample(0, fault_dry_run=True, fault_overload=False))
    cleared = alarm.evaluate(sample(1, fault_dry_run=False, fault_overload=False))
    assert [(e.alarm_type, e.action) for e in raised + cleared] == [
        ("pump_dry_run", AlarmAction.RAISE),
        ("pump_dry_run", AlarmAction.CLEAR),
    ]
    assert alarm.active_types() == []
