"""维保单位与维保合同登记表: two tables beside the site file, checked as the loader checks the site
file's own `contractors` and `contracts` (each problem at its row and column), written only when
clean, unchanged by a second import, read back from their export, and loaded as the same site as
the YAML they stand for."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from propwatch.cli import main
from propwatch.contractor_register import (
    CONTRACT_TABLE,
    CONTRACTOR_TABLE,
    CONTRACTORS,
    CONTRACTS,
)
from propwatch.durations import TimeLimit
from propwatch.register_import import export_register, import_register
from propwatch.site import inspect_site, load_site
from tests.conftest import EXAMPLE_SITE

PEOPLE = (
    "  - {id: qian-wb, name: 钱师傅, role: technician, contractor: xizi-lift}\n"
    "  - {id: sun-wb, name: 孙师傅, role: technician, contractor: kaifeng-pump}\n"
)
OWN_CONTRACT = """contracts:
  - id: pump-2025
    contractor: kaifeng-pump
    assets: [pump-1]
    start: 2025-01-01
    end: 2025-12-31
"""
CONTRACTOR_HEADER = list(CONTRACTOR_TABLE.columns)
CONTRACTOR_ROWS = [
    [
        "xizi-lift",
        "西子电梯维保有限公司",
        "TS3133001-2027",
        "2027-06-30",
        "钱经理",
        "0571-88880000",
    ],
    ["kaifeng-pump", "开封水泵服务公司", "JS-2026-18", "2026/12/1", "", ""],
]
CONTRACT_HEADER = [*CONTRACT_TABLE.columns[:7], "emergency_arrive", "emergency_resolve"]
CONTRACT_HEADER.append("general_resolve")  # the terms a contract uses, not all nine


def contract_row(
    cid: str, contractor: str, assets: str, start: str, end: str, **more: str
) -> list[str]:
    """A row of the contract table, its other cells (`name`, `technician`, the terms) by name."""
    given = {"id": cid, "contractor": contractor, "assets": assets, "start": start, "end": end}
    return [{**given, **more}.get(c, "") for c in CONTRACT_HEADER]


CONTRACT_ROWS = [
    contract_row(
        "lift-2026",
        "xizi-lift",
        "lift-1-1",
        "2026-01-01",
        "2026-12-31",
        name="2026年度电梯维保合同",
        technician="qian-wb",
        emergency_arrive="30m",
        emergency_resolve="2h",
        general_resolve="2wd",
    ),
    contract_row(
        "pump-2026",
        "kaifeng-pump",
        "pump-1、door-north",
        "2026-01-01",
        "2026-12-31",
        emergency_resolve="4h",
    ),
]


@pytest.fixture
def site_path(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    path = folder / "site.yaml"
    text = EXAMPLE_SITE.read_text(encoding="utf-8").replace("\npeople:\n", "\npeople:\n" + PEOPLE)
    path.write_text(text + OWN_CONTRACT, "utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def _found(problems: list[str], source: Path) -> list[tuple[int, str]]:
    prefix = f"{source}:"
    assert all(p.startswith(prefix) for p in problems), problems
    return [
        (int(p[len(prefix) :].split(":")[0]), p[len(prefix) :].split(": ")[1]) for p in problems
    ]


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _apply_contractors(site_path: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "单位.csv", CONTRACTOR_HEADER, CONTRACTOR_ROWS)
    assert import_register(CONTRACTORS, site_path, source, apply=True).problems == []


def test_bad_contractor_rows_are_named_by_row_and_column_and_nothing_is_written(
    site_path: Path, tmp_path: Path
) -> None:
    rows = [list(r) for r in CONTRACTOR_ROWS]
    rows += [
        ["otis", "", "TS-9", "2027-01-01", "", ""],  # row 4: name empty
        ["mitsu", "三菱电梯", "TS-10", "明年", "", ""],  # row 5: not a date
        ["xizi-lift", "西子", "TS-11", "2027-01-01", "", ""],  # row 6: id of row 2
        ["bad id", "某公司", "TS-12", "2027-01-01", "", ""],  # row 7: id pattern
    ]
    source = write_csv(tmp_path / "单位.csv", CONTRACTOR_HEADER, rows)
    before = _files(site_path.parent)

    outcome = import_register(CONTRACTORS, site_path, source, apply=True)

    assert _found(outcome.problems, source) == [
        (4, "name"),
        (5, "licence_expiry"),
        (6, "id"),
        (7, "id"),
    ]
    assert not outcome.written and _files(site_path.parent) == before


def test_bad_contract_rows_get_the_loader_checks_at_their_row_and_column(
    site_path: Path, tmp_path: Path
) -> None:
    _apply_contractors(site_path, tmp_path)
    rows = [list(r) for r in CONTRACT_ROWS]
    rows += [
        contract_row("c3", "xizi-lfit", "lift-1-1", "2027-01-01", "2027-12-31"),  # row 4
        contract_row(  # row 5: an unknown asset, and 紧急到场 not a time limit
            "c4",
            "xizi-lift",
            "lift-1-1；lift-9",
            "2028-01-01",
            "2028-12-31",
            emergency_arrive="soon",
        ),
        contract_row("c5", "xizi-lift", "lift-1-1", "2029-12-31", "2029-01-01"),  # row 6
        contract_row(  # row 7: not a person of the contractor
            "c6", "xizi-lift", "lighting-b", "2026-01-01", "2026-12-31", technician="sun-wb"
        ),
        contract_row("c7", "kaifeng-pump", "pump-1", "2026-06-01", "2026-06-30"),  # row 8
        contract_row("pump-2025", "kaifeng-pump", "pump-1", "2024-01-01", "2024-12-31"),  # 9
    ]
    source = write_csv(tmp_path / "合同.csv", CONTRACT_HEADER, rows)
    before = _files(site_path.parent)

    outcome = import_register(CONTRACTS, site_path, source, apply=True)

    assert _found(outcome.problems, source) == [
        (4, "contractor"),
        (5, "emergency_arrive"),
        (6, "end"),
        (7, "technician"),
        (8, "assets"),  # pump-1 is under pump-2026 all year
        (9, "id"),
    ]
    assert "xizi-lift" in outcome.problems[0]  # the near miss
    assert not outcome.written and _files(site_path.parent) == before

    # c4 without the bad limit: its unknown asset is the loader's to find
    rows[3][CONTRACT_HEADER.index("emergency_arrive")] = ""
    write_csv(source, CONTRACT_HEADER, rows)
    again = import_register(CONTRACTS, site_path, source, apply=False)
    assert (5, "assets") in _found(again.problems, source)
    assert any("lift-9" in p for p in again.problems)


def test_the_corrected_registers_apply_once_and_twice_change_nothing(
    site_path: Path, tmp_path: Path
) -> None:
    contractors = write_csv(tmp_path / "单位.csv", CONTRACTOR_HEADER, CONTRACTOR_ROWS)
    contracts = write_csv(tmp_path / "合同.csv", CONTRACT_HEADER, CONTRACT_ROWS)

    dry = import_register(CONTRACTS, site_path, contracts, apply=False)
    assert dry.problems and "xizi-lift" in dry.problems[0]  # no contractors yet
    first = import_register(CONTRACTORS, site_path, contractors, apply=True)
    assert (first.problems, first.created, first.written) == (
        [],
        ["xizi-lift", "kaifeng-pump"],
        True,
    )
    second = import_register(CONTRACTS, site_path, contracts, apply=True)
    assert (second.problems, second.created) == ([], ["lift-2026", "pump-2026"])
    text = site_path.read_text("utf-8")
    assert "contractors_file: site.contractors.csv" in text
    assert "contracts_file: site.contracts.csv" in text
    site = load_site(site_path)
    assert [c.id for c in site.spec.contracts] == ["pump-2025", "lift-2026", "pump-2026"]
    lift = site.spec.contracts[1]
    assert (lift.technician, lift.response[0].arrive, lift.response[1].resolve) == (
        "qian-wb",
        TimeLimit(0.5, "hours"),
        TimeLimit(2, "working_days"),
    )
    assert site.spec.contracts[2].assets == ["pump-1", "door-north"]
    assert site.spec.contractors[1].licence_expiry == date(2026, 12, 1)
    files = _files(site_path.parent)

    for kind, source in ((CONTRACTORS, contractors), (CONTRACTS, contracts)):
        again = import_register(kind, site_path, source, apply=True)
        assert (again.problems, again.written, again.unchanged) == ([], False, 2)
    assert _files(site_path.parent) == files


def test_an_xlsx_contract_register_with_chinese_headings_and_date_cells(
    site_path: Path, tmp_path: Path
) -> None:
    _apply_contractors(site_path, tmp_path)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["合同编号", "维保单位", "设备", "开始", "结束", "维保人员", "紧急响应", "一般完成"]
    )
    sheet.append(
        [
            "lift-2026",
            "xizi-lift",
            "lift-1-1",
            date(2026, 1, 1),
            date(2026, 12, 31),
            "qian-wb",
            "5m",
            "3wd",
        ]
    )
    sheet.append(["pump-2026", "kaifeng-pump", "pump-1;door-north", "2026年1月1日", "年底", None])
    source = tmp_path / "合同.xlsx"
    book.save(source)

    bad = import_register(CONTRACTS, site_path, source, apply=True)
    assert _found(bad.problems, source) == [(3, "end")]

    sheet["E3"] = date(2026, 12, 31)
    book.save(source)
    good = import_register(CONTRACTS, site_path, source, apply=True)
    assert (good.problems, good.created) == ([], ["lift-2026", "pump-2026"])
    lift, pump = load_site(site_path).spec.contracts[1:]
    assert (lift.start, lift.response[0].priority, lift.response[0].respond) == (
        date(2026, 1, 1),
        "emergency",
        TimeLimit(5 / 60, "hours"),
    )
    assert (pump.start, pump.assets) == (date(2026, 1, 1), ["pump-1", "door-north"])


def test_export_reads_back_as_the_same_contractors_and_contracts(
    site_path: Path, tmp_path: Path
) -> None:
    _apply_contractors(site_path, tmp_path)
    contracts = write_csv(tmp_path / "合同.csv", CONTRACT_HEADER, CONTRACT_ROWS)
    import_register(CONTRACTS, site_path, contracts, apply=True)
    site = load_site(site_path)
    for kind in (CONTRACTORS, CONTRACTS):
        for name in ("out.csv", "out.xlsx"):
            out = tmp_path / f"{kind.section}-{name}"
            out.write_bytes(export_register(kind, site, out))
            back = kind.read(out)
            assert back.problems == [] and back.items == getattr(site.spec, kind.section)
    sheet = load_workbook(tmp_path / "contracts-out.xlsx").worksheets[0]
    assert [c.value for c in sheet[1]][:7] == [
        "合同编号",
        "维保单位",
        "合同名称",
        "设备",
        "开始",
        "结束",
        "维保人员",
    ]
    assert [c.value for c in sheet[1]][7:10] == ["紧急响应", "紧急到场", "紧急完成"]
    # the export of all contracts holds the site file's own, unchanged: they stay there
    again = import_register(CONTRACTS, site_path, tmp_path / "contracts-out.xlsx", apply=True)
    assert (again.problems, again.written, again.in_site_file) == ([], False, 1)


def test_a_contract_with_terms_by_category_is_not_exported_flat(
    site_path: Path, tmp_path: Path
) -> None:
    _apply_contractors(site_path, tmp_path)
    text = site_path.read_text("utf-8").replace(
        "    end: 2025-12-31\n",
        "    end: 2025-12-31\n    response:\n"
        "      - {category: water_supply, priority: emergency, resolve: 2h}\n",
    )
    site_path.write_text(text, "utf-8")
    assert main(["contracts", "export", "--site", str(site_path)]) == 2


def test_registers_load_as_the_same_site_as_the_yaml_they_stand_for(
    site_path: Path, tmp_path: Path
) -> None:
    _apply_contractors(site_path, tmp_path)
    contracts = write_csv(tmp_path / "合同.csv", CONTRACT_HEADER, CONTRACT_ROWS)
    import_register(CONTRACTS, site_path, contracts, apply=True)
    from_registers = load_site(site_path).spec

    yaml_path = tmp_path / "yaml" / "site.yaml"
    yaml_path.parent.mkdir()
    text = EXAMPLE_SITE.read_text(encoding="utf-8").replace("\npeople:\n", "\npeople:\n" + PEOPLE)
    yaml_path.write_text(
        text
        + """contractors:
  - {id: xizi-lift, name: 西子电梯维保有限公司, licence_no: TS3133001-2027,
     licence_expiry: 2027-06-30, contact: 钱经理, phone: "0571-88880000"}
  - {id: kaifeng-pump, name: 开封水泵服务公司, licence_no: JS-2026-18, licence_expiry: 2026-12-01}
