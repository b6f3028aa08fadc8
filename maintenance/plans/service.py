"""公共设施保养计划: plans, their occurrences as work orders, checklists, warranty reminders.

Exactly once. An occurrence is the work order whose `source_key` is
`plan:<site>:<plan>:<asset>:<scheduled UTC time>` (or `...:meter:<threshold>`); the database
refuses a second row with that key, so two replicas, a restart or a replayed trigger can only
find the row that is already there. `materialize_due(now)` is idempotent: it may run any number
of times, from any replica, at any moment.

Misfire policy (补建). Each calendar plan keeps a cursor: the instant it has been materialized
through. A pass creates every occurrence whose working-day-adjusted time falls in
(cursor, now], then moves the cursor to `now`. After downtime the first pass therefore creates
every missed occurrence, once each, oldest first; one created more than `LATE_AFTER` after its
time is marked late (`details.late`, `details.late_by_s`, and 补建 in its description) and its
time limit still counts from the time it was due, so the delay shows in the SLA figures. Nothing
is coalesced or dropped. A plan seen for the first time starts at `now` (or at its `start`, if
later): adding a plan does not back-fill a year of orders. Skipped occurrences (non-working-day
policy `skip`) are counted in the pass result.

Meter plans (计量保养) keep a cursor per asset: the last threshold reached. The first reading
sets the baseline; each later pass that sees the counter at or past the next multiple of
`every` creates one occurrence for the highest threshold reached (listing any crossed in
between), and a counter that went backwards (meter replaced) sets a new baseline.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance import contracts
from maintenance.errors import Conflict, InvalidRequest, MaintenanceError, NotFound
from maintenance.notifications import Notification, notify
from maintenance.plans import recurrence_zh
from maintenance.plans.health import plan_health
from maintenance.plans.library import template_library
from maintenance.plans.models import PlanCursor, PlanHealth, PlanRecord
from maintenance.plans.nesting import Nesting, VisitsNear, nesting
from maintenance.plans.recurrence import (
    SHIFT_SLACK,
    NonWorkingDay,
    RecurrenceError,
    check_recurrence,
    effective_time,
    nominal_times,
)
from maintenance.registry.models import Asset as AssetRow
from maintenance.sla import due_at
from maintenance.statutory.service import StatutoryPass, inspection_pass
from maintenance.work_orders.models import OPEN_STATUSES, Source, Status, WorkOrder
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.durations import TimeLimit
from propwatch.messages import say
from propwatch.site import (
    KIND_CATEGORY,
    Asset,
    Category,
    ChecklistItem,
    MeterTrigger,
    OutOfService,
    PlanSpec,
    PlanTargets,
    Priority,
    Role,
    Site,
    SiteFile,
)

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=10)
"""An occurrence materialized later than this after its time is marked late (补建)."""

DEFAULT_ABSORB_WINDOW = timedelta(days=7)
"""How close a visit of an absorbed plan must be to the absorbing visit (half a 半月 period)."""

DEFAULT_VISIT_HOURS = 1.0
"""Labour hours of a visit whose plan and template give no `estimated_hours`."""

PLAN_ACTOR = "plan-scheduler"


class PlanNotFound(NotFound):
    code = "plan_not_found"


class PlanConflict(Conflict):
    code = "plan_conflict"


class InvalidPlan(InvalidRequest):
    code = "invalid_plan"


class ChecklistError(InvalidRequest):
    code = "invalid_checklist_entry"


@dataclass(frozen=True)
class Plan:
    """A plan with its template applied: every field known."""

    id: str
    name: str
    source: str  # "site" (the site file) or "api" (the plan table)
    template: str | None
    targets: PlanTargets
    rrule: str | None
    cron: str | None
    every: float | None
    meter: MeterTrigger | None
    start: datetime | None
    checklist: tuple[ChecklistItem, ...]
    role: Role
    time_limit: TimeLimit | None
    category: Category
    priority: Priority
    non_working_day: NonWorkingDay
    out_of_service: OutOfService | None
    enabled: bool
    absorbs: tuple[str, ...] = ()
    absorb_window: timedelta = DEFAULT_ABSORB_WINDOW
    floating: bool = False
    estimated_hours: float = DEFAULT_VISIT_HOURS

    def recurrence_zh(self) -> str:
        if self.floating:
            said = recurrence_zh.after_completion_zh(self.every or 0)
            if self.meter is not None:
                meter = recurrence_zh.meter_zh(self.meter.metric, self.meter.every, self.meter.unit)
                said += f"或{meter}，以先到者为准"
            return said
        if self.rrule:
            return recurrence_zh.rrule_zh(self.rrule)
        if self.cron:
            return recurrence_zh.cron_zh(self.cron)
        if self.every:
            return recurrence_zh.every_zh(self.every)
        assert self.meter is not None
        return recurrence_zh.meter_zh(self.meter.metric, self.meter.every, self.meter.unit)

    def recurrence_text(self) -> str:
        if self.floating:
            text = f"floating:{self.every or 0:g}s"
            if self.meter is not None:
                text += f"|meter:{self.meter.metric}/{self.meter.every:g}{self.meter.unit}"
            return text
        if self.rrule:
            return f"RRULE:{self.rrule}"
        if self.cron:
            return f"cron:{self.cron}"
        if self.every:
            return f"every:{self.every:g}s"
        assert self.meter is not None
        return f"meter:{self.meter.metric}/{self.meter.every:g}{self.meter.unit}"


def resolve_plan(spec: PlanSpec, source: str, tz: str = "Asia/Shanghai") -> Plan:
    """Apply the plan's template; an unknown template or a bad expression is `InvalidPlan`."""
    base: PlanSpec | None = None
    kinds: list[str] = []
    if spec.template is not None:
        library = template_library()
        tpl = library.get(spec.template)
        if tpl is None:
            raise InvalidPlan(
                f"计划 {spec.id} 引用了不存在的模板 {spec.template}",
                f"plan {spec.id}: unknown template {spec.template!r}; "
                f"known: {', '.join(sorted(library))}",
            )
        base, kinds = tpl, list(tpl.kinds)
    own_recurrence = any(getattr(spec, k) is not None for k in ("rrule", "cron", "every", "meter"))
    rec = spec if own_recurrence or base is None else base

    def pick(name: str, default: Any) -> Any:
        value = getattr(spec, name)
        if value is None and base is not None:
            value = getattr(base, name)
        return default if value is None else value

    targets = spec.targets
    if not targets.kinds and not targets.assets:
        # A template plan narrowed to a zone or building still means the template's kinds.
        targets = targets.model_copy(update={"kinds": kinds})
    category = pick("category", None)
    if category is None:
        first_kind = (targets.kinds or [""])[0]
        category = KIND_CATEGORY.get(first_kind, Category.GENERAL)
    start = spec.start if spec.start is not None else (base.start if base else None)
    floating = bool(pick("floating", False)) or (rec.every is not None and rec.meter is not None)
    if floating and rec.every is None:
        raise InvalidPlan(
            f"计划 {spec.id} 是浮动计划，需要 every（上次完成后多久再做）",
            f"plan {spec.id}: a floating plan needs `every` (how long after the last completion)",
        )
    try:
        check_recurrence(rec.rrule, rec.cron, tz, rec.every, start)
    except RecurrenceError as exc:
        where_zh = f"（来自模板 {spec.template}）" if rec is base else ""
        where_en = f" (from template {spec.template})" if rec is base else ""
        raise InvalidPlan(
            f"计划 {spec.id} 的周期有误{where_zh}：{exc.zh}", f"plan {spec.id}{where_en}: {exc.en}"
        ) from exc
    return Plan(
        id=spec.id,
        name=pick("name", spec.id),
        source=source,
        template=spec.template,
        targets=targets,
        rrule=rec.rrule,
        cron=rec.cron,
        every=rec.every,
        meter=rec.meter,
        start=start,
        checklist=tuple(pick("checklist", [])),
        role=pick("role", Role.TECHNICIAN),
        time_limit=pick("time_limit", None),
        category=category,
        priority=pick("priority", Priority.GENERAL),
        non_working_day=pick("non_working_day", "keep"),
        out_of_service=pick("out_of_service", None),
        enabled=spec.enabled,
        absorbs=tuple(spec.absorbs or (base.absorbs if base else [])),
        absorb_window=timedelta(
            seconds=pick("absorb_window", DEFAULT_ABSORB_WINDOW.total_seconds())
        ),
        floating=floating,
        estimated_hours=float(pick("estimated_hours", DEFAULT_VISIT_HOURS)),
    )


