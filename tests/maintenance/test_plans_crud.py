"""Plans through the service functions the API exposes: create, list, preview, update, retire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from maintenance.db import Database
from maintenance.plans.service import (
    InvalidPlan,
    PlanConflict,
    PlanNotFound,
    create_plan,
    delete_plan,
    list_plans,
    materialize_due,
    preview_plan,
    update_plan,
)
from maintenance.registry.service import sync_registry
from propwatch.site import Site
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 9, 28, 10, tzinfo=TZ).astimezone(UTC)


@pytest.fixture
def site(tmp_path: Path, db: Database) -> Site:
    s = plan_site(
        tmp_path,
        fleet("elevator", 2, "zone-a", "1栋", "lift")
        + fleet("water_pump", 1, "zone-a", prefix="pump"),
        [{"id": "quarterly", "template": "elevator-quarterly"}],
    )
    with db.session() as session:
        sync_registry(session, s, NOW)
    return s


CAR_WASH: dict[str, Any] = {
    "id": "car-deep-clean",
    "name": "轿厢深度清洁",
    "targets": {"kinds": ["elevator"]},
    "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=14;BYMINUTE=0",
    "non_working_day": "next",
    "checklist": [{"id": "c1", "text": "轿壁、地坎清洁"}],
    "role": "service",
    "time_limit": "4h",
}


def test_a_created_plan_is_listed_beside_the_site_files(db: Database, site: Site) -> None:
    with db.session() as s:
        create_plan(s, site, CAR_WASH, NOW)
    with db.session() as s:
        views = {v.id: v for v in list_plans(s, site)}
    assert views["quarterly"].source == "site" and views["car-deep-clean"].source == "api"
    assert views["car-deep-clean"].assets == ["lift-1", "lift-2"]
    assert len(views["quarterly"].checklist) == 12


def test_preview_shows_holiday_shifts(db: Database, site: Site) -> None:
    with db.session() as s:
        create_plan(s, site, CAR_WASH, NOW)
        items = preview_plan(
            s, site, "car-deep-clean", NOW, datetime(2026, 10, 9, tzinfo=TZ).astimezone(UTC)
        )
    shifted = [i for i in items if i.shifted]
    assert len(items) == 4  # Thursdays 1 Oct (国庆, moved to 8 Oct) and 8 Oct, two lifts
    assert {i.due_at.astimezone(TZ).day for i in shifted if i.due_at} == {8}


def test_a_created_plan_materializes_like_a_site_plan(db: Database, site: Site) -> None:
    with db.session() as s:
        create_plan(s, site, CAR_WASH, NOW)
        materialize_due(s, site, NOW)
        made = materialize_due(s, site, datetime(2026, 10, 9, tzinfo=TZ).astimezone(UTC))
    assert made.created["car-deep-clean"] == 4


def test_a_duplicate_id_is_a_conflict(db: Database, site: Site) -> None:
    with db.session() as s, pytest.raises(PlanConflict):
        create_plan(s, site, {**CAR_WASH, "id": "quarterly"}, NOW)


def test_a_site_file_plan_cannot_be_changed_through_the_api(db: Database, site: Site) -> None:
    with db.session() as s, pytest.raises(PlanConflict, match="站点文件"):
        delete_plan(s, site, "quarterly", NOW)


def test_a_bad_rrule_is_refused_with_its_reason(db: Database, site: Site) -> None:
    with db.session() as s, pytest.raises(InvalidPlan, match="FREQ 'SOMETIMES' is not recognised"):
        create_plan(s, site, {**CAR_WASH, "rrule": "FREQ=SOMETIMES"}, NOW)


def test_an_unknown_asset_is_refused(db: Database, site: Site) -> None:
    with db.session() as s, pytest.raises(InvalidPlan, match="lift-9"):
        create_plan(s, site, {**CAR_WASH, "targets": {"assets": ["lift-9"]}}, NOW)


def test_an_update_changes_the_next_occurrences(db: Database, site: Site) -> None:
    with db.session() as s:
        create_plan(s, site, CAR_WASH, NOW)
        view = update_plan(s, site, "car-deep-clean", {**CAR_WASH, "time_limit": "8h"}, NOW)
    assert view.time_limit == "8h"


def test_a_retired_plan_is_gone_and_makes_nothing_more(db: Database, site: Site) -> None:
    with db.session() as s:
        create_plan(s, site, CAR_WASH, NOW)
        delete_plan(s, site, "car-deep-clean", NOW)
    with db.session() as s:
        assert "car-deep-clean" not in {v.id for v in list_plans(s, site)}
        with pytest.raises(PlanNotFound):
            preview_plan(s, site, "car-deep-clean", NOW, NOW.replace(year=2027))


def test_an_interval_shorter_than_an_hour_is_refused(db: Database, site: Site) -> None:
    spec = {k: v for k, v in CAR_WASH.items() if k != "rrule"}
    with db.session() as s, pytest.raises(InvalidPlan, match="every"):
        create_plan(s, site, {**spec, "every": "5m"}, NOW)


def test_a_stored_plan_gone_bad_is_reported_and_the_others_still_run(
    db: Database, site: Site
) -> None:
    from maintenance.plans.models import PlanRecord

    with db.session() as s:
        s.add(
            PlanRecord(
                site_id=site.id, code="bad", spec={"id": "bad"}, created_at=NOW, updated_at=NOW
            )
        )
        materialize_due(s, site, NOW)
        result = materialize_due(s, site, datetime(2026, 10, 12, tzinfo=TZ).astimezone(UTC))
    assert list(result.failed) == ["bad"]
    assert result.created["quarterly"] == 2  # 10 Oct is a 调休 Saturday: a working day


def test_a_retired_id_reused_starts_afresh_without_catching_up(db: Database, site: Site) -> None:
    later = datetime(2026, 12, 1, tzinfo=TZ).astimezone(UTC)
    with db.session() as s:
        create_plan(s, site, CAR_WASH, NOW)
        materialize_due(s, site, NOW)
        delete_plan(s, site, "car-deep-clean", NOW)
        create_plan(s, site, CAR_WASH, later)
        result = materialize_due(s, site, later + timedelta(hours=1))
    assert result.created["car-deep-clean"] == 0
