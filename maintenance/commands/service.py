"""Record a command, hand it to the broker, settle it with the gateway's answer.

A command is checked against the asset's profile before it is kept (`propwatch.commands`), so a
refused request keeps nothing and sends nothing. A kept command is sent by the dispatcher
(`maintenance.commands.dispatch`), which claims it `pending` → `sent` with one conditional
update, so of two replicas only one sends it. The gateway's answer settles it; a command the
gateway never answered (sent by a process that died before the broker had it, or a gateway away
past its expiry) is marked `expired` once `NO_ANSWER_GRACE` has passed after its expiry, and a
late answer from the gateway still replaces that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from maintenance.commands.models import DeviceCommand
from propwatch.commands import (
    EXPIRED,
    FINAL,
    PENDING,
    SENT,
    CommandRefused,
    CommandResult,
    CommandValue,
    checked_value,
    writable_point,
)
from propwatch.profiles import ModbusProfile
from propwatch.site import Site

NO_ANSWER_GRACE = timedelta(seconds=30)
NOT_SENT = "有效期内未能下发到网关（维护服务或消息代理不可用）"
NO_ANSWER = "网关未在有效期内回复；若网关离线，命令不会在其恢复后执行"
MISSED = "维护服务在有效期内未运行，定时命令未下发"


class UnknownAsset(LookupError):
    """The site file has no such asset, or it has no Modbus device to command."""


def record_command(
    session: Session,
    site: Site,
    asset_code: str,
    point_name: str,
    value: object,
    ttl: timedelta,
    *,
    requested_by: str,
    requested_role: str,
    now: datetime,
    scheduled_at: datetime | None = None,
    schedule_key: str | None = None,
) -> DeviceCommand:
    """Check and keep a command (`pending`); `UnknownAsset` or `CommandRefused` otherwise.

    A scheduled command (`scheduled_at`, a lighting switching) expires `ttl` after the time it
    was due, however late it is recorded; one already past that is kept `expired` at once (the
    record that it was missed) and never sent."""
    asset = next((a for a in site.spec.assets if a.id == asset_code), None)
    if asset is None:
        raise UnknownAsset(f"设备 {asset_code} 不存在")
    profile = site.profile_of_asset(asset_code)
    if asset.device is None or not isinstance(profile, ModbusProfile):
        raise CommandRefused("point", f"设备「{asset.name}」没有可遥控的测点")
    point = writable_point(profile, point_name)
    checked: CommandValue = checked_value(point, value)
    command = DeviceCommand(
        site_id=site.id,
        asset_code=asset_code,
        device_id=asset.device,
        point=point.name,
        value=checked,
        requested_by=requested_by,
        requested_role=requested_role,
        requested_at=now,
        expires_at=(scheduled_at or now) + ttl,
        state=PENDING,
        reason="",
        schedule_key=schedule_key,
        scheduled_at=scheduled_at,
    )
    if command.expires_at <= now:
        command.state, command.finished_at, command.reason = EXPIRED, now, MISSED
    session.add(command)
    session.flush()
    return command


def claim_for_sending(session: Session, command_id: int, now: datetime) -> bool:
    """`pending` → `sent`, if still pending and not expired: True for the one replica that won."""
    claimed = session.execute(
        update(DeviceCommand)
        .where(
            DeviceCommand.id == command_id,
            DeviceCommand.state == PENDING,
            DeviceCommand.expires_at > now,
        )
        .values(state=SENT, sent_at=now)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def due_to_send(
    session: Session, sites: set[str], now: datetime, limit: int = 100
) -> list[DeviceCommand]:
    """Pending commands of these sites, oldest first."""
    if not sites:
        return []
    return list(
        session.scalars(
            select(DeviceCommand)
            .where(
                DeviceCommand.state == PENDING,
                DeviceCommand.expires_at > now,
                DeviceCommand.site_id.in_(sites),
            )
            .order_by(DeviceCommand.id)
            .limit(limit)
        )
    )


def _overdue(now: datetime) -> ColumnElement[bool]:
    return or_(
        (DeviceCommand.state == PENDING) & (DeviceCommand.expires_at <= now),
        (DeviceCommand.state == SENT) & (DeviceCommand.expires_at <= now - NO_ANSWER_GRACE),
    )


def any_unanswered(session: Session, now: datetime) -> bool:
    """Whether `expire_unanswered` has anything to do (a read: no write lock on SQLite)."""
    return session.scalar(select(DeviceCommand.id).where(_overdue(now)).limit(1)) is not None


def expire_unanswered(session: Session, now: datetime) -> int:
    """Pending commands past their expiry, and sent ones past it by the grace: `expired`."""
    not_sent = session.execute(
        update(DeviceCommand)
        .where(DeviceCommand.state == PENDING, DeviceCommand.expires_at <= now)
        .values(state=EXPIRED, finished_at=now, reason=NOT_SENT)
    )
    unanswered = session.execute(
        update(DeviceCommand)
        .where(DeviceCommand.state == SENT, DeviceCommand.expires_at <= now - NO_ANSWER_GRACE)
        .values(state=EXPIRED, finished_at=now, reason=NO_ANSWER)
    )
    return int(not_sent.rowcount + unanswered.rowcount)  # type: ignore[attr-defined]


def apply_result(session: Session, result: CommandResult) -> bool:
    """Store the gateway's answer on its command: True when it changed the row. A command
    already settled by the gateway keeps its answer (a redelivery changes nothing)."""
    settled_by_us = (DeviceCommand.state == EXPIRED) & (
        DeviceCommand.reason.in_((NO_ANSWER, NOT_SENT))
    )
    changed = session.execute(
        update(DeviceCommand)
        .where(
            DeviceCommand.id == result.command_id,
            DeviceCommand.site_id == result.site_id,
            DeviceCommand.asset_code == result.asset_id,
            or_(DeviceCommand.state.not_in(tuple(FINAL)), settled_by_us),
        )
        .values(
            state=result.state,
            finished_at=result.at,
            read_back=result.read_back,
            reason=result.reason,
        )
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]
