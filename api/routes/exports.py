"""导出: the work-order list, 日盘点 and 月报 as CSV or XLSX files (`api.exports`).

Each export answers what its JSON request answers, to the same callers: the list's export takes
the list's filters and sort (`api.work_order_filters`) and holds every page, a technician's only
their own tasks; the reports' exports take the reports' parameters and roles. The list streams:
CSV as its pages are read, XLSX once written to a temporary file, so memory stays flat however
many orders there are.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Ctx, DbSession, Operator, site_of
from api.exports.spreadsheet import (
    MEDIA_TYPES,
    ExportFormat,
    Sheet,
    content_disposition,
    csv_chunks,
    file_chunks,
    xlsx_file,
)
from api.exports.tables import local_time, monthly_sheets, stocktake_sheet, work_order_sheet
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.work_order_filters import LIST_PARAMETERS, list_filter
from api.work_order_list import ListFilter, SortKey, every_item
from maintenance.reports import daily_stocktake, monthly_report

router = APIRouter(tags=["exports"], responses=PROBLEM_RESPONSES)

Format = Annotated[ExportFormat, Query(alias="format", description="csv or xlsx")]

FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file, as an attachment with a zh-CN name",
        "content": {
            MEDIA_TYPES[ExportFormat.CSV]: {"schema": {"type": "string"}},
            MEDIA_TYPES[ExportFormat.XLSX]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _download(
    fmt: ExportFormat, name: tuple[str, str], chunks: Iterator[bytes]
) -> StreamingResponse:
    """`name`: the file's zh-CN name and its ASCII twin, without the extension."""
    return StreamingResponse(
        chunks,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": content_disposition(*name, fmt),
            "Cache-Control": "no-store",
        },
    )


def _file(fmt: ExportFormat, name: tuple[str, str], sheets: list[Sheet]) -> StreamingResponse:
    """A report's file (blocking: from a synchronous route, in the thread pool)."""
    chunks = csv_chunks(sheets) if fmt is ExportFormat.CSV else file_chunks(xlsx_file(sheets))
    return _download(fmt, name, chunks)


def _day(t: datetime) -> str:
    return f"{t:%Y-%m-%d}"


@router.get(
    "/api/v1/work-orders/export",
    summary="工单列表导出 (CSV/XLSX): the list's filters and sort, every page",
    response_class=StreamingResponse,
    responses=FILE,
    openapi_extra={"parameters": LIST_PARAMETERS},
)
async def export_work_orders(
    ctx: Ctx,
    wanted: Annotated[ListFilter, Depends(list_filter)],
    fmt: Format = ExportFormat.CSV,
    sort: Annotated[SortKey, Query(description="order of the list")] = SortKey.NEWEST,
) -> StreamingResponse:
    pages = every_item(ctx.read_engine(), wanted, sort)
    sheet = work_order_sheet(pages, ctx.sites)
    now = ctx.clock.now()
    site = ctx.sites.get(wanted.site_id or "")
    day = _day(local_time(now, site.spec.site.tz) if site else now)
    name = (f"工单列表_{day}", f"work-orders_{day}")
    if fmt is ExportFormat.CSV:
        # a synchronous iterator: Starlette reads each chunk (a page's query) in the thread pool
        return _download(fmt, name, csv_chunks([sheet]))
    file = await run_in_threadpool(xlsx_file, [sheet])
    return _download(fmt, name, file_chunks(file))


@router.api_route(
    "/api/v1/work-orders/export",
    methods=["POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def export_other_methods() -> None:
    # a resource of its own: without this, PATCH and DELETE would reach /{work_order_id} and be
    # refused for an id that is not a number instead of for the method
    raise ApiProblem(405, "导出只接受 GET (method not allowed)", headers={"Allow": "GET"})


@router.get(
    "/api/v1/reports/{site_id}/stocktake/export",
    summary="日盘点导出 (CSV/XLSX): the stocktake's items",
    response_class=StreamingResponse,
    responses=FILE,
)
def export_stocktake(
    site_id: str, ctx: Ctx, session: DbSession, caller: Operator, fmt: Format = ExportFormat.CSV
) -> StreamingResponse:
    site = site_of(ctx, caller, site_id)
    report = daily_stocktake(session, site.spec, ctx.clock.now())
    day = _day(local_time(report.at, site.spec.site.tz))
    name = (f"日盘点_{site.spec.site.name}_{day}", f"stocktake_{site_id}_{day}")
    return _file(fmt, name, [stocktake_sheet(report, site.spec)])


@router.get(
    "/api/v1/reports/{site_id}/monthly/export",
    summary="月报导出 (CSV/XLSX): one table per part of the report",
    response_class=StreamingResponse,
    responses=FILE,
)
def export_monthly(
    site_id: str,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    year: Annotated[int, Query(ge=2000, le=2100)],
    month: Annotated[int, Query(ge=1, le=12)],
    fmt: Format = ExportFormat.CSV,
) -> StreamingResponse:
    site = site_of(ctx, caller, site_id)
    report = monthly_report(session, site.spec, year, month, ctx.clock.now())
    name = (f"月报_{site.spec.site.name}_{report.month}", f"monthly_{site_id}_{report.month}")
    return _file(fmt, name, monthly_sheets(report, site.spec))
