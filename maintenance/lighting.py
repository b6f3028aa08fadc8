"""夜间照明: the nightly check of public lighting, relative to the site's sunset.

Each night, `after_sunset` after sunset at the site's latitude/longitude (astral), every zone with
lighting gets one patrol work order (夜间巡查) for its night security and maintenance staff,
listing each public lighting circuit to verify and pre-filled with what telemetry shows.

A circuit that telemetry shows commanded on after dusk but drawing no or too little current
(below `min_current_ratio` x its rated current, or `min_current_a` when the rating is unknown)
becomes its own corrective order, one per circuit fault: while that order is open, later nights
only add an occurrence to it (the open-order `dedup_key` makes a second impossible). So does a
circuit we sent a switch-on command tonight (照明定时 or the duty room, `maintenance.lighting_
control`) that still reads off: the command failed, expired or was not obeyed, and the order
names it (who, when, its state and reason). A circuit whose latest command tonight is a
switch-off is dark on purpose.

The first start begins at that moment (the next check time makes the first patrol). Patrol
keys are (zone, night), so replicas and replays make one patrol per zone per night. After
downtime the latest missed night still gets its patrol, marked late, naming the nights missed
before it: a patrol three nights late checks nothing those nights, so those are reported, not
re-issued.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from astral import Observer
from astral.sun import sunrise, sunset
from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.commands.models import DeviceCommand
from maintenance.plans.models import PlanCursor
from maintenance.plans.service import insert_cursor
from maintenance.registry.models import Asset as AssetRow
from maintenance.work_orders.models import Source, WorkOrder
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.commands import STATE_ZH
from propwatch.site import Asset, Category, Priority, Site, SiteFile

CURSOR = "night-lighting"
LIGHTING_KINDS = ("lighting_panel", "lighting_circuit")
ACTOR = "night-lighting"
_CIRCUIT = re.compile(r"^(?:circuit_(\d+)_)?command$")
COMMAND_SETTLE = timedelta(minutes=2)
"""How long after a command the check waits before holding the circuit to it (write, read-back
and the next telemetry snapshot)."""


@dataclass(frozen=True)
class CircuitCommand:
    """The latest command sent to a circuit's on/off point tonight, as the order names it."""

    id: int
    on: bool
    by: str
    at_local: str  # 17:15
    state: str
    reason: str

    def text(self) -> str:
        """照明定时：B区路灯 17:15 的合闸命令（#12，已过期：…）."""
        state = STATE_ZH.get(self.state, self.state)
        why = f"：{self.reason}" if self.reason and self.state != "done" else ""
        verb = "合闸" if self.on else "分闸"
        return f"{self.by} {self.at_local} 的{verb}命令（#{self.id}，{state}{why}）"


def sunset_at(spec: SiteFile, night: date) -> datetime:
    """Sunset (UTC) on a local date; 18:00 local where the sun does not set (polar sites)."""
    info = spec.site
    try:
        return sunset(Observer(info.latitude, info.longitude), night, tzinfo=info.tz).astimezone(
            UTC
        )
    except ValueError:
        return datetime.combine(night, time(18, 0), tzinfo=info.tz).astimezone(UTC)


def sunrise_after(spec: SiteFile, night: date) -> datetime:
    info = spec.site
    day = night + timedelta(days=1)
    try:
        return sunrise(Observer(info.latitude, info.longitude), day, tzinfo=info.tz).astimezone(UTC)
    except ValueError:
        return datetime.combine(day, time(6, 0), tzinfo=info.tz).astimezone(UTC)


def check_time(spec: SiteFile, night: date) -> datetime:
    return sunset_at(spec, night) + timedelta(seconds=spec.night_lighting.after_sunset)


