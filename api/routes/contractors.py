"""维保单位 and 维保合同 of a site, read from its site file (where they are kept: a contract
changes once a year, a licence expiry is a date on a certificate)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam

from api.auth import Principal
from api.cost_schemas import (
    ContractorOut,
    ContractorPage,
    ContractOut,
    ContractPage,
    ResponseTermOut,
)
from api.deps import Ctx, Reader, site_of
from api.problems import PROBLEM_RESPONSES
from propwatch.site import PRIORITY_ZH, Priority, Site

router = APIRouter(prefix="/api/v1", tags=["contractors"], responses=PROBLEM_RESPONSES)

SiteId = Annotated[str, PathParam(max_length=64)]


async def _site_reader(site_id: SiteId, ctx: Ctx, caller: Reader) -> tuple[Site, Principal]:
    return site_of(ctx, caller, site_id), caller


SiteReader = Annotated[tuple[Site, Principal], Depends(_site_reader)]


@router.get(
    "/sites/{site_id}/contractors",
    response_model=ContractorPage,
    summary="维保单位: licence number and expiry, contact, their people and contracts",
)
def get_contractors(ctx: Ctx, who: SiteReader) -> ContractorPage:
    site, _ = who
    spec = site.spec
    today = ctx.clock.now().astimezone(spec.site.tz).date()
    return ContractorPage(
        items=[
            ContractorOut(
                id=k.id,
                name=k.name,
                licence_no=k.licence_no,
                licence_expiry=k.licence_expiry,
                licence_days_left=(k.licence_expiry - today).days,
                contact=k.contact,
                phone=k.phone,
                people=[p.id for p in spec.people if p.contractor == k.id],
                contracts=[c.id for c in spec.contracts if c.contractor == k.id],
            )
            for k in spec.contractors
        ]
    )


@router.get(
    "/sites/{site_id}/contracts",
    response_model=ContractPage,
    summary="维保合同: assets covered, period, response terms over the site's time limits",
)
def get_contracts(ctx: Ctx, who: SiteReader) -> ContractPage:
    site, _ = who
    spec = site.spec
    today = ctx.clock.now().astimezone(spec.site.tz).date()
    names = {k.id: k.name for k in spec.contractors}
    people = {p.id: p for p in spec.people}
    items = []
    for c in spec.contracts:
        tech = c.technician or next(
            (p.id for p in spec.people if p.contractor == c.contractor), None
        )
        items.append(
            ContractOut(
                id=c.id,
                name=c.title,
                contractor=c.contractor,
                contractor_name=names.get(c.contractor, c.contractor),
                assets=list(c.assets),
                start=c.start,
                end=c.end,
                in_force=c.in_force(today),
                days_left=(c.end - today).days,
                technician=tech,
                technician_name=people[tech].name if tech in people else None,
                response=[
                    ResponseTermOut(
                        category=t.category,
                        priority=t.priority,
                        priority_zh=PRIORITY_ZH[Priority(t.priority)],
                        respond=str(t.respond) if t.respond else None,
                        arrive=str(t.arrive) if t.arrive else None,
                        resolve=str(t.resolve) if t.resolve else None,
                    )
                    for t in c.response
                ],
            )
        )
    return ContractPage(items=items)