@dataclass(frozen=True)
class BrokenPlan:
    """A plan that cannot run as written (a bad schedule, an unknown template, a stored row that
    no longer validates): kept with its reason so the duty room sees it, never run."""

    id: str
    source: str
    reason: str
    spec: PlanSpec | None  # None: a stored row that is not a plan any more


def site_plans(session: Session, site: Site) -> tuple[list[Plan], list[BrokenPlan]]:
    """The site file's plans, then those added through the API (not retired); each one that
    does not resolve goes to the second list instead of stopping every other plan."""
    tz = site.spec.site.timezone
    plans: list[Plan] = []
    broken: list[BrokenPlan] = []
    specs: list[tuple[str, str, PlanSpec | dict[str, Any]]] = [
        (p.id, "site", p) for p in site.spec.plans
    ]
    rows = session.scalars(
        select(PlanRecord)
        .where(PlanRecord.site_id == site.id, PlanRecord.retired_at.is_(None))
        .order_by(PlanRecord.id)
    )
    specs += [(r.code, "api", r.spec) for r in rows]
    for code, source, raw in specs:
        spec: PlanSpec | None = raw if isinstance(raw, PlanSpec) else None
        try:
            spec = spec or PlanSpec.model_validate(raw)
            plans.append(resolve_plan(spec, source, tz))
        except InvalidPlan as exc:
            broken.append(BrokenPlan(code, source, say(exc.zh, exc.en), spec))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            reason = say(
                f"计划 {code} 的内容有误：{where}: {first['msg']}",
                f"plan {code}: {where}: {first['msg']}",
            )
            broken.append(BrokenPlan(code, source, reason, None))
    return plans, broken


def active_plans(
    session: Session, site: Site, unusable: dict[str, str] | None = None
) -> list[Plan]:
    """The plans that can run; those that cannot are left out and reported in `unusable`
    (plan id -> reason) when it is given."""
    plans, broken = site_plans(session, site)
    if unusable is not None:
        unusable.update({b.id: b.reason for b in broken})
    return plans


def plan_assets(plan: Plan, spec: SiteFile) -> list[Asset]:
    return [a for a in spec.assets if plan.targets.covers(a)]


# --- occurrences -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One calendar occurrence of a plan: when it was scheduled and where the calendar put it."""

    plan_id: str
    scheduled_at: datetime
    due_at: datetime | None  # None: skipped (non-working day)

    @property
    def shifted(self) -> bool:
        return self.due_at is not None and self.due_at != self.scheduled_at


