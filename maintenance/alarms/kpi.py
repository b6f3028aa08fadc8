"""告警系统绩效: is the alarm load one the duty room (值班室) can handle? (ISA-18.2, EEMUA 191)

Definitions, so the figures can be checked by hand:
- An *annunciated* alarm (报警) is an episode that was raised (`raise_count` > 0: a clear that
  came before its raise is not one yet) and not suppressed by design (`suppressed_reason`: the
  asset out of service or under planned maintenance; those are counted apart as `suppressed`).
  It counts at its `raised_at`; one delivered late (`late`) counts too, and is also counted apart.
- The period [start, end) is cut into 10-minute slots from `start`; the figures cover the slots
  begun before `at` (the end, or now while the period runs; the current slot counts whole).
- Alarm rate (报警率) per operator = annunciated alarms started in a slot / `duty.operators` of
  the site file; the average is over every slot, the peak is the busiest slot. EEMUA 191: an
  average of at most 1 per 10 minutes is acceptable, at most 2 manageable, above that overload.
- Flood (告警泛滥): a slot in which more than 10 alarms started (the site's total, whatever the
  number of operators); flood share = such slots / slots.
- Bad actors (高频告警): the ten asset + alarm type pairs with the most annunciated alarms, each
  with its share of all annunciated alarms of the period, and the ten together.
- Chattering (频繁告警): an asset + alarm type pair with, among its alarms of the period, one
  flagged `chattering` by the alarm service (the site's `chattering` rule, by default 5 within
  10 minutes) or three that started within 60 s, first to third (ISA-18.2's "3 in 1 minute",
  in whole seconds). Both are reported: `flagged` and `fastest_three_seconds`.
- Standing (长期告警): an annunciated alarm still active at `at` (not cleared by then) and raised
  more than 24 h before `at`, whenever it was raised; shelved (搁置) and out-of-service (停用)
  ones included and marked.

Every figure is a SQL aggregate (per site and slot, per pair), so a month of a busy site costs a
few grouped queries, not a walk through its rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, ColumnElement, Integer, and_, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from maintenance.alarms.models import Alarm
from maintenance.registry.models import Asset
from propwatch.site import SiteFile

SLOT = timedelta(minutes=10)
FLOOD_ABOVE = 10
"""More alarms than this started in one slot is a flood (EEMUA 191, ISA-18.2)."""
BURST_EPISODES, BURST_WITHIN_SECONDS = 3, 60
STANDING_AFTER = timedelta(hours=24)
BAD_ACTORS = 10
ACCEPTABLE, MANAGEABLE = 1.0, 2.0
"""EEMUA 191's average alarm rate per operator per 10 minutes."""

WINDOWS = {"10m": timedelta(minutes=10), "24h": timedelta(hours=24)}
"""The rolling windows of `/metrics`, by the label they carry."""


class EpochSeconds(FunctionElement[int]):
    """Whole seconds since 1970 of a UTC datetime column: the slot arithmetic of both backends."""

    type = BigInteger()
    name = "epoch_seconds"
    inherit_cache = True


