"""`GET /metrics`: the alarm system and the plans of every site the token may see, for
Prometheus.

Scraped with a bearer token like the rest of the API (Prometheus `authorization:
{credentials: …}`): an `integration` token issued for the scraper, or a duty or admin one. The
figures name sites, asset counts and the duty room's load, so they are no more public than the
alarm list; a token sees only its sites' series. Definitions in `maintenance.alarms.kpi`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import Ctx, DbSession, Operator
from api.problems import PROBLEM_RESPONSES
from maintenance.alarms.kpi import WINDOWS, AlarmLoad, RollingKpis, rolling_kpis
from maintenance.plans.service import PlanView, list_plans
from propwatch.events import Severity
from propwatch.prometheus import CONTENT_TYPE, Exposition
from propwatch.site import SiteFile

router = APIRouter(tags=["metrics"], responses=PROBLEM_RESPONSES)

P = "propwatch_alarm_"


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="告警系统指标: alarm KPIs per site, Prometheus text format",
)
def metrics(ctx: Ctx, session: DbSession, caller: Operator) -> PlainTextResponse:
    sites = [site for sid, site in sorted(ctx.sites.items()) if caller.may_see(sid)]
    specs = [site.spec for site in sites]
    figures = rolling_kpis(session, specs, ctx.clock.now())
    plans = {site.id: list_plans(session, site) for site in sites}
    text = alarm_exposition(specs, figures) + plan_exposition(plans)
    return PlainTextResponse(text, media_type=CONTENT_TYPE)


def plan_exposition(plans: Mapping[str, Sequence[PlanView]]) -> str:
    """保养计划: which plans cannot run (`propwatch_plan_error`, `propwatch_plans_in_error`) and
    how many passes each has failed (`propwatch_plan_failures_total`), per site and plan."""
    e = Exposition()
    e.add(
        "propwatch_plan_failures_total",
        "counter",
        "Plan passes that made nothing because the plan failed (bad schedule, template, database).",
        [
            ({"site": site, "plan": p.id}, p.failures)
            for site, views in plans.items()
            for p in views
        ],
    )
    e.add(
        "propwatch_plan_error",
        "gauge",
        "1 while the plan cannot run (its error is on GET /api/v1/sites/{site}/plans), else 0.",
        [
            ({"site": site, "plan": p.id}, 1 if p.status == "error" else 0)
            for site, views in plans.items()
            for p in views
        ],
    )
    e.add(
        "propwatch_plans_in_error",
        "gauge",
        "Plans of the site that cannot run.",
        [
            ({"site": site}, sum(p.status == "error" for p in views))
            for site, views in plans.items()
        ],
    )
    return e.text()


def alarm_exposition(specs: Sequence[SiteFile], figures: RollingKpis) -> str:
    """Every `propwatch_alarm_*` family, each site a `site` label, each rolling window a
    `window` label (`10m`, `24h`)."""
    e = Exposition()
    sites = [s.site.id for s in specs]
    active = figures.active
    severities = [s.value for s in Severity]
    e.add(
        P + "active",
        "gauge",
        "Annunciated alarms not cleared, shelved and out of service included, by severity.",
        [
            ({"site": site, "severity": sev}, active[site].by_severity.get(sev, 0))
            for site in sites
            for sev in severities + sorted(set(active[site].by_severity) - set(severities))
        ],
    )
    e.add(
        P + "unacknowledged",
        "gauge",
        "Alarms not acknowledged, not shelved, not out of service: active, or returned.",
        [
            row
            for site in sites
            for row in (
                ({"site": site, "state": "active"}, active[site].unacknowledged),
                ({"site": site, "state": "returned"}, active[site].returned_unacknowledged),
            )
        ],
    )
    for name, help_text in (
        ("shelved", "Active alarms shelved by the duty room."),
        ("out_of_service", "Active alarms taken out of service by the duty room."),
        ("standing", "Active alarms raised more than 24 hours ago."),
        ("stale", "Active alarms whose device is offline: condition unknown."),
        ("suppressed", "Alarms suppressed by design (asset out of service, planned work)."),
    ):
        e.add(
            P + name,
            "gauge",
            help_text,
            [({"site": site}, getattr(active[site], name)) for site in sites],
        )
    e.add(
        P + "operators",
        "gauge",
        "Duty-room operators the alarm rates are divided by (site file duty.operators).",
        [({"site": s.site.id}, s.duty.operators) for s in specs],
    )
    _per_window(
        e, figures, sites, "raised", "Annunciated alarms raised in the window.", lambda x: x.alarms
    )
    _per_window(
        e,
        figures,
        sites,
        "rate_per_operator_average",
        "Annunciated alarms per operator per 10 minutes, averaged over the window.",
        lambda x: x.average_per_operator,
    )
    _per_window(
        e,
        figures,
        sites,
        "rate_per_operator_peak",
        "Annunciated alarms per operator in the window's busiest 10 minutes.",
        lambda x: x.peak_per_operator,
    )
    _per_window(
        e,
        figures,
        sites,
        "flood_ratio",
        "Share of the window's 10-minute periods in which more than 10 alarms started.",
        lambda x: x.flood_share,
    )
    e.add(
        P + "chattering",
        "gauge",
        "Asset and alarm type pairs chattering in the window (flagged, or 3 within 60 s).",
        [
            ({"site": site, "window": window}, figures.chattering[window][site])
            for site in sites
            for window in WINDOWS
        ],
    )
    return e.text()


def _per_window(
    e: Exposition,
    figures: RollingKpis,
    sites: list[str],
    name: str,
    help_text: str,
    value: Callable[[AlarmLoad], float | None],
) -> None:
    def number(load: AlarmLoad) -> float:
        v = value(load)
        return math.nan if v is None else v

    e.add(
        P + name,
        "gauge",
        help_text,
        [
            ({"site": site, "window": window}, number(figures.load[window][site]))
            for site in sites
            for window in WINDOWS
        ],
    )
