"""月度品质检查计划: the site file's `quality.inspection_plans` open a 品质检查 task each month.

The day and time are a monthly rule of the plan engine's recurrence
(`maintenance.plans.recurrence.nominal_times`); each occurrence becomes a plan work order for
the inspector, keyed `inspection:<site>:<plan>:<YYYY-MM>`, so a pass run twice, a restart or two
replicas open it once (`create_work_order` returns the order that has the key). The order's
details name the score sheet and zone, so the technician page's 品质检查 form can be filled
for it. Occurrences up to 35 days back are opened when the service was down at the time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from maintenance.plans.recurrence import nominal_times
from maintenance.work_orders.models import Source
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.quality import InspectionPlan
from propwatch.site import Category, Priority, Site

LOOK_BACK = timedelta(days=35)


def inspection_key(site_id: str, plan: InspectionPlan, local_month: str) -> str:
    return f"inspection:{site_id}:{plan.id}:{local_month}"


def open_due_inspections(session: Session, site: Site, now: datetime) -> int:
    """Open the inspection tasks due by `now` not opened yet; how many were opened."""
    spec = site.spec
    tz = spec.site.tz
    opened = 0
    for plan in spec.quality.inspection_plans:
        sheet = spec.quality.score_sheet(plan.sheet)
        if sheet is None:  # refused at load; a sheet removed since leaves the plan idle
            continue
        zone_name = spec.zone(plan.zone).name if plan.zone else "全项目"
        for due in nominal_times(tz=tz, after=now - LOOK_BACK, until=now, rrule_expr=plan.rrule()):
            local = due.astimezone(tz)
            _, created = create_work_order(
                session,
                spec,
                NewWorkOrder(
                    site_id=site.id,
                    source=Source.PLAN,
                    source_key=inspection_key(site.id, plan, f"{local:%Y-%m}"),
                    category=Category.GENERAL,
                    priority=Priority.GENERAL,
                    title=f"品质检查：{sheet.name}·{zone_name}（{local.month}月）",
                    reported_at=due,
                    description=f"按评分表「{sheet.name}」检查{zone_name}，在我的任务中填写品质检查",
                    assignee=plan.who,
                    zone_code=plan.zone,
                    details={"inspection": {"plan": plan.id, "sheet": sheet.id, "zone": plan.zone}},
                ),
                now,
            )
            opened += created
    return opened
