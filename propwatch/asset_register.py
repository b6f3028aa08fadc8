"""设备台账: the asset register as a table (CSV or XLSX) beside the site file.

A property's existing register is a spreadsheet of hundreds or thousands of rows; written into
the site file's `assets:` it would drown the rest. The site file names it (`assets_file:`) and
the loader merges its rows after the file's own assets, so the site file stays the one source
the registry, the gateway and the API read. Each problem names the file, the row (as the
spreadsheet numbers it: the header is row 1) and the column.

Headers may be the English field names or the usual Chinese ones (编号, 名称, 类型, 片区, …).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from propwatch.config_errors import explain
from propwatch.messages import say
from propwatch.site import Asset

COLUMNS = (
    "id",
    "name",
    "kind",
    "zone",
    "building",
    "location",
    "install_date",
    "warranty_end",
    "device",
    "channel",
    "parent",
)
REQUIRED = ("id", "name", "kind", "zone")
ALIASES = {
    "编号": "id",
    "设备编号": "id",
    "资产编号": "id",
    "名称": "name",
    "设备名称": "name",
    "资产名称": "name",
    "类型": "kind",
    "设备类型": "kind",
    "片区": "zone",
    "楼栋": "building",
    "位置": "location",
    "安装位置": "location",
    "安装日期": "install_date",
    "保修到期": "warranty_end",
    "质保到期": "warranty_end",
    "采集设备": "device",
    "通道": "channel",
    "上级": "parent",
    "上级设备": "parent",
    "所属设备": "parent",
}
HEADINGS_ZH = {
    "id": "编号",
    "name": "名称",
    "kind": "类型",
    "zone": "片区",
    "building": "楼栋",
    "location": "位置",
    "install_date": "安装日期",
    "warranty_end": "保修到期",
    "device": "采集设备",
    "channel": "通道",
    "parent": "上级",
}
DATES = ("install_date", "warranty_end")
MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")

Cell = str | int | float | date | datetime | None


@dataclass(frozen=True)
class Problem:
    """One bad cell (or row, column empty; or the file, row 0)."""

    row: int
    column: str
    problem: str


@dataclass
class Register:
    """The register's assets in file order, the row each came from, and what is wrong."""

    path: Path
    assets: list[Asset] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def formatted(self) -> list[str]:
        """`file:row: column: problem`, the site file's own `file:line: field: message`."""
        return [where(self.path, p.row, p.column) + p.problem for p in self.problems]


def where(path: Path, row: int, column: str) -> str:
    return f"{path}:{row}: {column}: " if column else f"{path}:{row}: "


def read_rows(path: Path, data: bytes | None = None) -> Iterator[list[Cell]]:
    """The table's rows, header first: a CSV (UTF-8, with or without BOM; GB18030 as Excel
    in China saves it) or the first sheet of an XLSX workbook."""
    raw = path.read_bytes() if data is None else data
    if len(raw) > MAX_BYTES:
        raise ValueError(say(f"文件超过 {MAX_BYTES // 2**20} MiB", "file too large"))
    if path.suffix.lower() == ".xlsx":
        yield from _xlsx_rows(raw)
        return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ValueError(say("文件不是 UTF-8 或 GB18030 文本", "not UTF-8 text")) from exc
    yield from csv.reader(io.StringIO(text))


