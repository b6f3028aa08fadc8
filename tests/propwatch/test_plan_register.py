"""保养计划登记表: one row a plan beside the site file, every check of a plan in the site file
(schema, targets, template, absorbs, schedule) at the row and column concerned, nothing written
while a row is bad, a second import unchanged, the export read back, and the same site as the
YAML it stands for."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from propwatch.check_config import check_config
from propwatch.cli import main
from propwatch.plan_register import PLANS, TABLE
from propwatch.register_import import export_register, import_register
from propwatch.site import ChecklistItem, Priority, load_site
from tests.conftest import EXAMPLE_SITE
from tests.propwatch.test_asset_import import site_path

__all__ = ["site_path"]  # the example site in a folder of its own

HEADER = list(TABLE.columns)
GOOD = [
    {
        "id": "gate-weekly",
        "name": "北门周检",
        "assets": "door-north",
        "cron": "30 9 * * 5",
        "role": "保安",
        "category": "门禁",
        "time_limit": "4h",
        "non_working_day": "顺延",
        "checklist": "g-01: 出门按钮正常\ng-02：闭门器到位；g-03: 电源电压 [V 11.5~13.8]",
    },
    {
        "id": "pump-quarterly",
        "template": "water-pump-monthly",
        "kinds": "water_pump",
        "zones": "zone-a、zone-b",
        "rrule": "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=10",
        "start": "2026-01-10 09:00",
        "priority": "重要",
        "estimated_hours": "1.5",
    },
    {
        "id": "lift-doors",
        "assets": "lift-1-1",
        "every": "90d",
        "meter": "door_cycles",
        "meter_every": "100000",
        "meter_unit": "次",
        "floating": "是",
        "checklist": "检查门机皮带；检查门刀 [mm ~2]",
    },
    {
        "id": "pump-deep",
        "template": "water-pump-monthly",
        "absorbs": "pump-monthly",
        "absorb_window": "7d",
        "enabled": "否",
        "out_of_service": "停水",
        "out_of_service_hours": "4",
        "notice_days": "2",
    },
]
YAML = """
  - id: gate-weekly
    name: 北门周检
    targets: {assets: [door-north]}
    cron: "30 9 * * 5"
    role: security
    category: access_control
    time_limit: 4h
    non_working_day: next
    checklist:
      - {id: g-01, text: 出门按钮正常}
      - {id: g-02, text: 闭门器到位}
      - {id: g-03, text: 电源电压, unit: V, low: 11.5, high: 13.8}
  - id: pump-quarterly
    template: water-pump-monthly
    targets: {kinds: [water_pump], zones: [zone-a, zone-b]}
    rrule: FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=10
    start: 2026-01-10T09:00:00
    priority: important
    estimated_hours: 1.5
  - id: lift-doors
    targets: {assets: [lift-1-1]}
    every: 90d
    meter: {metric: door_cycles, every: 100000, unit: 次}
    floating: true
    checklist:
      - {id: "1", text: 检查门机皮带}
      - {id: "2", text: 检查门刀, unit: mm, high: 2}
  - id: pump-deep
    template: water-pump-monthly
    absorbs: [pump-monthly]
    absorb_window: 7d
    enabled: false
    out_of_service: {kind: water_supply, hours: 4, notice_days: 2}
