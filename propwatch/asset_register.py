"""设备台账: the asset register as a table (CSV or XLSX) beside the site file.

A property's existing register is a spreadsheet of hundreds or thousands of rows; written into
the site file's `assets:` it would drown the rest. The site file names it (`assets_file:`) and
the loader merges its rows after the file's own assets, so the site file stays the one source
the registry, the gateway and the API read. Reading, problems and writing are the registers'
common ones (`propwatch.register_files`).

Headers may be the English field names or the usual Chinese ones (编号, 名称, 类型, 片区, …).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from propwatch.register_files import RegisterKind, RowCells, Table, first_field, validated
from propwatch.site import Asset

TABLE = Table(
    title="设备台账",
    columns=(
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
    ),
    required=("id", "name", "kind", "zone"),
    headings_zh={
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
    },
    aliases={
        "设备编号": "id",
        "资产编号": "id",
        "设备名称": "name",
        "资产名称": "name",
        "设备类型": "kind",
        "安装位置": "location",
        "质保到期": "warranty_end",
        "上级设备": "parent",
        "所属设备": "parent",
    },
)
COLUMNS = TABLE.columns
DATES = ("install_date", "warranty_end")


def _asset(row: RowCells) -> Asset | None:
    data: dict[str, Any] = {}
    for column in TABLE.columns:
        value: object = row.date(column) if column in DATES else row.text(column)
        if value is not None:
            data[column] = value
    return validated(Asset, row, data, first_field)


def _cells(asset: Asset) -> dict[str, str]:
    out = {}
    for column in TABLE.columns:
        value = getattr(asset, column)
        out[column] = value.isoformat() if isinstance(value, date) else (value or "")
    return out


ASSETS: RegisterKind[Asset] = RegisterKind(
    section="assets",
    file_field="assets_file",
    noun_zh="设备台账",
    noun_en="asset register",
    table=TABLE,
    model=Asset,
    build=_asset,
    cells=_cells,
    column=lambda loc, _data: str(loc[0]) if loc else "id",
)
