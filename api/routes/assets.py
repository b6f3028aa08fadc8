"""Assets with their live state."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import Caller, DbSession
from api.schemas import AssetOut
from maintenance.registry.models import Asset, Zone

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])


@router.get("", response_model=list[AssetOut])
def get_assets(session: DbSession, caller: Caller) -> list[AssetOut]:
    q = select(Asset, Zone).join(Zone, Asset.zone_id == Zone.id).order_by(Asset.site_id, Asset.code)
    if "*" not in caller.sites:
        q = q.where(Asset.site_id.in_(caller.sites))
    return [
        AssetOut(
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
        )
        for a, z in session.execute(q).tuples()
    ]
