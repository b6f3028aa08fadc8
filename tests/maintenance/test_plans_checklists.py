"""检查表: each item is recorded pass / fail or measured, with who; a failure follows up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from maintenance.db import Database
from maintenance.errors import Conflict
from maintenance.plans.service import ChecklistError, materialize_due, record_check
from maintenance.registry.service import sync_registry
from maintenance.work_orders.models import Status, WorkOrder
from maintenance.work_orders.service import transition
from propwatch.site import Site
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 1, tzinfo=TZ).astimezone(UTC)
DONE = datetime(2026, 3, 6, 12, tzinfo=TZ).astimezone(UTC)


@pytest.fixture
def site(tmp_path: Path, db: Database) -> Site:
    s = plan_site(
        tmp_path,
        fleet("water_pump", 1, "zone-a", "水泵房", "pump"),
        [{"id": "pump-monthly", "template": "water-pump-monthly"}],
    )
    with db.session() as session:
        sync_registry(session, s, START)
        materialize_due(session, s, START)
        materialize_due(session, s, DONE)
    return s


def _occurrence(db: Database) -> WorkOrder:
    with db.session() as s:
        return next(
            w for w in s.scalars(select(WorkOrder)) if w.details.get("plan_id") == "pump-monthly"
        )


def _orders(db: Database) -> list[WorkOrder]:
    with db.session() as s:
        return list(s.scalars(select(WorkOrder).order_by(WorkOrder.id)))


def test_a_passed_item_records_who_and_when(db: Database, site: Site) -> None:
    wo = _occurrence(db)
    with db.session() as s:
        rec = record_check(s, site, wo.id, "w-01", by="wang-gong", now=DONE, passed=True)
    item = _occurrence(db).details["checklist"][0]  # type: ignore[index]
    assert (rec.result, rec.follow_up_work_order_id) == ("pass", None)
    assert (item["result"], item["recorded_by"]) == ("pass", "wang-gong")


def test_a_measurement_inside_its_limits_passes(db: Database, site: Site) -> None:
    with db.session() as s:
        rec = record_check(s, site, _occurrence(db).id, "w-03", by="wang-gong", now=DONE, value=0.4)
    assert (rec.result, rec.unit) == ("pass", "MPa")


def test_a_measurement_outside_its_limits_fails_and_opens_a_linked_follow_up(
    db: Database, site: Site
) -> None:
    wo = _occurrence(db)
    with db.session() as s:
        rec = record_check(s, site, wo.id, "w-05", by="wang-gong", now=DONE, value=82.0)
    follow = next(w for w in _orders(db) if w.id == rec.follow_up_work_order_id)
    assert rec.result == "fail"
    assert follow.details["follow_up_of"] == wo.id
    assert follow.details["scheduled_at"] == wo.details["scheduled_at"]
    assert "实测 82℃" in follow.description


def test_recording_the_same_failure_twice_keeps_one_follow_up(db: Database, site: Site) -> None:
    wo = _occurrence(db)
    for _ in range(2):
        with db.session() as s:
            record_check(s, site, wo.id, "w-07", by="wang-gong", now=DONE, passed=False)
    assert len(_orders(db)) == 2


def test_an_unknown_recorder_is_refused(db: Database, site: Site) -> None:
    with db.session() as s, pytest.raises(ChecklistError, match="记录人"):
        record_check(s, site, _occurrence(db).id, "w-01", by="nobody", now=DONE, passed=True)


def test_a_measurement_without_a_value_is_refused(db: Database, site: Site) -> None:
    with db.session() as s, pytest.raises(ChecklistError, match="测量值"):
        record_check(s, site, _occurrence(db).id, "w-03", by="wang-gong", now=DONE, passed=True)


def test_a_resolved_order_no_longer_takes_entries(db: Database, site: Site) -> None:
    wo = _occurrence(db)
    with db.session() as s:
        for step in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
            transition(s, site.spec, wo.id, step, actor="wang-gong", now=DONE)
    with db.session() as s, pytest.raises(Conflict):
        record_check(s, site, wo.id, "w-01", by="wang-gong", now=DONE, passed=True)
