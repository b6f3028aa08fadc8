"""浮动计划: the next visit counts from the last completion; time or meter, whichever first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from maintenance.db import Database
from maintenance.plans.service import InvalidPlan, get_plan, materialize_due, resolve_plan
from maintenance.registry.models import Asset as AssetRow
from maintenance.registry.service import sync_registry
from maintenance.work_orders.models import Source, Status, WorkOrder
from maintenance.work_orders.service import transition
from propwatch.site import PlanSpec, Site
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 10, tzinfo=TZ).astimezone(UTC)
DAY = timedelta(days=1)
CHECK = [{"id": "f-01", "text": "水泵运行无异响"}]
PUMPS = {"kinds": ["water_pump"]}


def _site(db: Database, tmp_path: Path, plan: dict[str, object]) -> Site:
    site = plan_site(tmp_path, fleet("water_pump", 1, "zone-a", "水泵房", "pump"), [plan])
    with db.session() as s:
        sync_registry(s, site, T0)
    return site


def _run(db: Database, site: Site, at: datetime) -> int:
    with db.session() as s:
        return materialize_due(s, site, at).total


def _orders(db: Database) -> list[WorkOrder]:
    with db.session() as s:
        return list(
            s.scalars(
                select(WorkOrder).where(WorkOrder.source == Source.PLAN).order_by(WorkOrder.id)
            )
        )


def _complete(db: Database, site: Site, wo: WorkOrder, at: datetime) -> None:
    steps = [Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED]
    if wo.status == Status.REGISTERED:
        steps.insert(0, Status.DISPATCHED)
    with db.session() as s:
        for to in steps:
            transition(s, site.spec, wo.id, to, actor="wang-gong", now=at, assignee="wang-gong")


def _set_meter(db: Database, value: float) -> None:
    with db.session() as s:
        row = s.scalar(select(AssetRow).where(AssetRow.code == "pump-1"))
        assert row is not None
        row.state = {"online": True, "values": {"run_hours": value}}


def test_a_floating_plan_counts_the_next_visit_from_the_last_completion(
    db: Database, tmp_path: Path
) -> None:
    site = _site(
        db,
        tmp_path,
        {"id": "pump-30d", "every": "30d", "floating": True, "checklist": CHECK, "targets": PUMPS},
    )
    assert _run(db, site, T0) == 0  # first seen: the baseline is now
    assert _run(db, site, T0 + 30 * DAY - timedelta(minutes=1)) == 0
    assert _run(db, site, T0 + 30 * DAY) == 1
    assert _run(db, site, T0 + 40 * DAY) == 0  # still open: nothing counts from it yet
    [first] = _orders(db)
    assert first.details["due_at"] == (T0 + 30 * DAY).isoformat()
    _complete(db, site, first, T0 + 45 * DAY)  # done 15 days late
    assert _run(db, site, T0 + 46 * DAY) == 0
    # 30 days from the completion, not from the first due time (T0 + 60 d)
    assert _run(db, site, T0 + 61 * DAY) == 0
    assert _run(db, site, T0 + 75 * DAY) == 1
    assert _run(db, site, T0 + 75 * DAY + timedelta(hours=1)) == 0
    second = _orders(db)[1]
    assert second.details["baseline"] == (T0 + 45 * DAY).isoformat()
    assert "浮动计划：自 04月16日" in second.description


def test_time_or_meter_opens_at_whichever_comes_first_and_both_restart(
    db: Database, tmp_path: Path
) -> None:
    site = _site(
        db,
        tmp_path,
        {
            "id": "pump-6m-2000h",
            "every": "180d",
            "meter": {"metric": "run_hours", "every": 2000, "unit": "h"},
            "checklist": CHECK,
            "targets": PUMPS,
        },
    )
    _set_meter(db, 500.0)
    assert _run(db, site, T0) == 0
    _set_meter(db, 2499.0)
    assert _run(db, site, T0 + 10 * DAY) == 0
    _set_meter(db, 2500.0)  # 2,000 h run since the baseline, long before 180 days
    assert _run(db, site, T0 + 11 * DAY) == 1
    [first] = _orders(db)
    assert first.details["trigger"] == "meter"
    _complete(db, site, first, T0 + 12 * DAY)
    _set_meter(db, 2600.0)
    assert _run(db, site, T0 + 13 * DAY) == 0  # the meter restarts at the completion (2600 h)
    _set_meter(db, 4599.0)
    assert _run(db, site, T0 + 150 * DAY) == 0
    # the pump barely runs now: 180 days after the completion the calendar wins
    assert _run(db, site, T0 + 192 * DAY) == 1
    assert _orders(db)[1].details["trigger"] == "time"


def test_a_floating_plan_without_an_interval_is_refused() -> None:
    with pytest.raises(InvalidPlan) as err:
        resolve_plan(
            PlanSpec.model_validate(
                {
                    "id": "x",
                    "cron": "0 9 1 * *",
                    "floating": True,
                    "checklist": CHECK,
                    "targets": PUMPS,
                }
            ),
            "api",
        )
    assert "every" in err.value.en


def test_the_floating_plan_says_how_it_counts(db: Database, tmp_path: Path) -> None:
    site = _site(
        db,
        tmp_path,
        {
            "id": "p",
            "every": "90d",
            "meter": {"metric": "run_hours", "every": 2000, "unit": "h"},
            "checklist": CHECK,
            "targets": PUMPS,
        },
    )
    with db.session() as s:
        plan = get_plan(s, site, "p")
    assert plan.floating
    assert plan.recurrence_zh().startswith("上次完成后90天或")
    assert plan.recurrence_zh().endswith("以先到者为准")
