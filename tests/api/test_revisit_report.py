"""回访率 and 满意度 in the monthly report, on SQLite and PostgreSQL: a seeded November 2026 whose
right answers this test works out from the seed itself, per site and zone, beside the targets of
the site file's `service_targets`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.deps import AppContext
from maintenance.work_orders.models import Source, Status, Via
from maintenance.work_orders.revisits import RevisitScores
from maintenance.work_orders.service import NewWorkOrder, create_work_order, transition
from propwatch.clock import ManualClock
from propwatch.site import Category, Priority, Site, load_site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.conftest import EXAMPLE_SITE

db, migrated_template = integration.db, integration.migrated_template

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI)
MONTH = (datetime(2026, 11, 1, tzinfo=SHANGHAI), datetime(2026, 12, 1, tzinfo=SHANGHAI))
TARGETS = "\nservice_targets: {satisfaction: 0.85, revisit_rate: 0.95}\n"


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Revisit:
    at: datetime
    scores: tuple[int, int, int] | None


@dataclass(frozen=True)
class Reopen:
    at: datetime


@dataclass(frozen=True)
class Round:
    resolved: datetime
    closed: datetime
    then: Revisit | Reopen | None


@dataclass(frozen=True)
class Case:
    key: str
    zone: str
    source: Source
    rounds: tuple[Round, ...]


def _one(
    key: str,
    zone: str,
    resolved: datetime,
    closed: datetime,
    then: Revisit | Reopen | None,
    source: Source = Source.TICKET,
) -> Case:
    return Case(key, zone, source, (Round(resolved, closed, then),))


CASES = (
    # closed in October, revisited (late) in November: its scores count, its closing does not
    _one("I", "zone-a", _at(10, 29, 9), _at(10, 30, 10), Revisit(_at(11, 2, 9), (5, 5, 5))),
    _one("A", "zone-a", _at(11, 2, 9), _at(11, 2, 10), Revisit(_at(11, 2, 15), (5, 5, 5))),
    # revisited the day after its due day: late
    _one("B", "zone-a", _at(11, 4, 9), _at(11, 4, 10), Revisit(_at(11, 6, 10), (4, 3, 4))),
    # resolved on a Friday, due Monday; 响应速度 2 opens a follow-up complaint
    _one("C", "zone-b", _at(11, 6, 15), _at(11, 6, 16), Revisit(_at(11, 9, 9), (2, 4, 4))),
    # 维修质量 1 reopens it; the repair is closed and revisited again
    Case(
        "D",
        "zone-b",
        Source.TICKET,
        (
            Round(_at(11, 10, 9), _at(11, 10, 10), Revisit(_at(11, 10, 14), (3, 1, 2))),
            Round(_at(11, 12, 9), _at(11, 12, 10), Revisit(_at(11, 12, 11), (5, 4, 4))),
        ),
    ),
    # the front desk's order, revisited without scores
    _one(
        "E",
        "zone-a",
        _at(11, 16, 9),
        _at(11, 16, 10),
        Revisit(_at(11, 16, 11), None),
        Source.MANUAL,
    ),
    # never revisited, past due by the report
    _one("F", "zone-a", _at(11, 20, 9), _at(11, 20, 10), None),
    # reopened from closed before any revisit: only its second closing counts
    Case(
        "H",
        "zone-a",
        Source.TICKET,
        (
            Round(_at(11, 25, 9), _at(11, 25, 10), Reopen(_at(11, 25, 12))),
            Round(_at(11, 26, 9), _at(11, 26, 10), Revisit(_at(11, 26, 16), (4, 4, 4))),
        ),
    ),
    # revisited late, in December: revisited but late; its scores belong to December
    _one("J", "zone-b", _at(11, 27, 9), _at(11, 27, 10), Revisit(_at(12, 1, 10), (5, 5, 5))),
    # closed on the month's last evening, not yet due at the report
    _one("G", "zone-b", _at(11, 30, 19), _at(11, 30, 20), None),
)
ASSIGNEE = {"zone-a": "wang-gong", "zone-b": "li-shifu"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 10, 1, tzinfo=UTC))


@pytest.fixture
def example_site(tmp_path: Path) -> Site:
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    path.write_text(EXAMPLE_SITE.read_text(encoding="utf-8") + TARGETS, "utf-8")
    return load_site(path)


def _events(case: Case) -> list[tuple[datetime, str, Any]]:
    first = case.rounds[0].resolved - timedelta(hours=3)
    out: list[tuple[datetime, str, Any]] = [(first, "create", None)]
    for i, r in enumerate(case.rounds):
        if i:
            out.append((r.resolved - timedelta(minutes=90), "step", Status.DISPATCHED))
        out += [
            (r.resolved - timedelta(minutes=60), "step", Status.ACCEPTED),
            (r.resolved - timedelta(minutes=30), "step", Status.ON_SITE),
            (r.resolved, "step", Status.RESOLVED),
            (r.resolved + timedelta(minutes=5), "step", Status.VERIFIED),
            (r.closed, "step", Status.CLOSED),
        ]
        if isinstance(r.then, Revisit):
            out.append((r.then.at, "revisit", r.then.scores))
        elif isinstance(r.then, Reopen):
            out.append((r.then.at, "step", Status.REOPENED))
    return out


def _seed(ctx: AppContext, site: Site, clock: ManualClock) -> None:
    """Every case's steps in the order of time (the clock only moves forward)."""
    timeline = sorted(
        (
            (at, n, case, kind, arg)
            for case in CASES
            for n, (at, kind, arg) in enumerate(_events(case))
        ),
        key=lambda e: (e[0], e[1]),
    )
    ids: dict[str, int] = {}
    for at, _, case, kind, arg in timeline:
        clock.set(at.astimezone(UTC))
        with ctx.db.session() as s:
            if kind == "create":
                wo, _ = create_work_order(
                    s,
                    site.spec,
                    NewWorkOrder(
                        site_id=site.id,
                        source=case.source,
                        source_key=f"{case.source.value}:{site.id}:{case.key}",
                        category=Category.WATER_SUPPLY,
                        priority=Priority.GENERAL,
                        title=f"报修 {case.key}",
                        reported_at=clock.now(),
                        zone_code=case.zone,
                        assignee=ASSIGNEE[case.zone],
                    ),
                    clock.now(),
                )
                ids[case.key] = wo.id
                continue
            scores = None
            if kind == "revisit" and arg is not None:
                scores = RevisitScores(*arg, via=Via.PHONE)
            transition(
                s,
                site.spec,
                ids[case.key],
                Status.REVISITED if kind == "revisit" else arg,
                actor="chen-kf",
                now=clock.now(),
                note="住户来电仍漏水" if arg is Status.REOPENED else "",
                revisit=scores,
            )
    clock.set(NOW.astimezone(UTC))


