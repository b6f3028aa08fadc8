"""The PostgreSQL database of the many-sites figures: 200 sites' registries and 1,000,000 orders.

`cluster(keep)` starts a PostgreSQL 15 cluster with the test settings (fsync off, over
loopback): a throwaway one, or with `keep` one whose data directory stays in that folder between
runs, so the million orders are loaded once. `build(url, sites, orders)` migrates the database,
registers every site (`sync_registry`: zones, assets) and loads the orders with COPY: the list's
and search's indexes of `work_order` are dropped first and created again from their own
definitions after the load (one sort per index instead of a million random inserts), then
ANALYZE. A database already built for the same sites and orders is left as it is.

The orders are spread evenly over the sites and over a year before `NOW`: each on one of its
site's assets, in the asset's zone, assigned to that zone's technician, with a status, a
priority, a category by the asset's kind, a source (plans, alarms and manual reports) and time
limits from the generated 时限表, as the services would have written them.
"""

from __future__ import annotations

import io
import os
import pwd
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, text

from api.auth import ApiRole, issue_token
from api.models import ApiToken
from maintenance.db import Database
from maintenance.registry.service import sync_registry
from maintenance.work_orders.models import Status
from propwatch.site import Site

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "propwatch"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
DATABASE = "many_sites"
INITDB = ("-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")

CATEGORY = {
    "elevator": "elevator",
    "water_pump": "water_supply",
    "fire_pump": "water_supply",
    "lighting_panel": "lighting",
    "access_controller": "access_control",
}
PRIORITIES = ("emergency", "important", "general", "general", "general")
RESOLVE_HOURS = {"emergency": 4, "important": 12, "general": 24}
SOURCES = ("plan", "plan", "plan", "alarm", "alarm", "manual")
TITLES = {
    "elevator": ("电梯半月维保", "电梯困人", "电梯门锁回路故障", "电梯每日巡查"),
    "water_supply": ("生活水泵月度保养", "出水压力过低", "水泵轴承温度过高", "水箱清洗"),
    "lighting": ("照明回路月检", "照明配电箱供电电压偏低", "楼道灯不亮"),
    "access_control": ("门禁月检", "门被强行打开", "门长时间未关闭", "门禁刷卡无反应"),
}


@dataclass
class Cluster:
    port: int
    data: Path
    run_as: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"


def _run_as(root: Path) -> list[str]:
    """PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` user."""
    if os.geteuid() != 0:
        return []
    user = pwd.getpwnam("postgres")
    os.chown(root, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def cluster(keep: Path | None = None) -> Iterator[Cluster]:
    """A running cluster; its data directory under `keep` (kept) or in a temporary folder."""
    root = keep or Path(tempfile.mkdtemp(prefix="propwatch-many-sites-pg-"))
    root.mkdir(parents=True, exist_ok=True)
    run_as = _run_as(root)
    data = root / "data"
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-U", SUPERUSER, *INITDB],
            capture_output=True,
            check=True,
            timeout=120,
        )
    port = _free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
        "-c shared_buffers=512MB -c maintenance_work_mem=512MB -c max_wal_size=4GB"
    )
    pg_ctl = str(PG_BIN / "pg_ctl")
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    try:
        yield Cluster(port, data, run_as)
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
            timeout=120,
        )
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def ensure_database(c: Cluster, name: str = DATABASE) -> str:
    """The database `name` (UTF-8 ctype, as a deployment's, so pg_trgm sees Chinese letters)."""
    import psycopg

    with psycopg.connect(c.conninfo(), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            conn.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LC_COLLATE 'C' LC_CTYPE 'C.utf8'"
            )
    return c.url(name)


