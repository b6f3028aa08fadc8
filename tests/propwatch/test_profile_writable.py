"""Writable points (遥控) in profiles: what a profile may mark, refused at load with the file, the
line and the field, and the values a command may carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from propwatch.commands import CommandRefused, checked_value, read_back_matches, writable_point
from propwatch.config_file import ConfigError
from propwatch.profiles import BUILTIN_DIR, ModbusProfile, load_profile_file


@pytest.fixture(autouse=True)
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    """Problems in zh-CN, as the people who run a site read them."""
    monkeypatch.setenv("PROPWATCH_LANG", "zh")


HEAD = "model: odd_panel\nkind: lighting_panel\npoints:\n"


def _problems(tmp_path: Path, points: str) -> list[str]:
    path = tmp_path / "odd_panel.yaml"
    path.write_text(HEAD + points, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile_file(path)
    return [p.replace(str(path), "odd_panel.yaml") for p in err.value.problems]


def _profile(tmp_path: Path, points: str) -> ModbusProfile:
    path = tmp_path / "ok_panel.yaml"
    path.write_text(HEAD.replace("odd_panel", "ok_panel") + points, encoding="utf-8")
    profile = load_profile_file(path)
    assert isinstance(profile, ModbusProfile)
    return profile


def test_the_shipped_lighting_panel_and_pump_mark_what_a_duty_room_may_switch() -> None:
    panel = load_profile_file(BUILTIN_DIR / "lighting_panel.yaml")
    pump = load_profile_file(BUILTIN_DIR / "water_pump.yaml")
    assert isinstance(panel, ModbusProfile) and isinstance(pump, ModbusProfile)
    writable = {p.name for p in panel.points if p.writable is not None}
    assert writable == (
        {f"circuit_{n}_command" for n in range(1, 9)}
        | {f"circuit_{n}_rated_current" for n in range(1, 9)}
        | {"auto_mode"}
    )
    rated = panel.point("circuit_3_rated_current").writable
    assert rated is not None and (rated.min, rated.max) == (0, 100)
    run = pump.point("run_command").writable
    assert run is not None and run.readback == "running"
    assert {p.name for p in pump.points if p.writable is not None} == {"run_command"}


def test_only_coils_and_holding_registers_can_be_written(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        "  - {name: closed, function: discrete_input, address: 0, type: bool}\n"
        "  - {name: current, function: input, address: 0, type: float32, writable: true}\n",
    )
    assert problems == [
        "odd_panel.yaml:5: points[1].writable: 只有线圈（coil）和保持寄存器（holding）可写，"
        "input 测点不能遥控"
    ]


def test_limits_allowed_values_and_read_back_are_checked_with_their_lines(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        "  - {name: closed, function: discrete_input, address: 0, type: bool}\n"
        "  - name: switch\n"
        "    function: coil\n"
        "    address: 0\n"
        "    type: bool\n"
        "    writable:\n"
        "      max: 1\n"
        "      readback: closd\n"
        "  - name: setpoint\n"
        "    function: holding\n"
        "    address: 0\n"
        "    type: uint16\n"
        "    writable:\n"
        "      min: 10\n"
        "      max: 5\n"
        "      allowed: [true, 7]\n"
        "  - name: mode\n"
        "    function: holding\n"
        "    address: 1\n"
        "    writable: {readback: closed}\n",
    )
    assert problems == [
        "odd_panel.yaml:10: points[1].writable.max: max 只用于数值测点",
        "odd_panel.yaml:11: points[1].writable.readback: 未知的测点 closd，是否想写 closed？",
        "odd_panel.yaml:17: points[2].writable.min: min 10.0 大于 max 5.0",
        "odd_panel.yaml:19: points[2].writable.allowed[0]: True 须为数值",
        "odd_panel.yaml:19: points[2].writable.allowed[1]: 7 超出 min/max",
        "odd_panel.yaml:23: points[3].writable.readback: 回读测点 closed 是 bool，"
        "与 uint16 不能比较",
    ]


def test_a_command_value_must_suit_the_point(tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        "  - {name: switch, label: 第1回路, function: coil, address: 0, type: bool,"
        " writable: true}\n"
        "  - {name: level, label: 液位设定, function: holding, address: 0, type: uint16,"
        " scale: 0.1, unit: m, writable: {min: 0.5, max: 4}}\n"
        "  - {name: mode, label: 运行模式, function: holding, address: 1, type: uint16,"
        " writable: {allowed: [0, 1, 2]}}\n"
        "  - {name: current, label: 电流, function: input, address: 0, type: float32}\n",
    )

    def refused(point: str, value: object) -> tuple[str, str]:
        with pytest.raises(CommandRefused) as err:
            checked_value(writable_point(profile, point), value)
        return err.value.field, err.value.message

    assert checked_value(writable_point(profile, "switch"), True) is True
    assert checked_value(writable_point(profile, "switch"), 0) is False
    assert checked_value(writable_point(profile, "level"), 2.5) == pytest.approx(2.5)
    assert checked_value(writable_point(profile, "mode"), 2) == 2
    assert refused("switch", 2) == ("value", "「第1回路」的值须为 true 或 false，不能是 2")
    assert refused("level", 4.5) == ("value", "「液位设定」的值 4.5m 高于上限 4m")
    assert refused("level", 0.2) == ("value", "「液位设定」的值 0.2m 低于下限 0.5m")
    assert refused("level", 1.25) == ("value", "「液位设定」只能以 0.1m 为单位设定，不能是 1.25")
    assert refused("level", True) == ("value", "「液位设定」的值须为数值，不能是 True")
    assert refused("level", 10**400) == ("value", "「液位设定」的值须为有限数值")
    assert refused("level", float("nan")) == ("value", "「液位设定」的值须为有限数值")
    assert refused("mode", 3) == ("value", "「运行模式」只能设为 0、1、2，不能是 3")
    with pytest.raises(CommandRefused) as err:
        writable_point(profile, "current")
    assert (err.value.field, err.value.message) == ("point", "测点「电流」只读，不能遥控")
    with pytest.raises(CommandRefused) as err:
        writable_point(profile, "nothing")
    assert err.value.message == "设备型号 ok_panel 没有测点 nothing"


def test_a_read_back_confirms_the_bit_or_the_number_within_its_encoding(tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        "  - {name: switch, function: coil, address: 0, type: bool, writable: true}\n"
        "  - {name: rated, function: holding, address: 0, type: float32, writable: true}\n"
        "  - {name: level, function: holding, address: 2, type: uint16, scale: 0.1,"
        " writable: true}\n",
    )
    switch, rated, level = (profile.point(n) for n in ("switch", "rated", "level"))
    assert read_back_matches(switch, switch, True, True)
    assert not read_back_matches(switch, switch, True, False)
    assert not read_back_matches(switch, switch, True, 1)
    # 2.3 as float32 reads back as 2.299999952316284
    assert read_back_matches(rated, rated, 2.3, 2.299999952316284)
    assert not read_back_matches(rated, rated, 2.3, 2.31)
    assert read_back_matches(level, level, 1.2, 1.2000000000000002)
    assert not read_back_matches(level, level, 1.2, 1.3)