def occurrences(
    plan: Plan, spec: SiteFile, after: datetime, until: datetime
) -> Iterator[Occurrence]:
    """Calendar occurrences whose working-day-adjusted time t has `after` < t <= `until`, plus
    skipped ones scheduled in that span; meter plans have none."""
    if plan.meter is not None:
        return
    tz = spec.site.tz
    slack = timedelta(0) if plan.non_working_day == "keep" else SHIFT_SLACK
    for nominal in nominal_times(
        tz=tz,
        after=after - slack,
        until=until + slack,
        start=plan.start,
        rrule_expr=plan.rrule,
        cron=plan.cron,
        every=plan.every,
    ):
        eff = effective_time(nominal, plan.non_working_day, tz)
        if eff is None:
            if after < nominal <= until:
                yield Occurrence(plan.id, nominal, None)
        elif after < eff <= until:
            yield Occurrence(plan.id, nominal, eff)


def occurrence_key(site_id: str, plan_id: str, asset_id: str, scheduled_at: datetime) -> str:
    return f"plan:{site_id}:{plan_id}:{asset_id}:{scheduled_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def meter_key(site_id: str, plan_id: str, asset_id: str, threshold: float) -> str:
    return f"plan:{site_id}:{plan_id}:{asset_id}:meter:{threshold:g}"


# --- materialization ---------------------------------------------------------------------------


@dataclass
class PassResult:
    """What one `materialize_due` pass did."""

    created: Counter[str] = field(default_factory=Counter)  # plan id -> work orders made
    late: int = 0
    skipped: int = 0
    existing: int = 0
    no_reading: int = 0
    absorbed: int = 0  # occurrences replaced by the visit of a plan absorbing theirs (套保)
    statutory: StatutoryPass = field(default_factory=StatutoryPass)  # 法定检验 reminders, orders
    warranty_reminders: int = 0
    contract_reminders: int = 0
    work_order_ids: list[int] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # plan id -> why it made nothing
    crashed: dict[str, Exception] = field(default_factory=dict)  # unexpected, kept for the log

    @property
    def total(self) -> int:
        return sum(self.created.values())


def _cursor(session: Session, site_id: str, plan_id: str, asset_id: str) -> PlanCursor | None:
    return session.scalar(
        select(PlanCursor).where(
            PlanCursor.site_id == site_id,
            PlanCursor.plan_code == plan_id,
            PlanCursor.asset_code == asset_id,
        )
    )


def insert_cursor(session: Session, row: PlanCursor) -> PlanCursor:
    """Insert a cursor, or take the one another replica inserted a moment before."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        winner = _cursor(session, row.site_id, row.plan_code, row.asset_code)
        if winner is None:
            raise
        return winner
    return row


def _assignee(spec: SiteFile, plan: Plan, zone_id: str) -> str | None:
    """片区责任制: the zone's own staff of the plan's role (technician: the zone technician,
    not the night duty one — planned work is day work)."""
    zone = next((z for z in spec.zones if z.id == zone_id), None)
    if zone is None:
        return None
    people = {
        Role.TECHNICIAN: zone.technicians,
        Role.SECURITY: zone.security,
        Role.SERVICE: zone.service,
        Role.SUPERVISOR: [zone.supervisor] if zone.supervisor else [],
    }[plan.role]
    return people[0] if people else None


def checklist_details(items: Sequence[ChecklistItem]) -> list[dict[str, Any]]:
    return [
        {
            "id": i.id,
            "text": i.text,
            "unit": i.unit,
            "low": i.low,
            "high": i.high,
            "measurement": i.is_measurement,
            "result": None,
        }
        for i in items
    ]


def _describe(
    plan: Plan,
    asset: Asset,
    late_by: timedelta | None,
    extra: str = "",
    checklist: Sequence[ChecklistItem] | None = None,
) -> str:
    lines = [f"保养计划：{plan.name}（{plan.id}）", f"设备：{asset.name}（{asset.id}）"]
    if asset.location:
        lines.append(f"位置：{asset.location}")
    if extra:
        lines.append(extra)
    if late_by is not None:
        hours = late_by.total_seconds() / 3600
        lines.append(f"补建：系统停机期间错过，迟到 {hours:.1f} 小时")
    lines.append("检查项：")
    for item in plan.checklist if checklist is None else checklist:
        limits = ""
        if item.is_measurement:
            lo = f"≥{item.low:g}" if item.low is not None else ""
            hi = f"≤{item.high:g}" if item.high is not None else ""
            limits = f"（测量{'，'.join(x for x in (lo, hi) if x)} {item.unit or ''}）"
        lines.append(f"□ {item.text}{limits}")
    return "\n".join(lines)


def _open_occurrence(
    session: Session,
    spec: SiteFile,
    plan: Plan,
    asset: Asset,
    key: str,
    due: datetime,
    now: datetime,
    late_after: timedelta,
    details: dict[str, Any],
    extra: str = "",
    checklist: Sequence[ChecklistItem] | None = None,
) -> tuple[WorkOrder, bool, bool]:
    late_by = now - due if now - due > late_after else None
    items = plan.checklist if checklist is None else checklist
    new = NewWorkOrder(
        site_id=spec.site.id,
        source=Source.PLAN,
        source_key=key,
        category=plan.category,
        priority=plan.priority,
        title=f"{plan.name}：{asset.name}",
        reported_at=min(due, now),
        asset_code=asset.id,
        description=_describe(plan, asset, late_by, extra, items),
        assignee=_assignee(spec, plan, asset.zone),
        zone_code=asset.zone,
        details={
            "plan_id": plan.id,
            "plan_name": plan.name,
            "template": plan.template,
            "role": plan.role.value,
            "due_at": due.isoformat(),
            "late": late_by is not None,
            "late_by_s": round(late_by.total_seconds()) if late_by else 0,
            "checklist": checklist_details(items),
            "estimated_hours": plan.estimated_hours,
            **details,
        },
    )
    wo, created = create_work_order(session, spec, new, now, actor=PLAN_ACTOR)
    if created and plan.time_limit is not None:
        wo.resolve_due = due_at(min(due, now), plan.time_limit, spec.site.tz)
    return wo, created, late_by is not None


def _near(spec: SiteFile) -> VisitsNear:
    """The plan's visit nearest to a time within its absorb window, from its calendar."""

    def near(plan: Plan, at: datetime) -> datetime | None:
        w = plan.absorb_window
        found = [
            o.due_at
            for o in occurrences(plan, spec, at - w - timedelta(microseconds=1), at + w)
            if o.due_at is not None
        ]
        return min(found, key=lambda t: abs(t - at)) if found else None

    return near


