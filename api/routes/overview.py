"""全部项目总览: one row per site the token may see, the worst first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import AppContext, Ctx, DbSession, Operator
from api.problems import PROBLEM_RESPONSES, ApiProblem
from maintenance.overview import Overview, sites_overview
from propwatch.site import ID, Site

router = APIRouter(prefix="/api/v1", tags=["overview"], responses=PROBLEM_RESPONSES)

Region = Annotated[
    str | None, Query(max_length=64, pattern=ID, description="only this region's sites")
]


def visible_sites(ctx: AppContext, caller: Principal, region: str | None) -> list[Site]:
    """The sites this caller may see, in `region` when one is named (by id order)."""
    sites = [
        site
        for site_id, site in sorted(ctx.sites.items())
        if caller.may_see(site_id) and (region is None or site.spec.site.region == region)
    ]
    if region is not None and not sites:
        # the same answer for a region that does not exist and one out of the token's scope
        raise ApiProblem(404, f"没有可查看的区域 {region} 的项目 (no visible site in region)")
    return sites


@router.get(
    "/overview",
    response_model=Overview,
    summary="全部项目总览: alarms by severity, open and overdue orders, devices offline, "
    "tonight's lighting, per site, the worst first",
)
def get_overview(ctx: Ctx, session: DbSession, caller: Operator, region: Region = None) -> Overview:
    return sites_overview(
        session,
        visible_sites(ctx, caller, region),
        ctx.clock.now(),
        region_names=ctx.organisation.regions,
    )