@dataclass(frozen=True)
class CircuitReading:
    """One lighting circuit as telemetry shows it at the check."""

    asset_id: str
    asset_name: str
    zone: str
    circuit: int | None  # None: the asset is one circuit
    commanded_on: bool | None
    current_a: float | None
    rated_a: float | None
    fresh: bool  # telemetry reported after dusk and the device is online
    command: CircuitCommand | None = None  # the latest command to its on/off point tonight

    @property
    def key(self) -> str:
        return self.asset_id if self.circuit is None else f"{self.asset_id}#{self.circuit}"

    @property
    def name(self) -> str:
        return (
            self.asset_name if self.circuit is None else f"{self.asset_name} 第{self.circuit}回路"
        )

    @property
    def not_switched_on(self) -> bool:
        """We sent it a switch-on tonight, yet it reads off."""
        return (
            self.fresh
            and self.command is not None
            and self.command.on
            and self.commanded_on is False
        )

    def is_dark(self, spec: SiteFile) -> bool:
        """Commanded on after dusk yet drawing no or too little current, or sent a switch-on
        that it does not show; never one we switched off on purpose."""
        if self.command is not None and not self.command.on:
            return False
        if self.not_switched_on:
            return True
        if not self.fresh or self.commanded_on is not True or self.current_a is None:
            return False
        cfg = spec.night_lighting
        floor = cfg.min_current_a
        if self.rated_a:
            floor = max(floor, cfg.min_current_ratio * self.rated_a)
        return self.current_a < floor

    @property
    def tripped(self) -> bool:
        """Commanded on yet drawing nothing: the breaker has tripped or the supply is off, so
        the circuit is not 已合闸 whatever the command says."""
        return self.commanded_on is True and self.current_a is not None and self.current_a < 0.05

    def telemetry_text(self, spec: SiteFile) -> str:
        if not self.fresh:
            return "无天黑后的遥测数据，请现场确认"
        dark = self.is_dark(spec)
        ordered = "，已另开维修工单" if dark else ""
        if self.not_switched_on and self.command is not None:
            return f"未合闸：{self.command.text()}，回路仍为分闸{ordered}"
        if self.commanded_on is False:
            if self.command is not None and not self.command.on:
                return f"已分闸（{self.command.text()}）"
            return "未合闸（请确认时控设置）"
        if self.tripped:
            return f"已发合闸命令但无电流，疑似跳闸或断电{ordered}"
        current = f"{self.current_a:.2f} A" if self.current_a is not None else "电流未知"
        rated = f"（额定 {self.rated_a:.2f} A）" if self.rated_a else ""
        verdict = f"电流偏低，疑似灯具不亮{ordered}" if dark else "正常"
        return f"已合闸，电流 {current}{rated}，{verdict}"


def _number(values: dict[str, Any], name: str) -> float | None:
    v = values.get(name)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _circuit_numbers(site: Site, asset: Asset, values: dict[str, Any]) -> list[int | None]:
    names: set[str] = set(values)
    if asset.device and any(d.id == asset.device for d in site.spec.devices):
        profile = site.profile_of(asset.device)
        names |= {p.name for p in getattr(profile, "points", getattr(profile, "fields", []))}
    found: set[int | None] = set()
    for name in names:
        if m := _CIRCUIT.match(name):
            found.add(int(m.group(1)) if m.group(1) else None)
    return sorted(found, key=lambda n: -1 if n is None else n)


def night_start(site: Site, night: date) -> datetime:
    """Local noon of the night's date: the night's commands are those sent since."""
    return datetime.combine(night, time(12, 0), tzinfo=site.spec.site.tz).astimezone(UTC)


def circuit_commands(
    session: Session, site: Site, since: datetime, until: datetime
) -> dict[tuple[str, str], CircuitCommand]:
    """The latest command to each lighting circuit's on/off point sent in [since, until], by
    (asset, point)."""
    assets = [a.id for a in site.spec.assets if a.kind in LIGHTING_KINDS]
    if not assets:
        return {}
    out: dict[tuple[str, str], CircuitCommand] = {}
    for c in session.scalars(
        select(DeviceCommand)
        .where(
            DeviceCommand.site_id == site.id,
            DeviceCommand.asset_code.in_(assets),
            DeviceCommand.requested_at >= since,
            DeviceCommand.requested_at <= until,
        )
        .order_by(DeviceCommand.id)
    ):
        if is_circuit_point(c):
            out[(c.asset_code, c.point)] = circuit_command(site, c)
    return out


def is_circuit_point(c: DeviceCommand) -> bool:
    """A switching of a lighting circuit's on/off point (true or false)."""
    return bool(_CIRCUIT.match(c.point)) and isinstance(c.value, bool)


def circuit_command(site: Site, c: DeviceCommand) -> CircuitCommand:
    at = (c.scheduled_at or c.requested_at).astimezone(site.spec.site.tz)
    return CircuitCommand(
        id=c.id,
        on=bool(c.value),
        by=c.requested_by,
        at_local=f"{at:%H:%M}",
        state=c.state,
        reason=c.reason,
    )


def circuit_readings(
    session: Session,
    site: Site,
    dusk: datetime,
    commands: Mapping[tuple[str, str], CircuitCommand] | None = None,
) -> list[CircuitReading]:
    """Every public lighting circuit of the site with its latest telemetry."""
    rows = {
        r.code: r
        for r in session.scalars(
            select(AssetRow).where(AssetRow.site_id == site.id, AssetRow.kind.in_(LIGHTING_KINDS))
        )
    }
    return readings_of(site, rows, dusk, commands)


