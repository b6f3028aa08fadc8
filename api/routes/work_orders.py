"""Work orders for the duty room, technicians and the ticket system.

Lifecycle rules live in `maintenance.work_orders.service`; here HTTP meets them: filters,
sorting and cursors for the list, `ETag`/`If-Match` for changes, `external_id` for the ticket
system, and the rule that a technician sees and changes only their own tasks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, load_only

from api.auth import ApiRole, Principal
from api.deps import Ctx, DbSession, Operator, Reader, RowId, Worker, audit, check_site, site_of
from api.models import ExternalRef
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.schemas import (
    AssignIn,
    ChecklistIn,
    CommentIn,
    TransitionIn,
    WorkOrderCreate,
    WorkOrderDetail,
    WorkOrderOut,
    WorkOrderPage,
)
from maintenance.plans.service import CheckRecord, record_check
from maintenance.registry.models import Asset
from maintenance.work_orders import service
from maintenance.work_orders.models import STATUS_ZH, Source, Status, WorkOrder, WorkOrderTransition
from propwatch.site import PRIORITY_ZH, Category, Priority

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"], responses=PROBLEM_RESPONSES)


class SortKey(StrEnum):
    NEWEST = "-reported_at"
    OLDEST = "reported_at"
    RESOLVE_DUE = "resolve_due"  # only orders with a resolve limit, soonest first
    PRIORITY = "priority"


def to_out(wo: WorkOrder, asset: Asset | None, external_id: str | None = None) -> WorkOrderOut:
    return WorkOrderOut(
        id=wo.id,
        code=wo.code,
        site_id=wo.site_id,
        source=wo.source,
        status=wo.status,
        status_zh=STATUS_ZH[Status(wo.status)],
        asset=asset.code if asset else None,
        asset_name=asset.name if asset else None,
        category=wo.category,
        priority=wo.priority,
        priority_zh=PRIORITY_ZH[Priority(wo.priority)],
        title=wo.title,
        description=wo.description,
        assignee=wo.assignee,
        zone=wo.zone_code,
        reported_at=wo.reported_at,
        respond_due=wo.respond_due,
        arrive_due=wo.arrive_due,
        resolve_due=wo.resolve_due,
        occurrences=wo.occurrences,
        external_id=external_id,
    )


_PRIORITY_RANK = {
    Priority.EMERGENCY.value: 0,
    Priority.IMPORTANT.value: 1,
    Priority.GENERAL.value: 2,
}


_LIST_COLUMNS = (
    WorkOrder.id,
    WorkOrder.code,
    WorkOrder.site_id,
    WorkOrder.source,
    WorkOrder.status,
    WorkOrder.asset_id,
    WorkOrder.category,
    WorkOrder.priority,
    WorkOrder.title,
    WorkOrder.description,
    WorkOrder.assignee,
    WorkOrder.zone_code,
    WorkOrder.reported_at,
    WorkOrder.respond_due,
    WorkOrder.arrive_due,
    WorkOrder.resolve_due,
    WorkOrder.occurrences,
)
"""What a list row shows: the list loads only these (a detail GET loads the rest)."""


def _encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise HTTPException(422, "分页游标无效 (invalid cursor)") from exc
    if not isinstance(values, list) or len(values) != size:
        raise HTTPException(422, "分页游标无效 (invalid cursor)")
    return values


def _keyset(q: Select[WorkOrder], sort: SortKey, cursor: str | None) -> Select[WorkOrder]:
    """Keyset pagination: stable under inserts, cheap at any depth (no OFFSET)."""
    wid = WorkOrder.id
    if sort is SortKey.NEWEST:
        q = q.order_by(WorkOrder.reported_at.desc(), wid.desc())
        if cursor:
            at, last = _decode_cursor(cursor, 2)
            t = _parse_time(at)
            q = q.where(
                or_(WorkOrder.reported_at < t, and_(WorkOrder.reported_at == t, wid < last))
            )
    elif sort is SortKey.OLDEST:
        q = q.order_by(WorkOrder.reported_at, wid)
        if cursor:
            at, last = _decode_cursor(cursor, 2)
            t = _parse_time(at)
            q = q.where(
                or_(WorkOrder.reported_at > t, and_(WorkOrder.reported_at == t, wid > last))
            )
    elif sort is SortKey.RESOLVE_DUE:
        # what is due soonest first; orders without a resolve limit are not in this view
        due = WorkOrder.resolve_due
        q = q.where(due.is_not(None)).order_by(due, wid)
        if cursor:
            at, last = _decode_cursor(cursor, 2)
            t = _parse_time(at)
            q = q.where(or_(due > t, and_(due == t, wid > last)))
    else:
        q = q.order_by(WorkOrder.priority, wid.desc())
        if cursor:
            prio, last = _decode_cursor(cursor, 2)
            if not isinstance(prio, str):
                raise HTTPException(422, "分页游标无效 (invalid cursor)")
            q = q.where(
                or_(WorkOrder.priority > prio, and_(WorkOrder.priority == prio, wid < last))
            )
    return q


def _parse_time(value: Any) -> datetime:
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise HTTPException(422, "分页游标无效 (invalid cursor)") from exc
    if t.tzinfo is None:
        raise HTTPException(422, "分页游标无效 (invalid cursor)")
    return t


def _cursor_for(wo: WorkOrder, sort: SortKey) -> str:
    if sort in (SortKey.NEWEST, SortKey.OLDEST):
        return _encode_cursor([wo.reported_at.isoformat(), wo.id])
    if sort is SortKey.RESOLVE_DUE:
        assert wo.resolve_due is not None
        return _encode_cursor([wo.resolve_due.isoformat(), wo.id])
    return _encode_cursor([wo.priority, wo.id])


@router.get(
    "",
    response_model=WorkOrderPage,
    summary="工单列表 (filter, sort, cursor pagination)",
)
def get_work_orders(
    session: DbSession,
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
    q = select(WorkOrder).options(load_only(*_LIST_COLUMNS, raiseload=True))
    sites = caller.site_filter()
    if site_id is not None:
        check_site(caller, site_id)
        q = q.where(WorkOrder.site_id == site_id)
    elif sites is not None:
        q = q.where(WorkOrder.site_id.in_(sites))
    if caller.role is ApiRole.TECHNICIAN:
        q = q.where(WorkOrder.assignee == (caller.person or ""))
    if status:
        q = q.where(WorkOrder.status.in_([s.value for s in status]))
    if priority is not None:
        q = q.where(WorkOrder.priority == priority.value)
    if category is not None:
        q = q.where(WorkOrder.category == category.value)
    if source is not None:
        q = q.where(WorkOrder.source == source.value)
    if assignee is not None:
        q = q.where(WorkOrder.assignee == assignee)
    if zone is not None:
        q = q.where(WorkOrder.zone_code == zone)
    if asset is not None:
        q = q.where(WorkOrder.asset_id.in_(select(Asset.id).where(Asset.code == asset)))
    if external_id is not None:
        q = q.where(
            WorkOrder.id.in_(
                select(ExternalRef.work_order_id).where(ExternalRef.external_id == external_id)
            )
        )
    orders = list(session.scalars(_keyset(q, sort, cursor).limit(limit + 1)))
    more = len(orders) > limit
    orders = orders[:limit]
    ids = {wo.asset_id for wo in orders if wo.asset_id is not None}
    assets = (
        {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(ids)))} if ids else {}
    )
    refs = _external_ids(session, [wo.id for wo in orders])
    page = WorkOrderPage(
        items=[
            to_out(wo, assets.get(wo.asset_id) if wo.asset_id else None, refs.get(wo.id))
            for wo in orders
        ],
        next_cursor=_cursor_for(orders[-1], sort) if more and orders else None,
    )
    # already validated: serialise once instead of letting FastAPI validate it a second time
    return Response(page.model_dump_json(), media_type="application/json")


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


def _visible(session: Session, caller: Principal, work_order_id: RowId) -> WorkOrder:
    """The order, if this caller may see it: its site, and for technicians their own task."""
    wo = service.get_work_order(session, work_order_id)
    check_site(caller, wo.site_id)
    if caller.role is ApiRole.TECHNICIAN and wo.assignee != caller.person:
        raise ApiProblem(403, "只能查看和处理自己的工单 (not your task)", code="not_your_task")
    return wo


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
    site = site_of(ctx, caller, body.site_id)
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
    wo, _ = service.create_work_order(
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
    wo = _visible(session, caller, ref.work_order_id)
    return _detail(session, ctx, wo, response)


@router.get("/{work_order_id}", response_model=WorkOrderDetail, summary="工单详情 with ETag")
def get_work_order(
    work_order_id: RowId, response: Response, ctx: Ctx, session: DbSession, caller: Reader
) -> WorkOrderDetail:
    wo = _visible(session, caller, work_order_id)
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
    wo = _visible(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    site = site_of(ctx, caller, wo.site_id)
    if caller.role is ApiRole.TECHNICIAN and body.assignee not in (None, caller.person):
        raise ApiProblem(403, "维修人员不能派单给他人 (technicians cannot dispatch)")
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
    wo = _visible(session, caller, work_order_id)
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
    wo = _visible(session, caller, work_order_id)
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
    wo = _visible(session, caller, work_order_id)
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