def _materialize_calendar(
    session: Session,
    spec: SiteFile,
    plan: Plan,
    assets: list[Asset],
    now: datetime,
    late_after: timedelta,
    result: PassResult,
    nest: Nesting | None = None,
) -> None:
    nest = nest or nesting([plan])
    absorbed = nest.absorbed.get(plan.id, ())
    checklist = nest.checklist(plan)
    extra = f"套保：本次同时完成{'、'.join(p.name for p in absorbed)}的项目" if absorbed else ""
    near = _near(spec)
    cursor = _cursor(session, spec.site.id, plan.id, "")
    if cursor is None:
        start = plan.start.replace(tzinfo=spec.site.tz) if plan.start else now
        first = max(start, now) - timedelta(microseconds=1)
        cursor = insert_cursor(
            session,
            PlanCursor(
                site_id=spec.site.id,
                plan_code=plan.id,
                asset_code="",
                through=first,
                updated_at=now,
            ),
        )
    through = cursor.through
    assert through is not None
    if now <= through:
        return
    for occ in occurrences(plan, spec, through, now):
        if occ.due_at is None:
            result.skipped += len(assets)
            continue
        due = occ.due_at
        absorbers = [q for q in nest.absorbers.get(plan.id, ()) if near(q, due) is not None]
        for asset in assets:
            if any(q.targets.covers(asset) for q in absorbers):
                result.absorbed += 1
                continue
            wo, created, late = _open_occurrence(
                session,
                spec,
                plan,
                asset,
                occurrence_key(spec.site.id, plan.id, asset.id, occ.scheduled_at),
                occ.due_at,
                now,
                late_after,
                {
                    "scheduled_at": occ.scheduled_at.isoformat(),
                    "shifted": occ.shifted,
                    "absorbs": [p.id for p in absorbed],
                },
                extra,
                checklist,
            )
            if created:
                result.created[plan.id] += 1
                result.late += late
                result.work_order_ids.append(wo.id)
            else:
                result.existing += 1
    # Another replica may have moved it further already; never move it back.
    if cursor.through is None or cursor.through < now:
        cursor.through, cursor.updated_at = now, now


DONE_STATUSES = (Status.RESOLVED, Status.VERIFIED, Status.CLOSED, Status.REVISITED)


def floating_key(site_id: str, plan_id: str, asset_id: str, baseline: datetime) -> str:
    """A floating occurrence is the one counted from a baseline (the last completion)."""
    return f"plan:{site_id}:{plan_id}:{asset_id}:float:{baseline.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _materialize_floating(
    session: Session,
    spec: SiteFile,
    plan: Plan,
    assets: list[Asset],
    now: datetime,
    late_after: timedelta,
    result: PassResult,
) -> None:
    """浮动计划: one cursor per asset holds the baseline (when, and the meter reading then);
    the order counted from it opens `every` after it, or as soon as the meter has run
    `meter.every` past its reading, whichever comes first. Its completion (or cancellation)
    is the next baseline. The order's key names the baseline, so it is made once."""
    assert plan.every is not None
    every = timedelta(seconds=plan.every)
    prefix = f"plan:{spec.site.id}:{plan.id}:"
    orders = {
        wo.source_key: wo
        for wo in session.scalars(
            select(WorkOrder).where(
                WorkOrder.site_id == spec.site.id, WorkOrder.source_key.startswith(prefix)
            )
        )
    }
    rows: dict[str, AssetRow] = {}
    if plan.meter is not None:
        rows = {
            r.code: r
            for r in session.scalars(select(AssetRow).where(AssetRow.site_id == spec.site.id))
        }
    cursors = {
        c.asset_code: c
        for c in session.scalars(
            select(PlanCursor).where(
                PlanCursor.site_id == spec.site.id, PlanCursor.plan_code == plan.id
            )
        )
    }
    for asset in assets:
        reading = _meter_value(rows.get(asset.id), plan.meter.metric) if plan.meter else None
        cursor = cursors.get(asset.id)
        if cursor is None:
            start = plan.start.replace(tzinfo=spec.site.tz) if plan.start else now
            cursor = insert_cursor(
                session,
                PlanCursor(
                    site_id=spec.site.id,
                    plan_code=plan.id,
                    asset_code=asset.id,
                    through=start,
                    meter_threshold=reading,
                    updated_at=now,
                ),
            )
        assert cursor.through is not None
        baseline = cursor.through
        wo = orders.get(floating_key(spec.site.id, plan.id, asset.id, baseline))
        if wo is not None:
            finished = wo.resolved_at if wo.status in DONE_STATUSES else None
            if wo.status == Status.CANCELLED:
                finished = wo.cancelled_at
            if finished is None:
                continue  # the order counted from this baseline is still open
            baseline = finished
            cursor.through, cursor.meter_threshold, cursor.updated_at = finished, reading, now
        if cursor.meter_threshold is None and reading is not None:
            cursor.meter_threshold = reading
        due = baseline + every
        by_meter = (
            plan.meter is not None
            and reading is not None
            and cursor.meter_threshold is not None
            and reading >= cursor.meter_threshold + plan.meter.every
        )
        if now < due and not by_meter:
            continue
        extra = f"浮动计划：自 {baseline.astimezone(spec.site.tz):%m月%d日 %H:%M} 起算"
        if by_meter and plan.meter is not None:
            extra += (
                f"；计量 {plan.meter.metric} = {reading:g}{plan.meter.unit}，"
                f"已超过上次的 {cursor.meter_threshold:g}{plan.meter.unit} + "
                f"{plan.meter.every:g}{plan.meter.unit}"
            )
        made, created, late = _open_occurrence(
            session,
            spec,
            plan,
            asset,
            floating_key(spec.site.id, plan.id, asset.id, baseline),
            min(due, now),
            now,
            late_after,
            {
                "floating": True,
                "baseline": baseline.isoformat(),
                "trigger": "time" if now >= due else "meter",
                "meter_value": reading,
            },
            extra,
        )
        if created:
            result.created[plan.id] += 1
            result.late += late
            result.work_order_ids.append(made.id)
        else:
            result.existing += 1


