"""服务报告 (月度工作报告) of a site's month beside the plan's targets, as JSON and as PDF for the
notice board. The figures are defined in `maintenance.service_report`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import Ctx, DbSession, Operator, site_of
from api.exports.pdf import PDF, pdf_response
from api.exports.service_report_pdf import service_report_pdf
from api.problems import PROBLEM_RESPONSES
from api.routes.reports import MONTH
from maintenance.service_report import ServiceReport, service_report

router = APIRouter(
    prefix="/api/v1/sites/{site_id}/reports", tags=["reports"], responses=PROBLEM_RESPONSES
)

Month = Annotated[str, Query(pattern=MONTH, description="YYYY-MM, the site's local month")]


def _report(
    site_id: str, ctx: Ctx, session: DbSession, caller: Operator, month: str
) -> ServiceReport:
    site = site_of(ctx, caller, site_id)
    year, number = (int(part) for part in month.split("-"))
    return service_report(session, site.spec, year, number, ctx.clock.now())


@router.get(
    "/service",
    response_model=ServiceReport,
    summary="服务报告: satisfaction, complaints per 100 households, 复发率, 8 h response, 1 h "
    "emergency arrival, 回访率, each beside its target, for the site and each zone",
)
def get_service_report(
    site_id: str, ctx: Ctx, session: DbSession, caller: Operator, month: Month
) -> ServiceReport:
    return _report(site_id, ctx, session, caller, month)


@router.get(
    "/service.pdf",
    summary="服务报告 as PDF (A4, zh-CN), to post on the notice board",
    response_class=Response,
    responses=PDF,
)
def get_service_report_pdf(
    site_id: str, ctx: Ctx, session: DbSession, caller: Operator, month: Month
) -> Response:
    report = _report(site_id, ctx, session, caller, month)
    spec = ctx.sites[site_id].spec
    posted_on = ctx.clock.now().astimezone(spec.site.tz).date()
    body = service_report_pdf(report, posted_on)
    return pdf_response(
        body, f"{spec.site.name}{month}服务报告", f"service-report-{site_id}-{month}"
    )
