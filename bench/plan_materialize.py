"""How long materializing a year of plans takes for a large site (default 10,000 assets).

Three figures:
1. occurrences of the full template library for a year, computed (no database): the calendar
   work a pass does;
2. a simulated year, one pass per simulated week (each catching up), materializing the
   low-frequency plans (annual and half-yearly work, ~14,000 work orders for 10,000 assets)
   into a real database through `create_work_order`: wall time, work orders per second and
   the slowest pass;
3. the steady-state pass (nothing due), which the scheduler runs every 60 s.

Usage: .venv/bin/python bench/plan_materialize.py [--assets 10000] [--database-url URL]
(SQLite in a temporary directory unless a URL is given).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maintenance.db import Database  # noqa: E402
from maintenance.plans.library import template_library  # noqa: E402
from maintenance.plans.service import (  # noqa: E402
    materialize_due,
    occurrences,
    plan_assets,
    resolve_plan,
)
from maintenance.registry.service import sync_registry  # noqa: E402
from propwatch.site import PlanSpec, load_site  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
YEAR_START = datetime(2026, 1, 1, tzinfo=TZ).astimezone(UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=TZ).astimezone(UTC)
MIX = {  # share of the assets per kind
    "elevator": 0.2,
    "water_pump": 0.2,
    "fire_pump": 0.05,
    "lighting_circuit": 0.35,
    "access_controller": 0.2,
}


def build_site(directory: Path, n: int, plans: list[dict[str, Any]]) -> Path:
    data = yaml.safe_load((ROOT / "examples/hexie-garden/site.yaml").read_text(encoding="utf-8"))
    assets = []
    for kind, share in MIX.items():
        for i in range(int(n * share)):
            zone = "zone-a" if i % 2 else "zone-b"
            assets.append({"id": f"{kind}-{i}", "name": f"{kind} {i}", "kind": kind, "zone": zone})
    data.update(assets=assets, devices=[], rules=[], plans=plans)
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


LOW_FREQUENCY: list[dict[str, Any]] = [
    {"id": "lift-yearly", "template": "elevator-yearly"},
    {"id": "tank", "template": "water-tank-cleaning"},
    {
        "id": "fire-yearly",
        "name": "消防水泵年度检测",
        "targets": {"kinds": ["fire_pump"]},
        "rrule": "FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=9;BYHOUR=9",
        "non_working_day": "next",
        "checklist": [{"id": "y1", "text": "年度检测"}],
    },
    {
        "id": "lighting-yearly",
        "name": "照明回路年度绝缘测试",
        "targets": {"kinds": ["lighting_circuit"]},
        "rrule": "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=2;BYHOUR=10",
        "non_working_day": "next",
        "checklist": [{"id": "y1", "text": "绝缘电阻", "unit": "MΩ", "low": 0.5}],
    },
    {
        "id": "door-half-yearly",
        "name": "门禁半年检",
        "targets": {"kinds": ["access_controller"]},
        "rrule": "FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=16;BYHOUR=10",
        "non_working_day": "skip",
        "checklist": [{"id": "h1", "text": "功能检查"}],
    },
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="plan-bench-"))

    # 1. The whole library, enumerated for a year.
    full = [{"id": t, "template": t} for t, tpl in template_library().items() if tpl.meter is None]
    site = load_site(build_site(tmp, args.assets, full))
    t0 = time.perf_counter()
    per_template: Counter[str] = Counter()
    for raw in full:
        plan = resolve_plan(PlanSpec.model_validate(raw), "site")
        n_assets = len(plan_assets(plan, site.spec))
        per_template[plan.id] = n_assets * sum(
            1 for o in occurrences(plan, site.spec, YEAR_START, YEAR_END) if o.due_at
        )
    enum_s = time.perf_counter() - t0
    print(f"assets: {len(site.spec.assets)}")
    print(
        f"1. full library, one year computed: {sum(per_template.values()):,} occurrences "
        f"in {enum_s:.2f} s"
    )

    # 2. A simulated year into the database.
    site = load_site(build_site(tmp, args.assets, LOW_FREQUENCY))
    db = Database(args.database_url or f"sqlite:///{tmp}/bench.db")
    db.create_all()
    with db.session() as s:
        sync_registry(s, site, YEAR_START)
    made = 0
    slowest = 0.0
    at = YEAR_START
    t0 = time.perf_counter()
    while at <= YEAR_END:
        p0 = time.perf_counter()
        with db.session() as s:
            made += materialize_due(s, site, at).total
        slowest = max(slowest, time.perf_counter() - p0)
        at += timedelta(days=7)
    year_s = time.perf_counter() - t0
    print(
        f"2. simulated year, weekly passes: {made:,} work orders in {year_s:.1f} s "
        f"({made / year_s:,.0f} work orders/s, slowest pass {slowest:.2f} s)"
    )

    # 3. The steady-state pass with nothing due.
    t0 = time.perf_counter()
    for _ in range(20):
        with db.session() as s:
            materialize_due(s, site, YEAR_END + timedelta(seconds=1))
    print(
        f"3. idle pass over {args.assets:,} assets: {(time.perf_counter() - t0) / 20 * 1000:.0f} ms"
    )
    db.dispose()


if __name__ == "__main__":
    main()
