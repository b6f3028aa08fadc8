"""Work orders for the duty room, technicians and the ticket system.

Lifecycle rules live in `maintenance.work_orders.service`; here HTTP meets them: filters,
sorting and cursors for the list, `ETag`/`If-Match` for changes, `external_id` for the ticket
system, and the rule that a technician sees and changes only their own tasks.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import work_order_bulk as bulk
from api.auth import ApiRole, Principal
from api.cost_views import order_summary, summary
from api.deps import (
    AppContext,
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
from api.models import ApiToken, ExternalRef
from api.part_lines import line_views
from api.problems import PROBLEM, PROBLEM_RESPONSES, ApiProblem, Problem
from api.schemas import (
    AssignIn,
    ChecklistIn,
    CommentIn,
    LinkedAlarm,
    LinkedPlan,
    TransitionIn,
    WorkOrderCreate,
    WorkOrderDetail,
    WorkOrderPage,
)
from api.validation import site_in_body
from api.work_order_filters import LIST_PARAMETERS, list_filter
from api.work_order_list import ListFilter, SortKey, decode_cursor, list_page
from api.work_order_schemas import (
    AssigneeCandidate,
    AssigneeSuggestions,
    BulkResult,
    BulkRow,
    CommentOut,
    CommentPage,
    WorkOrderPatch,
)
from maintenance.alarms.models import Alarm
from maintenance.alarms.states import RECONCILIATION
from maintenance.assignment import reassign_candidates
from maintenance.costs.service import OrderCost
from maintenance.parts.quantities import price
from maintenance.plans.service import PLAN_ACTOR, CheckRecord, record_check
from maintenance.work_orders import comments, revisits, service
from maintenance.work_orders.changes import EDITABLE, FieldChange, change_work_order
from maintenance.work_orders.fields import needs_photo
from maintenance.work_orders.models import (
    OPEN_STATUSES,
    Source,
    Step,
    WorkOrder,
    WorkOrderTransition,
)

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"], responses=PROBLEM_RESPONSES)


@router.get(
    "",
    response_model=WorkOrderPage,
    summary="工单列表 (filter, sort, cursor pagination)",
    openapi_extra={"parameters": LIST_PARAMETERS},
)
async def get_work_orders(
    ctx: Ctx,
    wanted: Annotated[ListFilter, Depends(list_filter)],
    sort: Annotated[SortKey, Query(description="order of the list")] = SortKey.NEWEST,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    # async, with the query and the JSON in one trip to the thread pool: a synchronous route
    # and its synchronous dependencies would take a trip each (see `api.work_order_list`)
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


def etag_of(session: Session, wo: WorkOrder, steps: int | None = None) -> str:
    """Changes with every step, note and reassignment (the audit trail only grows). `steps`:
    the number of its transitions when the caller holds them all (saves the count)."""
    if steps is None:
        steps = session.scalar(
            select(func.count()).where(WorkOrderTransition.work_order_id == wo.id)
        )
    raw = f"{wo.id}:{wo.status}:{wo.assignee}:{wo.updated_at.isoformat()}:{steps}:{wo.priority}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:20] + '"'


SYSTEM_ACTOR_ZH = {
    service.SYSTEM: "系统",
    PLAN_ACTOR: "保养计划",
    "gateway": "网关",
    RECONCILIATION: "状态核对",
    "resident": "住户",  # 扫码报修 and the tracking link (maintenance.residents)
}
"""Who did a step when it was not a person."""

TOKEN_ROLE_ZH = {
    ApiRole.DUTY.value: "值班员",
    ApiRole.ADMIN.value: "管理员",
    ApiRole.INTEGRATION.value: "工单系统",
    ApiRole.TECHNICIAN.value: "维修人员",
    ApiRole.SERVICE.value: "客服",
}


def _actor_names(
    session: Session, ctx: AppContext, people: dict[str, str], actors: set[str]
) -> dict[str, str]:
    """What the pages show for each actor of the history: a person's name; for a token, its
    person's name or its role in words; for the system, the part of it that acted."""
    names = {a: people[a] for a in actors if a in people}
    names |= {a: SYSTEM_ACTOR_ZH[a] for a in actors - names.keys() if a in SYSTEM_ACTOR_ZH}
    for actor in actors - names.keys():
        known = ctx.tokens.named(actor)
        if known is not None:
            names[actor] = people.get(known.person or "") or TOKEN_ROLE_ZH[known.role.value]
    rest = actors - names.keys()
    if rest:
        for name, role, person in session.execute(
            select(ApiToken.name, ApiToken.role, ApiToken.person).where(ApiToken.name.in_(rest))
        ):
            names[name] = people.get(person or "") or TOKEN_ROLE_ZH.get(role, name)
    return names


