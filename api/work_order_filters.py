"""The work-order list's filters as query parameters, in one place: the list
(`GET /api/v1/work-orders`) and its export (`GET /api/v1/work-orders/export`) take exactly the
same ones, and see exactly what the caller may see (a technician: only their own tasks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from api.auth import ApiRole, Principal
from api.deps import AppContext, Ctx, Reader, check_site
from api.validation import Moment
from api.work_order_list import ListFilter
from maintenance.work_orders import search
from maintenance.work_orders.models import Source, Status
from propwatch.site import Category, Priority


async def list_filter(
    ctx: Ctx,
    caller: Reader,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[list[Status] | None, Query(description="one or more statuses")] = None,
    priority: Annotated[Priority | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    source: Annotated[Source | None, Query()] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    zone: Annotated[str | None, Query(max_length=64)] = None,
    asset: Annotated[str | None, Query(max_length=64)] = None,
    external_id: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="words found (case-insensitively, each as a substring) in the title, "
            "description, code or external_id; every word must be found",
        ),
    ] = None,
    tag: Annotated[
        list[Annotated[str, Query(max_length=32)]] | None,
        Query(description="orders carrying every one of these tags (repeatable)"),
    ] = None,
    updated_since: Annotated[
        Moment | None, Query(description="changed at or after this time (inclusive)")
    ] = None,
    reported_from: Annotated[
        Moment | None, Query(description="reported at or after this time (inclusive)")
    ] = None,
    reported_to: Annotated[
        Moment | None, Query(description="reported before this time (exclusive)")
    ] = None,
) -> ListFilter:
    """What the caller asked for, within what they may see. Async: it reads no database, so it
    costs the list no trip to the thread pool."""
    if site_id is not None:
        check_site(caller, site_id)
    sites = caller.site_filter()
    return ListFilter(
        site_id=site_id,
        sites=tuple(sites) if sites is not None and site_id is None else None,
        person=(caller.person or "") if caller.role is ApiRole.TECHNICIAN else None,
        statuses=tuple(dict.fromkeys(s.value for s in status or ())),
        priority=priority.value if priority is not None else None,
        category=category.value if category is not None else None,
        source=source.value if source is not None else None,
        assignee=assignee,
        zone=zone,
        asset=asset,
        external_id=external_id,
        q=tuple(search.terms(q or "")),
        tags=tuple(dict.fromkeys(_declared_tags(ctx, caller, site_id, tag or []))),
        updated_since=updated_since,
        reported_from=reported_from,
        reported_to=reported_to,
    )


def _declared_tags(
    ctx: AppContext, caller: Principal, site_id: str | None, tags: list[str]
) -> list[str]:
    """The tags of a filter, each declared by a site the list covers; a typo is a 422."""
    if not tags:
        return tags
    sites = [site_id] if site_id is not None else [s for s in ctx.sites if caller.may_see(s)]
    declared = {t for s in sites if s in ctx.sites for t in ctx.sites[s].spec.work_orders.tags}
    unknown = [(i, t) for i, t in enumerate(tags) if t not in declared]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "unknown_tag",
                    "loc": ("query", "tag", i),
                    "msg": f"标签「{t}」未在小区中声明 (unknown tag {t!r})",
                    "input": t,
                }
                for i, t in unknown
            ]
        )
    return tags
