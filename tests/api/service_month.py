"""A November 2026 of 和谐花园 for the 服务报告: repairs, complaints and revisits whose figures the
tests work out from `SEEDS` themselves (tests/api/test_service_report.py, the page's test)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from api.deps import AppContext
from maintenance.work_orders.models import (
    RevisitOutcome,
    Source,
    Status,
    WorkOrderRevisit,
    WorkOrderTransition,
)
from maintenance.work_orders.service import NewWorkOrder, create_work_order
from propwatch.site import Category, Priority, Site, load_site
from tests.conftest import EXAMPLE_SITE

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 5, 0, tzinfo=SHANGHAI)
MONTH = (datetime(2026, 11, 1, tzinfo=SHANGHAI), datetime(2026, 12, 1, tzinfo=SHANGHAI))
HOUSEHOLDS = {"1栋": 120, "2栋": 80, "3栋": 150, "4栋": 50}
ZONE_BUILDINGS = {"zone-a": ("1栋", "2栋", "水泵房"), "zone-b": ("3栋", "4栋", "北门")}


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Seed:
    key: str
    zone: str
    reported: datetime
    category: Category = Category.LIGHTING
    priority: Priority = Priority.GENERAL
    source: Source = Source.MANUAL
    accepted: timedelta | None = None  # after the report
    arrived: timedelta | None = None
    resolved: timedelta | None = None
    asset: str | None = None
    location: str | None = None
    cancelled: bool = False
    # closed on this day, then revisited with these scores (or not, None), due the day after
    closed: datetime | None = None
    scores: tuple[int, int, int] | None = None


M = timedelta(minutes=1)
H = timedelta(hours=1)
C = Category.COMPLAINT
SEEDS = (
    # repairs
    Seed("R0", "zone-a", at(10, 31, 23, 30), accepted=H),  # October in Shanghai
    Seed(
        "R1",
        "zone-a",
        at(11, 1, 0, 30),  # 31 October in UTC, November here
        accepted=2 * H,
        resolved=5 * H,
        closed=at(11, 2, 10),
        scores=(5, 4, 4),
    ),
    Seed("R2", "zone-a", at(11, 5, 10), accepted=9 * H, resolved=20 * H, closed=at(11, 6, 10)),
    Seed("R3", "zone-b", at(11, 10, 10)),  # never accepted: late once 8 h passed
    Seed(
        "R4",
        "zone-b",
        at(11, 12, 9),
        priority=Priority.EMERGENCY,
        accepted=10 * M,
        arrived=50 * M,
        resolved=2 * H,
        closed=at(11, 13, 9),
        scores=(5, 2, 5),
    ),
    Seed(
        "R5",
        "zone-a",
        at(11, 14, 22),
        priority=Priority.EMERGENCY,
        accepted=20 * M,
        arrived=75 * M,
    ),
    # resolved without an on-site step, within the hour: attended in time
    Seed(
        "R6", "zone-b", at(11, 20, 8), priority=Priority.EMERGENCY, accepted=5 * M, resolved=40 * M
    ),
    Seed("R7", "zone-a", at(11, 30, 23)),  # 6 h before the report: not decided yet
    Seed("R8", "zone-b", at(11, 22, 8), accepted=8 * H),  # exactly 8 h: on time
    Seed("P1", "zone-a", at(11, 3, 8), source=Source.PLAN),  # plan work: no repair
    Seed("X1", "zone-b", at(11, 4, 8), cancelled=True),
    # complaints
    Seed("C1", "zone-a", at(10, 20, 10), category=C, location="1栋2单元楼道"),
    Seed("C2", "zone-a", at(11, 10, 10), category=C, location="1栋2单元楼道"),  # C1 + 21 d
    Seed("C3", "zone-a", at(11, 5, 10), category=C, location="2栋大堂"),
    Seed("C4", "zone-b", at(11, 8, 10), category=C, asset="door-north"),
    Seed("C5", "zone-b", at(11, 25, 10), category=C, asset="door-north"),  # C4 + 17 d
    Seed("C6", "zone-b", at(9, 25, 10), category=C, location="4栋门口"),
    Seed("C7", "zone-b", at(11, 3, 10), category=C, location="4栋门口"),  # C6 + 39 d
    Seed("C8", "zone-a", at(11, 12, 10), category=C),  # no place: repeats nothing
    Seed("C9", "zone-a", at(11, 15, 10), category=C, location="2栋大堂", cancelled=True),
    Seed("C10", "zone-a", at(11, 28, 10), category=C, location="2栋大堂"),  # C3 + 23 d
)
ASSET_ZONE = {"door-north": "zone-b"}


def seed_month(ctx: AppContext, site: Site) -> None:
    with ctx.db.session() as s:
        for seed in SEEDS:
            wo, _ = create_work_order(
                s,
                site.spec,
                NewWorkOrder(
                    site_id=site.id,
                    source=seed.source,
                    source_key=f"{seed.source.value}:{site.id}:{seed.key}",
                    category=seed.category,
                    priority=seed.priority,
                    title=f"报修 {seed.key}",
                    reported_at=seed.reported.astimezone(UTC),
                    asset_code=seed.asset,
                    zone_code=None if seed.asset else seed.zone,
                    location=seed.location,
                ),
                seed.reported.astimezone(UTC),
            )
            after = {"accepted_at": seed.accepted, "arrived_at": seed.arrived}
            after["resolved_at"] = seed.resolved
            for column, delay in after.items():
                setattr(wo, column, None if delay is None else seed.reported + delay)
            if seed.cancelled:
                wo.status = Status.CANCELLED.value
                wo.cancelled_at = seed.reported + H
            if seed.closed is not None:
                wo.status = Status.CLOSED.value
                wo.closed_at = seed.closed
                due = seed.closed + timedelta(days=1)
                wo.revisit_due = due
                s.add(
                    WorkOrderTransition(
                        work_order=wo, at=seed.closed, actor="chen-kf", to_status="closed"
                    )
                )
                if seed.scores is not None:
                    wo.revisited_at = seed.closed + 5 * H
                    s.add(
                        WorkOrderRevisit(
                            work_order_id=wo.id,
                            site_id=site.id,
                            round=0,
                            at=seed.closed + 5 * H,
                            due_at=due,
                            actor="chen-kf",
                            via="phone",
                            response=seed.scores[0],
                            quality=seed.scores[1],
                            attitude=seed.scores[2],
                            outcome=RevisitOutcome.CLOSED.value,
                        )
                    )


def service_site(tmp_path: Path) -> Site:
    """The example with these households and two targets of its own."""
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    data = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    data["households"] = HOUSEHOLDS
    data["service_targets"] = {"complaints_per_100_households": 1.5, "response_8h": 0.9}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return load_site(path)
