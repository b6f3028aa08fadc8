"""导入备件目录 on SQLite and PostgreSQL: a dry run names each bad row, column and problem and
keeps nothing; a bad file applied keeps nothing either; the corrected file creates exactly its
parts, a second import changes nothing, and the export reads back as unchanged."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from api.deps import AppContext
from maintenance.parts.models import Part, Stock
from tests.api.conftest import Tokens, bearer
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

BASE = "/api/v1/sites/hexie"
HEADER = "code,name,spec,unit,unit_price,store,minimum"
N = 300
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _good_rows() -> list[str]:
    """N parts; every tenth kept in the second store too (a row per store)."""
    rows = []
    for i in range(N):
        unit = ("个", "米", "套")[i % 3]
        rows.append(f"P-{i:04d},备件{i},型号{i},{unit},{i % 50}.{i % 100:02d},main,{i % 7}")
        if i % 10 == 0:
            rows.append(f"P-{i:04d},备件{i},型号{i},{unit},{i % 50}.{i % 100:02d},b2,1.5")
    return rows


def _send(client: TestClient, token: str, text: str, dry_run: bool) -> Any:
    return client.post(
        f"{BASE}/parts/import",
        params={"dry_run": dry_run},
        content=text.encode("utf-8"),
        headers={**bearer(token), "Content-Type": "text/csv"},
    )


def _kept(ctx: AppContext) -> tuple[int, int]:
    with ctx.db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Part)) or 0,
            s.scalar(select(func.count()).select_from(Stock)) or 0,
        )


def test_a_dry_run_names_each_bad_row_and_column_and_keeps_nothing(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    client.post(
        f"{BASE}/stores", json={"code": "b2", "name": "2号楼库房"}, headers=bearer(tokens.duty)
    )
    rows = _good_rows()
    # file rows: the header is 1, so list index i is row i + 2
    rows[3] = "P-0003,备件3,型号3,箱,3.03,main,3"  # unit
    rows[7] = "P-0007,备件7,型号7,个,1.234,main,0"  # unit_price: three decimals
    rows[9] = "P 9,备件9,,个,1,main,0"  # code
    rows[12] = "P-0010,备件10,型号10,个,10.10,b3,1"  # store; P-0010's second row
    rows[20] = "P-0018,,型号18,个,18.18,main,-1"  # name and minimum
    rows.append(rows[0])  # P-0000 in main again
    text = "\n".join([HEADER, *rows]) + "\n"
    before = _kept(ctx)
    r = _send(client, tokens.duty, text, dry_run=True)
    assert r.status_code == 200, r.text
    found = [(p["row"], p["column"]) for p in r.json()["problems"]]
    assert found == [
        (5, "unit"),
        (9, "unit_price"),
        (11, "code"),
        (14, "store"),
        (22, "name"),
        (22, "minimum"),
        (len(rows) + 1, "store"),  # the repeated row
    ]
    problems = {(p["row"], p["column"]): p["problem"] for p in r.json()["problems"]}
    assert problems[(5, "unit")] == "单位应为 个、米 或 套，而不是「箱」"
    assert problems[(14, "store")] == "仓库 b3 不存在"
    assert problems[(len(rows) + 1, "store")] == "与第 2 行重复（同一备件同一仓库）"
    assert _kept(ctx) == before

    applied = _send(client, tokens.duty, text, dry_run=False)
    assert applied.status_code == 422
    locs = [e["loc"] for e in applied.json()["errors"]]
    assert ["body", "5", "unit"] in locs and ["body", "22", "minimum"] in locs
    assert _kept(ctx) == before


def test_the_corrected_file_creates_its_parts_once_and_reads_back_unchanged(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    client.post(
        f"{BASE}/stores", json={"code": "b2", "name": "2号楼库房"}, headers=bearer(tokens.duty)
    )
    rows = _good_rows()
    text = "\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n"  # as Excel saves CSV UTF-8
    second_store = sum(1 for i in range(N) if i % 10 == 0)

    dry = _send(client, tokens.duty, text, dry_run=True).json()
    assert (dry["created"], dry["updated"], dry["problems"]) == (N, 0, [])
    assert _kept(ctx) == (0, 0)

    first = _send(client, tokens.duty, text, dry_run=False).json()
    assert (first["rows"], first["created"], first["updated"], first["unchanged"]) == (
        N + second_store,
        N,
        0,
        0,
    )
    assert _kept(ctx) == (N, N + second_store)
    part = client.get(f"{BASE}/parts/P-0017", headers=bearer(tokens.duty)).json()
    assert (part["unit"], part["unit_price"], part["stores"][0]["minimum"]) == ("套", "17.17", "3")
    ten = client.get(f"{BASE}/parts/P-0010", headers=bearer(tokens.duty)).json()
    assert [(s["store"], s["minimum"]) for s in ten["stores"]] == [("main", "3"), ("b2", "1.5")]

    again = _send(client, tokens.duty, text, dry_run=False).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, N)
    assert _kept(ctx) == (N, N + second_store)

    exported = client.get(f"{BASE}/parts/export", headers=bearer(tokens.integration))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    back = _send(client, tokens.duty, exported.content.decode("utf-8"), dry_run=True).json()
    assert (back["created"], back["updated"], back["unchanged"]) == (0, 0, N)

    changed = text.replace("P-0005,备件5,型号5,套,5.05,main,5", "P-0005,备件5,型号5,套,6.00,main,5")
    assert changed != text
    diff = _send(client, tokens.duty, changed, dry_run=False).json()
    assert (diff["updated"], diff["unchanged"]) == (1, N - 1)
    assert client.get(f"{BASE}/parts/P-0005", headers=bearer(tokens.duty)).json()["unit_price"] == (
        "6.00"
    )


def test_a_file_that_is_not_csv_or_xlsx_is_refused_and_gb18030_is_read(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    json_body = client.post(f"{BASE}/parts/import", json={}, headers=bearer(tokens.duty))
    assert json_body.status_code == 415
    gbk = client.post(
        f"{BASE}/parts/import",
        params={"dry_run": True},
        content=f"{HEADER}\nP-1,灯泡,,个,1,main,0\n".encode("gbk"),  # as Excel in China saves
        headers={**bearer(tokens.duty), "Content-Type": "text/csv"},
    )
    assert (gbk.status_code, gbk.json()["created"], gbk.json()["problems"]) == (200, 1, [])
    garbled = _send_bytes(client, tokens.duty, b"code,name\n\xff\xfe\x80\n", "text/csv", True)
    assert [(p["row"], p["column"]) for p in garbled.json()["problems"]] == [(1, "")]
    not_a_book = _send_bytes(client, tokens.duty, b"PK junk", XLSX, True)
    assert [(p["row"], p["column"]) for p in not_a_book.json()["problems"]] == [(1, "")]
    missing = _send(client, tokens.duty, "code,name\nP-1,灯泡\n", dry_run=True).json()
    assert [(p["row"], p["column"]) for p in missing["problems"]] == [
        (1, "unit"),
        (1, "unit_price"),
    ]
    assert _kept(ctx) == (0, 0)


def _send_bytes(client: TestClient, token: str, body: bytes, media: str, dry_run: bool) -> Any:
    return client.post(
        f"{BASE}/parts/import",
        params={"dry_run": dry_run},
        content=body,
        headers={**bearer(token), "Content-Type": media},
    )


def _workbook(rows: Sequence[Sequence[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_catalogue_with_chinese_headings_imports_and_exports_as_xlsx(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    heading = ["备件编号", "名称", "规格", "单位", "单价", "仓库", "最低库存"]
    bad = _workbook(
        [
            heading,
            ["LB-1", "LED灯泡", "9W", "个", 12.5, "main", 20],  # numbers as Excel keeps them
            ["LB-2", "LED灯管", "", "根", 30, "main", 5],  # row 3: unit
            [1001, "水泵密封圈", "DN50", "个", 8.456, None, None],  # row 4: unit_price
        ]
    )
    r = _send_bytes(client, tokens.duty, bad, XLSX, dry_run=True)
    assert r.status_code == 200, r.text
    assert [(p["row"], p["column"]) for p in r.json()["problems"]] == [
        (3, "unit"),
        (4, "unit_price"),
    ]
    assert _send_bytes(client, tokens.duty, bad, XLSX, dry_run=False).status_code == 422
    assert _kept(ctx) == (0, 0)

    good = _workbook(
        [
            heading,
            ["LB-1", "LED灯泡", "9W", "个", 12.5, "main", 20],
            ["LB-2", "LED灯管", "", "套", 30, "main", 5],
            [1001, "水泵密封圈", "DN50", "个", 8.45, None, 1.5],
        ]
    )
    first = _send_bytes(client, tokens.duty, good, XLSX, dry_run=False).json()
    assert (first["created"], first["problems"]) == (3, [])
    seal = client.get(f"{BASE}/parts/1001", headers=bearer(tokens.duty)).json()
    assert (seal["unit_price"], seal["stores"][0]["minimum"]) == ("8.45", "1.5")
    again = _send_bytes(client, tokens.duty, good, XLSX, dry_run=False).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)

    exported = client.get(
        f"{BASE}/parts/export", params={"format": "xlsx"}, headers=bearer(tokens.integration)
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"] == XLSX
    assert "parts-hexie.xlsx" in exported.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    assert [c.value for c in sheet[1]] == heading
    assert [c.value for c in sheet[2]][:5] == ["1001", "水泵密封圈", "DN50", "个", "8.45"]
    back = _send_bytes(client, tokens.duty, exported.content, XLSX, dry_run=True).json()
    assert (back["created"], back["updated"], back["unchanged"], back["problems"]) == (0, 0, 3, [])
