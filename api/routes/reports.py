"""Reports: 日盘点 (daily stocktake), 月报 (monthly SLA, reliability and zone league)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Ctx, DbSession, Operator, site_of
from api.problems import PROBLEM_RESPONSES
from maintenance.reports import MonthlyReport, Stocktake, daily_stocktake, monthly_report

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=PROBLEM_RESPONSES)


@router.get("/{site_id}/stocktake", response_model=Stocktake, summary="日盘点: open orders today")
def get_stocktake(site_id: str, ctx: Ctx, session: DbSession, caller: Operator) -> Stocktake:
    site = site_of(ctx, caller, site_id)
    return daily_stocktake(session, site.spec, ctx.clock.now())


@router.get(
    "/{site_id}/monthly",
    response_model=MonthlyReport,
    summary="月报: SLA on-time rates, MTBF/MTTR, rework, zone league",
)
def get_monthly(
    site_id: str,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    year: Annotated[int, Query(ge=2000, le=2100)],
    month: Annotated[int, Query(ge=1, le=12)],
) -> MonthlyReport:
    site = site_of(ctx, caller, site_id)
    return monthly_report(session, site.spec, year, month, ctx.clock.now())
