"""A contractor's technician (维保单位人员) sees the orders of their contracts' assets only.

Their token is an ordinary technician token; what it may see follows the site file on every
request (a contract that ended yesterday covers nothing today), as region scopes do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from api.auth import ApiRole, Principal
from api.problems import ApiProblem
from maintenance.contracts import asset_code
from maintenance.work_orders.models import WorkOrder
from propwatch.contractors import contractor_of_person, covered_assets
from propwatch.site import Site


def scoped(principal: Principal, sites: Mapping[str, Site], now: datetime) -> Principal:
    """The principal with `assets` set when its person works for a contractor in one of its
    sites: the asset ids (as `site:asset`) of that contractor's contracts in force today."""
    if principal.role is not ApiRole.TECHNICIAN or not principal.person:
        return principal
    found: set[str] | None = None
    ids = sites.keys() if "*" in principal.sites else principal.sites
    for site_id in ids:
        site = sites.get(site_id)
        if site is None:
            continue
        contractor = contractor_of_person(site.spec, principal.person)
        if contractor is None:
            continue
        today = now.astimezone(site.spec.site.tz).date()
        found = (found or set()) | {
            f"{site_id}:{a}" for a in covered_assets(site.spec, contractor, today)
        }
    return principal if found is None else replace(principal, assets=frozenset(found))


def check_order(session: Session, caller: Principal, wo: WorkOrder) -> None:
    """403 for a contractor's technician on an order outside their contracts."""
    if caller.assets is None:
        return
    code = asset_code(wo, session)
    if code is None or f"{wo.site_id}:{code}" not in caller.assets:
        raise ApiProblem(
            403,
            "维保单位人员只能查看其维保合同内设备的工单 (not under your contract)",
            code="not_under_contract",
        )
