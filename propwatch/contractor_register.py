"""维保单位与维保合同登记表: the site file's `contractors` and `contracts` as two tables beside it
(`contractors_file:`, `contracts_file:`), for a property whose contractors and contracts are
kept in Excel by the engineering department.

Two files rather than one workbook of two sheets: CSV holds one table, and a CSV saved from Excel
must do as well as an XLSX. A contract is one flat row: its assets in one cell (ids separated by
；、 or ,) and its response terms as nine columns, respond / arrive / resolve for each priority
(紧急响应, 紧急到场, 紧急完成, 重要…, 一般…); a term a contract leaves empty keeps the site's limit.
Terms by category (`category:` other than `*`) have no column and stay in the site file.
"""

from __future__ import annotations

from typing import Any

from propwatch.contractors import Contract, Contractor
from propwatch.durations import limit_text
from propwatch.messages import say
from propwatch.register_files import (
    Loc,
    RegisterKind,
    RowCells,
    Table,
    first_field,
    validated,
)

PRIORITIES = {"emergency": "紧急", "important": "重要", "general": "一般"}
LIMITS = {"respond": "响应", "arrive": "到场", "resolve": "完成"}
TERM_COLUMNS = tuple(f"{p}_{k}" for p in PRIORITIES for k in LIMITS)

CONTRACTOR_TABLE = Table(
    title="维保单位",
    columns=("id", "name", "licence_no", "licence_expiry", "contact", "phone"),
    required=("id", "name", "licence_no", "licence_expiry"),
    headings_zh={
        "id": "编号",
        "name": "名称",
        "licence_no": "许可证编号",
        "licence_expiry": "许可证到期",
        "contact": "联系人",
        "phone": "电话",
    },
    aliases={
        "单位编号": "id",
        "单位名称": "name",
        "维保单位": "name",
        "资质编号": "licence_no",
        "许可证有效期": "licence_expiry",
        "联系电话": "phone",
    },
)

CONTRACT_TABLE = Table(
    title="维保合同",
    columns=(
        "id",
        "contractor",
        "name",
        "assets",
        "start",
        "end",
        "technician",
        *TERM_COLUMNS,
    ),
    required=("id", "contractor", "assets", "start", "end"),
    headings_zh={
        "id": "合同编号",
        "contractor": "维保单位",
        "name": "合同名称",
        "assets": "设备",
        "start": "开始",
        "end": "结束",
        "technician": "维保人员",
        **{f"{p}_{k}": f"{pz}{kz}" for p, pz in PRIORITIES.items() for k, kz in LIMITS.items()},
    },
    aliases={
        "编号": "id",
        "名称": "name",
        "维保设备": "assets",
        "开始日期": "start",
        "结束日期": "end",
    },
)


def _contractor(row: RowCells) -> Contractor | None:
    data: dict[str, Any] = {}
    for column in CONTRACTOR_TABLE.columns:
        value: object = row.date(column) if column == "licence_expiry" else row.text(column)
        if value is not None:
            data[column] = value
    return validated(Contractor, row, data, first_field)


def _contractor_cells(c: Contractor) -> dict[str, str]:
    return {**c.model_dump(), "licence_expiry": c.licence_expiry.isoformat()}


def _contract(row: RowCells) -> Contract | None:
    data: dict[str, Any] = {}
    for column in ("id", "contractor", "name", "technician"):
        if (text := row.text(column)) is not None:
            data[column] = text
    data["assets"] = row.items("assets") or []
    for column in ("start", "end"):
        if (day := row.date(column)) is not None:
            data[column] = day
    terms = []
    for priority in PRIORITIES:
        term = {k: row.text(f"{priority}_{k}") for k in LIMITS}
        if any(v is not None for v in term.values()):
            terms.append({"priority": priority, **{k: v for k, v in term.items() if v}})
    data["response"] = terms
    return validated(Contract, row, data, _contract_column)


def _contract_column(loc: Loc, data: Any) -> str:
    """`response[k].arrive` is the column of term k's priority (`emergency_arrive`); a
    contract refused as a whole (its end before its start) is at `end`."""
    if not loc:
        return "end"
    if loc[0] == "response" and len(loc) >= 2 and isinstance(loc[1], int):
        terms = data.response if isinstance(data, Contract) else data.get("response", [])
        term = terms[loc[1]]
        priority = term.priority if not isinstance(term, dict) else term.get("priority")
        return f"{priority}_{loc[2] if len(loc) > 2 else 'respond'}"
    return str(loc[0])


def _contract_cells(c: Contract) -> dict[str, str]:
    out = {
        "id": c.id,
        "contractor": c.contractor,
        "name": c.name,
        "assets": "、".join(c.assets),
        "start": c.start.isoformat(),
        "end": c.end.isoformat(),
        "technician": c.technician or "",
    }
    for term in c.response:
        if term.category != "*" or f"{term.priority}_respond" in out:
            raise ValueError(
                say(
                    f"合同 {c.id} 有按类别或重复优先级的响应时限，表格写不下，请在站点文件中维护",
                    f"contract {c.id} has response terms by category or a priority twice, "
                    "which the table cannot hold; keep it in the site file",
                )
            )
        for k in LIMITS:
            value = getattr(term, k)
            out[f"{term.priority}_{k}"] = limit_text(value) if value is not None else ""
    return out


CONTRACTORS: RegisterKind[Contractor] = RegisterKind(
    section="contractors",
    file_field="contractors_file",
    noun_zh="维保单位登记表",
    noun_en="contractor register",
    table=CONTRACTOR_TABLE,
    model=Contractor,
    build=_contractor,
    cells=_contractor_cells,
    column=lambda loc, _data: str(loc[0]) if loc else "id",
)
CONTRACTS: RegisterKind[Contract] = RegisterKind(
    section="contracts",
    file_field="contracts_file",
    noun_zh="维保合同登记表",
    noun_en="contract register",
    table=CONTRACT_TABLE,
    model=Contract,
    build=_contract,
    cells=_contract_cells,
    column=_contract_column,
)
