"""集团 → 区域 → 小区: the organisation file, its mistakes at their lines, and sites that name a
region the file does not declare."""

from __future__ import annotations

from pathlib import Path

import pytest

from propwatch.config_file import ConfigError
from propwatch.organisation import (
    IMPLICIT_COMPANY_NAME,
    Organisation,
    load_organisation,
    organisation_in,
    region_problems,
)
from propwatch.site import Site, load_site
from tests.support.sites import copy_example_site

ORGANISATION = """\
company: {id: lvcheng, name: 绿城物业}
regions:
  - {id: hz, name: 杭州区域}
  - {id: sh, name: 上海城市公司}
"""


@pytest.fixture(autouse=True)
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "zh_CN.UTF-8")


def _write(folder: Path, text: str) -> Path:
    path = folder / "organisation.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _sites(folder: Path, *specs: tuple[str, str, str | None]) -> dict[str, Site]:
    return {
        sid: load_site(copy_example_site(folder, sid, name, region=region))
        for sid, name, region in specs
    }


def test_the_organisation_file_names_the_company_and_its_regions(tmp_path: Path) -> None:
    org = load_organisation(_write(tmp_path, ORGANISATION))

    assert (org.company_id, org.company_name) == ("lvcheng", "绿城物业")
    assert dict(org.regions) == {"hz": "杭州区域", "sh": "上海城市公司"}
    assert org.region_name("sh") == "上海城市公司"
    assert org.declared


def test_without_a_file_the_organisation_is_implicit_and_knows_the_regions_sites_name(
    tmp_path: Path,
) -> None:
    sites = _sites(tmp_path, ("a", "甲苑", "hz"), ("b", "乙苑", None))
    org = organisation_in(tmp_path)

    assert org == Organisation.implicit()
    assert org.company_name == IMPLICIT_COMPANY_NAME
    assert org.knows_region("hz", sites) and not org.knows_region("sh", sites)
    assert org.region_name("hz") == "hz"
    assert region_problems(org, sites) == []


def test_a_misspelt_field_is_reported_at_its_line_with_a_guess(tmp_path: Path) -> None:
    path = _write(tmp_path, ORGANISATION.replace("  - {id: sh, name:", "  - {id: sh, nmae:"))

    with pytest.raises(ConfigError) as err:
        load_organisation(path)

    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:4: regions[1]")
    assert "name" in problem and "nmae" in problem


def test_a_missing_company_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "regions:\n  - {id: hz, name: 杭州区域}\n")

    with pytest.raises(ConfigError) as err:
        load_organisation(path)

    assert any("company" in p and p.startswith(f"{path}") for p in err.value.problems)


def test_a_region_declared_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, ORGANISATION + "  - {id: hz, name: 杭州二区}\n")

    with pytest.raises(ConfigError) as err:
        load_organisation(path)

    assert err.value.problems == [f"{path}:5: regions[2].id: 区域 hz 重复（第 3 行已有）"]


def test_a_region_id_with_a_colon_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, ORGANISATION.replace("{id: sh,", '{id: "region:sh",'))

    with pytest.raises(ConfigError) as err:
        load_organisation(path)

    assert err.value.problems[0].startswith(f"{path}:4: regions[1].id")


def test_a_site_naming_an_undeclared_region_is_a_problem_at_its_line(tmp_path: Path) -> None:
    org = load_organisation(_write(tmp_path, ORGANISATION))
    sites = _sites(tmp_path, ("a", "甲苑", "hz"), ("b", "乙苑", "sz"), ("c", "丙苑", "shh"))
    line_b = _line_of(sites["b"].path, "  region: sz")
    line_c = _line_of(sites["c"].path, "  region: shh")

    problems = region_problems(org, sites)

    assert problems == [
        f"{sites['b'].path}:{line_b}: site.region: 未知的区域 sz；已有：hz、sh"
        "（区域在 organisation.yaml 中声明）",
        f"{sites['c'].path}:{line_c}: site.region: 未知的区域 shh，是否想写 sh？"
        "（区域在 organisation.yaml 中声明）",
    ]


def test_the_sites_of_a_region_are_those_whose_file_names_it_now(tmp_path: Path) -> None:
    org = load_organisation(_write(tmp_path, ORGANISATION))
    sites = _sites(tmp_path, ("a", "甲苑", "hz"), ("b", "乙苑", "hz"), ("c", "丙苑", "sh"))

    assert org.sites_in(["hz"], sites) == {"a", "b"}
    assert org.sites_in(["hz", "sh"], sites) == {"a", "b", "c"}
    moved = {**sites, "b": load_site(copy_example_site(tmp_path, "b", "乙苑", region="sh"))}
    assert org.sites_in(["hz"], moved) == {"a"}
    assert org.region_ids(moved) == ["hz", "sh"]


def _line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1
