"""登记表: the spreadsheets a property already keeps (设备台账, 维保单位, 维保合同, 保养计划,
备件目录), read and written one way.

A register is a header row and one row per item, saved from Excel as CSV (UTF-8 with or without
a BOM, or GB18030 as Excel in China saves it) or kept as XLSX (the first sheet). Headers may be
the English field names or the usual Chinese headings. Every problem names the row as the
spreadsheet numbers it (the header is row 1) and the column, so a dry run can list them all and
a spreadsheet user can find each one; what concerns other rows or the site (duplicate ids
against the site file, unknown zones) is checked after the loader merges the rows.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from propwatch.config_errors import explain
from propwatch.messages import say

MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_DATETIME = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T](\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?)?$"
)
_LIST = re.compile(r"[;；、,，\n]")
_YES = {"是", "启用", "true", "yes", "y", "1"}
_NO = {"否", "停用", "false", "no", "n", "0"}
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Cell = str | int | float | date | datetime | None
Loc = tuple[str | int, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One bad cell (or row, column empty; or the file, row 1)."""

    row: int
    column: str
    problem: str


@dataclass(frozen=True)
class Table:
    """A register's layout: its columns (field names, in the order exported), those required,
    the Chinese heading each is exported under and the other headings read as it."""

    title: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    headings_zh: Mapping[str, str]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def column_of(self, heading: str) -> str:
        for column, zh in self.headings_zh.items():
            if heading == zh:
                return column
        return self.aliases.get(heading, heading.lower())


@dataclass
class Register(Generic[T]):
    """A register's items in file order, the row each came from, and what is wrong."""

    path: Path
    items: list[T] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def formatted(self) -> list[str]:
        """`file:row: column: problem`, the site file's own `file:line: field: message`."""
        return [where(self.path, p.row, p.column) + p.problem for p in self.problems]


def where(path: Path, row: int, column: str) -> str:
    return f"{path}:{row}: {column}: " if column else f"{path}:{row}: "


def read_rows(path: Path, data: bytes | None = None) -> Iterator[list[Cell]]:
    """The table's rows, header first: a CSV (UTF-8, with or without BOM; GB18030 as Excel
    in China saves it) or the first sheet of an XLSX workbook (by the name's suffix)."""
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


