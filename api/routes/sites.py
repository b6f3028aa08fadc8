"""小区: the sites a token may see, with zones and staff names for the pages to show, and
the state of their site files (`propwatch.site_directory`: loaded, or refused with problems
while the last good version runs)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import Admin, AppContext, Caller, Ctx, Reader
from api.problems import PROBLEM_RESPONSES
from api.scopes import ScopeOut, describe
from propwatch.site import Site
from propwatch.site_directory import SiteDirectory, SiteFileState

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
    region: str | None
    region_name: str | None
    zones: list[ZoneOut]
    people: list[PersonOut]  # names only: phone numbers stay in the site file
    # the site file: "refused" when its newest version has problems and the last good one runs
    state: Literal["loaded", "refused"] = "loaded"
    problems: list[str] = []
    loaded_at: datetime | None = None


def _directory(request: Request) -> SiteDirectory | None:
    """The site files behind this process (set by the runtime), if any."""
    directory: SiteDirectory | None = getattr(request.app.state, "site_directory", None)
    return directory


def _shown(problem: str, folder: Path | None) -> str:
    """A problem with the file named relative to the sites folder, not by its server path."""
    if folder is not None and problem.startswith(str(folder) + "/"):
        return problem[len(str(folder)) + 1 :]
    return problem


def _folder(directory: SiteDirectory | None) -> Path | None:
    if directory is None:
        return None
    return directory.path.parent if directory.single_file else directory.path


@router.get(
    "",
    response_model=list[SiteOut],
    summary="小区列表: the token's sites, zones, staff, and the state of their site files",
)
def get_sites(ctx: Ctx, caller: Reader, request: Request) -> list[SiteOut]:
    directory = _directory(request)
    folder = _folder(directory)
    out = []
    for site_id, site in sorted(ctx.sites.items()):
        if not caller.may_see(site_id):
            continue
        state = directory.state_of(site_id) if directory is not None else None
        out.append(
            SiteOut(
                id=site.id,
                name=site.spec.site.name,
                timezone=site.spec.site.timezone,
                region=site.spec.site.region,
                region_name=region_name(ctx, site),
                zones=[
                    ZoneOut(id=z.id, name=z.name, buildings=z.buildings) for z in site.spec.zones
                ],
                people=[
                    PersonOut(id=p.id, name=p.name, role=p.role.value) for p in site.spec.people
                ],
                state=state.state.value if state is not None else "loaded",
                problems=[_shown(p, folder) for p in state.problems] if state else [],
                loaded_at=state.loaded_at if state is not None else None,
            )
        )
    return out


class SiteFileOut(BaseModel):
    file: str  # relative to the sites folder
    state: Literal["loaded", "refused"]
    site_id: str | None  # the site its last good version serves; None: never loaded
    site_name: str | None
    problems: list[str]
    checked_at: datetime | None
    loaded_at: datetime | None


def _file_out(state: SiteFileState, folder: Path | None) -> SiteFileOut:
    return SiteFileOut(
        file=_shown(str(state.path), folder),
        state=state.state.value,
        site_id=state.site_id,
        site_name=state.site_name,
        problems=[_shown(p, folder) for p in state.problems],
        checked_at=state.checked_at,
        loaded_at=state.loaded_at,
    )


files_router = APIRouter(prefix="/api/v1", tags=["sites"], responses=PROBLEM_RESPONSES)


@files_router.get(
    "/site-files",
    response_model=list[SiteFileOut],
    summary="站点文件: every site file this process watches, loaded or refused with its problems",
)
def get_site_files(caller: Admin, request: Request) -> list[SiteFileOut]:
    directory = _directory(request)
    if directory is None:
        return []
    folder = _folder(directory)
    return [_file_out(s, folder) for s in directory.states()]


class MeOut(BaseModel):
    name: str
    role: str
    person: str | None
    person_name: str | None
    sites: list[str]
    scope: ScopeOut  # company, regions or sites, with their names


def region_name(ctx: AppContext, site: Site) -> str | None:
    region = site.spec.site.region
    return ctx.organisation.region_name(region) if region is not None else None


me_router = APIRouter(prefix="/api/v1", tags=["sites"], responses=PROBLEM_RESPONSES)


@me_router.get("/me", response_model=MeOut, summary="当前令牌: who this token is (for the pages)")
def get_me(ctx: Ctx, caller: Caller) -> MeOut:
    names = {
        p.id: p.name
        for site_id, site in ctx.sites.items()
        if caller.may_see(site_id)
        for p in site.spec.people
    }
    return MeOut(
        name=caller.name,
        role=caller.role.value,
        person=caller.person,
        person_name=names.get(caller.person or ""),
        sites=sorted(caller.sites),
        scope=describe(caller, ctx.organisation, ctx.sites),
    )