def _linked_alarm(session: Session, wo: WorkOrder) -> LinkedAlarm | None:
    alarm = session.scalars(
        select(Alarm).where(Alarm.work_order_id == wo.id).order_by(Alarm.raised_at.desc()).limit(1)
    ).first()
    if alarm is None:
        return None
    return LinkedAlarm(
        id=alarm.id,
        message=alarm.message or alarm.alarm_type,
        severity=alarm.severity,
        raised_at=alarm.raised_at,
        cleared_at=alarm.cleared_at,
    )


def _linked_plan(wo: WorkOrder) -> LinkedPlan | None:
    plan_id = wo.details.get("plan_id") if isinstance(wo.details, dict) else None
    if not isinstance(plan_id, str):
        return None
    due = wo.details.get("due_at")
    return LinkedPlan(
        id=plan_id,
        name=str(wo.details.get("plan_name") or plan_id),
        due_at=datetime.fromisoformat(due) if isinstance(due, str) else None,
    )


def _detail(
    session: Session,
    ctx: Ctx,
    wo: WorkOrder,
    response: Response,
    *,
    new: bool = False,
    external_id: str | None = None,
) -> WorkOrderDetail:
    """The order as `WorkOrderDetail`, its ETag set on `response`. `new`: created by this
    request, with `external_id` if it has one; nothing can point at it yet (no alarm, external
    reference, part line or revisit other than its own), so those queries are skipped, and its
    row is as this session wrote it (only its steps are read back)."""
    session.flush()
    if new:
        session.expire(wo, ["transitions"])
    else:
        session.refresh(wo)  # its relationships too: `wo.transitions` is read afresh, all of them
    view = service.work_order_view(session, wo, ctx.clock.now())
    etag = etag_of(session, wo, steps=len(view.transitions))
    response.headers["ETag"] = etag
    ext = external_id if new else _external_ids(session, [wo.id]).get(wo.id)
    site = ctx.sites.get(wo.site_id)
    people = {p.id: p.name for p in site.spec.people} if site is not None else {}
    alarm = None if new else _linked_alarm(session, wo)
    parts, parts_cost = (
        ([], str(price(0)))
        if new
        else line_views(session, wo.id, lambda by: _actor_names(session, ctx, people, by))
    )
    revisited = [] if new else revisits.revisits_of(session, wo.id, site.spec if site else None)
    actors = {t.actor for t in view.transitions} | {r.by for r in revisited}
    names = _actor_names(session, ctx, people, actors)
    revisited = [r.model_copy(update={"by_name": names.get(r.by)}) for r in revisited]
    costs = None
    if site is not None and new:
        costs = summary(site.spec, OrderCost(wo.id))  # nothing spent on a new order yet
    elif site is not None:
        costs = order_summary(session, site.spec, wo)
    return WorkOrderDetail(
        **view.model_dump(),
        external_id=ext,
        etag=etag,
        assignee_name=people.get(wo.assignee or ""),
        actor_names=names,
        revisits=revisited,
        alarm=alarm,
        plan=_linked_plan(wo),
        photo_required=site is not None
        and needs_photo(site.spec.work_orders, wo.category, wo.details or {}),
        parts=parts,
        parts_cost=parts_cost,
        costs=costs,
    )


def _precondition(session: Session, wo: WorkOrder, if_match: str | None) -> None:
    """412 unless `If-Match` names the current ETag. The row is locked first, so the version
    compared is the one the change applies to: of two changes sent with one ETag, one wins."""
    if if_match is None:
        return
    session.refresh(wo, with_for_update=True)
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