def _due(resolved: datetime) -> datetime:
    """One working day after the day resolved: Monday to Friday (no holiday falls between
    29 October and 1 December 2026)."""
    day = resolved.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(23, 59, 59), tzinfo=SHANGHAI)


def _in_month(at: datetime) -> bool:
    return MONTH[0] <= at < MONTH[1]


def _expected(zone: str | None, targets: dict[str, float | None]) -> dict[str, Any]:
    closings, scored = [], []
    for case in CASES:
        if zone is not None and case.zone != zone:
            continue
        for r in case.rounds:
            if isinstance(r.then, Revisit) and r.then.scores and _in_month(r.then.at):
                scored.append(r.then.scores)
            if not _in_month(r.closed) or isinstance(r.then, Reopen):
                continue
            revisited = isinstance(r.then, Revisit)
            due = _due(r.resolved)
            closings.append(
                (
                    revisited,
                    revisited or due < NOW,
                    isinstance(r.then, Revisit) and r.then.at <= due,
                )
            )

    def rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    def mean(i: int) -> float | None:
        return round(sum(s[i] for s in scored) / len(scored), 2) if scored else None

    revisited = sum(c[0] for c in closings)
    decided = sum(c[1] for c in closings)
    on_time = sum(c[2] for c in closings)
    satisfied = sum(min(s) >= 4 for s in scored)
    return {
        "closed": len(closings),
        "revisited": revisited,
        "revisit_rate": rate(revisited, len(closings)),
        "revisit_rate_target": targets["revisit_rate"],
        "revisits_decided": decided,
        "revisits_on_time": on_time,
        "revisit_on_time_rate": rate(on_time, decided),
        "revisit_on_time_target": targets["revisit_on_time"],
        "scored": len(scored),
        "satisfied": satisfied,
        "unsatisfied": sum(min(s) <= 2 for s in scored),
        "satisfaction_rate": rate(satisfied, len(scored)),
        "satisfaction_target": targets["satisfaction"],
        "mean_response": mean(0),
        "mean_quality": mean(1),
        "mean_attitude": mean(2),
    }


TARGETS_SET = {"satisfaction": 0.85, "revisit_rate": 0.95, "revisit_on_time": None}


def test_the_monthly_report_counts_revisits_and_satisfaction_per_site_and_zone(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    _seed(ctx, example_site, clock)
    r = client.get(
        f"/api/v1/reports/{example_site.id}/monthly",
        params={"year": 2026, "month": 11},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 200, r.text
    got = r.json()["revisits"]
    assert got["site"] == _expected(None, TARGETS_SET)
    assert {z["zone"]: z for z in got["zones"]} == {
        "zone-a": {"zone": "zone-a", "name": "A区", **_expected("zone-a", TARGETS_SET)},
        "zone-b": {"zone": "zone-b", "name": "B区", **_expected("zone-b", TARGETS_SET)},
    }
    # the seed reaches every branch of the rules: a pending one, a late one, a superseded
    # closing, an unscored revisit, and scores outside the month on either side
    site = got["site"]
    assert (site["closed"], site["revisited"], site["revisits_decided"]) == (10, 8, 9)
    assert (site["scored"], site["satisfied"], site["unsatisfied"]) == (7, 4, 2)


def test_the_satisfaction_target_is_the_plans_90_percent_unless_the_site_file_sets_one(
    tmp_path: Path,
) -> None:
    plain = load_site(EXAMPLE_SITE)
    assert plain.spec.service_targets.satisfaction == 0.90
    assert plain.spec.service_targets.revisit_rate == 1.0  # 事事有回访, the 服务报告's too
    path = tmp_path / "site.yaml"
    path.write_text(EXAMPLE_SITE.read_text(encoding="utf-8") + TARGETS, "utf-8")
    assert load_site(path).spec.service_targets.satisfaction == 0.85
