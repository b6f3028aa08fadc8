"""月度品质检查计划 on SQLite and PostgreSQL with an injected clock: the month's inspection opens
once as the inspector's task (pass repeated, scheduler and direct call alike), not before its day,
again the next month, and an unknown sheet, zone or person is refused at load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.deps import AppContext
from maintenance.quality.inspection_plans import open_due_inspections
from maintenance.scheduler import PlanScheduler
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.config_file import ConfigError
from propwatch.site import Site, load_site
from tests.api.conftest import Tokens, bearer
from tests.api.integration import db, example_site, migrated_template
from tests.conftest import EXAMPLE_SITE

__all__ = ["db", "example_site", "migrated_template"]

PLAN = """
    - {id: monthly-a, sheet: monthly, zone: zone-a, day: 5, at: "09:00", who: wang-gong}
"""


def _with_plan(tmp_path: Path, plan: str = PLAN) -> Site:
    text = EXAMPLE_SITE.read_text(encoding="utf-8").replace(
        "  patrols:\n", "  inspection_plans:" + plan + "  patrols:\n", 1
    )
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, "utf-8")
    return load_site(path)


def _orders(ctx: AppContext) -> list[WorkOrder]:
    with ctx.db.session() as s:
        return list(s.scalars(select(WorkOrder).where(WorkOrder.source_key.like("inspection:%"))))


def test_the_monthly_inspection_opens_once_as_the_inspectors_task(
    client: TestClient, tokens: Tokens, ctx: AppContext, tmp_path: Path
) -> None:
    site = _with_plan(tmp_path)
    ctx.sites[site.id] = site
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    # the fixtures' clock is Monday 23 November 10:00 in Shanghai: 5 November is past
    with ctx.db.session() as s:
        assert open_due_inspections(s, site, clock.now()) == 1
    with ctx.db.session() as s:
        assert open_due_inspections(s, site, clock.now()) == 0
    scheduler = PlanScheduler(site, ctx.db, clock)
    scheduler.run_pass()
    (order,) = _orders(ctx)
    assert order.source_key == "inspection:hexie:monthly-a:2026-11"
    assert order.title == "品质检查：月度品质检查评分表·A区（11月）"
    assert order.assignee == "wang-gong" and order.zone_code == "zone-a"
    assert order.details["inspection"] == {
        "plan": "monthly-a",
        "sheet": "monthly",
        "zone": "zone-a",
    }
    # 5 November 09:00 Shanghai
    assert order.reported_at == datetime(2026, 11, 5, 1, 0, tzinfo=UTC)

    # on the technician's tasks
    tasks = client.get(
        "/api/v1/work-orders?status=dispatched&assignee=wang-gong",
        headers=bearer(tokens.technician),
    ).json()["items"]
    assert [t["title"] for t in tasks if t["title"].startswith("品质检查")] == [order.title]

    # 4 December 23:59: not yet; 5 December 09:00: December's
    clock.set(datetime(2026, 12, 4, 15, 59, tzinfo=UTC))
    scheduler.run_pass()
    assert len(_orders(ctx)) == 1
    clock.set(datetime(2026, 12, 5, 1, 0, tzinfo=UTC))
    scheduler.run_pass()
    scheduler.run_pass()
    assert sorted(o.source_key for o in _orders(ctx)) == [
        "inspection:hexie:monthly-a:2026-11",
        "inspection:hexie:monthly-a:2026-12",
    ]


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ("\n    - {id: x, sheet: nope, who: wang-gong}\n", "inspection_plans[0].sheet"),
        (
            "\n    - {id: x, sheet: monthly, zone: zone-z, who: wang-gong}\n",
            "inspection_plans[0].zone",
        ),
        ("\n    - {id: x, sheet: monthly, who: nobody}\n", "inspection_plans[0].who"),
        ("\n    - {id: x, sheet: monthly, who: wang-gong, day: 31}\n", "inspection_plans[0].day"),
    ],
)
def test_a_plan_naming_what_the_site_lacks_is_refused_at_load(
    tmp_path: Path, plan: str, field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _with_plan(tmp_path, plan)
    assert field in str(caught.value)
