"""How long the 90-day plan forecast (工作量预测) takes for a large site (default 10,000 assets).

The site: the example site's zones and staff with `--assets` assets of five kinds (the mix of
bench/plan_materialize.py), every calendar template of the library as a plan, the TSG elevator
visits nested (quarterly, half-yearly and yearly absorbing the lower ones), one floating plan
on the pumps, and a statutory inspection result for each elevator (their preparation orders
fall in the window). The registry is loaded into a real database, one plan pass run (the
floating plan's baselines, the statutory reminders and orders due), then `plan_forecast` is
timed over 90 days, `--repeat` times, and the next pass (what the scheduler does every 60 s).

Usage: .venv/bin/python bench/plan_forecast.py [--assets 10000] [--repeat 3]
       [--database-url URL]  (SQLite in a temporary directory unless a URL is given)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maintenance.db import Database  # noqa: E402
from maintenance.plans.forecast import plan_forecast  # noqa: E402
from maintenance.plans.library import template_library  # noqa: E402
from maintenance.plans.service import materialize_due  # noqa: E402
from maintenance.registry.service import sync_registry  # noqa: E402
from maintenance.statutory.models import StatutoryRecord  # noqa: E402
from propwatch.site import load_site  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 8, tzinfo=TZ).astimezone(UTC)
MIX = {
    "elevator": 0.2,
    "water_pump": 0.2,
    "fire_pump": 0.05,
    "lighting_circuit": 0.35,
    "access_controller": 0.2,
}
NESTED = {
    "elevator-quarterly": ["elevator-half-monthly"],
    "elevator-half-yearly": ["elevator-quarterly"],
    "elevator-yearly": ["elevator-half-yearly"],
}


def build_site(directory: Path, n: int) -> Path:
    data = yaml.safe_load((ROOT / "examples/hexie-garden/site.yaml").read_text(encoding="utf-8"))
    assets = []
    for kind, share in MIX.items():
        for i in range(int(n * share)):
            zone = "zone-a" if i % 2 else "zone-b"
            assets.append({"id": f"{kind}-{i}", "name": f"{kind} {i}", "kind": kind, "zone": zone})
    plans: list[dict[str, Any]] = [
        {"id": t, "template": t, **({"absorbs": NESTED[t]} if t in NESTED else {})}
        for t, tpl in template_library().items()
        if tpl.meter is None
    ]
    plans.append(
        {
            "id": "pump-floating",
            "name": "水泵浮动保养",
            "targets": {"kinds": ["water_pump"]},
            "every": "30d",
            "floating": True,
            "estimated_hours": 1.5,
            "checklist": [{"id": "f1", "text": "运行检查"}],
        }
    )
    data.update(assets=assets, devices=[], rules=[], plans=plans)
    quality = data.get("quality")
    if isinstance(quality, dict):
        quality.pop("patrols", None)  # their points are the example's own assets
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="forecast-bench-"))
    site = load_site(build_site(tmp, args.assets))
    db = Database(args.database_url or f"sqlite:///{tmp}/bench.db")
    db.create_all()
    with db.session() as s:
        sync_registry(s, site, NOW)
        for a in site.spec.assets:
            if a.kind == "elevator":
                day = date(2025, 3, 1) + timedelta(days=zlib.crc32(a.id.encode()) % 120)
                s.add(
                    StatutoryRecord(
                        site_id=site.id,
                        asset_code=a.id,
                        type_id="elevator-periodic",
                        inspected_on=day,
                        passed=True,
                        certificate_no=f"TS-{a.id}",
                        next_due=day.replace(year=2026),
                        agency="",
                        note="",
                        recorded_by="wang-gong",
                        recorded_at=NOW,
                    )
                )
    with db.session() as s:
        materialize_due(s, site, NOW)
    t0 = time.perf_counter()
    with db.session() as s:
        idle = materialize_due(s, site, NOW + timedelta(minutes=1))
    idle_s = time.perf_counter() - t0
    print(f"assets: {len(site.spec.assets)}, plans: {len(site.spec.plans)}, load {os.getloadavg()}")
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        with db.session() as s:
            f = plan_forecast(s, site, NOW, days=90, limit=100)
        times.append(time.perf_counter() - t0)
    print(
        f"forecast of 90 days: {f.orders:,} orders, {f.hours:,.1f} labour hours; "
        f"median {statistics.median(times):.2f} s, min {min(times):.2f} s over {args.repeat}"
    )
    for g in f.by_zone:
        print(f"  zone {g.name}: {g.orders:,} orders, {g.hours:,.1f} h")
    for g in f.by_technician:
        print(f"  {g.name}: {g.orders:,} orders, {g.hours:,.1f} h")
    busiest = max(f.by_week, key=lambda w: w.hours)
    week = f"{busiest.start:%Y-%m-%d}: {busiest.orders:,} orders, {busiest.hours:,.1f} h"
    print(f"  busiest week from {week}")
    print(
        f"the next plan pass (floating plans, statutory reminders and orders already made): "
        f"{idle_s:.2f} s, {idle.total} orders made"
    )
    db.dispose()


if __name__ == "__main__":
    main()
