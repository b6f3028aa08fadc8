"""Token scopes (令牌范围): the company, regions (区域), sites, in any mix.

A token is issued for a list of scopes: `*` (the whole company, every site now and later),
`region:<id>` (every site whose site file names that region, now: a site added to the region
or moved out of it while the service runs counts from the next request) and site ids. Routes
never look at scopes: `resolve` turns them into the sites the principal may see, once per
request, and routes keep asking `may_see` / `site_filter`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Literal

from pydantic import BaseModel

from api.auth import Principal
from propwatch.organisation import Organisation
from propwatch.site import Site

COMPANY = "*"
REGION_PREFIX = "region:"


def region_of(scope: str) -> str | None:
    """The region id of a `region:<id>` scope, else None."""
    return scope[len(REGION_PREFIX) :] if scope.startswith(REGION_PREFIX) else None


def regions_of(scopes: Iterable[str]) -> list[str]:
    return sorted(r for s in scopes if (r := region_of(s)) is not None)


def resolve(
    principal: Principal, organisation: Organisation, sites: Mapping[str, Site]
) -> Principal:
    """The principal with `sites` = what its scopes cover now (unchanged without a region)."""
    regions = regions_of(principal.scopes)
    if COMPANY in principal.scopes or not regions:
        return principal
    direct = {s for s in principal.scopes if region_of(s) is None}
    return replace(principal, sites=frozenset(direct) | organisation.sites_in(regions, sites))


def covers(caller: Principal, scope: str) -> bool:
    """Whether a token with `scope` would see nothing the caller does not: what the caller may
    hand out or manage. The company only from the company; a region from the company or that
    region; a site from anyone who sees it now."""
    if COMPANY in caller.scopes:
        return True
    if scope == COMPANY:
        return False
    if region_of(scope) is not None:
        return scope in caller.scopes
    return caller.may_see(scope)


def covers_all(caller: Principal, scopes: Iterable[str]) -> bool:
    return all(covers(caller, s) for s in scopes)


class RegionRef(BaseModel):
    id: str
    name: str


class SiteRef(BaseModel):
    id: str
    name: str
    region: str | None = None


class ScopeOut(BaseModel):
    """What a token covers, for the pages: `company` (every site; `regions` all of them), else
    the regions it names and the sites it sees now (those of its regions included)."""

    kind: Literal["company", "regions", "sites"]
    company: str  # the company's name
    regions: list[RegionRef]
    sites: list[SiteRef]


def describe(caller: Principal, organisation: Organisation, sites: Mapping[str, Site]) -> ScopeOut:
    """The caller's scope with names (`caller` resolved, as every route gets it)."""
    company = COMPANY in caller.scopes
    named = regions_of(caller.scopes)
    regions = organisation.region_ids(sites) if company else named
    seen = [s for sid, s in sorted(sites.items()) if caller.may_see(sid)]
    return ScopeOut(
        kind="company" if company else "regions" if named else "sites",
        company=organisation.company_name,
        regions=[RegionRef(id=r, name=organisation.region_name(r)) for r in regions],
        sites=[SiteRef(id=s.id, name=s.spec.site.name, region=s.spec.site.region) for s in seen],
    )