def create_from_body(
    session: Session,
    ctx: AppContext,
    caller: Principal,
    body: WorkOrderCreate,
    row_key: str | None = None,
) -> tuple[WorkOrder, bool]:
    """The order a create body makes, or the one it already made: by `external_id` (per site)
    or by a bulk row's `row_key` (per token). Returns (order, created)."""
    site = site_in_body(ctx, caller, body.site_id)
    now = ctx.clock.now()
    if body.external_id is not None:
        ref = session.scalar(
            select(ExternalRef).where(
                ExternalRef.site_id == body.site_id, ExternalRef.external_id == body.external_id
            )
        )
        if ref is not None:
            return service.get_work_order(session, ref.work_order_id), False
        key = f"ticket:{body.site_id}:{body.external_id}"
    elif row_key is not None:
        key = f"bulk:{body.site_id}:{caller.name}:{row_key}"
    else:
        key = f"manual:{body.site_id}:{uuid.uuid4().hex}"  # new: nothing can have it yet
    if not key.startswith("manual:"):
        known = session.scalar(select(WorkOrder).where(WorkOrder.source_key == key))
        if known is not None:
            return known, False
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
            location=body.location,
            tags=body.tags,
            custom_fields={k: v for k, v in body.custom_fields.items() if v is not None},
        ),
        now,
        actor=caller.name,
    )
    # not created: the same external_id (or row key) sent twice at once; the twin that lost the
    # race on the order's unique source key answers with the winner's order, as a repeat would
    if created and body.external_id is not None:
        session.add(
            ExternalRef(site_id=body.site_id, external_id=body.external_id, work_order_id=wo.id)
        )
    return wo, created


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
    wo, created = create_from_body(session, ctx, caller, body)
    if not created:
        response.status_code = status.HTTP_200_OK
        return _detail(session, ctx, wo, response)
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
    return _detail(session, ctx, wo, response, new=True, external_id=body.external_id)