def text_of(value: Cell) -> str:
    """A cell as text: an integer-valued number without `.0`, an XLSX date as 2024-05-01."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def date_of(value: Cell) -> date | str | None:
    """A date from a cell (an XLSX date, 2024-05-01, 2024/5/1, 2024年5月1日); the text when
    it is none of those; None when empty."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = text_of(value)
    if not text:
        return None
    m = _DATE.match(text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    return text


def datetime_of(value: Cell) -> datetime | str | None:
    """A local time from a cell (an XLSX date or time cell, 2026-01-05 08:30, 2026/1/5, a date
    alone being its midnight); the text when it is none of those; None when empty."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = text_of(value)
    if not text:
        return None
    m = _DATETIME.match(text)
    if m:
        try:
            y, mo, d, h, mi, sec = (int(m[i] or 0) for i in range(1, 7))
            return datetime(y, mo, d, h, mi, sec)
        except ValueError:
            pass
    return text


def header_columns(table: Table, header: list[Cell]) -> tuple[list[str], list[Problem]]:
    """The field each header cell names (empty for an empty cell), or what is wrong with it."""
    names = [text_of(h) for h in header]
    columns = [table.column_of(n) if n else "" for n in names]
    known = "、".join(table.columns)
    problems = [
        Problem(
            1, n, say(f"未知列（可用：{known}）", f"unknown column ({', '.join(table.columns)})")
        )
        for n, c in zip(names, columns, strict=True)
        if c and c not in table.columns
    ]
    problems += [
        Problem(1, c, say("缺少必填列", "required column missing"))
        for c in table.required
        if c not in columns
    ]
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    problems += [Problem(1, c, say("列重复", "column given twice")) for c in twice]
    return columns, problems


class RowCells:
    """One row's non-empty cells by column and the conversions a register needs of them, each
    refusal noted as a problem at this row and column (`bad` then tells the row is refused)."""

    def __init__(self, row: int, cells: dict[str, Cell], problems: list[Problem]) -> None:
        self.row = row
        self.cells = cells
        self.problems = problems
        self.bad = False

    def complain(self, column: str, zh: str, en: str) -> None:
        self.problems.append(Problem(self.row, column, say(zh, en)))
        self.bad = True

    def text(self, column: str) -> str | None:
        return text_of(self.cells[column]) if column in self.cells else None

    def date(self, column: str) -> date | None:
        value = date_of(self.cells.get(column))
        if isinstance(value, str):
            self.complain(
                column,
                f"日期应为 2024-05-01 这样的年-月-日，而不是「{value}」",
                f"a date such as 2024-05-01, not {value!r}",
            )
            return None
        return value

    def datetime(self, column: str) -> datetime | None:
        value = datetime_of(self.cells.get(column))
        if isinstance(value, str):
            self.complain(
                column,
                f"时间应为 2026-01-05 08:30 这样的当地时间，而不是「{value}」",
                f"a local time such as 2026-01-05 08:30, not {value!r}",
            )
            return None
        return value

    def items(self, column: str) -> list[str] | None:
        """Several values in one cell, separated by ；、，or a new line (or ASCII ; and ,)."""
        text = self.text(column)
        if text is None:
            return None
        return [part.strip() for part in _LIST.split(text) if part.strip()]

    def flag(self, column: str) -> bool | None:
        text = self.text(column)
        if text is None:
            return None
        if text.lower() in _YES:
            return True
        if text.lower() in _NO:
            return False
        self.complain(column, f"应为 是 或 否，而不是「{text}」", f"yes or no, not {text!r}")
        return None

    def choice(self, column: str, names_zh: Mapping[Any, str]) -> str | None:
        """A value given by its code or its Chinese name (`names_zh`: code to name)."""
        text = self.text(column)
        if text is None:
            return None
        for code, zh in names_zh.items():
            if text in (str(code), zh):
                return str(code)
        self.complain(
            column,
            f"「{text}」不是可选的值；可选："
            + "、".join(f"{zh}（{code}）" for code, zh in names_zh.items()),
            f"{text!r} is not one of "
            + ", ".join(f"{code} ({zh})" for code, zh in names_zh.items()),
        )
        return None


def read_table(
    path: Path,
    rows: Iterable[list[Cell]],
    table: Table,
    build: Callable[[RowCells], T | None],
    key: Callable[[T], str],
) -> Register[T]:
    """Each row through `build` (None: refused, its problems noted), checked on its own; ids
    (`key`) once in the file."""
    register: Register[T] = Register(path)
    problems = register.problems
    it = iter(rows)
    try:
        header = next(it)
    except StopIteration:
        problems.append(Problem(1, "", say("文件为空，第 1 行应为表头", "empty file")))
        return register
    except csv.Error as exc:
        problems.append(Problem(1, "", say(f"CSV 格式错误：{exc}", f"bad CSV: {exc}")))
        return register
    columns, header_problems = header_columns(table, header)
    if header_problems:
        problems += header_problems
        return register
    first: dict[str, int] = {}
    n = 1
    try:
        for n, cells in enumerate(it, start=2):
            if n - 1 > MAX_ROWS:
                problems.append(Problem(n, "", say(f"最多 {MAX_ROWS} 行", "too many rows")))
                break
            row = row_cells(n, table, columns, cells, problems)
            if row is None:
                continue
            item = build(row)
            if item is None or row.bad:
                continue
            code = key(item)
            if code in first:
                problems.append(
                    Problem(
                        n,
                        "id",
                        say(
                            f"编号 {code} 与第 {first[code]} 行重复",
                            f"id {code} is also row {first[code]}",
                        ),
                    )
                )
                continue
            first[code] = n
            register.items.append(item)
            register.rows.append(n)
    except csv.Error as exc:
        problems.append(Problem(n + 1, "", say(f"CSV 格式错误：{exc}", f"bad CSV: {exc}")))
    return register


def row_cells(
    n: int, table: Table, columns: list[str], cells: list[Cell], problems: list[Problem]
) -> RowCells | None:
    """The row's non-empty cells (refused when a cell holds a NUL or a required one is empty),
    or None for an empty row and one with more cells than the header."""
    if not any(text_of(c) for c in cells):
        return None
    extra = [c for c in cells[len(columns) :] if text_of(c)]
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
    values: dict[str, Cell] = {}
    bad = False
    for column, cell in zip(columns, cells, strict=False):
        value = cell.strip() if isinstance(cell, str) else cell
        if not column or text_of(value) == "":
            continue
        if "\x00" in text_of(value):
            problems.append(Problem(n, column, say("含有不可保存的字符", "holds a NUL")))
            bad = True
            continue
        values[column] = value
    for column in table.required:
        if column not in values:
            problems.append(Problem(n, column, say("必填", "required")))
            bad = True
    row = RowCells(n, values, problems)
    row.bad = bad  # the row's other cells are still checked, so one pass lists them all
    return row


M = TypeVar("M", bound=BaseModel)


def validated(
    model: type[M], row: RowCells, data: dict[str, Any], column: Callable[[Loc, Any], str]
) -> M | None:
    """`data` as `model`, each schema error at the column `column` names for its location. A
    row with cells already refused is still checked, for the problems of its other columns."""
    refused = {p.column for p in row.problems if p.row == row.row} if row.bad else set()
    try:
        item = model.model_validate(data)
    except ValidationError as exc:
        # a refused cell is left out of `data`: its being missing is no news
        errors = [e for e in exc.errors() if not (row.bad and e["type"] == "missing")]
        for loc, message in explain(model, data, errors):
            if column(loc, data) not in refused:
                row.problems.append(Problem(row.row, column(loc, data), message))
        return None
    return None if row.bad else item


def read_register(
    path: Path, data: bytes | None, parse: Callable[[Path, Iterable[list[Cell]]], Register[T]]
) -> Register[T]:
    """The register at `path` (or its bytes `data`, named `path`), every problem listed."""
    try:
        return parse(path, read_rows(path, data))
    except FileNotFoundError:
        register: Register[T] = Register(path)
        register.problems.append(Problem(1, "", say("文件不存在", "the file does not exist")))
        return register
    except (OSError, ValueError) as exc:
        register = Register(path)
        register.problems.append(Problem(1, "", str(exc)))
        return register


def to_csv(table: Table, rows: Iterable[Mapping[str, str]], *, zh: bool = False) -> str:
    """UTF-8 with a BOM, so Excel opens the Chinese names right; headed by the field names
    (or, with `zh`, the Chinese headings)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([table.headings_zh[c] if zh else c for c in table.columns])
    writer.writerows([row.get(c, "") for c in table.columns] for row in rows)
    return "\ufeff" + buffer.getvalue()


def to_xlsx(table: Table, rows: Iterable[Mapping[str, str]]) -> bytes:
    """One sheet headed in Chinese; every cell a string cell (text starting with `=` stays text,
    as the import reads it back)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.title)
    sheet.append([table.headings_zh[c] for c in table.columns])
    for row in rows:
        cells = []
        for column in table.columns:
            cell = WriteOnlyCell(sheet)
            cell.value = row.get(column, "")
            cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_atomic(path: Path, body: bytes) -> None:
    """Whole or not at all: a service rescanning meanwhile reads the old file or the new."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)


Item = TypeVar("Item", bound=BaseModel)


@dataclass(frozen=True)
class RegisterKind(Generic[Item]):
    """One register beside the site file, as the loader, the import and the CLI use it: the
    site file's section its rows join, the field naming its file, how a row becomes an item and
    an item a row, and which column a location inside an item (`("assets", 0)` of a contract)
    is in; `data` there is the item, or the row's data when the schema refused it."""

    section: str
    file_field: str
    noun_zh: str
    noun_en: str
    table: Table
    model: type[Item]
    build: Callable[[RowCells], Item | None]
    cells: Callable[[Item], dict[str, str]]
    column: Callable[[Loc, Any], str]

    def parse(self, path: Path, rows: Iterable[list[Cell]]) -> Register[Item]:
        return read_table(
            path, rows, self.table, self.build, lambda item: str(attrgetter("id")(item))
        )

    def read(self, path: Path, data: bytes | None = None) -> Register[Item]:
        return read_register(path, data, self.parse)

    def encode(self, items: Iterable[Item], path: Path | None, *, zh: bool) -> bytes:
        """The items as the file `path` names: XLSX by its suffix, else (or with no path) CSV."""
        rows = [self.cells(item) for item in items]
        if path is not None and path.suffix.lower() == ".xlsx":
            return to_xlsx(self.table, rows)
        return to_csv(self.table, rows, zh=zh).encode("utf-8")


def first_field(loc: Loc, data: Any) -> str:
    """The column of a register whose columns are the model's own fields."""
    return str(loc[0]) if loc else ""