def readings_of(
    site: Site,
    rows: Mapping[str, AssetRow],
    dusk: datetime,
    commands: Mapping[tuple[str, str], CircuitCommand] | None = None,
) -> list[CircuitReading]:
    """The circuits of the site's lighting assets from their registry rows (by asset code), so
    a view of many sites reads every site's rows in one query; with tonight's commands to
    their on/off points, if given."""
    spec = site.spec
    out: list[CircuitReading] = []
    for asset in spec.assets:
        if asset.kind not in LIGHTING_KINDS:
            continue
        row = rows.get(asset.id)
        state = (row.state or {}) if row else {}
        values = state.get("values") if isinstance(state.get("values"), dict) else {}
        assert isinstance(values, dict)
        fresh = bool(
            row is not None
            and row.state_at is not None
            and row.state_at >= dusk
            and state.get("online", True)
        )
        for n in _circuit_numbers(site, asset, values) or [None]:
            prefix = "" if n is None else f"circuit_{n}_"
            command = values.get(f"{prefix}command")
            out.append(
                CircuitReading(
                    asset_id=asset.id,
                    asset_name=asset.name,
                    zone=asset.zone,
                    circuit=n,
                    commanded_on=command if isinstance(command, bool) else None,
                    current_a=_number(values, f"{prefix}current"),
                    rated_a=_number(values, f"{prefix}rated_current"),
                    fresh=fresh,
                    command=(commands or {}).get((asset.id, f"{prefix}command")),
                )
            )
    return out


@dataclass
class NightResult:
    patrols: list[int] = field(default_factory=list)
    faults_opened: list[int] = field(default_factory=list)
    faults_repeated: int = 0
    missed_nights: list[date] = field(default_factory=list)


def fault_dedup_key(site_id: str, circuit_key: str) -> str:
    return f"lighting-fault:{site_id}:{circuit_key}"


def _patrol(
    session: Session,
    site: Site,
    night: date,
    zone_id: str,
    circuits: list[CircuitReading],
    now: datetime,
    missed: list[date],
) -> WorkOrder:
    spec = site.spec
    zone = spec.zone(zone_id)
    due = check_time(spec, night)
    late = now - due > timedelta(minutes=10)
    lines = [
        f"夜间照明巡查：{zone.name}，{night:%Y年%m月%d日} 日落后。请逐一核对以下公共照明回路："
    ]
    lines += [f"□ {c.name}：{c.telemetry_text(spec)}" for c in circuits]
    if missed:
        lines.append(
            "系统停机期间未能下发的夜间巡查：" + "、".join(f"{d:%m月%d日}" for d in missed)
        )
    if late:
        lines.append(f"补建：迟到 {(now - due).total_seconds() / 3600:.1f} 小时")
    checklist = [
        {
            "id": re.sub(r"[^A-Za-z0-9_.\-]", "-", c.key),
            "text": f"{c.name} 灯具全亮",
            "unit": None,
            "low": None,
            "high": None,
            "measurement": False,
            "result": None,
            "telemetry": {
                "commanded_on": c.commanded_on,
                "current_a": c.current_a,
                "rated_a": c.rated_a,
                "fresh": c.fresh,
                "suspect": c.is_dark(spec),
                "command_id": c.command.id if c.command is not None else None,
            },
        }
        for c in circuits
    ]
    wo, _ = create_work_order(
        session,
        spec,
        NewWorkOrder(
            site_id=spec.site.id,
            source=Source.PLAN,
            source_key=f"lighting:{spec.site.id}:{zone_id}:{night.isoformat()}",
            category=Category.LIGHTING,
            priority=Priority.GENERAL,
            title=f"夜间照明巡查 {night:%m月%d日}：{zone.name}",
            reported_at=min(due, now),
            description="\n".join(lines),
            assignee=next(iter(zone.security or zone.technicians), None),
            zone_code=zone_id,
            details={
                "plan_id": CURSOR,
                "night": night.isoformat(),
                "scheduled_at": due.isoformat(),
                "late": late,
                "missed_nights": [d.isoformat() for d in missed],
                "checklist": checklist,
            },
        ),
        now,
        actor=ACTOR,
    )
    wo.resolve_due = sunrise_after(spec, night)
    return wo


