"""Assets with their live state (the latest readings the maintenance core keeps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import select

from api.deps import Ctx, DbSession, Duty, Reader, audit, check_site, site_of
from api.problems import PROBLEM_RESPONSES
from api.schemas import AssetOut, OutOfServiceIn
from api.telemetry import plan_read, read_trend
from api.telemetry_schemas import AssetRecordOut, PointOut, TelemetryOut
from api.validation import Moment
from maintenance.registry.models import Asset, Zone
from maintenance.registry.service import set_out_of_service
from maintenance.statutory.service import inspection_statuses
from propwatch.site import Asset as SiteAsset
from propwatch.site import Site

router = APIRouter(prefix="/api/v1/assets", tags=["assets"], responses=PROBLEM_RESPONSES)


def _out(a: Asset, z: Zone) -> AssetOut:
    return AssetOut(
        id=a.code,
        site_id=a.site_id,
        name=a.name,
        kind=a.kind,
        zone=z.code,
        building=a.building,
        location=a.location,
        retired=a.retired_at is not None,
        state=a.state or {},
        state_at=a.state_at,
        out_of_service=a.out_of_service_since is not None,
        out_of_service_since=a.out_of_service_since,
        out_of_service_by=a.out_of_service_by,
        out_of_service_reason=a.out_of_service_reason,
        parent=a.parent_code,
    )


@router.get("", response_model=list[AssetOut], summary="设备列表 with live state")
def get_assets(
    session: DbSession,
    caller: Reader,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    zone: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AssetOut]:
    q = select(Asset, Zone).join(Zone, Asset.zone_id == Zone.id).order_by(Asset.site_id, Asset.code)
    sites = caller.site_filter()
    if site_id is not None:
        check_site(caller, site_id)
        q = q.where(Asset.site_id == site_id)
    elif sites is not None:
        q = q.where(Asset.site_id.in_(sites))
    if zone is not None:
        q = q.where(Zone.code == zone)
    if kind is not None:
        q = q.where(Asset.kind == kind)
    return [_out(a, z) for a, z in session.execute(q)]


@router.get("/{site_id}/{code}", response_model=AssetOut, summary="one asset with live state")
def get_asset(site_id: str, code: str, session: DbSession, caller: Reader) -> AssetOut:
    check_site(caller, site_id)
    row = session.execute(
        select(Asset, Zone)
        .join(Zone, Asset.zone_id == Zone.id)
        .where(Asset.site_id == site_id, Asset.code == code)
    ).first()
    if row is None:
        raise HTTPException(404, f"设备 {code} 不存在 (unknown asset)")
    return _out(row[0], row[1])


def _spec_asset(site: Site, code: str) -> SiteAsset:
    """The asset as the site file has it: the gateway writes readings of these."""
    asset = next((a for a in site.spec.assets if a.id == code), None)
    if asset is None:
        raise HTTPException(404, f"设备 {code} 不存在 (unknown asset)")
    return asset


@router.get(
    "/{site_id}/{code}/record",
    response_model=AssetRecordOut,
    summary="设备档案: install date, warranty, device model and its points with zh-CN labels",
)
def get_record(
    site_id: str, code: str, ctx: Ctx, session: DbSession, caller: Reader
) -> AssetRecordOut:
    site = site_of(ctx, caller, site_id)
    asset = _spec_asset(site, code)
    today = ctx.clock.now().astimezone(site.spec.site.tz).date()
    profile = site.profile_of_asset(code)
    faces = site.point_faces(code)
    return AssetRecordOut(
        site_id=site_id,
        asset=code,
        name=asset.name,
        kind=asset.kind,
        zone=asset.zone,
        building=asset.building,
        location=asset.location,
        install_date=asset.install_date,
        warranty_end=asset.warranty_end,
        device=asset.device,
        model=profile.model if profile else None,
        vendor=profile.vendor if profile else "",
        description=profile.description if profile else "",
        points=[PointOut(**f.model_dump()) for f in faces.values()],
        inspections=inspection_statuses(session, site, today, code),
    )


@router.get(
    "/{site_id}/{code}/telemetry",
    response_model=TelemetryOut,
    summary="趋势: an asset's points over a time range, as window means from the telemetry store",
)
def get_telemetry(
    site_id: str,
    code: str,
    ctx: Ctx,
    caller: Reader,
    # optional here so that a token of another site hears 403 before any 422
    points: Annotated[
        str | None,
        Query(max_length=1000, description="point names, comma-separated (1 to 8); required"),
    ] = None,
    start: Annotated[
        Moment | None, Query(alias="from", description="range start; unset: 24 h before `to`")
    ] = None,
    stop: Annotated[Moment | None, Query(alias="to", description="range end; unset: now")] = None,
    step: Annotated[
        str | None,
        Query(
            max_length=16,
            description="window: seconds or 30s, 5m, 1h; unset: the smallest of 1 s … 12 h "
            "keeping a series within 1,000 points",
        ),
    ] = None,
) -> TelemetryOut:
    site = site_of(ctx, caller, site_id)
    asset = _spec_asset(site, code)
    query = plan_read(site, code, points, start, stop, step, ctx.clock.now())
    return read_trend(ctx.telemetry, site, asset.name, query)


@router.post(
    "/{site_id}/{code}/out-of-service",
    response_model=AssetOut,
    summary="设备停用: its new alarms are suppressed by design until it is back in service",
)
def out_of_service(
    site_id: str,
    code: str,
    body: OutOfServiceIn,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    caller: Duty,
) -> AssetOut:
    check_site(caller, site_id)
    set_out_of_service(
        session, site_id, code, actor=caller.name, reason=body.reason, now=ctx.clock.now()
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"asset:{site_id}/{code}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return get_asset(site_id, code, session, caller)


@router.post("/{site_id}/{code}/in-service", response_model=AssetOut, summary="设备恢复启用")
def in_service(
    site_id: str, code: str, request: Request, ctx: Ctx, session: DbSession, caller: Duty
) -> AssetOut:
    check_site(caller, site_id)
    set_out_of_service(session, site_id, code, actor=caller.name, reason=None, now=ctx.clock.now())
    audit(session, ctx, caller, request, subject=f"asset:{site_id}/{code}", status_code=200)
    return get_asset(site_id, code, session, caller)