def built(url: str) -> tuple[int, int] | None:
    """(sites, orders) this database was built with, or None."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            row = conn.execute(
                text("SELECT to_regclass('bench_many_sites') IS NOT NULL")
            ).scalar_one()
            if not row:
                return None
            got = conn.execute(text("SELECT sites, orders FROM bench_many_sites")).one()
            return int(got[0]), int(got[1])
    finally:
        db.dispose()


def build(url: str, sites: Sequence[Site], orders: int, seed: int = 7) -> dict[str, float]:
    """Migrate, register the sites and COPY `orders` orders; the seconds each step took."""
    was = built(url)
    if was == (len(sites), orders):
        return {}
    if was is not None:
        raise SystemExit(f"the database holds {was[0]} sites and {was[1]:,} orders; use a new one")
    took: dict[str, float] = {}
    t0 = time.perf_counter()
    db = Database(url)
    db.upgrade()
    took["migrate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with db.session() as s:
        for site in sites:
            sync_registry(s, site, NOW - timedelta(days=366))
    took["registry"] = time.perf_counter() - t0
    with db.engine.connect() as conn:
        assets = conn.execute(
            text(
                "SELECT a.site_id, a.id, a.kind, z.code FROM asset a JOIN zone z "
                "ON z.id = a.zone_id ORDER BY a.site_id, a.id"
            )
        ).all()
    by_site: dict[str, list[tuple[int, str, str]]] = {}
    for site_id, asset_id, kind, zone in assets:
        by_site.setdefault(site_id, []).append((asset_id, kind, zone))
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = 'work_order'::regclass AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        raw.commit()
        t0 = time.perf_counter()
        _copy_orders(cur, [s.id for s in sites], by_site, orders, seed)
        raw.commit()
        took["copy"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _, definition in indexes:
            cur.execute(definition)
        raw.commit()
        took["indexes"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cur.execute("SELECT setval('work_order_id_seq', (SELECT max(id) FROM work_order))")
        cur.execute("ANALYZE")
        cur.execute("CREATE TABLE bench_many_sites (sites integer, orders integer)")
        cur.execute("INSERT INTO bench_many_sites VALUES (%s, %s)", (len(sites), orders))
        raw.commit()
        took["analyze"] = time.perf_counter() - t0
    finally:
        raw.close()
    db.dispose()
    return took


COLUMNS = (
    "id, site_id, code, source, source_key, asset_id, category, priority, status, title, "
    "description, alarm_type, assignee, zone_code, tags, custom_fields, reported_at, created_at, "
    "updated_at, respond_due, resolve_due, occurrences, details, chattering, paused_seconds, "
    "reopen_count"
)


def _copy_orders(
    cur: object,
    site_ids: list[str],
    by_site: dict[str, list[tuple[int, str, str]]],
    orders: int,
    seed: int,
) -> None:
    rng = random.Random(seed)
    statuses = [s.value for s in Status]
    year = 365 * 86400
    buf = io.StringIO()
    with cur.copy(f"COPY work_order ({COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        for i in range(orders):
            site = site_ids[i % len(site_ids)]
            asset_id, kind, zone = rng.choice(by_site[site])
            category = CATEGORY.get(kind, "general")
            priority = rng.choice(PRIORITIES)
            source = rng.choice(SOURCES)
            at = NOW - timedelta(seconds=rng.randrange(year))
            stamp = at.isoformat()
            respond = (at + timedelta(hours=1)).isoformat()
            resolve = (at + timedelta(hours=RESOLVE_HOURS[priority])).isoformat()
            title = rng.choice(TITLES[category])
            alarm = "\\N" if source != "alarm" else "bench_alarm"
            buf.write(
                f"{i + 1}\t{site}\tGD-{i + 1:08d}\t{source}\tbench:{i}\t{asset_id}\t{category}\t"
                f"{priority}\t{rng.choice(statuses)}\t{title}\t\t{alarm}\t"
                f"tech-{ord(zone[-1]) - ord('a') + 1}\t{zone}\t[]\t{{}}\t{stamp}\t{stamp}\t"
                f"{stamp}\t{respond}\t{resolve}\t1\t{{}}\tf\t0\t0\n"
            )
            if i % 20000 == 19999:
                copy.write(buf.getvalue())
                buf = io.StringIO()
        copy.write(buf.getvalue())


def tokens(url: str, sites: Sequence[str], region: str) -> dict[str, str]:
    """Fresh duty tokens: the company's (every site), a region's and one site's (those of an
    earlier run on a kept database are deleted first)."""
    db = Database(url)
    try:
        with db.session() as s:
            s.execute(delete(ApiToken).where(ApiToken.name.like("bench-%")))
            made = {
                "company": issue_token(
                    s, name="bench-company", role=ApiRole.DUTY, sites=["*"], person=None, now=NOW
                ),
                "region": issue_token(
                    s,
                    name="bench-region",
                    role=ApiRole.DUTY,
                    sites=[f"region:{region}"],
                    person=None,
                    now=NOW,
                ),
                "site": issue_token(
                    s, name="bench-site", role=ApiRole.DUTY, sites=[sites[0]], person=None, now=NOW
                ),
            }
    finally:
        db.dispose()
    return made
