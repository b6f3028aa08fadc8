"""费用 of a work order over HTTP: labour entries, extra costs, 有偿维修, and the whole cost.

Rules live in `maintenance.costs`. The routes follow the order's own: any reader of the order
sees its costs; a technician records labour and extras on their own tasks, labour for
themselves only; the quote to the resident is the duty room's (or the ticket system's).
`If-Match` takes the order's `ETag` (412 when stale) and every change gives the order a new one
and is announced (`work_order.costs_changed`), so the pages open on the order follow it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from api.auth import ApiRole, Principal
from api.cost_schemas import (
    ExtraCostIn,
    ExtraCostOut,
    ExtraCostPatch,
    LabourEntryIn,
    LabourEntryOut,
    LabourEntryPatch,
    OnSiteOut,
    PaidRepairIn,
    PersonLabourOut,
    WorkOrderCosts,
)
from api.cost_views import summary
from api.deps import AppContext, Ctx, DbSession, Operator, Reader, RowId, audit
from api.deps import visible_work_order as _visible
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.routes.work_orders import IfMatch, _actor_names, _precondition
from api.routes.work_orders import etag_of as order_etag
from maintenance.costs import service
from maintenance.costs.models import ExtraCost
from maintenance.costs.report import yuan
from maintenance.errors import UnknownReference
from maintenance.work_orders.models import WorkOrder
from propwatch.site import SiteFile

router = APIRouter(prefix="/api/v1", tags=["costs"], responses=PROBLEM_RESPONSES)


class LabourRefused(UnknownReference):
    code = "invalid_labour"


def _spec(ctx: AppContext, wo: WorkOrder) -> SiteFile:
    return ctx.sites[wo.site_id].spec


def _actor(caller: Principal) -> str:
    return caller.person or caller.name


def _name(ctx: AppContext, wo: WorkOrder, person: str) -> str:
    return next((p.name for p in _spec(ctx, wo).people if p.id == person), person)


def _fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _costs(session: Session, ctx: AppContext, wo: WorkOrder, response: Response) -> WorkOrderCosts:
    session.flush()
    session.refresh(wo)
    response.headers["ETag"] = order_etag(session, wo)
    spec = _spec(ctx, wo)
    names = {p.id: p.name for p in spec.people}
    cost = service.order_cost(session, spec, wo)
    entries = service.labour_of(session, wo.id)
    extras = service.extras_of(session, wo.id)
    rates = {p.person: yuan(p.rate_fen) for p in cost.labour}
    on_site_fen, entry_fen = service.row_costs_fen(cost, entries)
    actors = _actor_names(
        session, ctx, names, {e.created_by for e in entries} | {x.created_by for x in extras}
    )
    return WorkOrderCosts(
        **summary(spec, cost).model_dump(),
        work_order_id=wo.id,
        work_order_code=wo.code,
        labour=[
            PersonLabourOut(
                person=p.person,
                person_name=names.get(p.person),
                rate=yuan(p.rate_fen),
                on_site_minutes=round(p.on_site_seconds / 60, 1),
                manual_minutes=p.manual_minutes,
                cost=yuan(p.cost_fen),
            )
            for p in cost.labour
        ],
        on_site=[
            OnSiteOut(
                person=s.person,
                person_name=names.get(s.person),
                arrived_at=s.arrived_at,
                left_at=s.left_at,
                work_date=s.arrived_at.astimezone(spec.site.tz).date(),
                minutes=round(s.seconds / 60, 1),
                rate=rates[s.person],
                cost=yuan(fen),
            )
            for s, fen in zip(cost.stretches, on_site_fen, strict=True)
        ],
        entries=[
            LabourEntryOut(
                id=e.id,
                person=e.person,
                person_name=names.get(e.person),
                minutes=e.minutes,
                work_date=e.work_date,
                note=e.note,
                rate=rates[e.person],
                cost=yuan(fen),
                created_by=e.created_by,
                created_by_name=actors.get(e.created_by, e.created_by),
                created_at=e.created_at,
            )
            for e, fen in zip(entries, entry_fen, strict=True)
        ],
        extras=[
            ExtraCostOut(
                id=x.id,
                description=x.description,
                amount=yuan(x.amount_fen),
                created_by=x.created_by,
                created_by_name=actors.get(x.created_by, x.created_by),
                created_at=x.created_at,
            )
            for x in extras
        ],
    )


def _locked(
    session: Session, caller: Principal, work_order_id: int, if_match: str | None
) -> WorkOrder:
    wo = _visible(session, caller, work_order_id)
    _precondition(session, wo, if_match)
    session.refresh(wo, with_for_update=True)  # one change to the order's costs at a time
    return wo


def _changed(
    session: Session,
    ctx: Ctx,
    caller: Principal,
    request: Request,
    wo: WorkOrder,
    response: Response,
    detail: dict[str, Any],
    what: str,
    created: bool = False,
) -> WorkOrderCosts:
    """A change to the order's costs audited and announced (`what` it was, in words), and the
    costs as they are now (with `Location` for a new entry)."""
    service.announce(session, wo, what=what, actor=_actor(caller), now=ctx.clock.now())
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=201 if created else 200,
        detail=detail,
    )
    if created:
        response.headers["Location"] = f"/api/v1/work-orders/{wo.id}/costs"
    return _costs(session, ctx, wo, response)


def _own_entry(caller: Principal, person: str) -> None:
    if caller.role is ApiRole.TECHNICIAN and person != caller.person:
        raise ApiProblem(403, "只能登记自己的工时 (not your labour)", code="not_your_labour")


@router.get(
    "/work-orders/{work_order_id}/costs",
    response_model=WorkOrderCosts,
    summary="工单费用: labour (time on site and entries) + parts + extras, and 有偿维修",
)
def get_costs(
    work_order_id: RowId, response: Response, ctx: Ctx, session: DbSession, caller: Reader
) -> WorkOrderCosts:
    return _costs(session, ctx, _visible(session, caller, work_order_id), response)


@router.post(
    "/work-orders/{work_order_id}/labour",
    response_model=WorkOrderCosts,
    status_code=201,
    summary="登记工时 (If-Match): minutes a person worked on the order on a day",
)
def post_labour(
    work_order_id: RowId,
    body: LabourEntryIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    if_match: IfMatch = None,
) -> WorkOrderCosts:
    wo = _locked(session, caller, work_order_id, if_match)
    person = body.person or caller.person
    if person is None:
        raise LabourRefused({"person": ("请填写作业人员", "person is required")})
    _own_entry(caller, person)
    row = service.add_labour(
        session,
        _spec(ctx, wo),
        wo,
        person=person,
        minutes=body.minutes,
        work_date=body.work_date,
        note=body.note,
        actor=_actor(caller),
        now=ctx.clock.now(),
    )
    return _changed(
        session,
        ctx,
        caller,
        request,
        wo,
        response,
        {**body.model_dump(mode="json"), "person": person, "labour": row.id},
        f"登记工时：{_name(ctx, wo, person)} {body.minutes} 分钟",
        created=True,
    )


@router.patch(
    "/work-orders/{work_order_id}/labour/{entry_id}",
    response_model=WorkOrderCosts,
    summary="修改工时 (If-Match)",
)
def patch_labour(
    work_order_id: RowId,
    entry_id: RowId,
    body: LabourEntryPatch,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    if_match: IfMatch = None,
) -> WorkOrderCosts:
    wo = _locked(session, caller, work_order_id, if_match)
    row = service.labour_entry(session, wo, entry_id)
    _own_entry(caller, row.person)
    now = ctx.clock.now()
    given = body.model_dump(exclude_unset=True)
    for name in ("minutes", "work_date", "note"):
        value = given.get(name)
        if value is not None:
            setattr(row, name, value)
    row.updated_at = now
    service.touch(wo, now)
    return _changed(
        session,
        ctx,
        caller,
        request,
        wo,
        response,
        {**body.model_dump(mode="json", exclude_unset=True), "labour": row.id},
        f"修改工时：{_name(ctx, wo, row.person)} {row.minutes} 分钟",
    )


@router.delete(
    "/work-orders/{work_order_id}/labour/{entry_id}",
    response_model=WorkOrderCosts,
    summary="删除工时 (If-Match)",
)
def delete_labour(
    work_order_id: RowId,
    entry_id: RowId,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    if_match: IfMatch = None,
) -> WorkOrderCosts:
    wo = _locked(session, caller, work_order_id, if_match)
    row = service.labour_entry(session, wo, entry_id)
    _own_entry(caller, row.person)
    session.delete(row)
    service.touch(wo, ctx.clock.now())
    return _changed(
        session,
        ctx,
        caller,
        request,
        wo,
        response,
        {"labour": entry_id, "person": row.person, "minutes": row.minutes},
        f"删除工时：{_name(ctx, wo, row.person)} {row.minutes} 分钟",
    )


@router.post(
    "/work-orders/{work_order_id}/extra-costs",
    response_model=WorkOrderCosts,
    status_code=201,
    summary="其他费用 (If-Match): a cost beyond labour and parts",
)
def post_extra(
    work_order_id: RowId,
    body: ExtraCostIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    if_match: IfMatch = None,
) -> WorkOrderCosts:
    wo = _locked(session, caller, work_order_id, if_match)
    now = ctx.clock.now()
    row = ExtraCost(
        work_order_id=wo.id,
        description=body.description,
        amount_fen=_fen(body.amount),
        created_by=_actor(caller),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    service.touch(wo, now)
    session.flush()
    return _changed(
        session,
        ctx,
        caller,
        request,
        wo,
        response,
        {**body.model_dump(mode="json"), "extra": row.id},
        f"其他费用：{row.description} {yuan(row.amount_fen)} 元",
        created=True,
    )


@router.patch(
    "/work-orders/{work_order_id}/extra-costs/{extra_id}",
    response_model=WorkOrderCosts,
    summary="修改其他费用 (If-Match)",
)
def patch_extra(
    work_order_id: RowId,
    extra_id: RowId,
    body: ExtraCostPatch,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    if_match: IfMatch = None,
) -> WorkOrderCosts:
    wo = _locked(session, caller, work_order_id, if_match)
    row = service.extra_cost(session, wo, extra_id)
    now = ctx.clock.now()
    if body.description is not None:
        row.description = body.description
    if body.amount is not None:
        row.amount_fen = _fen(body.amount)
    row.updated_at = now
    service.touch(wo, now)
    return _changed(
        session,
        ctx,
        caller,
        request,
        wo,
        response,
        {**body.model_dump(mode="json", exclude_unset=True), "extra": row.id},
        f"修改其他费用：{row.description} {yuan(row.amount_fen)} 元",
    )


@router.delete(
    "/work-orders/{work_order_id}/extra-costs/{extra_id}",
    response_model=WorkOrderCosts,
    summary="删除其他费用 (If-Match)",
)
def delete_extra(
    work_order_id: RowId,
    extra_id: RowId,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    if_match: IfMatch = None,
) -> WorkOrderCosts:
    wo = _locked(session, caller, work_order_id, if_match)
    row = service.extra_cost(session, wo, extra_id)
    session.delete(row)
    service.touch(wo, ctx.clock.now())
    return _changed(
        session,
        ctx,
        caller,
        request,
        wo,
        response,
        {"extra": extra_id, "amount": yuan(row.amount_fen)},
        f"删除其他费用：{row.description}",
    )


@router.put(
    "/work-orders/{work_order_id}/paid-repair",
    response_model=WorkOrderCosts,
    summary="有偿维修 (If-Match): the amount quoted to the resident and whether it is paid",
)
def put_paid_repair(
    work_order_id: RowId,
    body: PaidRepairIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    if_match: IfMatch = None,
) -> WorkOrderCosts:
    wo = _locked(session, caller, work_order_id, if_match)
    service.set_paid_repair(
        session,
        wo,
        quoted_fen=_fen(body.quoted),
        paid=body.paid,
        note=body.note,
        actor=_actor(caller),
        now=ctx.clock.now(),
    )
    paid = "，已收款" if body.paid else ""
    return _changed(
        session,
        ctx,
        caller,
        request,
        wo,
        response,
        {"paid_repair": body.model_dump(mode="json")},
        f"有偿维修：向住户收取 {yuan(_fen(body.quoted))} 元{paid}",
    )


@router.delete(
    "/work-orders/{work_order_id}/paid-repair",
    response_model=WorkOrderCosts,
    summary="取消有偿维修 (If-Match): the order is free to the resident again",
)
def delete_paid_repair(
    work_order_id: RowId,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    if_match: IfMatch = None,
) -> WorkOrderCosts:
    wo = _locked(session, caller, work_order_id, if_match)
    service.clear_paid_repair(session, wo, ctx.clock.now())
    return _changed(
        session, ctx, caller, request, wo, response, {"paid_repair": None}, "取消有偿维修"
    )
