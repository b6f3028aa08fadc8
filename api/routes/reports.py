"""Reports: 日盘点 (daily stocktake), 月报 (monthly SLA, reliability and zone league), and the
league of sites and of their zones across every site the token may see (项目排名)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from api.deps import Ctx, DbSession, Operator, site_of
from api.problems import PROBLEM_RESPONSES
from api.routes.overview import Region, visible_sites
from maintenance.daily_report import DailyReport, daily_report
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


def _report_day(day: date) -> date:
    if not 2000 <= day.year <= 2100:
        raise ValueError("日期须在 2000 至 2100 年之间 (a day of the years 2000 to 2100)")
    return day


ReportDay = Annotated[date, AfterValidator(_report_day)]


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
    "/{site_id}/daily",
    response_model=DailyReport,
    summary="日报: a local day's orders opened, finished, overdue, alarms and plan work, per zone",
)
def get_daily(
    site_id: str,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    day: Annotated[
        ReportDay | None,
        Query(alias="date", description="YYYY-MM-DD, the site's local day; today by default"),
    ] = None,
) -> DailyReport:
    site = site_of(ctx, caller, site_id)
    now = ctx.clock.now()
    return daily_report(session, site.spec, day or now.astimezone(site.spec.site.tz).date(), now)


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
