"""遥控: commands to devices. POST keeps the command (checked against the profile: nothing is
kept or sent when the point is not writable or the value not allowed); the maintenance service
sends it to the site's gateway and stores the gateway's answer; GET reads its state, and
`?wait=` holds the answer until the command is settled (at most 10 s) so the duty room gets the
result in one request after its POST."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.command_schemas import CommandIn, CommandOut, CommandValue, ReadBackValue
from api.deps import Ctx, DbSession, Duty, Reader, RowId, audit, site_of
from api.problems import PROBLEM_RESPONSES, problem
from maintenance.commands.models import DeviceCommand
from maintenance.commands.service import UnknownAsset, record_command
from propwatch.commands import FINAL, STATE_ZH, CommandRefused
from propwatch.site import Site

router = APIRouter(prefix="/api/v1/assets", tags=["commands"], responses=PROBLEM_RESPONSES)

MAX_WAIT = 10.0
WAIT_STEP = 0.05


def _url(c: DeviceCommand) -> str:
    return f"/api/v1/assets/{c.site_id}/{c.asset_code}/commands/{c.id}"


def _value_text(value: object, unit: str) -> str:
    if isinstance(value, bool):
        return "开" if value else "关"
    return f"{value:g} {unit}".strip() if isinstance(value, int | float) else str(value)


def _out(site: Site, c: DeviceCommand) -> CommandOut:
    asset = next((a for a in site.spec.assets if a.id == c.asset_code), None)
    face = site.point_faces(c.asset_code).get(c.point)
    t = c.requested_at.astimezone(site.spec.site.tz)
    return CommandOut(
        id=c.id,
        site_id=c.site_id,
        asset=c.asset_code,
        asset_name=asset.name if asset is not None else c.asset_code,
        device=c.device_id,
        point=c.point,
        point_label=face.label if face is not None else c.point,
        value=CommandValue(c.value),
        value_text=_value_text(c.value, face.unit if face is not None else ""),
        state=c.state,
        state_zh=STATE_ZH.get(c.state, c.state),
        final=c.state in FINAL,
        read_back=ReadBackValue(c.read_back),
        reason=c.reason,
        requested_by=c.requested_by,
        requested_role=c.requested_role,
        requested_at=c.requested_at,
        requested_at_local=f"{t.month}月{t.day}日 {t:%H:%M}",
        expires_at=c.expires_at,
        sent_at=c.sent_at,
        finished_at=c.finished_at,
        url=_url(c),
    )


def _known_asset(site: Site, code: str) -> None:
    if not any(a.id == code for a in site.spec.assets):
        raise HTTPException(404, f"设备 {code} 不存在 (unknown asset)")


@router.post(
    "/{site_id}/{code}/commands",
    status_code=202,
    response_model=CommandOut,
    summary="遥控: send a command to a writable point (202: kept and on its way)",
)
def post_command(
    site_id: str,
    code: str,
    body: CommandIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Duty,
) -> CommandOut | JSONResponse:
    site = site_of(ctx, caller, site_id)
    _known_asset(site, code)
    try:
        command = record_command(
            session,
            site,
            code,
            body.point,
            body.value.root,
            timedelta(seconds=body.ttl_seconds),
            requested_by=caller.name,
            requested_role=caller.role.value,
            now=ctx.clock.now(),
        )
    except UnknownAsset as exc:
        raise HTTPException(404, f"{exc} (unknown asset)") from exc
    except CommandRefused as exc:
        return problem(
            request,
            422,
            f"{exc.message} (command refused)",
            code="command_refused",
            errors=[{"loc": ["body", exc.field], "msg": exc.message}],
        )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"asset:{site_id}/{code}",
        status_code=202,
        detail={"command": command.id, **body.model_dump(mode="json")},
    )
    out = _out(site, command)
    response.headers["Location"] = out.url
    return out


@router.get(
    "/{site_id}/{code}/commands",
    response_model=list[CommandOut],
    summary="遥控记录: the asset's commands, newest first",
)
def list_commands(
    site_id: str,
    code: str,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CommandOut]:
    site = site_of(ctx, caller, site_id)
    _known_asset(site, code)
    rows = session.scalars(
        select(DeviceCommand)
        .where(DeviceCommand.site_id == site_id, DeviceCommand.asset_code == code)
        .order_by(DeviceCommand.id.desc())
        .limit(limit)
    )
    return [_out(site, c) for c in rows]


def _find(session: Session, site_id: str, code: str, command_id: int) -> DeviceCommand | None:
    return session.scalars(
        select(DeviceCommand).where(
            DeviceCommand.id == command_id,
            DeviceCommand.site_id == site_id,
            DeviceCommand.asset_code == code,
        )
    ).first()


@router.get(
    "/{site_id}/{code}/commands/{command_id}",
    response_model=CommandOut,
    summary="one command and its result; `wait` holds the answer until it is settled",
)
def get_command(
    site_id: str,
    code: str,
    command_id: RowId,
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT, description="seconds to wait for a final state (0-10)"),
    ] = 0,
) -> CommandOut:
    site = site_of(ctx, caller, site_id)
    _known_asset(site, code)
    deadline = time.monotonic() + wait
    pause = threading.Event()
    while True:
        command = _find(session, site_id, code, command_id)
        if command is None:
            raise HTTPException(404, f"遥控命令 {command_id} 不存在 (unknown command)")
        if command.state in FINAL or time.monotonic() >= deadline:
            return _out(site, command)
        # end the read transaction: the next look sees what the consumer committed since
        session.rollback()
        session.expunge_all()
        pause.wait(WAIT_STEP)
