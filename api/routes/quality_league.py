"""月度品质检查评比 over HTTP: a site's league of zones and departments, its 12-month trend and
its most frequent finding types (for the site's staff, like the other quality reads), and the
league of projects across the sites a company or region token sees (the duty room's).

The figures are defined in `maintenance.quality.league` and `maintenance.quality.frequent`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import ApiRole, Principal
from api.deps import Ctx, DbSession, require
from api.problems import PROBLEM_RESPONSES
from api.routes.overview import Region, visible_sites
from api.routes.quality import SiteStaff
from api.routes.reports import MONTH
from maintenance.quality.frequent import FrequentFindings, frequent_findings
from maintenance.quality.league import (
    QualityLeague,
    QualityTrend,
    SiteQualityLeague,
    quality_league,
    quality_trend,
    site_quality_league,
)

router = APIRouter(prefix="/api/v1", tags=["quality"], responses=PROBLEM_RESPONSES)

Month = Annotated[str, Query(pattern=MONTH, description="YYYY-MM, the site's local month")]
Duty = Annotated[Principal, Depends(require(ApiRole.DUTY))]


def _month(month: str) -> tuple[int, int]:
    year, number = month.split("-")
    return int(year), int(number)


@router.get(
    "/sites/{site_id}/quality/league",
    response_model=SiteQualityLeague,
    summary="品质评比: the month's zones and departments by inspection score, findings per "
    "severity, rectification on-time and re-check failure rates, overdue now",
)
def get_site_quality_league(
    ctx: Ctx, session: DbSession, who: SiteStaff, month: Month
) -> SiteQualityLeague:
    site, _ = who
    return site_quality_league(session, site.spec, *_month(month), ctx.clock.now())


@router.get(
    "/sites/{site_id}/quality/trend",
    response_model=QualityTrend,
    summary="品质趋势: the site's quality figures for the 12 months ending with `month`",
)
def get_quality_trend(ctx: Ctx, session: DbSession, who: SiteStaff, month: Month) -> QualityTrend:
    site, _ = who
    return quality_trend(session, site.spec, *_month(month), ctx.clock.now())


@router.get(
    "/sites/{site_id}/quality/frequent",
    response_model=FrequentFindings,
    summary="高频问题: the ten most frequent finding types per place over the last months",
)
def get_frequent_findings(
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
    months: Annotated[int, Query(ge=1, le=24, description="calendar months back from now")] = 3,
) -> FrequentFindings:
    site, _ = who
    return frequent_findings(session, site.spec, ctx.clock.now(), months=months)


@router.get(
    "/reports/quality-league",
    response_model=QualityLeague,
    summary="项目品质排名: the month's league of sites and of zones across sites by inspection "
    "score, for the sites the token sees",
)
def get_quality_league(
    ctx: Ctx, session: DbSession, caller: Duty, month: Month, region: Region = None
) -> QualityLeague:
    specs = [site.spec for site in visible_sites(ctx, caller, region)]
    return quality_league(
        session,
        specs,
        *_month(month),
        ctx.clock.now(),
        region=region,
        region_names=ctx.organisation.regions,
    )
