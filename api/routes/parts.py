"""备品备件 over HTTP: the catalogue and stores of a site, receipts, adjustments, 盘点, the
movements, and the parts on a work order.

Rules live in `maintenance.parts.service`. The catalogue, stores and stock are the duty room's
(admins too); any reader of the site sees them. Parts on an order follow the order's own rule: a
technician changes only their own tasks; `If-Match` takes the order's `ETag` (412 when stale),
and adding or removing a line gives the order a new one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from api.auth import Principal
from api.deps import AppContext, Ctx, DbSession, Duty, Operator, Reader, RowId, audit, site_of
from api.deps import visible_work_order as _visible
from api.exports.spreadsheet import MEDIA_TYPES, ExportFormat, content_disposition
from api.part_lines import line_views
from api.parts_schemas import (
    AdjustmentIn,
    CountDifference,
    CountIn,
    CountOut,
    ImportOut,
    ImportProblem,
    MovementOut,
    MovementPage,
    PartCreate,
    PartLineIn,
    PartOut,
    PartPage,
    PartPatch,
    ReceiptIn,
    StockOut,
    StoreIn,
    StoreLevelIn,
    StoreOut,
    StorePage,
    WorkOrderParts,
)
from api.problems import PROBLEM, PROBLEM_RESPONSES, ApiProblem, Problem
from api.routes.work_orders import IfMatch, _actor_names, _precondition
from api.routes.work_orders import etag_of as order_etag
from maintenance.costs import service as costs
from maintenance.errors import UnknownReference
from maintenance.parts import imports, service
from maintenance.parts.errors import StoreNotFound
from maintenance.parts.models import MovementKind, Part, PartLine
from maintenance.parts.quantities import price, quantity, text, to_fen, to_milli
from maintenance.work_orders.models import WorkOrder
from propwatch.register_files import XLSX_MEDIA_TYPE
from propwatch.site import Site, SiteFile

router = APIRouter(prefix="/api/v1", tags=["parts"], responses=PROBLEM_RESPONSES)

SiteId = Annotated[str, PathParam(max_length=64)]
PartCode = Annotated[str, PathParam(max_length=64, description="the part's code")]
_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {"model": Problem, "content": {PROBLEM: {}}, "description": "库存不足或状态不允许"},
}


async def _site_reader(site_id: SiteId, ctx: Ctx, caller: Reader) -> tuple[Site, Principal]:
    # a dependency, so another site's token is refused (403) before its body is read
    return site_of(ctx, caller, site_id), caller


async def _site_duty(site_id: SiteId, ctx: Ctx, caller: Duty) -> tuple[Site, Principal]:
    return site_of(ctx, caller, site_id), caller


async def _site_operator(site_id: SiteId, ctx: Ctx, caller: Operator) -> tuple[Site, Principal]:
    return site_of(ctx, caller, site_id), caller


SiteReader = Annotated[tuple[Site, Principal], Depends(_site_reader)]
SiteDuty = Annotated[tuple[Site, Principal], Depends(_site_duty)]
SiteOperator = Annotated[tuple[Site, Principal], Depends(_site_operator)]


def _actor(caller: Principal) -> str:
    return caller.person or caller.name


def _local(at: datetime, spec: SiteFile) -> str:
    t = at.astimezone(spec.site.tz)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def _q(milli: int) -> str:
    return str(quantity(milli))


def _milli(value: Decimal) -> int:
    return to_milli(value)  # the schemas allow three decimals and a range that fits


# -- stores ---------------------------------------------------------------------------------------


@router.get("/sites/{site_id}/stores", response_model=StorePage, summary="仓库列表")
def get_stores(session: DbSession, who: SiteReader) -> StorePage:
    site, _ = who
    rows = service.list_stores(session, site.id)
    return StorePage(items=[StoreOut(code=s.code, name=s.name, default=s.is_default) for s in rows])


@router.post(
    "/sites/{site_id}/stores",
    response_model=StoreOut,
    status_code=201,
    summary="新建仓库 (`default`: make it the site's default store)",
)
def post_store(
    body: StoreIn, request: Request, ctx: Ctx, session: DbSession, who: SiteDuty
) -> StoreOut:
    site, caller = who
    store = service.create_store(
        session, site.id, body.code, body.name, default=body.default, now=ctx.clock.now()
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"store:{site.id}:{store.code}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    return StoreOut(code=store.code, name=store.name, default=store.is_default)


# -- the catalogue --------------------------------------------------------------------------------


def etag_of(part: Part) -> str:
    raw = f"{part.id}:{part.updated_at.isoformat()}:{part.unit_price_fen}:{part.name}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:20] + '"'


def _part_views(session: Session, parts: list[Part]) -> list[PartOut]:
    stocks = service.stocks_of(session, [p.id for p in parts])
    out = []
    for p in parts:
        rows = [
            StockOut(
                store=store.code,
                store_name=store.name,
                on_hand=_q(s.on_hand_milli),
                reserved=_q(s.reserved_milli),
                available=_q(service.available(s)),
                minimum=_q(s.minimum_milli),
                below_minimum=service.available(s) < s.minimum_milli,
            )
            for s, store in stocks[p.id]
        ]
        out.append(
            PartOut(
                code=p.code,
                name=p.name,
                spec=p.spec,
                unit=p.unit,
                unit_price=str(price(p.unit_price_fen)),
                on_hand=_q(sum(s.on_hand_milli for s, _ in stocks[p.id])),
                available=_q(sum(service.available(s) for s, _ in stocks[p.id])),
                below_minimum=any(r.below_minimum for r in rows),
                stores=rows,
                updated_at=p.updated_at,
                etag=etag_of(p),
            )
        )
    return out


def _part_detail(session: Session, part: Part, response: Response) -> PartOut:
    session.flush()
    view = _part_views(session, [part])[0]
    response.headers["ETag"] = view.etag
    return view


def _levels(body: list[StoreLevelIn]) -> list[service.StoreLevel]:
    return [service.StoreLevel(s.store, _milli(s.minimum)) for s in body]


@router.get(
    "/sites/{site_id}/parts",
    response_model=PartPage,
    summary="备件目录: search by name or code, below the minimum, by store",
)
def get_parts(
    session: DbSession,
    who: SiteReader,
    q: Annotated[str | None, Query(max_length=100, description="part of the name or code")] = None,
    below_minimum: Annotated[bool | None, Query(description="低于最低库存 in some store")] = None,
    store: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=64, description="`next_after` of a page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PartPage:
    site, _ = who
    rows = service.list_parts(
        session,
        service.PartFilter(
            site_id=site.id,
            search=q or None,
            below_minimum=below_minimum,
            store=store,
            after=after,
            limit=limit + 1,
        ),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return PartPage(
        items=_part_views(session, rows), next_after=rows[-1].code if more and rows else None
    )


@router.post(
    "/sites/{site_id}/parts",
    response_model=PartOut,
    status_code=201,
    summary="新建备件: code, name, spec, unit, unit price, the stores and their minimums",
)
def post_part(
    body: PartCreate,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteDuty,
) -> PartOut:
    site, caller = who
    part = service.create_part(
        session,
        service.NewPart(
            site_id=site.id,
            code=body.code,
            name=body.name,
            spec=body.spec,
            unit=body.unit.value,
            unit_price_fen=to_fen(body.unit_price),
            stores=_levels(body.stores),
        ),
        ctx.clock.now(),
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"part:{site.id}:{part.code}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    response.headers["Location"] = f"/api/v1/sites/{site.id}/parts/{part.code}"
    return _part_detail(session, part, response)


CSV_MAX_BYTES = 8 * 1024 * 1024
_CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "CSV (UTF-8 or GB18030) or XLSX (its first sheet) with a header row: "
        "code, name, unit, unit_price; spec, store, minimum optional (or the Chinese headings "
        "备件编号, 名称, 单位, 单价, 规格, 仓库, 最低库存); one row per part and store",
        "content": {
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def _table_body(request: Request) -> tuple[Path, bytes]:
    """The file sent, read off the event loop's stream with a size limit (413), and the name
    the register reader knows its kind by."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == XLSX_MEDIA_TYPE:
        name = Path("parts.xlsx")
    elif media in ("text/csv", "text/plain", "application/csv"):
        name = Path("parts.csv")
    else:
        raise ApiProblem(
            415,
            "请以 text/csv 或 XLSX 上传备件表 (send text/csv or XLSX)",
            code="import_media_type",
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > CSV_MAX_BYTES:
            raise ApiProblem(413, "文件超过 8 MB (file too large)", code="import_too_large")
    return name, bytes(body)


@router.post(
    "/sites/{site_id}/parts/import",
    response_model=ImportOut,
    summary="导入备件目录 (CSV/XLSX): `dry_run=true` names each bad row and column; apply is "
    "all or nothing and idempotent",
    openapi_extra=_CSV_BODY,
    responses={
        413: {"model": Problem, "content": {PROBLEM: {}}, "description": "文件过大"},
        415: {"model": Problem, "content": {PROBLEM: {}}, "description": "not CSV or XLSX"},
    },
)
def post_import(
    request: Request,
    ctx: Ctx,
    session: DbSession,
    who: SiteDuty,
    upload: Annotated[tuple[Path, bytes], Depends(_table_body)],
    dry_run: Annotated[bool, Query(description="check only; nothing is kept")] = False,
) -> ImportOut:
    site, caller = who
    name, data = upload
    result = imports.import_parts(
        session, site.id, name, data, apply=not dry_run, now=ctx.clock.now()
    )
    if not dry_run:
        audit(
            session,
            ctx,
            caller,
            request,
            subject=f"parts_import:{site.id}",
            status_code=200,
            detail={"rows": result.rows, "created": result.created, "updated": result.updated},
        )
    return ImportOut(
        dry_run=dry_run,
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        problems=[
            ImportProblem(row=p.row, column=p.column, problem=p.problem) for p in result.problems
        ],
    )


@router.get(
    "/sites/{site_id}/parts/export",
    response_class=Response,
    summary="导出备件目录 (CSV, or XLSX headed in Chinese with `format=xlsx`), as the import "
    "reads it",
    responses={
        200: {
            "content": {
                MEDIA_TYPES[ExportFormat.CSV]: {"schema": {"type": "string"}},
                MEDIA_TYPES[ExportFormat.XLSX]: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
def get_export(
    session: DbSession,
    who: SiteOperator,
    fmt: Annotated[ExportFormat, Query(alias="format", description="csv or xlsx")] = (
        ExportFormat.CSV
    ),
) -> Response:
    site, _ = who
    body = imports.export_parts(session, site.id, xlsx=fmt is ExportFormat.XLSX)
    name = content_disposition(f"备件目录_{site.id}", f"parts-{site.id}", fmt)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": name})


@router.get("/sites/{site_id}/parts/{part_code}", response_model=PartOut, summary="备件详情")
def get_part(
    part_code: PartCode, response: Response, session: DbSession, who: SiteReader
) -> PartOut:
    site, _ = who
    return _part_detail(session, service.get_part(session, site.id, part_code), response)


@router.patch(
    "/sites/{site_id}/parts/{part_code}",
    response_model=PartOut,
    summary="修改备件 (If-Match): name, spec, unit, price, a minimum per store",
    responses={412: {"model": Problem, "content": {PROBLEM: {}}, "description": "ETag 已过期"}},
)
def patch_part(
    part_code: PartCode,
    body: PartPatch,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteDuty,
    if_match: IfMatch = None,
) -> PartOut:
    site, caller = who
    part = service.get_part(session, site.id, part_code, lock=True)
    if if_match is not None:
        current = etag_of(part)
        wanted = {t.strip().removeprefix("W/") for t in if_match.split(",")}
        if "*" not in wanted and current not in wanted:
            raise ApiProblem(
                412,
                f"备件已被他人修改，请刷新后重试 (part changed; current ETag {current})",
                code="stale_etag",
                headers={"ETag": current},
            )
    service.edit_part(
        session,
        part,
        service.PartChanges(
            name=body.name,
            spec=body.spec,
            unit=body.unit.value if body.unit else None,
            unit_price_fen=to_fen(body.unit_price) if body.unit_price is not None else None,
            stores=_levels(body.stores) if body.stores is not None else None,
        ),
        ctx.clock.now(),
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"part:{site.id}:{part.code}",
        status_code=200,
        detail=body.model_dump(mode="json", exclude_unset=True),
    )
    return _part_detail(session, part, response)


# -- movements ------------------------------------------------------------------------------------


def _movement_views(
    session: Session, ctx: AppContext, site: Site, rows: list[service.MovementRow]
) -> list[MovementOut]:
    names = {p.id: p.name for p in site.spec.people}
    actors = _actor_names(session, ctx, names, {r.movement.actor for r in rows})
    out = []
    for r in rows:
        m = r.movement
        out.append(
            MovementOut(
                id=m.id,
                kind=MovementKind(m.kind),
                kind_zh=service.movement_zh(m.kind),
                store=r.store.code,
                store_name=r.store.name,
                quantity=_q(m.quantity_milli),
                on_hand_after=_q(m.on_hand_after_milli),
                reserved_after=_q(m.reserved_after_milli),
                available_after=_q(m.on_hand_after_milli - m.reserved_after_milli),
                work_order_id=m.work_order_id,
                work_order_code=r.work_order_code,
                count_id=m.count_id,
                actor=m.actor,
                actor_name=actors.get(m.actor, m.actor),
                at=m.at,
                at_local=_local(m.at, site.spec),
                note=m.note,
            )
        )
    return out


def _one_movement(
    session: Session, ctx: AppContext, site: Site, part: Part, movement_id: int
) -> MovementOut:
    rows = service.movements_of(session, part, after=movement_id - 1, limit=1)
    return _movement_views(session, ctx, site, rows)[0]


@router.get(
    "/sites/{site_id}/parts/{part_code}/movements",
    response_model=MovementPage,
    summary="库存流水: every receipt, reservation, issue, return, adjustment and count difference",
)
def get_movements(
    part_code: PartCode,
    ctx: Ctx,
    session: DbSession,
    who: SiteOperator,
    store: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MovementPage:
    site, _ = who
    part = service.get_part(session, site.id, part_code)
    rows = service.movements_of(session, part, store=store, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return MovementPage(
        items=_movement_views(session, ctx, site, rows),
        next_after=rows[-1].movement.id if more and rows else None,
    )


@router.post(
    "/sites/{site_id}/parts/{part_code}/receipts",
    response_model=MovementOut,
    status_code=201,
    summary="入库: stock received into a store",
)
def post_receipt(
    part_code: PartCode,
    body: ReceiptIn,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    who: SiteDuty,
) -> MovementOut:
    site, caller = who
    part = service.get_part(session, site.id, part_code)
    store = _store_field(session, ctx, site, body.store)
    moved = service.receive(
        session,
        part,
        store,
        _milli(body.quantity),
        actor=_actor(caller),
        now=ctx.clock.now(),
        note=body.note,
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"part:{site.id}:{part.code}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    return _one_movement(session, ctx, site, part, moved.id)


@router.post(
    "/sites/{site_id}/parts/{part_code}/adjustments",
    response_model=MovementOut,
    status_code=201,
    summary="库存调整: a signed change of on hand with its reason",
)
def post_adjustment(
    part_code: PartCode,
    body: AdjustmentIn,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    who: SiteDuty,
) -> MovementOut:
    site, caller = who
    part = service.get_part(session, site.id, part_code)
    if body.quantity == 0:
        raise UnknownReference({"quantity": ("调整数量不能为 0", "quantity must not be zero")})
    store = _store_field(session, ctx, site, body.store)
    moved = service.adjust(
        session,
        part,
        store,
        _milli(body.quantity),
        reason=body.reason,
        actor=_actor(caller),
        now=ctx.clock.now(),
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"part:{site.id}:{part.code}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    return _one_movement(session, ctx, site, part, moved.id)


def _store_field(session: Session, ctx: AppContext, site: Site, code: str | None) -> str | None:
    """The body's `store`, refused as a field (422) when the site has no such store."""
    try:
        service.store_by_code(session, site.id, code, ctx.clock.now())
    except StoreNotFound:
        raise UnknownReference(
            {"store": (f"仓库 {code} 不存在", f"unknown store {code!r}")}
        ) from None
    return code


# -- 盘点 ------------------------------------------------------------------------------------------


@router.post(
    "/sites/{site_id}/stores/{store_code}/counts",
    response_model=CountOut,
    status_code=201,
    summary="盘点: counted quantities of a store; the differences become count movements",
)
def post_count(
    store_code: Annotated[str, PathParam(max_length=64)],
    body: CountIn,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    who: SiteDuty,
) -> CountOut:
    site, caller = who
    result = service.record_count(
        session,
        site.id,
        store_code,
        [service.Counted(line.part, _milli(line.counted)) for line in body.lines],
        actor=_actor(caller),
        now=ctx.clock.now(),
        note=body.note,
    )
    row = result.count
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"stock_count:{row.id}",
        status_code=201,
        detail={"store": store_code, "lines": len(body.lines), "note": body.note},
    )
    names = {p.id: p.name for p in site.spec.people}
    actors = _actor_names(session, ctx, names, {row.counted_by})
    return CountOut(
        id=row.id,
        store=result.store.code,
        store_name=result.store.name,
        counted_by=row.counted_by,
        counted_by_name=actors.get(row.counted_by, row.counted_by),
        counted_at=row.counted_at,
        counted_local=_local(row.counted_at, site.spec),
        note=row.note,
        lines_counted=len(body.lines),
        differences=[
            CountDifference(
                part=d.part.code,
                part_name=d.part.name,
                unit=d.part.unit,
                book=_q(d.book_milli),
                counted=_q(d.counted_milli),
                difference=_q(d.difference_milli),
            )
            for d in result.differences
        ],
    )


# -- parts on a work order ------------------------------------------------------------------------


def _announce_line(
    session: Session, ctx: AppContext, caller: Principal, wo: WorkOrder, line: PartLine, verb: str
) -> None:
    """A part line added or removed, announced for the pages open on the order."""
    part = service.line_part(session, line)
    amount = f"{text(quantity(line.quantity_milli))} {part.unit}"
    what = f"{verb}备件：{part.name} {amount}"
    costs.announce(session, wo, what=what, actor=_actor(caller), now=ctx.clock.now())


def _parts(session: Session, ctx: AppContext, wo: WorkOrder, response: Response) -> WorkOrderParts:
    session.flush()
    session.refresh(wo)
    response.headers["ETag"] = order_etag(session, wo)
    site = ctx.sites.get(wo.site_id)
    people = {p.id: p.name for p in site.spec.people} if site is not None else {}
    lines, cost = line_views(session, wo.id, lambda by: _actor_names(session, ctx, people, by))
    return WorkOrderParts(
        work_order_id=wo.id, work_order_code=wo.code, lines=lines, parts_cost=cost
    )


@router.get(
    "/work-orders/{work_order_id}/parts",
    response_model=WorkOrderParts,
    summary="工单备件: the lines (reserved, issued, returned) and the parts cost",
)
def get_order_parts(
    work_order_id: RowId, response: Response, ctx: Ctx, session: DbSession, caller: Reader
) -> WorkOrderParts:
    return _parts(session, ctx, _visible(session, caller, work_order_id), response)


@router.post(
    "/work-orders/{work_order_id}/parts",
    response_model=WorkOrderParts,
    status_code=201,
    summary="添加备件 (If-Match): reserves the quantity, or 409 naming what is available",
    responses=_CONFLICT,
)
def post_order_part(
    work_order_id: RowId,
    body: PartLineIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    if_match: IfMatch = None,
) -> WorkOrderParts:
    wo = _visible(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    session.refresh(wo, with_for_update=True)  # a completion waits for this line, or it for it
    line = service.add_line(
        session,
        wo,
        body.part,
        body.store,
        _milli(body.quantity),
        actor=_actor(caller),
        now=ctx.clock.now(),
        note=body.note,
    )
    _announce_line(session, ctx, caller, wo, line, "添加")
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=201,
        detail={**body.model_dump(mode="json"), "line": line.id},
    )
    response.headers["Location"] = f"/api/v1/work-orders/{wo.id}/parts"
    return _parts(session, ctx, wo, response)


@router.delete(
    "/work-orders/{work_order_id}/parts/{line_id}",
    response_model=WorkOrderParts,
    summary="移除备件 (If-Match) before 完成: the reservation is given back",
    responses=_CONFLICT,
)
def delete_order_part(
    work_order_id: RowId,
    line_id: RowId,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    if_match: IfMatch = None,
) -> WorkOrderParts:
    wo = _visible(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    session.refresh(wo, with_for_update=True)
    line = service.remove_line(session, wo, line_id, actor=_actor(caller), now=ctx.clock.now())
    _announce_line(session, ctx, caller, wo, line, "移除")
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=200,
        detail={"line": line_id},
    )
    return _parts(session, ctx, wo, response)
