"""Work orders for the duty room, technicians and the ticket system.

Lifecycle rules live in `maintenance.work_orders.service`; here HTTP meets them: filters,
sorting and cursors for the list, `ETag`/`If-Match` for changes, `external_id` for the ticket
system, and the rule that a technician sees and changes only their own tasks.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import ApiRole
from api.deps import (
    Ctx,
    DbSession,
    Operator,
    Reader,
    RowId,
    Worker,
    audit,
    check_site,
    site_of,
    visible_work_order,
)
from api.models import ExternalRef
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.schemas import (
    AssignIn,
    ChecklistIn,
    CommentIn,
    TransitionIn,
    WorkOrderCreate,
    WorkOrderDetail,
    WorkOrderPage,
)
from api.validation import site_in_body
from api.work_order_list import ListFilter, SortKey, decode_cursor, list_page
from maintenance.plans.service import CheckRecord, record_check
from maintenance.work_orders import service
from maintenance.work_orders.models import Source, Status, WorkOrder, WorkOrderTransition
from propwatch.site import Category, Priority

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"], responses=PROBLEM_RESPONSES)


@router.get(
    "",
    response_model=WorkOrderPage,
    summary="工单列表 (filter, sort, cursor pagination)",
)
async def get_work_orders(
    ctx: Ctx,
    caller: Reader,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[list[Status] | None, Query(description="one or more statuses")] = None,
    priority: Annotated[Priority | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    source: Annotated[Source | None, Query()] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    zone: Annotated[str | None, Query(max_length=64)] = None,
    asset: Annotated[str | None, Query(max_length=64)] = None,
    external_id: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[SortKey, Query(description="order of the list")] = SortKey.NEWEST,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    # async, with the query and the JSON in one trip to the thread pool: a synchronous route
    # and its synchronous dependencies would take a trip each (see `api.work_order_list`)
    if site_id is not None:
        check_site(caller, site_id)
    sites = caller.site_filter()
    wanted = ListFilter(
        site_id=site_id,
        sites=tuple(sites) if sites is not None and site_id is None else None,
        person=(caller.person or "") if caller.role is ApiRole.TECHNICIAN else None,
        statuses=tuple(dict.fromkeys(s.value for s in status or ())),
        priority=priority.value if priority is not None else None,
        category=category.value if category is not None else None,
        source=source.value if source is not None else None,
        assignee=assignee,
        zone=zone,
        asset=asset,
        external_id=external_id,
    )
    after = decode_cursor(cursor, sort) if cursor else None
    body = await run_in_threadpool(list_page, ctx.read_engine(), wanted, sort, after, limit)
    return Response(body, media_type="application/json")


def _external_ids(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(ExternalRef.work_order_id, ExternalRef.external_id).where(
            ExternalRef.work_order_id.in_(ids)
        )
    )
    return {wid: ext for wid, ext in rows}


def etag_of(session: Session, wo: WorkOrder) -> str:
    """Changes with every step, note and reassignment (the audit trail only grows)."""
    steps = session.scalar(select(func.count()).where(WorkOrderTransition.work_order_id == wo.id))
    raw = f"{wo.id}:{wo.status}:{wo.assignee}:{wo.updated_at.isoformat()}:{steps}:{wo.priority}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:20] + '"'


def _detail(session: Session, ctx: Ctx, wo: WorkOrder, response: Response) -> WorkOrderDetail:
    session.flush()
    session.refresh(wo)
    etag = etag_of(session, wo)
    response.headers["ETag"] = etag
    view = service.work_order_view(session, wo, ctx.clock.now())
    ext = _external_ids(session, [wo.id]).get(wo.id)
    return WorkOrderDetail(**view.model_dump(), external_id=ext, etag=etag)


def _precondition(session: Session, wo: WorkOrder, if_match: str | None) -> None:
    if if_match is None:
        return
    current = etag_of(session, wo)
    wanted = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in wanted and current not in wanted:
        raise ApiProblem(
            412,
            f"工单已被他人修改，请刷新后重试 (work order changed; current ETag {current})",
            code="stale_etag",
            headers={"ETag": current},
        )


IfMatch = Annotated[
    str | None,
    Header(description="the ETag last read; a stale one is refused with 412", max_length=200),
]


@router.post(
    "",
    response_model=WorkOrderDetail,
    status_code=status.HTTP_201_CREATED,
    summary="报修: create a work order (ticket system: with external_id)",
    responses={200: {"model": WorkOrderDetail, "description": "already known by external_id"}},
)
def create_work_order(
    body: WorkOrderCreate,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
) -> WorkOrderDetail:
    site = site_in_body(ctx, caller, body.site_id)
    now = ctx.clock.now()
    if body.external_id is not None:
        ref = session.scalar(
            select(ExternalRef).where(
                ExternalRef.site_id == body.site_id, ExternalRef.external_id == body.external_id
            )
        )
        if ref is not None:
            response.status_code = status.HTTP_200_OK
            return _detail(
                session, ctx, service.get_work_order(session, ref.work_order_id), response
            )
        key = f"ticket:{body.site_id}:{body.external_id}"
    else:
        key = f"manual:{body.site_id}:{uuid.uuid4().hex}"
    service.check_references(
        session, site.spec, body.site_id, asset=body.asset, zone=body.zone, assignee=body.assignee
    )
    wo, created = service.create_work_order(
        session,
        site.spec,
        service.NewWorkOrder(
            site_id=body.site_id,
            source=Source.TICKET if body.external_id is not None else Source.MANUAL,
            source_key=key,
            category=body.category,
            priority=body.priority,
            title=body.title,
            reported_at=body.reported_at or now,
            asset_code=body.asset,
            description=body.description,
            assignee=body.assignee,
            zone_code=body.zone,
        ),
        now,
        actor=caller.name,
    )
    if not created:
        # the same external_id sent twice at once: the twin that lost the race on the order's
        # unique source key answers with the winner's order, as a repeat would
        response.status_code = status.HTTP_200_OK
        return _detail(session, ctx, wo, response)
    if body.external_id is not None:
        session.add(
            ExternalRef(site_id=body.site_id, external_id=body.external_id, work_order_id=wo.id)
        )
    response.headers["Location"] = f"/api/v1/work-orders/{wo.id}"
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    return _detail(session, ctx, wo, response)


@router.get(
    "/by-external/{site_id}/{external_id}",
    response_model=WorkOrderDetail,
    summary="find a work order by the ticket system's id",
)
def get_by_external_id(
    site_id: str, external_id: str, response: Response, ctx: Ctx, session: DbSession, caller: Reader
) -> WorkOrderDetail:
    check_site(caller, site_id)
    ref = session.scalar(
        select(ExternalRef).where(
            ExternalRef.site_id == site_id, ExternalRef.external_id == external_id
        )
    )
    if ref is None:
        raise HTTPException(404, f"外部工单 {external_id} 不存在 (unknown external_id)")
    wo = visible_work_order(session, caller, ref.work_order_id)
    return _detail(session, ctx, wo, response)


@router.get("/{work_order_id}", response_model=WorkOrderDetail, summary="工单详情 with ETag")
def get_work_order(
    work_order_id: RowId, response: Response, ctx: Ctx, session: DbSession, caller: Reader
) -> WorkOrderDetail:
    wo = visible_work_order(session, caller, work_order_id)
    return _detail(session, ctx, wo, response)


@router.post(
    "/{work_order_id}/transitions",
    response_model=WorkOrderDetail,
    summary="状态流转: accept, arrive, hold, resume, resolve, verify, close, cancel, reopen",
)
def post_transition(
    work_order_id: RowId,
    body: TransitionIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Worker,
    if_match: IfMatch = None,
) -> WorkOrderDetail:
    wo = visible_work_order(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    site = site_of(ctx, caller, wo.site_id)
    if caller.role is ApiRole.TECHNICIAN and body.assignee not in (None, caller.person):
        raise ApiProblem(403, "维修人员不能派单给他人 (technicians cannot dispatch)")
    service.check_references(session, site.spec, wo.site_id, assignee=body.assignee)
    wo = service.transition(
        session,
        site.spec,
        wo.id,
        body.to,
        actor=caller.person or caller.name,
        now=ctx.clock.now(),
        note=body.note,
        attachments=body.attachments,
        assignee=body.assignee,
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return _detail(session, ctx, wo, response)


@router.post("/{work_order_id}/assign", response_model=WorkOrderDetail, summary="派单 / 改派")
def post_assign(
    work_order_id: RowId,
    body: AssignIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    if_match: IfMatch = None,
) -> WorkOrderDetail:
    wo = visible_work_order(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    site = site_of(ctx, caller, wo.site_id)
    wo = service.reassign(
        session,
        site.spec,
        wo.id,
        body.assignee,
        actor=caller.name,
        now=ctx.clock.now(),
        note=body.note,
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return _detail(session, ctx, wo, response)


@router.post(
    "/{work_order_id}/comments",
    response_model=WorkOrderDetail,
    summary="跟进记录: a note with attachment references, no change of status",
)
def post_comment(
    work_order_id: RowId,
    body: CommentIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Worker,
    if_match: IfMatch = None,
) -> WorkOrderDetail:
    wo = visible_work_order(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    wo = service.annotate(
        session,
        wo.id,
        actor=caller.person or caller.name,
        now=ctx.clock.now(),
        note=body.note,
        attachments=body.attachments,
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return _detail(session, ctx, wo, response)


@router.post(
    "/{work_order_id}/checklist",
    response_model=CheckRecord,
    summary="检查记录: one checklist item (pass/fail or a value); a failure opens a follow-up",
)
def post_checklist(
    work_order_id: RowId,
    body: ChecklistIn,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    caller: Worker,
    if_match: IfMatch = None,
) -> CheckRecord:
    wo = visible_work_order(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    site = site_of(ctx, caller, wo.site_id)
    record = record_check(
        session,
        site,
        wo.id,
        body.item_id,
        by=caller.person or caller.name,
        now=ctx.clock.now(),
        passed=body.passed,
        value=body.value,
        note=body.note,
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return record