@compiles(EpochSeconds, "sqlite")
def _epoch_sqlite(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # the column holds 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (`UtcDateTime`)
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(EpochSeconds, "postgresql")
def _epoch_postgresql(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def annunciated() -> ColumnElement[bool]:
    """报警: an episode the duty room was shown as an alarm."""
    return and_(Alarm.raise_count > 0, Alarm.suppressed_reason.is_(None))


class AlarmLoad(BaseModel):
    """报警率 per operator per 10 minutes, and floods (告警泛滥), over the slots of a period."""

    operators: int
    slots: int
    alarms: int
    average_per_operator: float | None
    peak_per_operator: float | None
    peak_slot_start: datetime | None
    flood_slots: int
    flood_share: float | None
    assessment: str | None
    """EEMUA 191's reading of the average: 可接受 (≤ 1), 可管理 (≤ 2), 过载 (above)."""


class BadActor(BaseModel):
    """高频告警: one of the alarms that come most often."""

    asset: str
    name: str
    alarm_type: str
    count: int
    share: float


class ChatteringAlarm(BaseModel):
    """频繁告警: an asset's alarm type that keeps coming back."""

    asset: str
    name: str
    alarm_type: str
    episodes: int
    flagged: int
    """Episodes the alarm service flagged by the site's `chattering` rule."""
    fastest_three_seconds: int | None
    """Shortest time in which three episodes started; None with fewer than three."""


class StandingAlarm(BaseModel):
    """长期告警: active for more than 24 hours."""

    id: int
    asset: str
    name: str
    alarm_type: str
    severity: str
    raised_at: datetime
    hours_active: float
    acknowledged: bool
    shelved: bool
    out_of_service: bool
    stale: bool
    """The device is offline: whether the condition still holds is unknown (状态未知)."""


class AlarmSystemKpis(BaseModel):
    """告警系统绩效 of one site over a period; definitions in `maintenance.alarms.kpi`."""

    start: datetime
    end: datetime
    at: datetime
    load: AlarmLoad
    suppressed: int
    late: int
    bad_actors: list[BadActor]
    bad_actor_share: float | None
    chattering_count: int
    chattering: list[ChatteringAlarm]
    standing_count: int
    standing: list[StandingAlarm]


def alarm_system_kpis(
    session: Session, spec: SiteFile, start: datetime, end: datetime, now: datetime
) -> AlarmSystemKpis:
    """The KPIs of `spec`'s site over [start, end), as far as `now` when the period runs."""
    site = spec.site.id
    at = max(start, min(end, now))
    counts = slot_counts(session, start, at, [site]).get(site, {})
    load = alarm_load(counts, start, at, spec.duty.operators)
    actors = _bad_actors(session, site, start, at)
    chattering = chattering_alarms(session, start, at, [site]).get(site, [])
    standing = standing_alarms(session, site, at)
    names = _asset_names(
        session,
        site,
        {a[0] for a in actors} | {c.asset for c in chattering} | {s.asset_code for s in standing},
    )
    suppressed, late = _suppressed_and_late(session, site, start, at)
    bad = [
        BadActor(
            asset=asset,
            name=names.get(asset, asset),
            alarm_type=alarm_type,
            count=count,
            share=round(count / load.alarms, 4),
        )
        for asset, alarm_type, count in actors
    ]
    return AlarmSystemKpis(
        start=start,
        end=end,
        at=at,
        load=load,
        suppressed=suppressed,
        late=late,
        bad_actors=bad,
        bad_actor_share=round(sum(b.count for b in bad) / load.alarms, 4) if load.alarms else None,
        chattering_count=len(chattering),
        chattering=[
            ChatteringAlarm(
                asset=c.asset,
                name=names.get(c.asset, c.asset),
                alarm_type=c.alarm_type,
                episodes=c.episodes,
                flagged=c.flagged,
                fastest_three_seconds=c.fastest_three_seconds,
            )
            for c in chattering
        ],
        standing_count=len(standing),
        standing=[
            StandingAlarm(
                id=a.id,
                asset=a.asset_code,
                name=names.get(a.asset_code, a.asset_code),
                alarm_type=a.alarm_type,
                severity=a.severity,
                raised_at=a.raised_at,
                hours_active=round((at - a.raised_at).total_seconds() / 3600, 2),
                acknowledged=a.acknowledged_at is not None and a.acknowledged_at <= at,
                shelved=a.shelved_until is not None and a.shelved_until > at,
                out_of_service=a.out_of_service_at is not None and a.out_of_service_at <= at,
                stale=a.stale,
            )
            for a in standing
        ],
    )


def slot_counts(
    session: Session, start: datetime, end: datetime, site_ids: Sequence[str] | None
) -> dict[str, dict[int, int]]:
    """Annunciated alarms per site and 10-minute slot of [start, end); slot 0 begins at `start`
    (a whole second: the database reckons in whole seconds)."""
    origin = literal(int(start.timestamp()), BigInteger)
    slot = (EpochSeconds(Alarm.raised_at) - origin) // int(SLOT.total_seconds())
    inner = select(Alarm.site_id, slot.label("slot")).where(
        annunciated(), Alarm.raised_at >= start, Alarm.raised_at < end
    )
    if site_ids is not None:
        inner = inner.where(Alarm.site_id.in_(site_ids))
    sub = inner.subquery()
    rows = session.execute(
        select(sub.c.site_id, sub.c.slot, func.count()).group_by(sub.c.site_id, sub.c.slot)
    )
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for site_id, index, count in rows:
        out[site_id][int(index)] = count
    return out


def alarm_load(counts: dict[int, int], start: datetime, at: datetime, operators: int) -> AlarmLoad:
    """The rate and flood figures of the slots of [start, at) from their alarm counts."""
    slots = max(0, math.ceil((at - start) / SLOT))
    alarms = sum(counts.values())
    if slots == 0:
        return AlarmLoad(
            operators=operators,
            slots=0,
            alarms=alarms,
            average_per_operator=None,
            peak_per_operator=None,
            peak_slot_start=None,
            flood_slots=0,
            flood_share=None,
            assessment=None,
        )
    busiest = min(counts, key=lambda i: (-counts[i], i)) if counts else None
    average = round(alarms / slots / operators, 4)
    floods = sum(1 for c in counts.values() if c > FLOOD_ABOVE)
    return AlarmLoad(
        operators=operators,
        slots=slots,
        alarms=alarms,
        average_per_operator=average,
        peak_per_operator=round(counts[busiest] / operators, 4) if busiest is not None else 0.0,
        peak_slot_start=start + busiest * SLOT if busiest is not None else None,
        flood_slots=floods,
        flood_share=round(floods / slots, 4),
        assessment=assessment(average),
    )


def assessment(average: float) -> str:
    """EEMUA 191's reading of an average alarm rate per operator per 10 minutes."""
    if average <= ACCEPTABLE:
        return "可接受"
    if average <= MANAGEABLE:
        return "可管理"
    return "过载"


def _bad_actors(
    session: Session, site: str, start: datetime, end: datetime
) -> list[tuple[str, str, int]]:
    count = func.count().label("n")
    rows = session.execute(
        select(Alarm.asset_code, Alarm.alarm_type, count)
        .where(
            Alarm.site_id == site, annunciated(), Alarm.raised_at >= start, Alarm.raised_at < end
        )
        .group_by(Alarm.asset_code, Alarm.alarm_type)
        .order_by(count.desc(), Alarm.asset_code, Alarm.alarm_type)
        .limit(BAD_ACTORS)
    )
    return [(asset, alarm_type, n) for asset, alarm_type, n in rows]


@dataclass(frozen=True)
class Chatter:
    asset: str
    alarm_type: str
    episodes: int
    flagged: int
    fastest_three_seconds: int | None


def chattering_alarms(
    session: Session, start: datetime, end: datetime, site_ids: Sequence[str] | None
) -> dict[str, list[Chatter]]:
    """The chattering asset + alarm type pairs per site among the alarms of [start, end)."""
    started = EpochSeconds(Alarm.raised_at)
    pair = (Alarm.site_id, Alarm.asset_code, Alarm.alarm_type)
    third_after_first = started - func.lag(started, BURST_EPISODES - 1, type_=Integer).over(
        partition_by=pair, order_by=(Alarm.raised_at, Alarm.id)
    )
    inner = select(
        *pair,
        case((Alarm.chattering, 1), else_=0).label("flagged"),
        third_after_first.label("span"),
    ).where(annunciated(), Alarm.raised_at >= start, Alarm.raised_at < end)
    if site_ids is not None:
        inner = inner.where(Alarm.site_id.in_(site_ids))
    sub = inner.subquery()
    flagged, fastest = func.sum(sub.c.flagged), func.min(sub.c.span)
    rows = session.execute(
        select(sub.c.site_id, sub.c.asset_code, sub.c.alarm_type, func.count(), flagged, fastest)
        .group_by(sub.c.site_id, sub.c.asset_code, sub.c.alarm_type)
        .having(or_(flagged > 0, fastest <= BURST_WITHIN_SECONDS))
    )
    out: dict[str, list[Chatter]] = defaultdict(list)
    for site_id, asset, alarm_type, episodes, n_flagged, span in rows:
        fastest_three = None if span is None else int(span)
        out[site_id].append(Chatter(asset, alarm_type, episodes, int(n_flagged), fastest_three))
    for chatters in out.values():
        chatters.sort(key=lambda c: (-c.episodes, c.asset, c.alarm_type))
    return out


def standing_alarms(session: Session, site: str, at: datetime) -> list[Alarm]:
    """Annunciated alarms active at `at` and raised more than 24 h before, oldest first."""
    return list(
        session.scalars(
            select(Alarm)
            .where(
                Alarm.site_id == site,
                annunciated(),
                Alarm.raised_at < at - STANDING_AFTER,
                or_(Alarm.cleared_at.is_(None), Alarm.cleared_at > at),
            )
            .order_by(Alarm.raised_at, Alarm.id)
        )
    )


def _suppressed_and_late(
    session: Session, site: str, start: datetime, end: datetime
) -> tuple[int, int]:
    suppressed = Alarm.suppressed_reason.is_not(None)
    row = session.execute(
        select(
            func.sum(case((suppressed, 1), else_=0)),
            func.sum(case((and_(~suppressed, Alarm.late), 1), else_=0)),
        ).where(
            Alarm.site_id == site,
            Alarm.raise_count > 0,
            Alarm.raised_at >= start,
            Alarm.raised_at < end,
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _asset_names(session: Session, site: str, codes: Iterable[str]) -> dict[str, str]:
    """Asset names from the registry, as people know them (1号生活水泵, not pump-1)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = session.execute(
        select(Asset.code, Asset.name).where(Asset.site_id == site, Asset.code.in_(wanted))
    )
    return {code: name for code, name in rows}


@dataclass
class ActiveAlarms:
    """What stands on one site's alarm list now, in the states of `maintenance.alarms.states`."""

    by_severity: dict[str, int] = field(default_factory=dict)
    """Annunciated alarms not cleared, whatever their state (shelved, out of service too)."""
    unacknowledged: int = 0
    """Of those, 未确认: not acknowledged, not shelved, not out of service (ISA-18.2 UNACK)."""
    returned_unacknowledged: int = 0
    """Cleared but never acknowledged (已恢复未确认, RTNUN): still on the duty room's list."""
    shelved: int = 0
    out_of_service: int = 0
    standing: int = 0
    stale: int = 0
    suppressed: int = 0
    """Suppressed by design and not cleared: recorded, never annunciated."""


@dataclass
class RollingKpis:
    """The figures `/metrics` serves: the alarm list now, and the load over each window."""

    at: datetime
    active: dict[str, ActiveAlarms]
    load: dict[str, dict[str, AlarmLoad]]
    """Window label → site → load."""
    chattering: dict[str, dict[str, int]]
    """Window label → site → chattering pairs."""


def rolling_kpis(session: Session, specs: Sequence[SiteFile], now: datetime) -> RollingKpis:
    """Every site's figures over the `WINDOWS` ending at `now`: six grouped queries in all,
    whatever the number of sites."""
    at = now.replace(microsecond=0)
    sites = [s.site.id for s in specs]
    load: dict[str, dict[str, AlarmLoad]] = {}
    chattering: dict[str, dict[str, int]] = {}
    for label, window in WINDOWS.items():
        start = at - window
        counts = slot_counts(session, start, at, sites)
        load[label] = {
            s.site.id: alarm_load(counts.get(s.site.id, {}), start, at, s.duty.operators)
            for s in specs
        }
        chatters = chattering_alarms(session, start, at, sites)
        chattering[label] = {site: len(chatters.get(site, [])) for site in sites}
    return RollingKpis(
        at=at, active=active_alarms(session, sites, at), load=load, chattering=chattering
    )


def active_alarms(session: Session, sites: Sequence[str], now: datetime) -> dict[str, ActiveAlarms]:
    """`ActiveAlarms` per site: the open alarms grouped by severity, and the returned ones not
    acknowledged, in two grouped queries (index `ix_alarm_site_open`)."""
    shown = Alarm.suppressed_reason.is_(None)
    shelved = and_(Alarm.shelved_until.is_not(None), Alarm.shelved_until > now)
    out_of_service = Alarm.out_of_service_at.is_not(None)

    def n(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((and_(*conditions), 1), else_=0))

    rows = session.execute(
        select(
            Alarm.site_id,
            Alarm.severity,
            n(shown),
            n(shown, Alarm.acknowledged_at.is_(None), ~shelved, ~out_of_service),
            n(shown, shelved, ~out_of_service),
            n(shown, out_of_service),
            n(shown, Alarm.raised_at < now - STANDING_AFTER),
            n(shown, Alarm.stale.is_(True)),
            n(~shown),
        )
        .where(Alarm.site_id.in_(sites), Alarm.raise_count > 0, Alarm.cleared_at.is_(None))
        .group_by(Alarm.site_id, Alarm.severity)
    )
    out = {site: ActiveAlarms() for site in sites}
    for site_id, severity, active, unacked, n_shelved, oos, standing, stale, suppressed in rows:
        a = out[site_id]
        if active:
            a.by_severity[severity] = int(active)
        a.unacknowledged += int(unacked)
        a.shelved += int(n_shelved)
        a.out_of_service += int(oos)
        a.standing += int(standing)
        a.stale += int(stale)
        a.suppressed += int(suppressed)
    returned = session.execute(
        select(Alarm.site_id, func.count())
        .where(
            Alarm.site_id.in_(sites),
            Alarm.cleared_at.is_not(None),
            Alarm.acknowledged_at.is_(None),
            annunciated(),
            ~shelved,
            ~out_of_service,
        )
        .group_by(Alarm.site_id)
    )
    for site_id, count in returned:
        out[site_id].returned_unacknowledged = count
    return out