def _xlsx_rows(raw: bytes) -> Iterator[list[Cell]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, ValueError … for a bad file
        raise ValueError(say("不是有效的 XLSX 工作簿", "not a valid XLSX workbook")) from exc
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [v if isinstance(v, str | int | float | date) else None for v in values]
    finally:
        book.close()


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value: Cell) -> date | str | None:
    """A date from a cell (an XLSX date, 2024-05-01, 2024/5/1, 2024年5月1日); the text when
    it is none of those; None when empty."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    m = _DATE.match(text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    return text


def header_columns(header: list[Cell]) -> tuple[list[str], list[Problem]]:
    names = [_text(h) for h in header]
    columns = [ALIASES.get(n, n.lower()) for n in names]
    problems = [
        Problem(1, n, say(f"未知列（可用：{'、'.join(COLUMNS)}）", f"unknown column ({COLUMNS})"))
        for n, c in zip(names, columns, strict=True)
        if c and c not in COLUMNS
    ]
    problems += [
        Problem(1, c, say("缺少必填列", "required column missing"))
        for c in REQUIRED
        if c not in columns
    ]
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    problems += [Problem(1, c, say("列重复", "column given twice")) for c in twice]
    return columns, problems


def parse_rows(path: Path, rows: Iterable[list[Cell]]) -> Register:
    """Each row as an `Asset`, checked on its own (required cells, id pattern, dates); what
    concerns other rows or the site (duplicate ids, zones, parents) is checked after merging."""
    register = Register(path)
    it = iter(rows)
    try:
        header = next(it)
    except StopIteration:
        register.problems.append(Problem(1, "", say("文件为空，第 1 行应为表头", "empty file")))
        return register
    except csv.Error as exc:
        register.problems.append(Problem(1, "", say(f"CSV 格式错误：{exc}", f"bad CSV: {exc}")))
        return register
    columns, problems = header_columns(header)
    if problems:
        register.problems += problems
        return register
    first: dict[str, int] = {}
    n = 1
    try:
        for n, cells in enumerate(it, start=2):
            if n - 1 > MAX_ROWS:
                register.problems.append(
                    Problem(n, "", say(f"最多 {MAX_ROWS} 行", "too many rows"))
                )
                break
            if not any(_text(c) for c in cells):
                continue
            asset = _asset(n, columns, cells, register.problems)
            if asset is None:
                continue
            if asset.id in first:
                register.problems.append(
                    Problem(
                        n,
                        "id",
                        say(
                            f"编号 {asset.id} 与第 {first[asset.id]} 行重复",
                            f"id {asset.id} is also row {first[asset.id]}",
                        ),
                    )
                )
                continue
            first[asset.id] = n
            register.assets.append(asset)
            register.rows.append(n)
    except csv.Error as exc:
        register.problems.append(Problem(n + 1, "", say(f"CSV 格式错误：{exc}", f"bad CSV: {exc}")))
    return register


def _asset(n: int, columns: list[str], cells: list[Cell], problems: list[Problem]) -> Asset | None:
    extra = [c for c in cells[len(columns) :] if _text(c)]
    if extra:
        problems.append(
            Problem(
                n,
                "",
                say(
                    f"有 {len(columns) + len(extra)} 列，表头只有 {len(columns)} 列",
                    f"more cells than the header's {len(columns)} columns",
                ),
            )
        )
        return None
    values: dict[str, Any] = {}
    bad = False
    for i, column in enumerate(columns):
        cell = cells[i] if i < len(cells) else None
        if not column:
            continue
        if column in DATES:
            value = _date(cell)
            if isinstance(value, str):
                problems.append(
                    Problem(
                        n,
                        column,
                        say(
                            f"日期应为 2024-05-01 这样的年-月-日，而不是「{value}」",
                            f"a date such as 2024-05-01, not {value!r}",
                        ),
                    )
                )
                bad = True
            elif value is not None:
                values[column] = value
            continue
        text = _text(cell)
        if "\x00" in text:
            problems.append(Problem(n, column, say("含有不可保存的字符", "holds a NUL")))
            bad = True
        elif text:
            values[column] = text
    for column in REQUIRED:
        if column not in values:
            problems.append(Problem(n, column, say("必填", "required")))
            bad = True
    if bad:
        return None
    try:
        return Asset.model_validate(values)
    except ValidationError as exc:
        for loc, message in explain(Asset, values, exc.errors()):
            problems.append(Problem(n, str(loc[0]) if loc else "", message))
        return None


def read_register(path: Path, data: bytes | None = None) -> Register:
    """The register at `path` (or its bytes `data`, named `path`), every problem listed."""
    try:
        return parse_rows(path, read_rows(path, data))
    except FileNotFoundError:
        register = Register(path)
        register.problems.append(Problem(1, "", say("文件不存在", "the file does not exist")))
        return register
    except (OSError, ValueError) as exc:
        register = Register(path)
        register.problems.append(Problem(1, "", str(exc)))
        return register


def table(assets: Iterable[Asset]) -> list[list[str]]:
    """Header and one row per asset, as the import reads them back."""
    out = [list(COLUMNS)]
    for a in assets:
        row = []
        for column in COLUMNS:
            value = getattr(a, column)
            row.append(value.isoformat() if isinstance(value, date) else (value or ""))
        out.append(row)
    return out


def to_csv(assets: Iterable[Asset]) -> str:
    """UTF-8 with a BOM, so Excel opens the Chinese names right."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(table(assets))
    return "\ufeff" + buffer.getvalue()


def to_xlsx(assets: Iterable[Asset]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("设备台账")
    rows = table(assets)
    sheet.append([HEADINGS_ZH[c] for c in rows[0]])
    for row in rows[1:]:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
