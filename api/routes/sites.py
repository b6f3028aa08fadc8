"""小区: the sites a token may see, with zones and staff names for the pages to show."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import Caller, Ctx, Reader
from api.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/api/v1/sites", tags=["sites"], responses=PROBLEM_RESPONSES)


class ZoneOut(BaseModel):
    id: str
    name: str
    buildings: list[str]


class PersonOut(BaseModel):
    id: str
    name: str
    role: str


class SiteOut(BaseModel):
    id: str
    name: str
    timezone: str
    zones: list[ZoneOut]
    people: list[PersonOut]  # names only: phone numbers stay in the site file


@router.get("", response_model=list[SiteOut], summary="小区列表: the token's sites, zones, staff")
def get_sites(ctx: Ctx, caller: Reader) -> list[SiteOut]:
    return [
        SiteOut(
            id=site.id,
            name=site.spec.site.name,
            timezone=site.spec.site.timezone,
            zones=[ZoneOut(id=z.id, name=z.name, buildings=z.buildings) for z in site.spec.zones],
            people=[PersonOut(id=p.id, name=p.name, role=p.role.value) for p in site.spec.people],
        )
        for site_id, site in sorted(ctx.sites.items())
        if caller.may_see(site_id)
    ]


class MeOut(BaseModel):
    name: str
    role: str
    person: str | None
    person_name: str | None
    sites: list[str]


me_router = APIRouter(prefix="/api/v1", tags=["sites"], responses=PROBLEM_RESPONSES)


@me_router.get("/me", response_model=MeOut, summary="当前令牌: who this token is (for the pages)")
def get_me(ctx: Ctx, caller: Caller) -> MeOut:
    names = {p.id: p.name for site in ctx.sites.values() for p in site.spec.people}
    return MeOut(
        name=caller.name,
        role=caller.role.value,
        person=caller.person,
        person_name=names.get(caller.person or ""),
        sites=sorted(caller.sites),
    )
