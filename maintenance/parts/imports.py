"""导入备件目录: a CSV or XLSX of parts, checked whole (a dry run names each row, column and
problem) and applied only when clean, so a file with one bad row creates nothing. The file is
read as every register is (`propwatch.register_files`: CSV in UTF-8 or GB18030, XLSX's first
sheet, English or Chinese headings).

Columns (a header row, any order): `code`, `name`, `unit`, `unit_price` required (备件编号, 名称,
单位, 单价); `spec`, `store`, `minimum` optional (规格, 仓库, 最低库存). A part kept in several
stores takes one row per store, each repeating the part's own columns. Applying is idempotent: a
row that matches what is kept changes nothing, one that differs updates the part (name, spec,
unit, price) or the store's minimum, and an unknown code is created. Rows count from the header
(row 1), as a spreadsheet numbers them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.parts import service
from maintenance.parts.errors import InvalidParts
from maintenance.parts.models import Part, Unit
from maintenance.parts.quantities import MAX_MILLI, price, quantity, to_fen, to_milli
from propwatch.register_files import (
    Problem,
    RowCells,
    Table,
    header_columns,
    read_rows,
    row_cells,
    to_csv,
    to_xlsx,
)

TABLE = Table(
    title="备件目录",
    columns=("code", "name", "spec", "unit", "unit_price", "store", "minimum"),
    required=("code", "name", "unit", "unit_price"),
    headings_zh={
        "code": "备件编号",
        "name": "名称",
        "spec": "规格",
        "unit": "单位",
        "unit_price": "单价",
        "store": "仓库",
        "minimum": "最低库存",
    },
    aliases={"编号": "code", "编码": "code", "备件名称": "name", "规格型号": "spec"},
)
COLUMNS = TABLE.columns
MAX_ROWS = 20_000
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_LIMITS = {"code": 64, "name": 200, "spec": 200, "store": 64}


@dataclass(frozen=True)
class Row:
    row: int
    code: str
    name: str
    spec: str
    unit: str
    unit_price_fen: int
    store: str
    minimum_milli: int | None


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


def parse(
    path: Path, data: bytes, store_codes: set[str], default_store: str
) -> tuple[list[Row], list[Problem]]:
    """The file's rows (an empty `store` is the default store; `path` names the file, XLSX
    by its suffix), or the problems of every bad cell (both lists may be partial)."""
    problems: list[Problem] = []
    rows: list[Row] = []
    n = 0  # the row last read: a CSV error is in the next
    try:
        reader = read_rows(path, data)
        try:
            header = next(reader)
        except StopIteration:
            return [], [Problem(1, "", "文件为空，第 1 行应为表头")]
        n = 1
        columns, problems = header_columns(TABLE, header)
        if problems:
            return [], problems
        seen: dict[tuple[str, str | None], int] = {}
        first: dict[str, Row] = {}
        for n, cells in enumerate(reader, start=2):
            if n - 1 > MAX_ROWS:
                problems.append(Problem(n, "", f"最多 {MAX_ROWS} 行"))
                break
            cells_of_row = row_cells(n, TABLE, columns, cells, problems)
            if cells_of_row is None:
                continue
            row = _row(cells_of_row, store_codes, default_store)
            if row is None:
                continue
            key = (row.code, row.store)
            if key in seen:
                problems.append(Problem(n, "store", f"与第 {seen[key]} 行重复（同一备件同一仓库）"))
                continue
            seen[key] = n
            earlier = first.setdefault(row.code, row)
            for col in ("name", "spec", "unit", "unit_price_fen"):
                if getattr(row, col) != getattr(earlier, col):
                    column = "unit_price" if col == "unit_price_fen" else col
                    problems.append(Problem(n, column, f"与第 {earlier.row} 行的同一备件不一致"))
            rows.append(row)
    except csv.Error as e:
        problems.append(Problem(n + 1, "", f"CSV 格式错误：{e}"))
    except ValueError as e:  # not UTF-8 or GB18030 text, not a workbook, too large
        problems.append(Problem(1, "", str(e)))
    return rows, problems


def _row(cells: RowCells, stores: set[str], default_store: str) -> Row | None:
    n, problems = cells.row, cells.problems
    values = {c: cells.text(c) or "" for c in COLUMNS}
    before = len(problems)
    for col, limit in _LIMITS.items():
        if len(values[col]) > limit:
            problems.append(Problem(n, col, f"超过 {limit} 个字符"))
    code = values["code"]
    if code and not _CODE.match(code):
        problems.append(Problem(n, "code", "编号只能含字母、数字和 _ . -，且以字母或数字开头"))
    unit = values["unit"]
    if unit and unit not in {u.value for u in Unit}:
        problems.append(Problem(n, "unit", f"单位应为 个、米 或 套，而不是「{unit}」"))
    price_fen = _decimal(values["unit_price"], to_fen)
    if values["unit_price"] and price_fen is None:
        problems.append(Problem(n, "unit_price", "单价应为不超过两位小数的非负数（元）"))
    store = values["store"] or default_store
    if store not in stores:
        problems.append(Problem(n, "store", f"仓库 {store} 不存在"))
    minimum: int | None = None
    if values["minimum"]:
        minimum = _decimal(values["minimum"], to_milli)
        if minimum is None or minimum < 0 or minimum > MAX_MILLI:
            problems.append(Problem(n, "minimum", "最低库存应为不超过三位小数的非负数"))
    if cells.bad or len(problems) > before or price_fen is None:
        return None
    return Row(n, code, values["name"], values["spec"], unit, price_fen, store, minimum)


def _decimal(text: str, convert: Callable[[Decimal], int]) -> int | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    try:
        return convert(value)
    except ValueError:
        return None


def import_parts(
    session: Session, site_id: str, path: Path, data: bytes, *, apply: bool, now: datetime
) -> ImportResult:
    """Check the file (`data`, named `path`); with `apply`, make what it says (InvalidParts
    naming `N.column` for the first problems if any: nothing is kept)."""
    stores = service.list_stores(session, site_id)
    default = next(s.code for s in stores if s.is_default)
    rows, problems = parse(path, data, {s.code for s in stores}, default)
    result = ImportResult(rows=len(rows), problems=problems)
    if problems:
        if apply:
            raise InvalidParts(
                {
                    f"{p.row}.{p.column or 'row'}": (
                        f"第 {p.row} 行 {p.column}：{p.problem}",
                        "bad row",
                    )
                    for p in problems[:100]
                }
            )
        return result
    by_code: dict[str, list[Row]] = {}
    for row in rows:
        by_code.setdefault(row.code, []).append(row)
    known = {
        p.code: p
        for p in session.scalars(
            select(Part).where(Part.site_id == site_id, Part.code.in_(list(by_code)))
        )
    }
    stocks = service.stocks_of(session, [p.id for p in known.values()])
    for code, group in by_code.items():
        head = group[0]
        part = known.get(code)
        if part is None:
            result.created += 1
            if apply:
                service.create_part(
                    session,
                    service.NewPart(
                        site_id=site_id,
                        code=code,
                        name=head.name,
                        spec=head.spec,
                        unit=head.unit,
                        unit_price_fen=head.unit_price_fen,
                        stores=[service.StoreLevel(r.store, r.minimum_milli or 0) for r in group],
                    ),
                    now,
                )
            continue
        kept = {store.code: stock.minimum_milli for stock, store in stocks[part.id]}
        levels = [
            # a store not kept yet is added; a kept one changes only for a minimum given
            service.StoreLevel(r.store, r.minimum_milli or 0)
            for r in group
            if r.store not in kept
            or (r.minimum_milli is not None and kept[r.store] != r.minimum_milli)
        ]
        same = (part.name, part.spec, part.unit, part.unit_price_fen) == (
            head.name,
            head.spec,
            head.unit,
            head.unit_price_fen,
        )
        if same and not levels:
            result.unchanged += 1
            continue
        result.updated += 1
        if apply:
            service.edit_part(
                session,
                part,
                service.PartChanges(
                    name=head.name,
                    spec=head.spec,
                    unit=head.unit,
                    unit_price_fen=head.unit_price_fen,
                    stores=levels,
                ),
                now,
            )
    return result


def export_parts(session: Session, site_id: str, *, xlsx: bool = False) -> bytes:
    """The catalogue as the import reads it, one row per part and store: CSV headed by the
    field names (with a BOM, for Excel), or XLSX headed in Chinese."""
    parts = list(session.scalars(select(Part).where(Part.site_id == site_id).order_by(Part.code)))
    stocks = service.stocks_of(session, [p.id for p in parts])
    rows = [
        {
            "code": p.code,
            "name": p.name,
            "spec": p.spec,
            "unit": p.unit,
            "unit_price": str(price(p.unit_price_fen)),
            "store": store.code,
            "minimum": str(quantity(stock.minimum_milli)),
        }
        for p in parts
        for stock, store in stocks[p.id]
    ]
    return to_xlsx(TABLE, rows) if xlsx else to_csv(TABLE, rows).encode("utf-8")
