"""套保: over a year of the TSG T5002 templates, the quarterly, half-yearly and yearly visits
replace the half-monthly (and lower) visits near them, carrying the union of checklists."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from sqlalchemy import select

from maintenance.db import Database
from maintenance.plans.library import template_library
from maintenance.plans.service import InvalidPlan, create_plan, list_plans, materialize_due
from maintenance.registry.service import sync_registry
from maintenance.work_orders.models import Source, WorkOrder
from propwatch.config_file import ConfigError
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")
LEVELS = ["elevator-half-monthly", "elevator-quarterly", "elevator-half-yearly", "elevator-yearly"]
PLAN_IDS = ["lift-hm", "lift-q", "lift-hy", "lift-y"]
WINDOW = timedelta(days=7)


def _local(d: date, hour: int = 9) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=TZ).astimezone(UTC)


def _next_working(d: date) -> date:
    # chinese_calendar knows the published years only; later, weekends alone
    while not (chinese_calendar.is_workday(d) if d.year <= 2026 else d.weekday() < 5):
        d += timedelta(days=1)
    return d


def _expected_times(until: date) -> dict[str, list[datetime]]:
    """Each level's visit times, worked out from the TSG calendar by hand: every other Monday
    of the fortnights counted from the week of 1 Jan 2026 (Monday 29 Dec 2025, so the first
    is 12 Jan), holidays kept; the 10th of each quarter, the 20th of January and July,
    15 April, each moved to the next working day."""
    hm = [date(2026, 1, 12) + timedelta(days=14 * k) for k in range(60)]
    q = [date(y, m, 10) for y in (2026, 2027) for m in (1, 4, 7, 10)]
    hy = [date(y, m, 20) for y in (2026, 2027) for m in (1, 7)]
    yearly = [date(y, 4, 15) for y in (2026, 2027)]
    return {
        "lift-hm": [_local(d) for d in hm if d <= until],
        "lift-q": [_local(_next_working(d)) for d in q if d <= until],
        "lift-hy": [_local(_next_working(d)) for d in hy if d <= until],
        "lift-y": [_local(_next_working(d)) for d in yearly if d <= until],
    }


def test_a_year_of_tsg_visits_nests_into_one_visit_with_the_union_of_checklists(
    db: Database, tmp_path: Path
) -> None:
    site = plan_site(
        tmp_path,
        fleet("elevator", 2, "zone-a", "1栋", "lift"),
        [
            {"id": "lift-hm", "template": "elevator-half-monthly"},
            # absorbs by template id; the quarterly and half-yearly work is only for lift-1
            {
                "id": "lift-q",
                "template": "elevator-quarterly",
                "targets": {"assets": ["lift-1"]},
                "absorbs": ["elevator-half-monthly"],
            },
            {
                "id": "lift-hy",
                "template": "elevator-half-yearly",
                "targets": {"assets": ["lift-1"]},
                "absorbs": ["lift-q"],
            },
            {"id": "lift-y", "template": "elevator-yearly", "absorbs": ["lift-hy"]},
        ],
    )
    start = datetime(2026, 1, 1, tzinfo=TZ).astimezone(UTC)
    with db.session() as s:
        sync_registry(s, site, start)
    absorbed = 0
    for day in range(366):
        with db.session() as s:
            absorbed += materialize_due(s, site, start + timedelta(days=day, hours=10)).absorbed
    end = start + timedelta(days=365, hours=10)

    # Independently: a visit of a level is replaced when a higher level covering the same
    # lift has a visit within 7 days of it; the others are made, each with every lower
    # level's items before its own.
    times = _expected_times(date(2027, 2, 1))
    covers = {"lift-hm": {1, 2}, "lift-q": {1}, "lift-hy": {1}, "lift-y": {1, 2}}
    want: Counter[tuple[str, str]] = Counter()
    want_absorbed = 0
    for level, plan in enumerate(PLAN_IDS):
        for lift in covers[plan]:
            for t in times[plan]:
                if not start < t <= end:
                    continue
                higher = [
                    u
                    for p in PLAN_IDS[level + 1 :]
                    if lift in covers[p]
                    for u in times[p]
                    if abs(u - t) <= WINDOW
                ]
                if higher:
                    want_absorbed += 1
                else:
                    want[(plan, f"lift-{lift}")] += 1
    lib = template_library()
    union = {
        plan: [i.id for tpl in LEVELS[: level + 1] for i in lib[tpl].checklist or []]
        for level, plan in enumerate(PLAN_IDS)
    }

    with db.session() as s:
        orders = list(s.scalars(select(WorkOrder).where(WorkOrder.source == Source.PLAN)))
    got = Counter((str(w.details["plan_id"]), w.title.split("：")[1]) for w in orders)
    names = {"lift 1号": "lift-1", "lift 2号": "lift-2"}
    got = Counter({(p, names[a]): n for (p, a), n in got.items()})
    assert got == want
    assert absorbed == want_absorbed
    assert sum(want.values()) == len(orders) == 52 + 4 + 2 + 2 - want_absorbed
    assert want_absorbed == 9  # 7 half-monthly and 1 quarterly of lift-1, 1 half-monthly of lift-2
    for w in orders:
        ids = [c["id"] for c in w.details["checklist"]]  # type: ignore[index, union-attr]
        assert ids == union[str(w.details["plan_id"])]
    yearly = [w for w in orders if w.details["plan_id"] == "lift-y"]
    assert len(yearly) == 2 and all(len(w.details["checklist"]) == 74 for w in yearly)  # type: ignore[arg-type]
    assert all("套保" in w.description for w in yearly)


def test_an_api_plan_absorbing_an_unknown_plan_is_refused_naming_the_field(
    db: Database, tmp_path: Path
) -> None:
    site = plan_site(
        tmp_path,
        fleet("elevator", 1, "zone-a", "1栋", "lift"),
        [{"id": "lift-hm", "template": "elevator-half-monthly"}],
    )
    now = datetime(2026, 1, 5, tzinfo=TZ).astimezone(UTC)
    with db.session() as s:
        sync_registry(s, site, now)
        with pytest.raises(InvalidPlan) as err:
            create_plan(
                s, site, {"id": "q", "template": "elevator-quarterly", "absorbs": ["nope"]}, now
            )
        assert err.value.en == "absorbs: unknown plans or templates: nope"
        # a site-file plan, a template id and a plan made through the API are all known
        create_plan(
            s, site, {"id": "q", "template": "elevator-quarterly", "absorbs": ["lift-hm"]}, now
        )
        create_plan(
            s,
            site,
            {"id": "y", "template": "elevator-yearly", "absorbs": ["q", "elevator-half-yearly"]},
            now,
        )
        assert [p.id for p in list_plans(s, site)] == ["lift-hm", "q", "y"]


def test_a_site_file_plan_absorbing_an_unknown_plan_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as err:
        plan_site(
            tmp_path,
            fleet("elevator", 1, "zone-a", "1栋", "lift"),
            [
                {"id": "lift-hm", "template": "elevator-half-monthly"},
                {"id": "lift-q", "template": "elevator-quarterly", "absorbs": ["lift-hn"]},
            ],
        )
    [problem] = [p for p in err.value.problems if "absorbs" in p]
    assert "plans[1].absorbs[0]" in problem and "lift-hn" in problem and "lift-hm" in problem
