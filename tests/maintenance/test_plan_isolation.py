"""A plan that cannot run is isolated: the other plans keep making their orders exactly once,
its error is on the plan in the API and in `/metrics`, logged once, and cleared by a reload
that fixes it. On SQLite and PostgreSQL, through the migrated schema."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.app import create_app
from maintenance.db import Database
from maintenance.plans import service
from maintenance.plans.models import PlanHealth, PlanRecord
from maintenance.plans.service import Plan
from maintenance.registry.service import sync_registry
from maintenance.scheduler import PlanScheduler
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.site import Site, SiteFile
from tests.api.conftest import bearer, make_ctx, make_tokens
from tests.api.live import serve
from tests.maintenance.plan_sites import fleet, plan_site

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_8H = datetime(2026, 5, 4, 8, tzinfo=TZ).astimezone(UTC)
CHECKS = [{"id": "c-01", "text": "运行正常"}]
LIFTS = {"kinds": ["elevator"]}
BAD_CRON = "30 25 * * 5"


@pytest.fixture(autouse=True)
def _chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "zh_CN.UTF-8")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    d = Database(database_url)
    d.upgrade()
    yield d
    d.dispose()


def _plans(gate_cron: str) -> list[dict[str, Any]]:
    return [
        {"id": "lift-daily", "targets": LIFTS, "cron": "0 9 * * *", "checklist": CHECKS},
        {"id": "gate-weekly", "targets": LIFTS, "cron": gate_cron, "checklist": CHECKS},
        {
            "id": "lift-monday",
            "targets": LIFTS,
            "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=30",
            "checklist": CHECKS,
        },
    ]


def _site(tmp_path: Path, gate_cron: str) -> Site:
    tmp_path.mkdir(exist_ok=True)
    return plan_site(tmp_path, fleet("elevator", 2, "zone-a", "1栋", "lift"), _plans(gate_cron))


def _orders(db: Database) -> dict[str, int]:
    """Work orders per plan, read from their occurrence keys (`plan:<site>:<plan>:…`)."""
    with db.session() as s:
        keys = s.scalars(select(WorkOrder.source_key).where(WorkOrder.source == "plan"))
        return dict(Counter(str(k).split(":")[2] for k in keys))


def _metrics(base: str, token: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", headers=bearer(token), timeout=10).text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("propwatch_plan")
    }


def test_a_broken_plan_is_isolated_shown_and_cleared_by_the_fix(
    tmp_path: Path, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(MONDAY_8H)
    site = _site(tmp_path / "broken", BAD_CRON)
    with db.session() as s:
        sync_registry(s, site, clock.now())
        # a plan added through the API whose stored row was since edited to a minutely rule
        s.add(
            PlanRecord(
                site_id=site.id,
                code="api-minutely",
                spec={"id": "api-minutely", "targets": LIFTS, "rrule": "FREQ=MINUTELY"}
                | {"checklist": CHECKS},
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    sched = PlanScheduler(site, db, clock)
    caplog.set_level(logging.INFO, logger="maintenance.scheduler")

    sched.run_pass()
    clock.set(datetime(2026, 5, 4, 9, 31, tzinfo=TZ).astimezone(UTC))
    sched.run_pass()
    clock.set(datetime(2026, 5, 4, 9, 32, tzinfo=TZ).astimezone(UTC))
    sched.run_pass()

    # the good plans made their orders exactly once, whatever the broken ones did
    assert _orders(db) == {"lift-daily": 2, "lift-monday": 2}
    stopped = [r for r in caplog.records if "stopped" in r.getMessage()]
    assert sorted(str(r.args[0]) for r in stopped if isinstance(r.args, tuple)) == [
        "api-minutely",
        "gate-weekly",
    ]  # once each, not once a pass
    assert sched.stats.plan_failures == 6
    gate_error = "计划 gate-weekly 的周期有误：cron “30 25 * * 5”：小时 25 超出范围：小时 0–23"
    with db.session() as s:
        health = {h.plan_code: h for h in s.scalars(select(PlanHealth))}
    assert {k: (h.error, h.failures) for k, h in health.items()} == {
        "gate-weekly": (gate_error, 3),
        "api-minutely": (
            "计划 api-minutely 的周期有误：rrule “FREQ=MINUTELY”：FREQ=MINUTELY 太频繁："
            "保养计划最多每小时一次（可选 YEARLY、MONTHLY、WEEKLY、DAILY、HOURLY）",
            3,
        ),
    }
    assert health["gate-weekly"].error_since == MONDAY_8H
    assert health["gate-weekly"].error_at == clock.now()

    ctx = make_ctx(db, site, clock)
    tokens = make_tokens(ctx, site)
    with serve(create_app(ctx)) as base:
        listed = httpx.get(
            f"{base}/api/v1/sites/{site.id}/plans", headers=bearer(tokens.duty), timeout=10
        )
        assert listed.status_code == 200, listed.text
        views = {p["id"]: p for p in listed.json()}
        assert {k: (v["status"], v["failures"]) for k, v in views.items()} == {
            "lift-daily": ("ok", 0),
            "lift-monday": ("ok", 0),
            "gate-weekly": ("error", 3),
            "api-minutely": ("error", 3),
        }
        detail = httpx.get(
            f"{base}/api/v1/sites/{site.id}/plans/gate-weekly",
            headers=bearer(tokens.duty),
            timeout=10,
        ).json()
        assert (detail["error"], detail["recurrence"]) == (gate_error, f"cron:{BAD_CRON}")
        assert datetime.fromisoformat(detail["error_since"]) == MONDAY_8H
        figures = _metrics(base, tokens.integration)
    assert figures['propwatch_plan_failures_total{site="hexie",plan="gate-weekly"}'] == 3
    assert figures['propwatch_plan_failures_total{site="hexie",plan="lift-daily"}'] == 0
    assert figures['propwatch_plan_error{site="hexie",plan="gate-weekly"}'] == 1
    assert figures['propwatch_plan_error{site="hexie",plan="lift-daily"}'] == 0
    assert figures['propwatch_plans_in_error{site="hexie"}'] == 2

    # the site file is fixed and reloaded; the stored row is retired
    fixed = _site(tmp_path / "fixed", "30 9 * * 5")
    sched.site = ctx.sites[site.id] = fixed
    with db.session() as s:
        row = s.scalars(select(PlanRecord).where(PlanRecord.code == "api-minutely")).one()
        row.retired_at = clock.now()
    caplog.clear()
    clock.set(datetime(2026, 5, 8, 9, 31, tzinfo=TZ).astimezone(UTC))  # Friday
    sched.run_pass()  # the fixed plan starts now, like any new one: no back-filling
    clock.set(datetime(2026, 5, 15, 9, 31, tzinfo=TZ).astimezone(UTC))  # the next Friday
    sched.run_pass()
    sched.run_pass()

    assert _orders(db) == {"lift-daily": 24, "lift-monday": 4, "gate-weekly": 2}
    recovered = [r.getMessage() for r in caplog.records if "runs again" in r.getMessage()]
    assert len(recovered) == 2
    with serve(create_app(ctx)) as base:
        views = {
            p["id"]: p
            for p in httpx.get(
                f"{base}/api/v1/sites/{site.id}/plans", headers=bearer(tokens.duty), timeout=10
            ).json()
        }
        figures = _metrics(base, tokens.integration)
    assert (views["gate-weekly"]["status"], views["gate-weekly"]["error"]) == ("ok", None)
    assert views["gate-weekly"]["failures"] == 3  # the history stays
    assert figures['propwatch_plan_error{site="hexie",plan="gate-weekly"}'] == 0
    assert figures['propwatch_plan_failures_total{site="hexie",plan="gate-weekly"}'] == 3
    assert figures['propwatch_plans_in_error{site="hexie"}'] == 0


def test_a_plan_failing_on_the_database_keeps_the_others(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure no schedule check can foresee (here a statement the real database refuses,
    on that plan's pass alone) is recorded like a bad schedule."""
    clock = ManualClock(MONDAY_8H)
    site = _site(tmp_path, "30 9 * * 1")
    with db.session() as s:
        sync_registry(s, site, clock.now())
    sched = PlanScheduler(site, db, clock)
    sched.run_pass()

    real = service._materialize_calendar

    def refuse_gate(session: Session, spec: SiteFile, plan: Plan, *args: Any) -> None:
        if plan.id == "gate-weekly":
            session.execute(text("SELECT no_such_function()"))
        real(session, spec, plan, *args)

    monkeypatch.setattr(service, "_materialize_calendar", refuse_gate)
    clock.set(datetime(2026, 5, 4, 9, 31, tzinfo=TZ).astimezone(UTC))
    sched.run_pass()

    assert _orders(db) == {"lift-daily": 2, "lift-monday": 2}
    with db.session() as s:
        health = s.scalars(select(PlanHealth)).one()
    assert health.plan_code == "gate-weekly" and health.failures == 1
    assert health.error is not None and "no_such_function" in health.error
