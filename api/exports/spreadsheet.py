"""导出: tables as CSV or XLSX files for the duty room's spreadsheets.

A `Sheet` is a title, zh-CN headers and rows of plain cells; times arrive already in the site's
local time (naive). CSV is UTF-8 with a byte-order mark (so Excel on a zh-CN desktop reads the
Chinese), one table as header and rows, several tables one after another, each under a row with
its title and followed by an empty row. XLSX has a sheet per table, times as real date cells
shown as 2026年12月1日 14:05, and is written by openpyxl's write-only workbook, which keeps only
the current row in memory.

Text is exported as text: a CSV cell starting with `=`, `+`, `-` or `@` gets a leading `'` so
a spreadsheet does not run it as a formula (OWASP's CSV injection advice), and an XLSX cell is
always a string cell, whatever it starts with. Control characters XLSX cannot hold are dropped.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import IO, Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Font

Cell = str | int | float | datetime | None
Row = Sequence[Cell]


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

XLSX_TIME = 'yyyy"年"m"月"d"日" hh:mm'
XLSX_MAX_TEXT = 32_767  # characters of one cell
XLSX_MAX_ROWS = 1_048_576  # rows of one sheet
_XLSX_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 64 * 1024


@dataclass
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Iterable[Row]  # may be a generator: each row is read once


def local_time_text(t: datetime) -> str:
    """2026年12月1日 14:05: how the pages write a local time, with the year a file needs."""
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"


def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_time_text(value)
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)


def csv_chunks(sheets: Iterable[Sheet]) -> Iterator[bytes]:
    """The CSV file in chunks of about `CHUNK` bytes, rows read as they are written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    listed = list(sheets)
    titled = len(listed) > 1
    for i, sheet in enumerate(listed):
        if titled:
            if i:
                writer.writerow([])
            writer.writerow([sheet.title])
        writer.writerow(sheet.headers)
        for row in sheet.rows:
            writer.writerow([_csv_text(v) for v in row])
            if buffer.tell() >= CHUNK:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _sheet_title(title: str, taken: set[str]) -> str:
    """A valid, unique sheet name: at most 31 characters, none of []:*?/\\ ."""
    name = re.sub(r"[\[\]:*?/\\]", "·", title)[:31] or "表"
    base, n = name, 2
    while name in taken:
        suffix = f"（{n}）"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


def _xlsx_cell(ws: Any, value: Cell) -> Any:
    """A plain value where openpyxl writes it as it is (cheaper: it reuses one cell), a styled
    cell for a time, a string cell for text openpyxl would take for a formula or an error."""
    if isinstance(value, str):
        if _XLSX_ILLEGAL.search(value):
            value = _XLSX_ILLEGAL.sub("", value)
        value = value[:XLSX_MAX_TEXT]
        if value.startswith("=") or value in ERROR_CODES:
            cell = WriteOnlyCell(ws)
            cell.value = value
            cell.data_type = "s"
            return cell
        return value
    if isinstance(value, datetime):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = XLSX_TIME
        return cell
    return value


def xlsx_file(sheets: Iterable[Sheet], max_rows: int = XLSX_MAX_ROWS) -> IO[bytes]:
    """The XLSX file in a temporary file, positioned at its start (blocking: run it in a thread).
    The caller closes it, which deletes it. A table longer than a sheet holds (`max_rows` with
    its header) goes on in sheets of the same headers, named 工单列表（2）, 工单列表（3）…"""
    book = Workbook(write_only=True)
    taken: set[str] = set()
    bold = Font(bold=True)

    def new_sheet(sheet: Sheet) -> Any:
        ws = book.create_sheet(_sheet_title(sheet.title, taken))
        header = []
        for name in sheet.headers:
            cell = WriteOnlyCell(ws, value=name)
            cell.font = bold
            header.append(cell)
        ws.append(header)
        return ws

    for sheet in sheets:
        ws, rows = new_sheet(sheet), 1
        for row in sheet.rows:
            if rows == max_rows:
                ws, rows = new_sheet(sheet), 1
            ws.append([_xlsx_cell(ws, value) for value in row])
            rows += 1
    # handed to the response, which closes it when the last chunk is sent
    out = tempfile.TemporaryFile(prefix="propwatch-export-", suffix=".xlsx")  # noqa: SIM115
    try:
        book.save(out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    """A file's bytes in chunks, closing (and so deleting) it at the end or when abandoned."""
    with file:
        while chunk := file.read(CHUNK):
            yield chunk


def content_disposition(stem: str, ascii_stem: str, fmt: ExportFormat) -> str:
    """`attachment` with the zh-CN file name (RFC 6266/5987) and an ASCII one for old clients."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_stem).strip("-") or "export"
    name = f"{stem}.{fmt.value}"
    return f"attachment; filename=\"{plain}.{fmt.value}\"; filename*=UTF-8''{quote(name)}"
