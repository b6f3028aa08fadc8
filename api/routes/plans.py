"""Preventive-maintenance plans (维保计划): CRUD, preview of the next occurrences; resident
notices (业主公告). Rules and validation live in `maintenance.plans.service`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, status

from api.deps import Ctx, DbSession, Operator, Reader, audit, site_of
from api.problems import PROBLEM_RESPONSES
from maintenance.notices import ResidentNotice, resident_notices
from maintenance.plans import service
from maintenance.plans.service import PlanView, PreviewItem

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["plans"], responses=PROBLEM_RESPONSES)

PlanBody = Annotated[
    dict[str, Any],
    Body(
        description="a plan as in the site file's `plans:` list (see docs/maintenance.md)",
        examples=[
            {
                "id": "pump-monthly",
                "name": "二次供水泵房月度保养",
                "template": "water.pump_monthly",
                "targets": {"kinds": ["pump"]},
            }
        ],
    ),
]


@router.get(
    "/plans",
    response_model=list[PlanView],
    summary="维保计划列表",
    description="Every plan, those that cannot run included: `status` is `error` with the "
    "`error`, since when and the failed passes (`failures`).",
)
def get_plans(site_id: str, ctx: Ctx, session: DbSession, caller: Reader) -> list[PlanView]:
    site = site_of(ctx, caller, site_id)
    return service.list_plans(session, site)


@router.get("/plans/{plan_id}", response_model=PlanView, summary="one plan")
def get_plan(site_id: str, plan_id: str, ctx: Ctx, session: DbSession, caller: Reader) -> PlanView:
    site = site_of(ctx, caller, site_id)
    return service.plan_detail(session, site, plan_id)


@router.post(
    "/plans", response_model=PlanView, status_code=status.HTTP_201_CREATED, summary="新建计划"
)
def post_plan(
    site_id: str, body: PlanBody, request: Request, ctx: Ctx, session: DbSession, caller: Operator
) -> PlanView:
    site = site_of(ctx, caller, site_id)
    view = service.create_plan(session, site, body, ctx.clock.now())
    audit(session, ctx, caller, request, subject=f"plan:{view.id}", status_code=201, detail=body)
    return view


@router.put("/plans/{plan_id}", response_model=PlanView, summary="修改计划")
def put_plan(
    site_id: str,
    plan_id: str,
    body: PlanBody,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
) -> PlanView:
    site = site_of(ctx, caller, site_id)
    view = service.update_plan(session, site, plan_id, body, ctx.clock.now())
    audit(session, ctx, caller, request, subject=f"plan:{plan_id}", status_code=200, detail=body)
    return view


@router.delete("/plans/{plan_id}", status_code=status.HTTP_204_NO_CONTENT, summary="停用计划")
def remove_plan(
    site_id: str, plan_id: str, request: Request, ctx: Ctx, session: DbSession, caller: Operator
) -> None:
    site = site_of(ctx, caller, site_id)
    service.delete_plan(session, site, plan_id, ctx.clock.now())
    audit(session, ctx, caller, request, subject=f"plan:{plan_id}", status_code=204)


@router.get(
    "/plans/{plan_id}/preview", response_model=list[PreviewItem], summary="预览接下来的工单"
)
def get_preview(
    site_id: str,
    plan_id: str,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    days: Annotated[int, Query(ge=1, le=366)] = 90,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PreviewItem]:
    site = site_of(ctx, caller, site_id)
    now = ctx.clock.now()
    return service.preview_plan(session, site, plan_id, now, now + timedelta(days=days), limit)


@router.get("/notices", response_model=list[ResidentNotice], summary="业主公告 (停水停梯等)")
def get_notices(site_id: str, ctx: Ctx, session: DbSession, caller: Reader) -> list[ResidentNotice]:
    site = site_of(ctx, caller, site_id)
    return resident_notices(session, site, ctx.clock.now())