def _fault(
    session: Session, site: Site, night: date, c: CircuitReading, now: datetime, result: NightResult
) -> None:
    spec = site.spec
    key = fault_dedup_key(spec.site.id, c.key)
    open_wo = session.scalar(select(WorkOrder).where(WorkOrder.dedup_key == key))
    if open_wo is not None:
        nights = list(open_wo.details.get("nights", []))  # type: ignore[call-overload]
        if night.isoformat() not in nights:
            open_wo.details = {**open_wo.details, "nights": [*nights, night.isoformat()]}
            open_wo.occurrences += 1
            open_wo.updated_at = now
            result.faults_repeated += 1
        return
    rated = f"，额定 {c.rated_a:.2f} A" if c.rated_a else ""
    sent = f"{c.command.text()}。" if c.command is not None else ""
    if c.not_switched_on:
        description = (
            f"{night.month}月{night.day}日 天黑后 {c.name} 未合闸：{sent}回路仍为分闸，灯未亮。"
            "请检查网关与配电箱（通讯、接触器、手动/自动位置），必要时现场合闸。"
        )
    elif c.tripped:
        description = (
            f"{night.month}月{night.day}日 天黑后 {c.name} 已发合闸命令但无电流，"
            f"疑似跳闸或断电（断路器跳闸、接触器未吸合或线路断开），请检修。{sent}"
        )
    else:
        description = (
            f"{night.month}月{night.day}日 天黑后 {c.name} 已合闸，但电流仅 "
            f"{c.current_a:.2f} A{rated}，灯具可能不亮（灯具损坏或线路断开），请检修。{sent}"
        )
    wo, created = create_work_order(
        session,
        spec,
        NewWorkOrder(
            site_id=spec.site.id,
            source=Source.PLAN,
            source_key=f"{key}:{night.isoformat()}",
            category=Category.LIGHTING,
            priority=Priority.IMPORTANT,
            title=f"照明回路不亮：{c.name}",
            reported_at=now,
            asset_code=c.asset_id,
            description=description,
            dedup_key=key,
            zone_code=c.zone,
            details={
                "circuit": c.key,
                "nights": [night.isoformat()],
                "current_a": c.current_a,
                "command_id": c.command.id if c.command is not None else None,
            },
        ),
        now,
        actor=ACTOR,
    )
    if created:
        result.faults_opened.append(wo.id)


def night_lighting_check(session: Session, site: Site, now: datetime) -> NightResult:
    """One idempotent pass: tonight's patrols once their time has come, and circuit faults while
    it is dark."""
    spec = site.spec
    result = NightResult()
    if not spec.night_lighting.enabled:
        return result
    today = now.astimezone(spec.site.tz).date()
    cursor = session.scalar(
        select(PlanCursor).where(
            PlanCursor.site_id == site.id,
            PlanCursor.plan_code == CURSOR,
            PlanCursor.asset_code == "",
        )
    )
    if cursor is None:
        # Like a new plan, the check starts from now: the first patrol is the next check time.
        through = now
        cursor = insert_cursor(
            session,
            PlanCursor(
                site_id=site.id, plan_code=CURSOR, asset_code="", through=through, updated_at=now
            ),
        )
        through = cursor.through or through
    else:
        assert cursor.through is not None
        through = cursor.through
    due_nights = []
    night = through.astimezone(spec.site.tz).date() - timedelta(days=1)
    while night <= today:
        if through < check_time(spec, night) <= now:
            due_nights.append(night)
        night += timedelta(days=1)
    # The night under way: from its check time until sunrise.
    dark_night = next(
        (
            n
            for n in (today, today - timedelta(days=1))
            if check_time(spec, n) <= now < sunrise_after(spec, n)
        ),
        None,
    )
    if due_nights or dark_night:
        latest = due_nights[-1] if due_nights else dark_night
        assert latest is not None
        result.missed_nights = due_nights[:-1]
        commands = circuit_commands(session, site, night_start(site, latest), now - COMMAND_SETTLE)
        readings = circuit_readings(session, site, sunset_at(spec, latest), commands)
        if due_nights:
            zones = sorted({c.zone for c in readings})
            for zone_id in zones:
                circuits = [c for c in readings if c.zone == zone_id]
                wo = _patrol(session, site, latest, zone_id, circuits, now, result.missed_nights)
                result.patrols.append(wo.id)
        if dark_night is not None:
            for c in readings:
                if c.is_dark(spec):
                    _fault(session, site, dark_night, c, now, result)
    if cursor.through is None or cursor.through < now:
        cursor.through, cursor.updated_at = now, now
    return result
