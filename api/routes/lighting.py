"""今晚照明: tonight's night-lighting check for the duty room (read only)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Ctx, DbSession, Operator, site_of
from api.problems import PROBLEM_RESPONSES
from maintenance.lighting_tonight import LightingTonight, lighting_tonight

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=PROBLEM_RESPONSES)


@router.get(
    "/{site_id}/lighting",
    response_model=LightingTonight,
    summary="今晚照明: check time, circuits as telemetry shows them, patrols and dark circuits",
)
def get_lighting_tonight(
    site_id: str, ctx: Ctx, session: DbSession, caller: Operator
) -> LightingTonight:
    site = site_of(ctx, caller, site_id)
    return lighting_tonight(session, site, ctx.clock.now())
