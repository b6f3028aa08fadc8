"""全部项目总览: every property a duty centre watches, one row each, the worst first.

Per site: active alarms by severity, open and overdue work orders, devices offline and tonight's
lighting check, each counted with the same truth its own duty room uses:

- an *active* alarm is what the duty room's board counts as 活动: raised, not cleared, not
  shelved, suppressed or out of service (`maintenance.alarms.states`: unacknowledged or
  acknowledged);
- an *open* order is in `OPEN_STATUSES` (the duty room's 未完成工单); it is *overdue* when
  `overdue_limits` would name a limit (a limit past due and unmet, or met late; none on hold);
- a device is *offline* when the gateway's snapshot of its asset says so (`state.online` is
  false, the 离线 chip) or a communication-loss alarm (通信中断) of the asset is open; an asset
  out of service (停用) is counted apart, as the duty room shows it apart;
- tonight's lighting is `maintenance.lighting_tonight` summarised.

Each figure is one grouped query over all the sites, never a query per site: a company of 200
properties × 50 assets reads in a handful of queries (bench/overview.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from maintenance.alarms.models import Alarm
from maintenance.lighting_tonight import LightingTonight, lighting_tonight_of_sites
from maintenance.registry.models import Asset
from maintenance.work_orders.models import OPEN_STATUSES, Status, WorkOrder
from maintenance.work_orders.service import LIMITS, MET_BY
from propwatch.events import Severity
from propwatch.site import Site


class AlarmCounts(BaseModel):
    """Active alarms (活动告警) by severity, and how many of them nobody has acknowledged."""

    critical: int = 0
    major: int = 0
    minor: int = 0
    warning: int = 0
    total: int = 0
    unacknowledged: int = 0


class LightingState(StrEnum):
    DISABLED = "disabled"  # 未启用夜间照明巡查
    WAITING = "waiting"  # 未到巡查时间
    NO_PATROL = "no_patrol"  # 已到巡查时间，尚无巡查工单
    PATROLLING = "patrolling"  # 巡查中
    DONE = "done"  # 巡查完成


LIGHTING_STATE_ZH = {
    LightingState.DISABLED: "未启用",
    LightingState.WAITING: "未到巡查时间",
    LightingState.NO_PATROL: "尚无巡查工单",
    LightingState.PATROLLING: "巡查中",
    LightingState.DONE: "巡查完成",
}

SEVERITIES = frozenset(s.value for s in Severity)

PATROL_DONE = frozenset(
    s.value for s in (Status.RESOLVED, Status.VERIFIED, Status.CLOSED, Status.REVISITED)
)


class LightingSummary(BaseModel):
    """今晚照明 in one line: where the check stands and what is dark."""

    state: LightingState
    state_zh: str
    night: date
    check_at: datetime
    patrols: int
    patrols_done: int
    checked: int
    items: int
    failed: int
    dark_circuits: int  # telemetry: commanded on, drawing too little
    open_faults: int  # open "circuit dark" orders


class SiteOverview(BaseModel):
    site_id: str
    name: str
    region: str | None
    region_name: str | None
    timezone: str
    alarms: AlarmCounts
    open_orders: int
    overdue_orders: int
    devices: int  # assets in service
    devices_offline: int
    devices_out_of_service: int
    lighting: LightingSummary


class Overview(BaseModel):
    """Every site the caller may see, the worst first (`worst_first`)."""

    at: datetime
    sites: list[SiteOverview]


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """`overdue_limits(wo, now)` is not empty, as SQL: a limit past due and unmet, or met late;
    no limit runs on hold or for a cancelled order."""
    late = [
        _late(getattr(WorkOrder, f"{name}_due"), getattr(WorkOrder, MET_BY[name]), now)
        for name in LIMITS
    ]
    late.append(_late(WorkOrder.revisit_due, WorkOrder.revisited_at, now))
    return and_(WorkOrder.status.not_in([Status.ON_HOLD.value, Status.CANCELLED.value]), or_(*late))


def _late(
    due: QueryableAttribute[datetime | None],
    met: QueryableAttribute[datetime | None],
    now: datetime,
) -> ColumnElement[bool]:
    return and_(
        due.is_not(None),
        or_(and_(met.is_not(None), met > due), and_(met.is_(None), due < now)),
    )


def active_alarm_clause(now: datetime) -> ColumnElement[bool]:
    """On the board as 未确认 or 已确认 (`alarm_state`): raised, not cleared, and neither out of
    service, suppressed nor shelved."""
    return and_(
        Alarm.raise_count > 0,
        Alarm.cleared_at.is_(None),
        Alarm.out_of_service_at.is_(None),
        Alarm.suppressed_reason.is_(None),
        or_(Alarm.shelved_until.is_(None), Alarm.shelved_until <= now),
    )


def sites_overview(
    session: Session,
    sites: Iterable[Site],
    now: datetime,
    *,
    region_names: Mapping[str, str] | None = None,
) -> Overview:
    by_id = {site.id: site for site in sites}
    ids = sorted(by_id)
    names = region_names or {}
    alarms = _alarm_counts(session, ids, now)
    orders = _order_counts(session, ids, now)
    devices = _device_counts(session, ids)
    lighting = lighting_tonight_of_sites(session, by_id.values(), now)
    rows = []
    for site_id in ids:
        info = by_id[site_id].spec.site
        total, offline, out = devices.get(site_id, (0, 0, 0))
        open_orders, overdue = orders.get(site_id, (0, 0))
        rows.append(
            SiteOverview(
                site_id=site_id,
                name=info.name,
                region=info.region,
                region_name=names.get(info.region, info.region) if info.region else None,
                timezone=info.timezone,
                alarms=alarms.get(site_id, AlarmCounts()),
                open_orders=open_orders,
                overdue_orders=overdue,
                devices=total,
                devices_offline=offline,
                devices_out_of_service=out,
                lighting=summarise_lighting(lighting[site_id]),
            )
        )
    rows.sort(key=worst_first)
    return Overview(at=now, sites=rows)


def worst_first(s: SiteOverview) -> tuple[int | str, ...]:
    """What a duty centre works first: emergencies, then broken time limits, blind spots
    (offline devices), major alarms, alarms nobody has acknowledged, dark lighting, the rest;
    ties by name."""
    light = s.lighting
    return (
        -s.alarms.critical,
        -s.overdue_orders,
        -s.devices_offline,
        -s.alarms.major,
        -s.alarms.unacknowledged,
        -(light.dark_circuits + light.open_faults + light.failed),
        -(s.alarms.minor + s.alarms.warning),
        -s.open_orders,
        s.name,
    )


def summarise_lighting(t: LightingTonight) -> LightingSummary:
    done = sum(1 for p in t.patrols if p.status in PATROL_DONE)
    if not t.enabled:
        state = LightingState.DISABLED
    elif not t.started:
        state = LightingState.WAITING
    elif not t.patrols:
        state = LightingState.NO_PATROL
    elif done < len(t.patrols):
        state = LightingState.PATROLLING
    else:
        state = LightingState.DONE
    return LightingSummary(
        state=state,
        state_zh=LIGHTING_STATE_ZH[state],
        night=t.night,
        check_at=t.check_at,
        patrols=len(t.patrols),
        patrols_done=done,
        checked=sum(p.checked for p in t.patrols),
        items=sum(p.total for p in t.patrols),
        failed=sum(p.failed for p in t.patrols),
        dark_circuits=sum(1 for c in t.circuits if c.suspect),
        open_faults=len(t.faults),
    )


def _alarm_counts(session: Session, ids: list[str], now: datetime) -> dict[str, AlarmCounts]:
    if not ids:
        return {}
    rows = session.execute(
        select(
            Alarm.site_id,
            Alarm.severity,
            func.count(),
            func.sum(case((Alarm.acknowledged_at.is_(None), 1), else_=0)),
        )
        .where(Alarm.site_id.in_(ids), active_alarm_clause(now))
        .group_by(Alarm.site_id, Alarm.severity)
    )
    out: dict[str, AlarmCounts] = defaultdict(AlarmCounts)
    for site_id, severity, count, unacked in rows:
        c = out[site_id]
        if severity in SEVERITIES:
            setattr(c, severity, getattr(c, severity) + count)
        c.total += count
        c.unacknowledged += int(unacked or 0)
    return dict(out)


def _order_counts(session: Session, ids: list[str], now: datetime) -> dict[str, tuple[int, int]]:
    if not ids:
        return {}
    rows = session.execute(
        select(
            WorkOrder.site_id,
            func.count(),
            func.sum(case((overdue_clause(now), 1), else_=0)),
        )
        .where(
            WorkOrder.site_id.in_(ids),
            WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .group_by(WorkOrder.site_id)
    )
    return {site_id: (count, int(overdue or 0)) for site_id, count, overdue in rows}


def _device_counts(session: Session, ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """(in service, offline, out of service) per site."""
    if not ids:
        return {}
    in_service = Asset.out_of_service_since.is_(None)
    counts = session.execute(
        select(Asset.site_id, func.count(), func.sum(case((in_service, 0), else_=1)))
        .where(Asset.site_id.in_(ids), Asset.retired_at.is_(None))
        .group_by(Asset.site_id)
    )
    offline: dict[str, set[str]] = defaultdict(set)
    by_state = session.execute(
        select(Asset.site_id, Asset.code).where(
            Asset.site_id.in_(ids),
            Asset.retired_at.is_(None),
            in_service,
            Asset.state["online"].as_boolean().is_(False),
        )
    )
    by_alarm = session.execute(
        select(Alarm.site_id, Alarm.asset_code)
        .join(Asset, (Asset.site_id == Alarm.site_id) & (Asset.code == Alarm.asset_code))
        .where(
            Alarm.site_id.in_(ids),
            Alarm.cleared_at.is_(None),
            Alarm.raise_count > 0,
            Alarm.episode_id.contains("/comm/"),  # `is_communication_alarm`
            Asset.retired_at.is_(None),
            in_service,
        )
    )
    for site_id, code in [*by_state, *by_alarm]:
        offline[site_id].add(code)
    return {
        site_id: (total - int(out or 0), len(offline.get(site_id, ())), int(out or 0))
        for site_id, total, out in counts
    }