def _line_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of one NDJSON line (OpenAPI 3.2's `itemSchema`, as an extension of 3.1),
    referring to the document's own components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # Category, Priority, Problem: in the components already
    return schema


@router.post(
    "/bulk",
    response_class=Response,
    summary="批量报修: NDJSON, one create body a line (each with external_id or key); "
    "the answer is one NDJSON result line per row",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "one `BulkRow` JSON object per line, at most 1,000 lines",
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string", "format": "binary"},
                    "x-item-schema": _line_schema(BulkRow),
                }
            },
        }
    },
    responses={
        200: {
            "description": "one `BulkResult` JSON object per non-empty request line, in order",
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "x-item-schema": _line_schema(BulkResult),
                }
            },
        },
        413: {"model": Problem, "content": {PROBLEM: {}}, "description": "more than 1,000 rows"},
        415: {"model": Problem, "content": {PROBLEM: {}}, "description": "not NDJSON"},
    },
)
async def post_bulk(request: Request, ctx: Ctx, caller: Operator) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in bulk.MEDIA_TYPES:
        raise ApiProblem(
            415,
            "批量报修的内容须为 NDJSON，每行一个 JSON 对象 (send application/x-ndjson)",
            code="bulk_media_type",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > bulk.MAX_BYTES:
        raise _bulk_too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > bulk.MAX_BYTES:
            raise _bulk_too_large()
    lines = bytes(body).split(b"\n")
    if sum(1 for line in lines if line.strip()) > bulk.MAX_ROWS:
        raise _bulk_too_large()
    answer = await run_in_threadpool(
        bulk.create_rows, ctx, caller, lines, request.url.path, create_from_body
    )
    return Response(answer, media_type="application/x-ndjson")


@router.api_route(
    "/bulk", methods=["GET", "PUT", "PATCH", "DELETE", "HEAD"], include_in_schema=False
)
async def bulk_other_methods() -> Response:
    # a resource of its own: without this, PATCH and GET would reach /{work_order_id} and be
    # refused for an id that is not a number instead of for the method
    raise ApiProblem(405, "批量报修只接受 POST (method not allowed)", headers={"Allow": "POST"})


def _bulk_too_large() -> ApiProblem:
    return ApiProblem(
        413,
        f"一次最多 {bulk.MAX_ROWS} 行、{bulk.MAX_BYTES // (1024 * 1024)} MB，请分批发送 "
        "(too many rows; send them in parts)",
        code="bulk_too_large",
    )


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
    summary="状态流转: accept, arrive, hold, resume, resolve, verify, close, revisit (with the "
    "scores), cancel, reopen",
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
    if caller.role is ApiRole.TECHNICIAN and body.revisit is not None:
        raise ApiProblem(
            403,
            "回访评价由客服记录，维修人员不能为自己的工作评分 (customer service scores a revisit)",
        )
    service.check_references(session, site.spec, wo.site_id, assignee=body.assignee)
    scores = (
        revisits.RevisitScores(
            response=body.revisit.response,
            quality=body.revisit.quality,
            attitude=body.revisit.attitude,
            via=body.revisit.via,
            comment=body.revisit.comment,
        )
        if body.revisit is not None
        else None
    )
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
        revisit=scores,
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
        actor=caller.person or caller.name,
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


@router.get(
    "/{work_order_id}/assignee-suggestions",
    response_model=AssigneeSuggestions,
    summary="改派建议: the zone's technicians and the one on duty, least open orders first",
)
def get_assignee_suggestions(
    work_order_id: RowId, ctx: Ctx, session: DbSession, caller: Operator
) -> AssigneeSuggestions:
    wo = visible_work_order(session, caller, work_order_id)
    site = site_of(ctx, caller, wo.site_id)
    loads = {
        person: count
        for person, count in session.execute(
            select(WorkOrder.assignee, func.count())
            .where(
                WorkOrder.site_id == wo.site_id,
                WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
                WorkOrder.assignee.is_not(None),
            )
            .group_by(WorkOrder.assignee)
        )
        if person is not None
    }
    found = reassign_candidates(
        site.spec, wo.zone_code, ctx.clock.now(), loads, current=wo.assignee
    )
    names = {p.id: p.name for p in site.spec.people}
    candidates = [
        AssigneeCandidate(
            person=c.person,
            name=names.get(c.person, c.person),
            open_orders=c.open_orders,
            zone_technician=c.zone_technician,
            on_duty=c.on_duty,
            current=c.person == wo.assignee,
        )
        for c in found
    ]
    best = next((c for c in candidates if not c.current), None)
    return AssigneeSuggestions(
        zone=wo.zone_code, suggested=best.person if best else None, candidates=candidates
    )


PRECONDITION_REQUIRED: dict[int | str, dict[str, Any]] = {
    428: {
        "model": Problem,
        "content": {PROBLEM: {}},
        "description": "需要 If-Match: send the ETag last read, or * (precondition required)",
    }
}


def _relink(session: Session, wo: WorkOrder, external_id: str | None) -> FieldChange | None:
    """Point the ticket system's id at this order (None: unlink it); a change to audit, if any.

    An order made by a ticket has the id in its source key too; the key follows, so a create
    with the old id makes a new order and one with the new id finds this one."""
    ref = session.scalar(select(ExternalRef).where(ExternalRef.work_order_id == wo.id))
    before = ref.external_id if ref is not None else None
    if before == external_id:
        return None
    if external_id is not None:
        taken = session.scalar(
            select(ExternalRef.work_order_id).where(
                ExternalRef.site_id == wo.site_id, ExternalRef.external_id == external_id
            )
        )
        if taken is not None:
            raise _external_id_taken(external_id, taken)
    if wo.source_key == f"ticket:{wo.site_id}:{before}":
        wo.source_key = (
            f"ticket:{wo.site_id}:{external_id}"
            if external_id is not None
            else f"unlinked:{wo.site_id}:{before}:{wo.id}"
        )
    try:
        with session.begin_nested():
            if ref is not None and external_id is None:
                session.delete(ref)
            elif ref is not None and external_id is not None:
                ref.external_id = external_id
            elif external_id is not None:
                session.add(
                    ExternalRef(site_id=wo.site_id, external_id=external_id, work_order_id=wo.id)
                )
            session.flush()
    except IntegrityError as exc:  # another order took it at the same moment
        raise _external_id_taken(external_id or "", None) from exc
    return FieldChange("external_id", before, external_id)


def _external_id_taken(external_id: str, other: int | None) -> ApiProblem:
    which = f" (work order {other})" if other is not None else ""
    return ApiProblem(
        409,
        f"外部工单号 {external_id} 已属于另一张工单{which} (external_id already in use)",
        code="external_id_taken",
    )


@router.patch(
    "/{work_order_id}",
    response_model=WorkOrderDetail,
    summary="修改工单: title, description, priority, asset, zone, location, external_id, tags, "
    "custom fields (If-Match required)",
    responses=PRECONDITION_REQUIRED,
)
def patch_work_order(
    work_order_id: RowId,
    body: WorkOrderPatch,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    if_match: Annotated[
        str | None,
        Header(
            description="required: the ETag last read (412 when stale), or * to overwrite",
            max_length=200,
        ),
    ] = None,
) -> WorkOrderDetail:
    wo = visible_work_order(session, caller, work_order_id)
    if if_match is None:
        raise ApiProblem(
            428,
            "修改工单需要 If-Match（上次读取的 ETag，或 *）(If-Match required)",
            code="precondition_required",
        )
    _precondition(session, wo, if_match)
    site = site_of(ctx, caller, wo.site_id)
    sent = body.model_fields_set
    for name in ("title", "description", "priority", "tags", "custom_fields"):
        if name in sent and getattr(body, name) is None:
            raise RequestValidationError(
                [{"type": "none_forbidden", "loc": ("body", name), "msg": "不能为 null (not null)"}]
            )
    edits = {name: getattr(body, name) for name in sent if name in EDITABLE}
    also = []
    if "external_id" in sent:
        relinked = _relink(session, wo, body.external_id)
        also = [relinked] if relinked is not None else []
    wo, changes = change_work_order(
        session, site.spec, wo.id, edits, actor=caller.name, now=ctx.clock.now(), also=also
    )
    if changes:
        audit(
            session,
            ctx,
            caller,
            request,
            subject=f"work_order:{wo.id}",
            status_code=200,
            detail=body.model_dump(mode="json", exclude_unset=True),
        )
    return _detail(session, ctx, wo, response)


def _comment(ctx: AppContext, step: WorkOrderTransition) -> CommentOut:
    site = ctx.sites.get(step.work_order.site_id)
    people = {p.id: p.name for p in site.spec.people} if site is not None else {}
    return CommentOut(
        id=step.id,
        work_order_id=step.work_order_id,
        author=step.actor,
        author_name=people.get(step.actor),
        at=step.at,
        text=step.note,
        attachments=list(step.attachments),
    )


@router.get(
    "/{work_order_id}/comments",
    response_model=CommentPage,
    summary="跟进记录: every comment of the order, oldest first",
)
def get_comments(work_order_id: RowId, ctx: Ctx, session: DbSession, caller: Reader) -> CommentPage:
    wo = visible_work_order(session, caller, work_order_id)
    return CommentPage(items=[_comment(ctx, c) for c in comments.comments_of(session, wo.id)])


@router.get(
    "/{work_order_id}/comments/{comment_id}",
    response_model=CommentOut,
    summary="one comment",
)
def get_comment(
    work_order_id: RowId, comment_id: RowId, ctx: Ctx, session: DbSession, caller: Reader
) -> CommentOut:
    wo = visible_work_order(session, caller, work_order_id)
    step = session.get(WorkOrderTransition, comment_id)
    if step is None or step.work_order_id != wo.id or step.to_status != Step.NOTE:
        raise ApiProblem(404, f"跟进记录 {comment_id} 不存在 (comment not found)")
    return _comment(ctx, step)


@router.post(
    "/{work_order_id}/comments",
    response_model=CommentOut,
    status_code=status.HTTP_201_CREATED,
    summary="跟进记录: a comment with attachment references, no change of status",
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
) -> CommentOut:
    wo = visible_work_order(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    step = comments.add_comment(
        session,
        wo.id,
        actor=caller.person or caller.name,
        now=ctx.clock.now(),
        text=body.text,
        attachments=body.attachments,
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    response.headers["Location"] = f"/api/v1/work-orders/{wo.id}/comments/{step.id}"
    response.headers["ETag"] = etag_of(session, wo)
    return _comment(ctx, step)


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
        not_applicable=body.not_applicable,
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