"""


def write_csv(path: Path, plans: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows([p.get(c, "") for c in HEADER] for p in plans)
    return path


def _found(problems: list[str], source: Path) -> list[tuple[int, str]]:
    """(row, column) of each problem; column "" for one about the whole row."""
    prefix = f"{source}:"
    assert all(p.startswith(prefix) for p in problems), problems
    out = []
    for p in problems:
        row, rest = p[len(prefix) :].split(": ", 1)
        column = rest.split(": ", 1)[0]
        out.append((int(row), column if column in TABLE.columns else ""))
    return out


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_bad_plan_rows_are_named_by_row_and_column_and_nothing_is_written(
    site_path: Path, tmp_path: Path
) -> None:
    bad = [
        {"id": "b1", "template": "elevator-halfmonthly"},  # 6: unknown template
        {"id": "b2", "template": "elevator-yearly", "assets": "lift-1-1、lift-9"},  # 7
        {"id": "b3", "template": "elevator-yearly", "zones": "zone-c"},  # 8
        {"id": "b4", "cron": "0 9 * * 1", "every": "7d", "checklist": "看"},  # 9: two
        {"id": "b5", "cron": "61 9 * * 1", "checklist": "看"},  # 10: minute 61
        {"id": "b6", "every": "30m", "checklist": "看"},  # 11: under an hour
        {"id": "b7", "template": "elevator-yearly", "priority": "很急"},  # 12
        {"id": "b8", "every": "7d", "checklist": "电压 [V 1~高]"},  # 13
        {"id": "b9", "template": "elevator-yearly", "enabled": "也许"},  # 14
        {"id": "b10", "template": "elevator-yearly", "start": "下周一"},  # 15
        {"id": "b11", "assets": "pump-1", "meter": "run_hours", "meter_every": "-5"}  # 16
        | {"checklist": "看"},
        {"id": "lift-yearly", "template": "elevator-yearly", "name": "年检"},  # 17: own id
        {"id": "b13", "template": "elevator-yearly", "absorbs": "lift-yearlly"},  # 18
        {"id": "b14", "cron": "0 9 * * 1"},  # 19: no template, no checklist
        {"id": "gate-weekly", "template": "elevator-yearly"},  # 20: row 2's id
    ]
    source = write_csv(tmp_path / "计划.csv", GOOD + bad)
    before = _files(site_path.parent)

    outcome = import_register(PLANS, site_path, source, apply=True)

    assert _found(outcome.problems, source) == [
        (6, "template"),
        (7, "assets"),
        (8, "zones"),
        (9, ""),
        (10, "cron"),
        (11, "every"),
        (12, "priority"),
        (13, "checklist"),
        (14, "enabled"),
        (15, "start"),
        (16, "meter_every"),
        (17, "id"),
        (18, "absorbs"),
        (19, ""),
        (20, "id"),
    ]
    assert "lift-9" in outcome.problems[1] and "lift-yearly" in outcome.problems[12]
    assert not outcome.written and _files(site_path.parent) == before


def test_the_corrected_register_applies_once_and_twice_changes_nothing(
    site_path: Path, tmp_path: Path
) -> None:
    own = len(load_site(site_path).spec.plans)
    source = write_csv(tmp_path / "计划.csv", GOOD)

    dry = import_register(PLANS, site_path, source, apply=False)
    assert (dry.problems, len(dry.created), dry.written) == ([], 4, False)
    first = import_register(PLANS, site_path, source, apply=True)
    assert (first.problems, first.written) == ([], True)
    assert "plans_file: site.plans.csv" in site_path.read_text("utf-8")
    site = load_site(site_path)
    assert len(site.spec.plans) == own + 4
    gate = next(p for p in site.spec.plans if p.id == "gate-weekly")
    assert gate.checklist is not None and gate.checklist[2] == ChecklistItem(
        id="g-03", text="电源电压", unit="V", low=11.5, high=13.8
    )
    quarterly = next(p for p in site.spec.plans if p.id == "pump-quarterly")
    assert (quarterly.start, quarterly.priority) == (datetime(2026, 1, 10, 9), Priority.IMPORTANT)
    assert check_config(site_path)[1] == []
    files = _files(site_path.parent)

    again = import_register(PLANS, site_path, source, apply=True)
    assert (again.problems, again.written, again.unchanged) == ([], False, 4)
    assert _files(site_path.parent) == files


def test_check_config_names_the_register_row_of_a_bad_schedule(
    site_path: Path, tmp_path: Path
) -> None:
    import_register(PLANS, site_path, write_csv(tmp_path / "计划.csv", GOOD), apply=True)
    register = site_path.parent / "site.plans.csv"
    text = register.read_text("utf-8-sig").replace("30 9 * * 5", "30 25 * * 5")
    register.write_text(text, "utf-8")
    _site, problems = check_config(site_path)
    assert len(problems) == 1 and problems[0].startswith(f"{register}:2: cron: ")


def test_an_xlsx_plan_register_with_chinese_headings_and_a_date_cell(
    site_path: Path, tmp_path: Path
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["计划编号", "计划名称", "设备", "重复规则", "开始", "优先级", "检查项"])
    sheet.append(
        [
            "lamps",
            "路灯月检",
            "lighting-b",
            "FREQ=MONTHLY;BYMONTHDAY=1",
            datetime(2026, 2, 1, 19),
            "一般",
            "c1: 灯具完好\nc2: 回路电流 [A 2~]",
        ]
    )
    sheet.append(["lamps-2", "路灯巡查", "lighting-b", "FREQ=WEEKLY", "明晚", "一般", "看"])
    source = tmp_path / "计划.xlsx"
    book.save(source)

    bad = import_register(PLANS, site_path, source, apply=True)
    assert _found(bad.problems, source) == [(3, "start")]

    sheet.delete_rows(3)
    book.save(source)
    good = import_register(PLANS, site_path, source, apply=True)
    assert (good.problems, good.created) == ([], ["lamps"])
    lamps = next(p for p in load_site(site_path).spec.plans if p.id == "lamps")
    assert lamps.start == datetime(2026, 2, 1, 19) and lamps.priority is Priority.GENERAL
    assert lamps.checklist is not None
    assert lamps.checklist[1] == ChecklistItem(id="c2", text="回路电流", unit="A", low=2)


def test_export_reads_back_as_the_same_plans(site_path: Path, tmp_path: Path) -> None:
    import_register(PLANS, site_path, write_csv(tmp_path / "计划.csv", GOOD), apply=True)
    site = load_site(site_path)
    for name in ("out.csv", "out.xlsx"):
        out = tmp_path / name
        out.write_bytes(export_register(PLANS, site, out))
        back = PLANS.read(out)
        assert back.problems == [] and back.items == site.spec.plans
    sheet = load_workbook(tmp_path / "out.xlsx").worksheets[0]
    assert [c.value for c in sheet[1]][:3] == ["计划编号", "计划名称", "模板"]
    again = import_register(PLANS, site_path, tmp_path / "out.xlsx", apply=True)
    assert (again.problems, again.written, again.in_site_file) == (
        [],
        False,
        len(site.spec.plans) - 4,
    )


def test_the_register_loads_as_the_same_site_as_the_yaml_it_stands_for(
    site_path: Path, tmp_path: Path
) -> None:
    import_register(PLANS, site_path, write_csv(tmp_path / "计划.csv", GOOD), apply=True)
    from_register = load_site(site_path).spec

    yaml_path = tmp_path / "yaml" / "site.yaml"
    yaml_path.parent.mkdir()
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    at = text.index("\n# 夜间照明")  # the end of the example's plans
    yaml_path.write_text(text[:at] + YAML + text[at:], "utf-8")
    from_yaml = load_site(yaml_path).spec
    assert from_register.model_copy(update={"plans_file": None}) == from_yaml


def test_cli_dry_run_apply_and_export(
    site_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = [dict(p) for p in GOOD]
    plans[1]["zones"] = "zone-z"
    source = write_csv(tmp_path / "计划.csv", plans)
    site = ["--site", str(site_path)]
    assert main(["plans", "import", str(source), *site, "--apply"]) == 1
    out = capsys.readouterr().out
    assert f"{source}:3: zones: " in out and "nothing written" in out
    write_csv(source, GOOD)
    assert main(["plans", "import", str(source), *site]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["plans", "import", str(source), *site, "--apply"]) == 0
    assert "written to" in capsys.readouterr().out
    assert main(["plans", "import", str(source), *site, "--apply"]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert main(["plans", "export", *site]) == 0
    exported = capsys.readouterr().out.lstrip("\ufeff")
    assert exported.startswith("计划编号,计划名称,模板,")
    assert len(list(csv.reader(exported.splitlines()))) > 1 + 4
