"""Reports: 日盘点 (daily stocktake), 月报 (monthly SLA, reliability and zone league), and the
league of sites and of their zones across every site the token may see (项目排名)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Ctx, DbSession, Operator, site_of
from api.problems import PROBLEM_RESPONSES
from api.routes.overview import Region, visible_sites
from maintenance.reports import (
    League,
    MonthlyReport,
    Stocktake,
    daily_stocktake,
    league_report,
    monthly_report,
)

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=PROBLEM_RESPONSES)

MONTH = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$"


@router.get(
    "/league",
    response_model=League,
    summary="项目排名: the month's league of sites and of zones across sites (on-time %, MTTR, "
    "返修率, overdue)",
)
def get_league(
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    month: Annotated[str, Query(pattern=MONTH, description="YYYY-MM, each site's local month")],
    region: Region = None,
) -> League:
    specs = [site.spec for site in visible_sites(ctx, caller, region)]
    year, number = (int(part) for part in month.split("-"))
    return league_report(
        session,
        specs,
        year,
        number,
        ctx.clock.now(),
        region=region,
        region_names=ctx.organisation.regions,
    )


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
