"""The filtered work-order list under load: 100,000 work orders, 100 requests/s, p99.

    .venv/bin/python -m bench.api_work_orders                   # 100,000 orders, 100 rps, 20 s
    .venv/bin/python -m bench.api_work_orders --orders 100000 --rate 100 --seconds 30

Builds a migrated SQLite database with the example site and `--orders` work orders spread over
a year, starts the real API (uvicorn) in a separate process, and drives it from this process on
loopback with an open-loop generator: requests leave on a fixed schedule whatever the answers
do, and each latency counts from the scheduled start, so a stall is not hidden (no coordinated
omission). The mix is the duty room's and ticket system's lists: by status, by assignee, by zone,
by priority, sorted by due time, and the second page through a cursor. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from api.auth import ApiRole, issue_token
from maintenance.db import Database
from maintenance.registry.service import sync_registry
from maintenance.work_orders.models import Status, WorkOrder
from propwatch.site import load_site

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "examples" / "hexie-garden" / "site.yaml"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
PEOPLE = ("wang-gong", "li-shifu", None)
ZONES = ("zone-a", "zone-b")
PRIORITIES = ("emergency", "important", "general", "general", "general")
CATEGORIES = ("elevator", "water_supply", "lighting", "access_control", "general")


def build(url: str, orders: int) -> str:
    site = load_site(SITE)
    db = Database(url)
    db.upgrade()
    rng = random.Random(7)
    statuses = [s.value for s in Status]
    with db.session() as s:
        sync_registry(s, site, NOW)
        token = issue_token(
            s, name="bench", role=ApiRole.DUTY, sites=[site.id], person=None, now=NOW
        )
    rows: list[dict[str, Any]] = []
    for i in range(orders):
        at = NOW - timedelta(seconds=rng.randrange(365 * 86400))
        status = rng.choice(statuses)
        rows.append(
            {
                "site_id": site.id,
                "code": f"GD-B{i:07d}",
                "source": "manual",
                "source_key": f"bench:{i}",
                "category": rng.choice(CATEGORIES),
                "priority": rng.choice(PRIORITIES),
                "status": status,
                "title": f"巡检发现问题 {i}",
                "description": "",
                "assignee": rng.choice(PEOPLE),
                "zone_code": rng.choice(ZONES),
                "reported_at": at,
                "created_at": at,
                "updated_at": at,
                "respond_due": at + timedelta(hours=1),
                "resolve_due": at + timedelta(hours=rng.choice((4, 24, 72))),
                "occurrences": 1,
                "details": {},
                "chattering": False,
                "paused_seconds": 0.0,
                "reopen_count": 0,
            }
        )
        if len(rows) == 5000:
            with db.session() as s:
                s.execute(insert(WorkOrder), rows)
            rows = []
    if rows:
        with db.session() as s:
            s.execute(insert(WorkOrder), rows)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    db.dispose()
    return token


def serve(url: str, port: int) -> None:
    """The API alone, as `propwatch api` runs it (one uvicorn worker)."""
    import uvicorn

    from api.app import create_app
    from api.auth import TokenRegistry
    from api.deps import AppContext
    from propwatch.clock import SystemClock

    site = load_site(SITE)
    ctx = AppContext(Database(url), {site.id: site}, SystemClock(), TokenRegistry())
    uvicorn.run(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")


QUERIES: tuple[dict[str, Any], ...] = (
    {"status": "dispatched"},
    {"status": ["accepted", "on_site"], "zone": "zone-a"},
    {"assignee": "wang-gong"},
    {"assignee": "li-shifu", "status": "on_hold"},
    {"priority": "emergency"},
    {"zone": "zone-b", "sort": "resolve_due"},
    {},
)


async def load(base: str, token: str, rate: float, seconds: float) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:
        # a cursor for the "second page" requests
        first = (await http.get("/api/v1/work-orders", params={"limit": 50})).json()
        cursor = first["next_cursor"]
        rng = random.Random(3)

        async def one(scheduled: float, params: dict[str, Any]) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                r = await http.get("/api/v1/work-orders", params={**params, "limit": 50})
                if r.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

        start = time.perf_counter() + 0.5
        total = int(rate * seconds)
        tasks = []
        for i in range(total):
            params: dict[str, Any] = dict(rng.choice(QUERIES))
            if i % 10 == 9:
                params = {"cursor": cursor}
            tasks.append(asyncio.create_task(one(start + i / rate, params)))
        await asyncio.gather(*tasks)
    if errors:
        print(f"errors: {errors}")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        t0 = time.perf_counter()
        token = build(url, args.orders)
        print(f"built {args.orders:,} work orders in {time.perf_counter() - t0:.1f} s")
        port = 18000 + os.getpid() % 1000
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.api_work_orders", "--serve", url, str(port)], cwd=ROOT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            lat = sorted(asyncio.run(load(base, token, args.rate, args.seconds)))
        finally:
            proc.terminate()
            proc.wait(10)
    n = len(lat)

    def pct(p: float) -> float:
        return lat[min(n - 1, int(p * n))] * 1000

    print(
        f"{n} requests at {args.rate:.0f}/s over {args.seconds:.0f} s, limit=50: "
        f"p50 {pct(0.50):.1f} ms, p95 {pct(0.95):.1f} ms, p99 {pct(0.99):.1f} ms, "
        f"max {lat[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
