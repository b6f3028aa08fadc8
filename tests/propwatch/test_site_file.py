"""The site file: errors name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from propwatch.config_file import ConfigError
from propwatch.site import load_site
from tests.conftest import EXAMPLE_SITE


@pytest.fixture(autouse=True)
def _chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "zh_CN.UTF-8")


def test_example_site_loads_with_its_profiles() -> None:
    site = load_site(EXAMPLE_SITE)
    assert site.id == "hexie"
    assert set(site.profiles) == {"water_pump", "access_controller", "elevator", "lighting_panel"}


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "site.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_bad_field_value_names_file_line_and_field(tmp_path: Path) -> None:
    path = _broken(tmp_path, "poll_interval: 1s", "poll_interval: soon")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    (problem,) = err.value.problems
    assert problem.startswith(
        f"{path}:{_line_of(path, 'poll_interval: soon')}: devices[0].poll_interval"
    )


def test_unknown_zone_reference_names_its_line(tmp_path: Path) -> None:
    path = _broken(
        tmp_path, "    zone: zone-a\n    building: 水泵房", "    zone: zone-z\n    building: 水泵房"
    )
    with pytest.raises(ConfigError) as err:
        load_site(path)
    (problem,) = err.value.problems
    assert problem == (
        f"{path}:{_line_of(path, 'zone: zone-z')}: assets[0].zone: 未知的片区 zone-z，"
        "是否想写 zone-b？"
    )


def test_unknown_profile_is_reported_against_the_device(tmp_path: Path) -> None:
    path = _broken(tmp_path, "profile: water_pump,", "profile: no_such_pump,")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    (problem,) = err.value.problems
    assert problem.startswith(
        f"{path}:{_line_of(path, 'no_such_pump')}: devices[0].profile: 未知的设备型号 no_such_pump"
    )
    assert "no_such_pump.yaml" in problem


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = _broken(
        tmp_path, "  timezone: Asia/Shanghai", "  timezone: Asia/Shanghai\n  colour: red"
    )
    with pytest.raises(ConfigError) as err:
        load_site(path)
    assert (
        f"{path}:{_line_of(path, 'colour')}: site.colour: 未知字段 colour；可写的字段："
        "id、name、timezone、latitude、longitude、address、region"
    ) in err.value.problems


def test_a_route_to_an_unknown_channel_names_its_line(tmp_path: Path) -> None:
    path = _broken(tmp_path, "channels: [dingtalk-duty]", "channels: [dingtalk-dut]")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    (problem,) = err.value.problems
    line = _line_of(path, "channels: [dingtalk-dut]")
    assert problem == (
        f"{path}:{line}: notifications.routes[2].channels[0]: 未知的通知渠道 dingtalk-dut，"
        "是否想写 dingtalk-duty？"
    )


def test_an_unknown_topic_or_channel_kind_names_its_line(tmp_path: Path) -> None:
    path = _broken(tmp_path, "topics: [alarm.raised,", "topics: [alarm.rised,")
    text = path.read_text(encoding="utf-8").replace("kind: dingtalk", "kind: dingding", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    kind, topic = sorted(err.value.problems, key=lambda p: "routes" in p)
    assert topic.startswith(f"{path}:{_line_of(path, 'alarm.rised')}: notifications.routes[2]")
    assert "未知的主题 alarm.rised" in topic and topic.endswith("是否想写 alarm.raised？")
    assert kind == (
        f"{path}:{_line_of(path, 'kind: dingding')}: notifications.channels[2].kind: dingding "
        "不是可选的值；可选：wecom、dingtalk、email、webhook"
    )


@pytest.mark.parametrize(
    ("old", "new", "needle", "field", "says"),
    [
        (
            "type: greening\n",
            "type: gardening\n",
            "type: gardening",
            "quality.score_sheets[0].sections[0].items[1].type",
            "gardening",
        ),
        (
            "- {id: weeds, text: 每处杂草或枯枝, points: 1,",
            "- {id: weeds, text: 每处杂草或枯枝, points: 6,",
            "points: 6,",
            "quality.score_sheets[0].sections[0].items[1].deductions[0].points",
            "扣分 6 超过该项满分 5",
        ),
        (
            "- id: sf-light\n",
            "- id: sf-exit\n",
            "- id: sf-exit",
            "quality.score_sheets[0].sections[1].items[1].id",
            "id sf-exit 重复",
        ),
    ],
)
def test_a_bad_score_sheet_names_its_line_and_field(
    tmp_path: Path, old: str, new: str, needle: str, field: str, says: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        load_site(path)
    (problem,) = err.value.problems
    lines = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert problem.startswith(f"{path}:{lines[-1]}: {field}: "), problem
    assert says in problem
