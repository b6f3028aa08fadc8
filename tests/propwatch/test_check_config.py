"""`propwatch check-config` names every problem of the site and its profiles with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from propwatch.check_config import check_config
from propwatch.cli import main
from tests.conftest import EXAMPLE_SITE


@pytest.fixture(autouse=True)
def _chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "zh_CN.UTF-8")


PUMP_PROFILE = """\
model: odd_pump
kind: water_pump
poll_classes: {normal: 1, slow: 10}
points:
  - {name: running, function: discrete_input, address: 0, type: bool}
  - {name: frequency, function: input, address: 0, type: float32, unit: Hz}
  - {name: pressure, function: input, address: 1, type: float32, unit: MPa}
  - {name: hours, function: input, address: 4, type: uint32, poll_class: hourly}
"""


def _site(tmp_path: Path, old: str = "", new: str = "", profile: str | None = None) -> Path:
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "site.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    if profile is not None:
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "odd_pump.yaml").write_text(profile, encoding="utf-8")
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_the_example_site_has_no_problems() -> None:
    site, problems = check_config(EXAMPLE_SITE)
    assert problems == [] and site is not None


def test_overlapping_points_are_reported_at_the_later_point(tmp_path: Path) -> None:
    site = _site(tmp_path, "profile: water_pump,", "profile: odd_pump,", PUMP_PROFILE)
    _, problems = check_config(site)
    prof = tmp_path / "profiles" / "odd_pump.yaml"
    expected = (
        f"{prof}:{_line(prof, 'name: pressure')}: points[2].address: 测点 pressure 与 frequency "
        "在 input 地址 1 重叠"
    )
    assert any(p.endswith(expected) for p in problems), problems


def test_an_undefined_poll_class_is_reported_with_the_known_ones(tmp_path: Path) -> None:
    site = _site(tmp_path, "profile: water_pump,", "profile: odd_pump,", PUMP_PROFILE)
    _, problems = check_config(site)
    prof = tmp_path / "profiles" / "odd_pump.yaml"
    expected = (
        f"{prof}:{_line(prof, 'poll_class: hourly')}: points[3].poll_class: 未知的轮询等级 "
        "hourly；已有：normal、slow"
    )
    assert any(p.endswith(expected) for p in problems), problems


def test_an_unused_broken_profile_beside_the_site_is_still_reported(tmp_path: Path) -> None:
    site = _site(tmp_path, profile=PUMP_PROFILE.replace("type: float32, unit: Hz", "type: real"))
    _, problems = check_config(site)
    prof = tmp_path / "profiles" / "odd_pump.yaml"
    assert any(
        p.startswith(f"{prof}:{_line(prof, 'type: real')}: points[1].type") for p in problems
    )


def test_site_and_profile_problems_are_reported_together(tmp_path: Path) -> None:
    site = _site(
        tmp_path,
        "profile: water_pump, host: 127.0.0.1, port: 15020",
        "profile: odd_pump, host: 127.0.0.1, port: 99999",
        PUMP_PROFILE,
    )
    _, problems = check_config(site)
    assert any(
        p.startswith(f"{site}:{_line(site, 'port: 99999')}: devices[0].port") for p in problems
    )
    assert any("poll_class" in p for p in problems)


def test_a_rule_on_a_point_the_profile_lacks_is_refused(tmp_path: Path) -> None:
    site = _site(tmp_path, "metric: bearing_temperature", "metric: bearing_temp")
    _, problems = check_config(site)
    assert problems == [
        f"{site}:{_line(site, 'metric: bearing_temp')}: rules[1].metric: 资产 pump-1"
        "（型号 water_pump）没有测点 bearing_temp，是否想写 bearing_temperature？"
    ]


def test_an_unknown_rule_kind_is_named(tmp_path: Path) -> None:
    site = _site(tmp_path, "  - id: door-forced\n", "  - id: door-forced\n    kind: magic\n")
    _, problems = check_config(site)
    (problem,) = problems
    assert problem.startswith(f"{site}:{_line(site, 'kind: magic')}: rules[")
    assert problem.endswith(
        ".kind: magic 不是可选的值；可选：threshold、rate_of_change、stuck、fault_code、"
        "fault_flags、communication_loss、anomaly"
    )


def test_check_config_command_prints_every_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _site(
        tmp_path,
        "profile: water_pump, host: 127.0.0.1, port: 15020",
        "profile: odd_pump, host: 127.0.0.1, port: 99999",
        PUMP_PROFILE,
    )
    code = main(["check-config", "--site", str(site)])
    err = capsys.readouterr().err
    assert code == 2
    assert "devices[0].port" in err and "points[2].address" in err and "points[3].poll_class" in err