"""
        + OWN_CONTRACT
        + """  - id: lift-2026
    contractor: xizi-lift
    name: 2026年度电梯维保合同
    assets: [lift-1-1]
    start: 2026-01-01
    end: 2026-12-31
    technician: qian-wb
    response:
      - {priority: emergency, arrive: 30m, resolve: 2h}
      - {priority: general, resolve: 2wd}
  - id: pump-2026
    contractor: kaifeng-pump
    assets: [pump-1, door-north]
    start: 2026-01-01
    end: 2026-12-31
    response:
      - {priority: emergency, resolve: 4h}
""",
        "utf-8",
    )
    from_yaml = load_site(yaml_path).spec
    named = {"contractors_file": None, "contracts_file": None}
    assert from_registers.model_copy(update=named) == from_yaml


def test_the_loader_names_the_register_row_of_a_fault(site_path: Path, tmp_path: Path) -> None:
    _apply_contractors(site_path, tmp_path)
    contracts = write_csv(tmp_path / "合同.csv", CONTRACT_HEADER, CONTRACT_ROWS)
    import_register(CONTRACTS, site_path, contracts, apply=True)
    register = site_path.parent / "site.contracts.csv"
    register.write_text(register.read_text("utf-8-sig").replace("door-north", "door-nrth"), "utf-8")
    _site, problems = inspect_site(site_path)
    assert len(problems) == 1 and problems[0].startswith(f"{register}:3: assets: ")
    assert "door-north" in problems[0]


def test_cli_dry_run_apply_and_export(
    site_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [list(r) for r in CONTRACTOR_ROWS]
    rows[1][CONTRACTOR_HEADER.index("licence_expiry")] = "someday"
    source = write_csv(tmp_path / "单位.csv", CONTRACTOR_HEADER, rows)
    site = ["--site", str(site_path)]
    assert main(["contractors", "import", str(source), *site, "--apply"]) == 1
    out = capsys.readouterr().out
    assert f"{source}:3: licence_expiry: " in out and "nothing written" in out
    write_csv(source, CONTRACTOR_HEADER, CONTRACTOR_ROWS)
    assert main(["contractors", "import", str(source), *site]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["contractors", "import", str(source), *site, "--apply"]) == 0
    assert "written to" in capsys.readouterr().out
    assert main(["contractors", "import", str(source), *site, "--apply"]) == 0
    assert "nothing to change" in capsys.readouterr().out
    out_file = tmp_path / "导出.xlsx"
    assert main(["contractors", "export", *site, "-o", str(out_file)]) == 0
    assert CONTRACTORS.read(out_file).items == load_site(site_path).spec.contractors
    assert main(["contracts", "export", *site]) == 0
    assert capsys.readouterr().out.lstrip("\ufeff").startswith("合同编号,维保单位,")