def _meter_value(row: AssetRow | None, metric: str) -> float | None:
    if row is None:
        return None
    values = (row.state or {}).get("values")
    value = values.get(metric) if isinstance(values, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _materialize_meter(
    session: Session,
    spec: SiteFile,
    plan: Plan,
    assets: list[Asset],
    rows: dict[str, AssetRow],
    now: datetime,
    result: PassResult,
) -> None:
    meter = plan.meter
    assert meter is not None
    for asset in assets:
        value = _meter_value(rows.get(asset.id), meter.metric)
        if value is None:
            result.no_reading += 1
            continue
        reached = math.floor(value / meter.every) * meter.every
        cursor = _cursor(session, spec.site.id, plan.id, asset.id)
        if cursor is None:
            insert_cursor(
                session,
                PlanCursor(
                    site_id=spec.site.id,
                    plan_code=plan.id,
                    asset_code=asset.id,
                    meter_threshold=reached,
                    updated_at=now,
                ),
            )
            continue
        last = cursor.meter_threshold if cursor.meter_threshold is not None else reached
        if reached < last:
            cursor.meter_threshold, cursor.updated_at = reached, now
            continue
        if reached == last:
            continue
        crossed = [last + meter.every * k for k in range(1, round((reached - last) / meter.every))]
        extra = f"计量：{meter.metric} = {value:g}{meter.unit}，已达 {reached:g}{meter.unit}"
        if crossed:
            extra += f"（同时越过 {', '.join(f'{c:g}' for c in crossed)}）"
        wo, created, _ = _open_occurrence(
            session,
            spec,
            plan,
            asset,
            meter_key(spec.site.id, plan.id, asset.id, reached),
            now,
            now,
            LATE_AFTER,
            {
                "meter": meter.metric,
                "meter_value": value,
                "threshold": reached,
                "thresholds_crossed": [*crossed, reached],
            },
            extra,
        )
        if created:
            result.created[plan.id] += 1
            result.work_order_ids.append(wo.id)
        else:
            result.existing += 1
        cursor.meter_threshold, cursor.updated_at = reached, now


def materialize_due(
    session: Session, site: Site, now: datetime, *, late_after: timedelta = LATE_AFTER
) -> PassResult:
    """One idempotent pass: every occurrence due by `now` becomes its work order exactly once,
    and warranty reminders fall due (see the module doc for the misfire policy)."""
    spec = site.spec
    result = PassResult()
    rows: dict[str, AssetRow] | None = None
    plans = active_plans(session, site, result.failed)
    nest = nesting(plans)
    for plan in plans:
        if not plan.enabled:
            continue
        try:
            # One plan failing (a work order the service refuses, a template or database error
            # on its rows) keeps the others going: its savepoint is rolled back, its cursor
            # stays put, so it is retried on the next pass, and its error is on the plan.
            with session.begin_nested():
                assets = plan_assets(plan, spec)
                if plan.floating:
                    _materialize_floating(session, spec, plan, assets, now, late_after, result)
                elif plan.meter is None:
                    _materialize_calendar(
                        session, spec, plan, assets, now, late_after, result, nest
                    )
                else:
                    if rows is None:
                        rows = {
                            r.code: r
                            for r in session.scalars(
                                select(AssetRow).where(AssetRow.site_id == site.id)
                            )
                        }
                    _materialize_meter(session, spec, plan, assets, rows, now, result)
        except MaintenanceError as exc:
            result.failed[plan.id] = say(exc.zh, exc.en)
        except Exception as exc:  # recorded on the plan and counted in /metrics
            result.failed[plan.id] = f"{type(exc).__name__}: {exc}"
            result.crashed[plan.id] = exc
    result.warranty_reminders = warranty_reminders(session, site, now)
    result.statutory = inspection_pass(session, site, now)
    result.contract_reminders = contracts.expiry_reminders(session, site.spec, now)
    return result


# --- warranty ---------------------------------------------------------------------------------


def warranty_reminders(session: Session, site: Site, now: datetime) -> int:
    """保修到期提醒: one notification per asset and warranty end, `warranty_reminder_days`
    before it ends, to the zone supervisor (claim open defects while the warranty still pays).
    The notification's unique `dedup_key` makes it once only, whichever replica gets there."""
    spec = site.spec
    tz = spec.site.tz
    today = now.astimezone(tz).date()
    made = 0
    for asset in spec.assets:
        end = asset.warranty_end
        if end is None or not (end - timedelta(days=spec.warranty_reminder_days) <= today <= end):
            continue
        key = f"warranty:{spec.site.id}:{asset.id}:{end.isoformat()}"
        if session.scalar(select(Notification.id).where(Notification.dedup_key == key)):
            continue
        try:
            with session.begin_nested():
                notify(
                    session,
                    site_id=spec.site.id,
                    topic="asset.warranty_expiring",
                    message=(
                        f"保修到期提醒：{asset.name}（{asset.id}）的保修期将于 "
                        f"{end:%Y年%m月%d日} 结束，剩余 {(end - today).days} 天。请在到期前"
                        "全面检查一次，将发现的问题报厂家保修处理，并确认是否续签维保合同。"
                    ),
                    at=now,
                    recipient=spec.zone(asset.zone).supervisor,
                    payload={"asset_id": asset.id, "warranty_end": end.isoformat()},
                    dedup_key=key,
                )
                session.flush()
        except IntegrityError:
            continue
        made += 1
    return made


# --- checklists -------------------------------------------------------------------------------


class CheckRecord(BaseModel):
    """What a checklist entry now holds, and the follow-up order a failure opened."""

    work_order_id: int
    item_id: str
    result: str  # "pass", "fail" or "n/a" (不适用)
    value: float | None
    unit: str | None
    recorded_by: str
    recorded_at: datetime
    follow_up_work_order_id: int | None


def record_check(
    session: Session,
    site: Site,
    work_order_id: int,
    item_id: str,
    *,
    by: str,
    now: datetime,
    passed: bool | None = None,
    value: float | None = None,
    note: str = "",
    not_applicable: bool = False,
) -> CheckRecord:
    """检查记录: record one checklist item (pass / fail, or a measurement judged by its limits)
    and who recorded it. A failure opens one follow-up corrective order linked to the
    occurrence; recording the same failure again finds that order instead of a second.
    不适用 (an item that does not apply to this asset this time) needs the reason in `note`."""
    spec = site.spec
    wo = session.get(WorkOrder, work_order_id, with_for_update=True)
    if wo is None or wo.site_id != site.id:
        raise NotFound(f"工单 {work_order_id} 不存在", f"work order {work_order_id} not found")
    checklist = wo.details.get("checklist")
    if not isinstance(checklist, list):
        raise ChecklistError("该工单没有检查表", "this work order has no checklist")
    if wo.status not in OPEN_STATUSES:
        raise Conflict(
            "工单已完成或取消，不能再记录检查项", f"work order is {wo.status}; checklist is closed"
        )
    if by not in {p.id for p in spec.people}:
        raise ChecklistError(f"记录人 {by} 不在人员名单中", f"unknown person {by!r}")
    index = next((i for i, it in enumerate(checklist) if it.get("id") == item_id), None)
    if index is None:
        raise ChecklistError(f"检查项 {item_id} 不存在", f"no checklist item {item_id!r}")
    item = dict(checklist[index])
    if not_applicable:
        if passed is not None or value is not None:
            raise ChecklistError(
                "不适用的检查项不能同时填写结果", "not_applicable takes no passed and no value"
            )
        if not note.strip():
            raise ChecklistError("标记不适用需要说明原因", "not_applicable needs a note")
    elif item.get("measurement"):
        if value is None or not math.isfinite(value):
            raise ChecklistError("测量项需要填写测量值", "a measurement item needs a value")
        low, high = item.get("low"), item.get("high")
        ok = (low is None or value >= float(low)) and (high is None or value <= float(high))
        if passed is not None and passed != ok:
            raise ChecklistError("测量值与判定结果不符", "the value contradicts passed")
        passed = ok
    elif passed is None:
        raise ChecklistError("请填写合格或不合格", "a check item needs passed true or false")
    follow_up: WorkOrder | None = None
    if not passed and not not_applicable:
        asset = session.get(AssetRow, wo.asset_id) if wo.asset_id else None
        measured = f"，实测 {value:g}{item.get('unit') or ''}" if value is not None else ""
        follow_up, _ = create_work_order(
            session,
            spec,
            NewWorkOrder(
                site_id=wo.site_id,
                source=Source.PLAN,
                source_key=f"{wo.source_key}:fail:{item_id}",
                category=wo.category,
                priority=Priority.IMPORTANT,
                title=f"保养发现问题：{asset.name if asset else wo.title} {item['text']}",
                reported_at=now,
                asset_code=asset.code if asset else None,
                description=(
                    f"保养工单 {wo.code} 检查项不合格：{item['text']}{measured}。"
                    + (f"\n备注：{note}" if note else "")
                ),
                zone_code=wo.zone_code,
                details={
                    "follow_up_of": wo.id,
                    "plan_id": wo.details.get("plan_id"),
                    "scheduled_at": wo.details.get("scheduled_at"),
                    "checklist_item": item_id,
                },
            ),
            now,
            actor=by,
        )
    item.update(
        result="n/a" if not_applicable else "pass" if passed else "fail",
        value=value,
        recorded_by=by,
        recorded_at=now.isoformat(),
        note=note,
        follow_up_work_order_id=follow_up.id if follow_up else None,
    )
    details = dict(wo.details)
    details["checklist"] = [*checklist[:index], item, *checklist[index + 1 :]]
    wo.details, wo.updated_at = details, now
    return CheckRecord(
        work_order_id=wo.id,
        item_id=item_id,
        result=item["result"],
        value=value,
        unit=item.get("unit"),
        recorded_by=by,
        recorded_at=now,
        follow_up_work_order_id=item["follow_up_work_order_id"],
    )


# --- plan CRUD for the API ----------------------------------------------------------------------


class PlanView(BaseModel):
    """A plan as the duty room sees it, with whether it runs (`status`) and, when it does not,
    why (`error`, since when, last seen) and how many passes it has failed in all."""

    id: str
    name: str
    source: str
    template: str | None
    targets: PlanTargets
    recurrence: str
    recurrence_zh: str = ""
    """The recurrence in words: 每月5日 09:00, 每2周 周一 09:00, 累计运行每2000小时."""
    non_working_day: str
    role: str
    time_limit: str | None
    category: str
    priority: str
    checklist: list[ChecklistItem]
    out_of_service: OutOfService | None
    enabled: bool
    assets: list[str]
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    error_since: datetime | None = None
    error_at: datetime | None = None
    failures: int = 0


def plan_view(plan: Plan, spec: SiteFile, health: PlanHealth | None = None) -> PlanView:
    return PlanView(
        id=plan.id,
        name=plan.name,
        source=plan.source,
        template=plan.template,
        targets=plan.targets,
        recurrence=plan.recurrence_text(),
        recurrence_zh=plan.recurrence_zh(),
        non_working_day=plan.non_working_day,
        role=plan.role.value,
        time_limit=str(plan.time_limit) if plan.time_limit else None,
        category=str(plan.category),
        priority=plan.priority.value,
        checklist=list(plan.checklist),
        out_of_service=plan.out_of_service,
        enabled=plan.enabled,
        assets=[a.id for a in plan_assets(plan, spec)],
        **_health_fields(health, None),
    )


def _health_fields(health: PlanHealth | None, reason: str | None) -> dict[str, Any]:
    error = (health.error if health else None) or reason
    return {
        "status": "error" if error else "ok",
        "error": error,
        "error_since": health.error_since if health and health.error else None,
        "error_at": health.error_at if health and health.error else None,
        "failures": health.failures if health else 0,
    }


def broken_plan_view(b: BrokenPlan, site: SiteFile, health: PlanHealth | None) -> PlanView:
    """A plan that cannot run, shown as written (its template not applied) with its error."""
    spec = b.spec
    recurrence = said = ""
    if spec is not None:
        for key in ("rrule", "cron", "every"):
            if getattr(spec, key) is not None:
                recurrence = f"{key}:{getattr(spec, key)}"
        if spec.rrule is not None:
            said = recurrence_zh.rrule_zh(spec.rrule)
        elif spec.cron is not None:
            said = recurrence_zh.cron_zh(spec.cron)
        elif spec.every is not None:
            said = recurrence_zh.every_zh(spec.every)
        if spec.meter is not None:
            recurrence = f"meter:{spec.meter.metric}/{spec.meter.every:g}{spec.meter.unit}"
            said = recurrence_zh.meter_zh(spec.meter.metric, spec.meter.every, spec.meter.unit)
    return PlanView(
        id=b.id,
        name=(spec.name if spec and spec.name else b.id),
        source=b.source,
        template=spec.template if spec else None,
        targets=spec.targets if spec else PlanTargets(),
        recurrence=recurrence,
        recurrence_zh=said,
        non_working_day=(spec.non_working_day if spec and spec.non_working_day else "keep"),
        role=(spec.role or Role.TECHNICIAN).value if spec else Role.TECHNICIAN.value,
        time_limit=str(spec.time_limit) if spec and spec.time_limit else None,
        category=str(spec.category or Category.GENERAL) if spec else str(Category.GENERAL),
        priority=(spec.priority or Priority.GENERAL).value if spec else Priority.GENERAL.value,
        checklist=list(spec.checklist or []) if spec else [],
        out_of_service=spec.out_of_service if spec else None,
        enabled=spec.enabled if spec else False,
        assets=[],
        **_health_fields(health, b.reason),
    )


def list_plans(session: Session, site: Site) -> list[PlanView]:
    """Every plan of the site, those that cannot run included (status `error`)."""
    plans, broken = site_plans(session, site)
    health = plan_health(session, [site.id])
    views = [plan_view(p, site.spec, health.get((site.id, p.id))) for p in plans]
    views += [broken_plan_view(b, site.spec, health.get((site.id, b.id))) for b in broken]
    return views


def plan_detail(session: Session, site: Site, plan_id: str) -> PlanView:
    """One plan as `list_plans` shows it."""
    for view in list_plans(session, site):
        if view.id == plan_id:
            return view
    raise PlanNotFound(f"保养计划 {plan_id} 不存在", f"plan {plan_id!r} not found")


def get_plan(session: Session, site: Site, plan_id: str) -> Plan:
    """A plan that can run; one that cannot is `InvalidPlan` with its reason."""
    plans, broken = site_plans(session, site)
    for plan in plans:
        if plan.id == plan_id:
            return plan
    for b in broken:
        if b.id == plan_id:
            raise InvalidPlan(b.reason, b.reason)
    raise PlanNotFound(f"保养计划 {plan_id} 不存在", f"plan {plan_id!r} not found")


def _validated(
    site: Site, data: PlanSpec | dict[str, Any], session: Session | None = None
) -> PlanSpec:
    try:
        spec = data if isinstance(data, PlanSpec) else PlanSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InvalidPlan("保养计划内容有误", f"{where}: {first['msg']}") from exc
    assets = {a.id for a in site.spec.assets}
    zones = {z.id for z in site.spec.zones}
    unknown = [a for a in spec.targets.assets if a not in assets]
    unknown += [z for z in spec.targets.zones if z not in zones]
    if unknown:
        raise InvalidPlan(
            f"保养计划引用了不存在的设备或片区：{', '.join(unknown)}",
            f"unknown assets or zones: {', '.join(unknown)}",
        )
    if spec.absorbs and session is not None:
        known = {p.id for p in site.spec.plans} | set(template_library())
        known |= set(
            session.scalars(
                select(PlanRecord.code).where(
                    PlanRecord.site_id == site.id, PlanRecord.retired_at.is_(None)
                )
            )
        )
        missing = [name for name in spec.absorbs if name not in known]
        if missing:
            raise InvalidPlan(
                f"absorbs：套保引用了不存在的计划或模板：{', '.join(missing)}",
                f"absorbs: unknown plans or templates: {', '.join(missing)}",
            )
    resolve_plan(spec, "api", site.spec.site.timezone)
    return spec


def _record(session: Session, site: Site, plan_id: str) -> PlanRecord:
    if any(p.id == plan_id for p in site.spec.plans):
        raise PlanConflict(
            f"保养计划 {plan_id} 定义在站点文件中，请修改站点文件",
            f"plan {plan_id!r} comes from the site file; edit the file instead",
        )
    row = session.scalar(
        select(PlanRecord).where(
            PlanRecord.site_id == site.id,
            PlanRecord.code == plan_id,
            PlanRecord.retired_at.is_(None),
        )
    )
    if row is None:
        raise PlanNotFound(f"保养计划 {plan_id} 不存在", f"plan {plan_id!r} not found")
    return row


def create_plan(
    session: Session, site: Site, data: PlanSpec | dict[str, Any], now: datetime
) -> PlanView:
    """Add a plan through the API; its id must be new to the site (file and table)."""
    spec = _validated(site, data, session)
    plans, broken = site_plans(session, site)
    if any(p.id == spec.id for p in plans) or any(b.id == spec.id for b in broken):
        raise PlanConflict(f"保养计划 {spec.id} 已存在", f"plan {spec.id!r} already exists")
    row = session.scalar(
        select(PlanRecord).where(PlanRecord.site_id == site.id, PlanRecord.code == spec.id)
    )
    payload = spec.model_dump(mode="json", exclude_none=True)
    if row is None:
        row = PlanRecord(site_id=site.id, code=spec.id, created_at=now)
        session.add(row)
    else:
        # The id of a retired plan, reused: the new plan starts now, it does not catch up on
        # the time the old one was retired.
        session.execute(
            delete(PlanCursor).where(PlanCursor.site_id == site.id, PlanCursor.plan_code == spec.id)
        )
    row.spec, row.updated_at, row.retired_at = payload, now, None
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise PlanConflict(f"保养计划 {spec.id} 已存在", f"plan {spec.id!r} exists") from exc
    return plan_view(resolve_plan(spec, "api", site.spec.site.timezone), site.spec)


def update_plan(
    session: Session, site: Site, plan_id: str, data: PlanSpec | dict[str, Any], now: datetime
) -> PlanView:
    """Replace an API plan; occurrences already made stay, the next ones follow the new plan."""
    row = _record(session, site, plan_id)
    spec = _validated(site, data, session)
    if spec.id != plan_id:
        raise InvalidPlan("不能修改计划编号", f"plan id {spec.id!r} differs from {plan_id!r}")
    row.spec, row.updated_at = spec.model_dump(mode="json", exclude_none=True), now
    return plan_view(resolve_plan(spec, "api", site.spec.site.timezone), site.spec)


def delete_plan(session: Session, site: Site, plan_id: str, now: datetime) -> None:
    """Retire an API plan: no new occurrences; its work orders keep their history."""
    row = _record(session, site, plan_id)
    row.retired_at, row.updated_at = now, now


class PreviewItem(BaseModel):
    plan_id: str
    asset_id: str
    scheduled_at: datetime
    due_at: datetime | None
    shifted: bool
    skipped: bool


def preview_plan(
    session: Session,
    site: Site,
    plan_id: str,
    start: datetime,
    end: datetime,
    limit: int = 1000,
) -> list[PreviewItem]:
    """预览: the occurrences a plan would make in [start, end), per asset (calendar plans)."""
    if end <= start:
        raise InvalidPlan("结束时间须晚于开始时间", "end must be after start")
    plan = get_plan(session, site, plan_id)
    out: list[PreviewItem] = []
    assets = plan_assets(plan, site.spec)
    for occ in occurrences(plan, site.spec, start - timedelta(microseconds=1), end):
        if (occ.due_at or occ.scheduled_at) >= end:
            continue
        for asset in assets:
            out.append(
                PreviewItem(
                    plan_id=plan.id,
                    asset_id=asset.id,
                    scheduled_at=occ.scheduled_at,
                    due_at=occ.due_at,
                    shifted=occ.shifted,
                    skipped=occ.due_at is None,
                )
            )
            if len(out) >= limit:
                return out
    return out


def local_day_bounds(day: date, spec: SiteFile) -> tuple[datetime, datetime]:
    tz = spec.site.tz
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    return start, start + timedelta(days=1)
