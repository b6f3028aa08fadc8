"""设备台账导入: a 2,000-row register checked against the site (row, column, problem), nothing
written while a row is bad, then written beside the site file and merged by the loader."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from propwatch.asset_register import ASSETS, COLUMNS, TABLE
from propwatch.cli import main
from propwatch.register_import import export_register, import_register
from propwatch.site import inspect_site, load_site
from tests.conftest import EXAMPLE_SITE

HEADER = list(COLUMNS)


@pytest.fixture
def site_path(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    path = folder / "site.yaml"
    path.write_text(EXAMPLE_SITE.read_text(encoding="utf-8"), "utf-8")
    return path


def register_rows(n: int) -> list[list[str]]:
    """A property's register: a pump room per 20 rows holding its pumps and cabinet."""
    rows = []
    for i in range(1, n + 1):
        room = f"room-{(i - 1) // 20 + 1:03d}"
        if (i - 1) % 20 == 0:
            rows.append([room, f"{(i - 1) // 20 + 1}号泵房", "pump_room", "zone-a", "水泵房"])
            rows[-1] += ["", "2020-01-01", "", "", "", ""]
            continue
        zone = "zone-b" if i % 2 else "zone-a"
        rows.append([f"eq-{i:05d}", f"设备{i}", "water_pump", zone, "3栋", f"地下一层{i}"])
        rows[-1] += ["2021-06-01", "2026-06-01", "", "", room]
    return rows


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_bad_register_names_each_row_and_column_and_writes_nothing(
    site_path: Path, tmp_path: Path
) -> None:
    rows = register_rows(2000)
    rows[9][3] = "zone-c"  # row 11: unknown zone
    rows[99][0] = rows[98][0]  # row 101: duplicate id
    rows[499][6] = "2021-13-40"  # row 501: bad date
    rows[999][10] = "room-999"  # row 1001: unknown parent
    rows[1499][1] = ""  # row 1501: name missing
    rows[1799][0] = "pump-1"  # row 1801: the site file's own asset, different
    before = site_path.read_bytes()
    source = write_csv(tmp_path / "台账.csv", rows)

    outcome = import_register(ASSETS, site_path, source, apply=True)

    register = site_path.parent / "site.assets.csv"
    prefix = f"{source}:"
    found = sorted(
        (int(p[len(prefix) :].split(":")[0]), p[len(prefix) :].split(": ")[1])
        for p in outcome.problems
    )
    assert found == [
        (11, "zone"),
        (101, "id"),
        (501, "install_date"),
        (1001, "parent"),
        (1501, "name"),
        (1801, "id"),
    ]
    assert all(p.startswith(prefix) for p in outcome.problems)
    assert "zone-c" in outcome.problems[0]
    assert not outcome.written and not register.exists()
    assert site_path.read_bytes() == before


def test_the_corrected_register_gives_exactly_its_assets_and_twice_changes_nothing(
    site_path: Path, tmp_path: Path
) -> None:
    own = len(load_site(site_path).spec.assets)
    source = write_csv(tmp_path / "台账.csv", register_rows(2000))

    dry = import_register(ASSETS, site_path, source, apply=False)
    assert (dry.problems, len(dry.created), dry.written) == ([], 2000, False)
    assert not (site_path.parent / "site.assets.csv").exists()

    first = import_register(ASSETS, site_path, source, apply=True)
    assert (first.problems, len(first.created), first.written) == ([], 2000, True)
    site = load_site(site_path)
    assert len(site.spec.assets) == own + 2000
    assert site.assets_path == site_path.parent / "site.assets.csv"
    pump = site.spec.asset("eq-00002")
    assert (pump.parent, pump.install_date, pump.zone) == ("room-001", date(2021, 6, 1), "zone-a")
    files = {p: p.read_bytes() for p in site_path.parent.iterdir() if p.is_file()}

    second = import_register(ASSETS, site_path, source, apply=True)
    assert (second.written, second.unchanged, second.created, second.updated) == (
        False,
        2000,
        [],
        [],
    )
    assert {p: p.read_bytes() for p in site_path.parent.iterdir() if p.is_file()} == files


