"""户数 per building in the site file: what the 服务报告's complaints per 100 households divide by,
refused with file, line and field when a building is no zone's or a count is not a count."""

from __future__ import annotations

from pathlib import Path

import pytest

from maintenance.service_report import households
from propwatch.config_file import ConfigError
from propwatch.site import load_site
from tests.conftest import EXAMPLE_SITE

LINE = "households: {1栋: 120, 2栋: 96, 3栋: 144, 4栋: 90}"


@pytest.fixture(autouse=True)
def _chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "zh_CN.UTF-8")


def _with(tmp_path: Path, line: str) -> Path:
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    assert LINE in text
    path = tmp_path / "site.yaml"
    path.write_text(text.replace(LINE, line), encoding="utf-8")
    return path


def _line(path: Path) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("househ"))


def test_the_example_counts_households_per_zone_from_its_buildings() -> None:
    spec = load_site(EXAMPLE_SITE).spec
    assert spec.households == {"1栋": 120, "2栋": 96, "3栋": 144, "4栋": 90}
    assert households(spec) == 450
    assert households(spec, "zone-a") == 216  # 1栋 and 2栋; its 水泵房 has no households
    assert households(spec, "zone-b") == 234


def test_no_households_no_rate(tmp_path: Path) -> None:
    spec = load_site(_with(tmp_path, "")).spec
    assert households(spec) is None and households(spec, "zone-a") is None


def test_a_building_no_zone_lists_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _with(tmp_path, "households: {1栋: 120, 5栋: 60}")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:{_line(path)}: households")
    assert "未知的楼栋 5栋" in problem and "1栋" in problem


@pytest.mark.parametrize("count", ["0", "-3", "很多", "1.5"])
def test_a_count_that_is_not_a_number_of_households_is_refused(tmp_path: Path, count: str) -> None:
    path = _with(tmp_path, f"households: {{1栋: {count}}}")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:{_line(path)}: households")
