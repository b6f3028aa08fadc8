"""法定检验 (statutory inspections: where each asset stands, recording a result) and 工作量预测
(the plan orders and labour hours of the coming days). Rules live in `maintenance.statutory`
and `maintenance.plans.forecast`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Ctx, DbSession, Operator, Reader, audit, site_of
from api.problems import PROBLEM_RESPONSES
from api.validation import Day
from maintenance.plans.forecast import Forecast, plan_forecast
from maintenance.statutory.service import (
    InspectionResult,
    InspectionStatus,
    State,
    inspection_statuses,
    record_inspection,
)

router = APIRouter(
    prefix="/api/v1/sites/{site_id}", tags=["statutory inspections"], responses=PROBLEM_RESPONSES
)


class InspectionResultIn(BaseModel):
    """检验结果: what the inspection institute found."""

    model_config = ConfigDict(extra="forbid")

    asset: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64, description="e.g. elevator-periodic")
    inspected_on: Day
    passed: bool
    certificate_no: str | None = Field(
        default=None, max_length=64, description="检验合格证编号 (needed when passed)"
    )
    certificate_expiry: Day | None = None
    next_due: Day | None = Field(
        default=None,
        description="unless given: the certificate's expiry, else the date plus the interval "
        "when passed, plus 30 days when not (复检)",
    )
    agency: str = Field(default="", max_length=120, description="检验机构")
    note: str = Field(default="", max_length=2000)
    recorded_by: str = Field(min_length=1, max_length=64, description="a person of the site")


@router.get(
    "/statutory-inspections",
    response_model=list[InspectionStatus],
    summary="法定检验: each asset's inspections, last result and next due date, overdue first",
)
def get_statutory_inspections(
    site_id: str,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    asset: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[State | None, Query()] = None,
) -> list[InspectionStatus]:
    site = site_of(ctx, caller, site_id)
    today = ctx.clock.now().astimezone(site.spec.site.tz).date()
    rows = inspection_statuses(session, site, today, asset)
    return [r for r in rows if state is None or r.state == state]


@router.post(
    "/statutory-inspections",
    response_model=InspectionStatus,
    status_code=status.HTTP_201_CREATED,
    summary="登记检验结果 (date, passed, 检验合格证, next due)",
)
def post_statutory_inspection(
    site_id: str,
    body: InspectionResultIn,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
) -> InspectionStatus:
    site = site_of(ctx, caller, site_id)
    data = body.model_dump(exclude={"recorded_by"})
    view = record_inspection(
        session, site, InspectionResult(**data), by=body.recorded_by, now=ctx.clock.now()
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"statutory:{body.asset}:{body.type}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    return view


@router.get(
    "/plan-forecast",
    response_model=Forecast,
    summary="工作量预测: plan orders and labour hours of the coming days per zone and technician",
)
def get_plan_forecast(
    site_id: str,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    days: Annotated[int, Query(ge=1, le=366)] = 90,
    limit: Annotated[int, Query(ge=0, le=5000, description="visits listed")] = 100,
) -> Forecast:
    site = site_of(ctx, caller, site_id)
    return plan_forecast(session, site, ctx.clock.now(), days=days, limit=limit)