def test_a_second_import_updates_and_removes_what_changed(site_path: Path, tmp_path: Path) -> None:
    import_register(ASSETS, site_path, write_csv(tmp_path / "a.csv", register_rows(40)), apply=True)
    rows = register_rows(40)[:-1]
    rows[5][5] = "地下二层"
    outcome = import_register(ASSETS, site_path, write_csv(tmp_path / "b.csv", rows), apply=True)
    assert (outcome.created, outcome.updated, outcome.removed) == ([], ["eq-00006"], ["eq-00040"])
    site = load_site(site_path)
    assert site.spec.asset("eq-00006").location == "地下二层"
    assert "eq-00040" not in {a.id for a in site.spec.assets}


def test_an_xlsx_register_with_chinese_headers_and_date_cells(
    site_path: Path, tmp_path: Path
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["编号", "名称", "类型", "片区", "安装日期", "上级"])
    sheet.append(["room-1", "1号泵房", "pump_room", "zone-a", date(2020, 5, 1), None])
    sheet.append([1001, "2号生活水泵", "water_pump", "zone-a", "2021/6/1", "room-1"])
    sheet.append(["pump-x", "3号生活水泵", "water_pump", "zone-a", "六月", "room-1"])
    source = tmp_path / "台账.xlsx"
    book.save(source)

    bad = import_register(ASSETS, site_path, source, apply=True)
    assert [p.split(": ")[:2] for p in bad.problems] == [[f"{source}:4", "install_date"]]

    sheet.delete_rows(4)
    book.save(source)
    good = import_register(ASSETS, site_path, source, apply=True)
    assert good.problems == [] and good.created == ["room-1", "1001"]
    site = load_site(site_path)
    assert site.spec.asset("1001").install_date == date(2021, 6, 1)
    assert site.spec.asset("room-1").install_date == date(2020, 5, 1)


def test_export_reads_back_as_the_same_assets(site_path: Path, tmp_path: Path) -> None:
    import_register(ASSETS, site_path, write_csv(tmp_path / "a.csv", register_rows(30)), apply=True)
    site = load_site(site_path)
    for name in ("out.csv", "out.xlsx"):
        out = tmp_path / name
        out.write_bytes(export_register(ASSETS, site, out))
        back = ASSETS.read(out)
        assert back.problems == [] and back.items == site.spec.assets
    if True:  # the Excel sheet is headed in Chinese
        sheet = load_workbook(tmp_path / "out.xlsx").worksheets[0]
        assert [c.value for c in sheet[1]][:4] == ["编号", "名称", "类型", "片区"]
    # re-importing the export keeps the site file's own assets where they are: no change
    again = import_register(ASSETS, site_path, tmp_path / "out.csv", apply=True)
    assert (again.problems, again.written, again.in_site_file) == (
        [],
        False,
        len(site.spec.assets) - 30,
    )


def test_the_loader_names_the_register_row_of_a_fault(site_path: Path, tmp_path: Path) -> None:
    import_register(ASSETS, site_path, write_csv(tmp_path / "a.csv", register_rows(25)), apply=True)
    register = site_path.parent / "site.assets.csv"
    text = register.read_text(encoding="utf-8-sig").replace("zone-b", "zone-q", 1)
    register.write_text(text, encoding="utf-8")
    site, problems = inspect_site(site_path)
    zone_q_row = next(i for i, line in enumerate(text.splitlines(), start=1) if "zone-q" in line)
    assert len(problems) == 1 and site is not None
    assert problems[0].startswith(f"{register}:{zone_q_row}: zone: ") and "zone-q" in problems[0]


def test_cli_dry_run_apply_and_export(
    site_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = register_rows(20)
    rows[3][3] = "zone-z"
    source = write_csv(tmp_path / "a.csv", rows)
    assert main(["assets", "import", str(source), "--site", str(site_path), "--apply"]) == 1
    out = capsys.readouterr().out
    assert f"{source}:5: zone: " in out and "nothing written" in out
    rows[3][3] = "zone-b"
    write_csv(source, rows)
    assert main(["assets", "import", str(source), "--site", str(site_path)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["assets", "import", str(source), "--site", str(site_path), "--apply"]) == 0
    assert "written to" in capsys.readouterr().out
    assert main(["assets", "import", str(source), "--site", str(site_path), "--apply"]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert main(["assets", "export", "--site", str(site_path)]) == 0
    exported = list(csv.reader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
    assert exported[0] == [TABLE.headings_zh[c] for c in HEADER] and len(exported) == 1 + len(
        load_site(site_path).spec.assets
    )
