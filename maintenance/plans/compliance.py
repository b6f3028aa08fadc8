"""计划保养完成率 for the monthly report: PM compliance, the planned-maintenance share and the
backlog in technician-days.

Definitions, so the figures can be checked by hand:
- A *PM order* is a plan order (`source` plan: occurrences and 法定检验 preparation), not a
  follow-up a failed checklist item opened (that is corrective work).
- Its deadline is its resolve due time; one whose plan sets no time limit has `PM_GRACE` after
  the time it was due.
- PM compliance = PM orders resolved by their deadline / PM orders whose deadline fell in the
  month and was decided (resolved, or the deadline passed); cancelled orders do not count.
- Planned-maintenance percentage = PM orders resolved in the month / every maintenance order
  resolved in the month (complaints are not maintenance work), by count.
- Backlog = the estimated hours of the orders open at the end of the month (or now, within
  it): a PM order's `estimated_hours`, `CORRECTIVE_HOURS` for any other; in technician-days,
  divided by the site's technicians times `HOURS_PER_DAY`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from maintenance.work_orders.models import Source, Status, WorkOrder
from propwatch.site import Category, Role, SiteFile

PM_GRACE = timedelta(days=7)
CORRECTIVE_HOURS = 2.0
HOURS_PER_DAY = 8.0
EARLY = timedelta(days=62)
DONE = (Status.RESOLVED, Status.VERIFIED, Status.CLOSED, Status.REVISITED)


class PmCompliance(BaseModel):
    due: int = Field(description="PM orders whose deadline fell in the month and was decided")
    on_time: int
    late: int = Field(description="resolved after the deadline, or still open past it")
    rate: float | None = Field(description="on_time / due (None: nothing due)")
    planned_resolved: int = Field(description="PM orders resolved in the month")
    resolved: int = Field(description="maintenance orders resolved in the month")
    planned_share: float | None = Field(description="planned_resolved / resolved")
    backlog_orders: int
    backlog_hours: float
    technicians: int
    backlog_days: float | None = Field(description="backlog in technician-days")


def _is_pm(wo: WorkOrder) -> bool:
    return wo.source == Source.PLAN and "follow_up_of" not in wo.details


def _deadline(wo: WorkOrder) -> datetime | None:
    if wo.resolve_due is not None:
        return wo.resolve_due
    due = wo.details.get("due_at")
    return datetime.fromisoformat(due) + PM_GRACE if isinstance(due, str) else None


def _hours(wo: WorkOrder) -> float:
    hours = wo.details.get("estimated_hours") if _is_pm(wo) else None
    return float(hours) if isinstance(hours, int | float) else CORRECTIVE_HOURS


def pm_compliance(
    session: Session, spec: SiteFile, start: datetime, end: datetime, now: datetime
) -> PmCompliance:
    as_of = min(end, now)
    rows = list(
        session.scalars(
            select(WorkOrder).where(
                WorkOrder.site_id == spec.site.id,
                WorkOrder.created_at < end,
                # resolved long before the month: neither due in it nor backlog (a PM order done
                # early still counts for its deadline, two months at most ahead)
                or_(WorkOrder.resolved_at.is_(None), WorkOrder.resolved_at >= start - EARLY),
                or_(WorkOrder.cancelled_at.is_(None), WorkOrder.cancelled_at >= start),
            )
        )
    )
    due = on_time = 0
    for wo in rows:
        deadline = _deadline(wo)
        if not _is_pm(wo) or deadline is None or not start <= deadline < end:
            continue
        if wo.status == Status.CANCELLED:
            continue
        if wo.resolved_at is not None and wo.resolved_at <= deadline:
            due, on_time = due + 1, on_time + 1
        elif wo.resolved_at is not None or deadline <= as_of:
            due += 1
    resolved = [
        wo
        for wo in rows
        if wo.resolved_at is not None
        and start <= wo.resolved_at < end
        and wo.category != Category.COMPLAINT
    ]
    planned = sum(1 for wo in resolved if _is_pm(wo))
    backlog = [
        wo
        for wo in rows
        if wo.created_at <= as_of
        and (wo.resolved_at is None or wo.resolved_at > as_of)
        and (wo.cancelled_at is None or wo.cancelled_at > as_of)
        and wo.category != Category.COMPLAINT
    ]
    hours = round(sum(_hours(wo) for wo in backlog), 2)
    techs = sum(1 for p in spec.people if p.role is Role.TECHNICIAN)
    return PmCompliance(
        due=due,
        on_time=on_time,
        late=due - on_time,
        rate=round(on_time / due, 4) if due else None,
        planned_resolved=planned,
        resolved=len(resolved),
        planned_share=round(planned / len(resolved), 4) if resolved else None,
        backlog_orders=len(backlog),
        backlog_hours=hours,
        technicians=techs,
        backlog_days=round(hours / (techs * HOURS_PER_DAY), 2) if techs else None,
    )
