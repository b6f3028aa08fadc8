"""The filtered work-order list under load: 100,000 work orders, 100 requests/s, p99.

    .venv/bin/python -m bench.api_work_orders                # SQLite, 100,000 orders, 100 rps, 30 s
    .venv/bin/python -m bench.api_work_orders --postgres     # a throwaway PostgreSQL 15 cluster
    .venv/bin/python -m bench.api_work_orders --database-url postgresql+psycopg://...
    .venv/bin/python -m bench.api_work_orders --orders 100000 --rate 100 --seconds 30
    .venv/bin/python -m bench.api_work_orders --shapes   # rare filters, one shape at a time
    .venv/bin/python -m bench.api_work_orders --search   # q, tag, updated_since, reported_from/to

Builds a migrated database with the example site and `--orders` work orders spread over a year,
starts the API as production does (`propwatch api --site ...`, its own process), and drives it
over loopback from this process with an open-loop generator: requests leave on a fixed schedule
whatever the answers do, and each latency counts from the scheduled send time, so a stall is not
hidden (no coordinated omission). The generator speaks plain HTTP/1.1 on keep-alive connections
(a new one whenever every open one is busy) so that its own CPU stays small beside the server's on
a 2-core machine; it prints how late it sent (send lag) and its CPU per request to show it did not
distort the figures. Every answer must be a 200 with a work-order page, or it counts as an error.

The mix is the duty room's and ticket system's lists: by status, by status and zone, by
assignee, by assignee and status, by priority, sorted by resolve due time, unfiltered, and every
tenth request the second page through a cursor. `--shapes` instead sends the rare filters of
`RARE` (a category, source or zone that no order of the seed has, with each sort) one request at
a time, each shape `--repeat` times, and prints each shape's p50/p99: such a filter finds no page
to stop at, so it shows whether the list walks an index of its own or every order of the site.
`--search` sends the ticket system's searches of `SEARCH` the same way (`q` with a word the index
serves, one it does not, common and rare; tags; `updated_since` with `sort=updated_at`; a
`reported_from`/`reported_to` window) and prints each one's p50/p99 and how many orders its page
held. The seed's titles, descriptions, tags and ticket ids (every fourth order) give them
something to find. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlencode

from sqlalchemy import insert

from api.auth import ApiRole, issue_token
from api.models import ExternalRef
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
PAGE = 50
PHRASES = (
    "楼道灯不亮",
    "水泵异响",
    "电梯困人",
    "门禁刷卡无反应",
    "消防栓漏水",
    "地下车库照明故障",
    "屋面渗水",
    "巡检发现问题",
)
DETAILS = ("", "", "", "业主来电反映", "夜间巡查发现", "Pump bearing noise", "B2 区 17 号车位旁")
TAGS = ((), (), (), ("漏水",), ("噪音",), ("业主投诉",), ("漏水", "业主投诉"))
WORK_ORDER_FIELDS = "\nwork_orders:\n  tags: [漏水, 噪音, 业主投诉, 电梯困人]\n"
"""Appended to the example site file, so the tag filters are declared."""

QUERIES: tuple[dict[str, Any], ...] = (
    {"status": "dispatched"},
    {"status": ["accepted", "on_site"], "zone": "zone-a"},
    {"assignee": "wang-gong"},
    {"assignee": "li-shifu", "status": "on_hold"},
    {"priority": "emergency"},
    {"zone": "zone-b", "sort": "resolve_due"},
    {},
)

RARE: tuple[dict[str, Any], ...] = (
    {"category": "fire"},
    {"category": "fire", "sort": "reported_at"},
    {"category": "fire", "sort": "resolve_due"},
    {"category": "fire", "sort": "priority"},
    {"source": "alarm"},
    {"source": "alarm", "sort": "resolve_due"},
    {"source": "alarm", "sort": "priority"},
    {"zone": "zone-c"},
    {"zone": "zone-c", "sort": "resolve_due"},
    {"zone": "zone-c", "sort": "priority"},
)
"""Filters that match no order of the seed (its categories, source and zones are fixed)."""

SEARCH: tuple[dict[str, Any], ...] = (
    {"q": "楼道灯"},  # an indexed word in one title of eight
    {"q": "地下车库"},  # indexed, one title of eight
    {"q": "车位旁"},  # indexed, one description of seven
    {"q": "bearing"},  # indexed, ASCII, case-insensitive
    {"q": "GD-B0012345"},  # a code: one order
    {"q": "TK-0054321"},  # a ticket id: one order
    {"q": "无此工单内容"},  # indexed, nothing
    {"q": "灯"},  # one character: matched on the rows walked
    {"q": "漏水 业主"},  # two words, one indexed
    {"q": "楼道灯", "status": "dispatched"},
    {"q": "电梯困人", "sort": "resolve_due"},
    {"tag": "漏水"},
    {"tag": "电梯困人"},  # no order has it
    {"tag": ["漏水", "业主投诉"]},
    {"updated_since": (NOW - timedelta(days=7)).isoformat(), "sort": "updated_at"},
    {"updated_since": (NOW - timedelta(days=200)).isoformat(), "sort": "updated_at"},
    {"reported_from": (NOW - timedelta(days=31)).isoformat(), "reported_to": NOW.isoformat()},
    {"reported_from": (NOW - timedelta(days=2)).isoformat(), "sort": "reported_at"},
)
"""What a ticket system searches and syncs with."""


def site_file(folder: Path) -> Path:
    """The example site with its `work_orders` tags declared, in `folder`."""
    path = folder / "site.yaml"
    path.write_text(SITE.read_text(encoding="utf-8") + WORK_ORDER_FIELDS, encoding="utf-8")
    return path


def build(url: str, orders: int) -> str:
    """A migrated database with the example site and `orders` work orders; a duty token."""
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
    refs: list[dict[str, Any]] = []
    for i in range(orders):
        at = NOW - timedelta(seconds=rng.randrange(365 * 86400))
        rows.append(
            {
                "site_id": site.id,
                "code": f"GD-B{i:07d}",
                "source": "manual",
                "source_key": f"bench:{i}",
                "category": rng.choice(CATEGORIES),
                "priority": rng.choice(PRIORITIES),
                "status": rng.choice(statuses),
                "title": f"{rng.choice(PHRASES)} {i}",
                "description": rng.choice(DETAILS),
                "tags": list(rng.choice(TAGS)),
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
        if i % 4 == 1:
            refs.append({"site_id": site.id, "external_id": f"TK-{i:07d}", "work_order_id": i + 1})
        if len(rows) == 5000:
            with db.session() as s:
                s.execute(insert(WorkOrder), rows)
            rows = []
    if rows:
        with db.session() as s:
            s.execute(insert(WorkOrder), rows)
    with db.session() as s:
        s.execute(insert(ExternalRef), refs)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    db.dispose()
    return token


@contextmanager
def api_process(url: str, port: int, var_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`propwatch api` on the database, as deployed (its event loop, webhook dispatcher)."""
    site = site_file(var_dir)
    env = {
        **os.environ,
        "PROPWATCH_DATABASE_URL": url,
        "PROPWATCH_API_HOST": "127.0.0.1",
        "PROPWATCH_API_PORT": str(port),
        "PROPWATCH_VAR_DIR": str(var_dir),
        "PROPWATCH_API_RATE_LIMIT": "0",  # the server's figures, not the per-token limit's
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "propwatch.cli", "api", "--site", str(site)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


KEEP_ALIVE = 4.0
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class Client:
    """HTTP/1.1 GETs over keep-alive loopback connections; one request per connection at a time,
    and a new connection whenever every open one is busy, so no request waits for another."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0

    def request(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\n".encode() + self.head

    async def get(self, request: bytes, sent: list[float] | None = None) -> tuple[int, bytes]:
        # the most recently used connection; one idle past the server's keep-alive (uvicorn: 5 s)
        # may be closing, so it is dropped rather than raced
        while self.idle:
            reader, writer, used = self.idle.pop()
            if time.monotonic() - used < KEEP_ALIVE:
                break
            writer.close()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.opened += 1
        try:
            writer.write(request)
            if sent is not None:
                sent.append(time.perf_counter())
            head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            if length is None:
                raise ValueError(f"no content-length: {head[:200]!r}")
            body = await reader.readexactly(int(length.group(1)))
        except BaseException:
            writer.close()
            raise
        self.idle.append((reader, writer, time.monotonic()))
        return int(head[9:12]), body

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()


def paths(cursor: str) -> list[str]:
    return [
        "/api/v1/work-orders?" + urlencode({**q, "limit": PAGE}, doseq=True) for q in QUERIES
    ] + ["/api/v1/work-orders?" + urlencode({"cursor": cursor, "limit": PAGE})]


async def wait_ready(client: Client, deadline: float) -> None:
    while True:
        try:
            status, _ = await client.get(client.request("/healthz"))
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        await asyncio.sleep(0.1)


async def warm_up(client: Client) -> list[bytes]:
    """The requests of the mix, each sent three times first (not counted) and checked in full."""
    await wait_ready(client, time.monotonic() + 60)
    status, body = await client.get(client.request(f"/api/v1/work-orders?limit={PAGE}"))
    if status != 200:
        raise RuntimeError(f"first page: {status} {body[:300]!r}")
    requests = [client.request(p) for p in paths(json.loads(body)["next_cursor"])]
    for request in requests * 3:
        status, body = await client.get(request)
        if status != 200 or len(json.loads(body)["items"]) != PAGE:
            raise RuntimeError(f"warm-up: {status} {body[:300]!r}")
    return requests


async def drive(client: Client, requests: list[bytes], rate: float, seconds: float) -> Result:
    """Open loop: request i leaves at start + i/rate; its latency counts from that instant."""
    rng = random.Random(3)
    total = int(rate * seconds)
    r = Result()

    async def one(scheduled: float, request: bytes) -> None:
        sent: list[float] = []
        try:
            status, body = await asyncio.wait_for(client.get(request, sent), 10)
            if status != 200 or not body.startswith(b'{"items":[{'):
                r.errors.append(f"{status} {body[:120]!r}")
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
            r.errors.append(repr(exc))
        done = time.perf_counter()
        r.latencies.append(done - scheduled)
        r.last = max(r.last, done)
        if sent:
            r.lags.append(sent[0] - scheduled)

    cpu0 = time.process_time()
    r.start = time.perf_counter() + 0.2
    tasks = []
    for i in range(total):
        scheduled = r.start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        request = requests[-1] if i % 10 == 9 else requests[rng.randrange(len(QUERIES))]
        tasks.append(asyncio.create_task(one(scheduled, request)))
    await asyncio.gather(*tasks)
    r.generator_cpu = time.process_time() - cpu0
    r.latencies.sort()
    r.lags.sort()
    return r


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # actual send - scheduled send
    errors: list[str] = field(default_factory=list)
    start: float = 0.0
    last: float = 0.0
    generator_cpu: float = 0.0
    server_cpu: float = 0.0


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] * 1000


async def shapes(client: Client, repeat: int) -> list[tuple[str, list[float]]]:
    """Each rare shape `repeat` times, one request at a time (after three unmeasured)."""
    await wait_ready(client, time.monotonic() + 60)
    out = []
    for q in RARE:
        query = urlencode({**q, "limit": PAGE})
        request = client.request(f"/api/v1/work-orders?{query}")
        latencies = []
        for i in range(repeat + 3):
            t0 = time.perf_counter()
            status, body = await client.get(request)
            if status != 200 or body != b'{"items":[],"next_cursor":null}':
                raise RuntimeError(f"{query}: {status} {body[:300]!r}")
            if i >= 3:
                latencies.append(time.perf_counter() - t0)
        out.append((query, sorted(latencies)))
    return out


def run_shapes(url: str, orders: int, repeat: int) -> None:
    token = build(url, orders)
    port = 18000 + os.getpid() % 1000
    with tempfile.TemporaryDirectory() as var, api_process(url, port, Path(var)):

        async def measured() -> list[tuple[str, list[float]]]:
            client = Client(port, token)
            try:
                return await shapes(client, repeat)
            finally:
                client.close()

        load = os.getloadavg()[0]
        results = asyncio.run(measured())
    print(
        f"{orders:,} work orders ({url.split(':')[0]}), each shape {repeat} times one at a time, "
        f"load average {load:.1f} at start:"
    )
    for query, lat in results:
        print(
            f"  {query:<42} p50 {pct(lat, 0.50):7.1f} ms  p99 {pct(lat, 0.99):7.1f} ms  "
            f"max {lat[-1] * 1000:7.1f} ms"
        )


async def searches(client: Client, repeat: int) -> list[tuple[str, int, list[float]]]:
    """Each search `repeat` times, one request at a time (after three unmeasured)."""
    await wait_ready(client, time.monotonic() + 60)
    out = []
    for q in SEARCH:
        query = urlencode({**q, "limit": PAGE}, doseq=True)
        request = client.request(f"/api/v1/work-orders?{query}")
        latencies, found = [], 0
        for i in range(repeat + 3):
            t0 = time.perf_counter()
            status, body = await client.get(request)
            if status != 200:
                raise RuntimeError(f"{query}: {status} {body[:300]!r}")
            if i >= 3:
                latencies.append(time.perf_counter() - t0)
            found = len(json.loads(body)["items"])
        out.append((query, found, sorted(latencies)))
    return out


def run_search(url: str, orders: int, repeat: int) -> None:
    token = build(url, orders)
    port = 18000 + os.getpid() % 1000
    with tempfile.TemporaryDirectory() as var, api_process(url, port, Path(var)):

        async def measured() -> list[tuple[str, int, list[float]]]:
            client = Client(port, token)
            try:
                return await searches(client, repeat)
            finally:
                client.close()

        load = os.getloadavg()[0]
        results = asyncio.run(measured())
    print(
        f"{orders:,} work orders ({url.split(':')[0]}), each search {repeat} times one at a "
        f"time, limit={PAGE}, load average {load:.1f} at start:"
    )
    for query, found, lat in results:
        shown = unquote_plus(query.removesuffix(f"&limit={PAGE}"))
        print(
            f"  {shown:<70} {found:>3} rows  p50 {pct(lat, 0.50):7.1f} ms  "
            f"p99 {pct(lat, 0.99):7.1f} ms"
        )


def run(url: str, orders: int, rate: float, seconds: float) -> None:
    t0 = time.perf_counter()
    token = build(url, orders)
    print(f"built {orders:,} work orders in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})")
    port = 18000 + os.getpid() % 1000
    with tempfile.TemporaryDirectory() as var, api_process(url, port, Path(var)) as proc:

        async def measured() -> Result:
            client = Client(port, token)
            try:
                requests = await warm_up(client)
                cpu0 = cpu_seconds(proc.pid)
                r = await drive(client, requests, rate, seconds)
                r.server_cpu = cpu_seconds(proc.pid) - cpu0
            finally:
                client.close()
            print(f"  {client.opened} connections opened by the generator")
            return r

        load = os.getloadavg()[0]
        r = asyncio.run(measured())
    lat, lags, n, elapsed = r.latencies, r.lags, len(r.latencies), r.last - r.start
    first_error = f" (first: {r.errors[0]})" if r.errors else ""
    print(
        f"{n} requests scheduled at {rate:.0f}/s over {seconds:.0f} s, limit={PAGE}, "
        f"load average {load:.1f} at start:\n"
        f"  latency from the scheduled send: p50 {pct(lat, 0.50):.1f} ms, "
        f"p95 {pct(lat, 0.95):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, max {lat[-1] * 1000:.1f} ms\n"
        f"  achieved {n / elapsed:.1f} requests/s, errors {len(r.errors)}{first_error}\n"
        f"  server CPU {r.server_cpu / n * 1000:.2f} ms per request "
        f"({r.server_cpu / elapsed * 100:.0f} % of a core)\n"
        f"  generator: send lag p99 {pct(lags, 0.99):.2f} ms, max {lags[-1] * 1000:.2f} ms; "
        f"CPU {r.generator_cpu / n * 1000:.2f} ms per request"
    )


def utf8_database(port: int, url: Callable[[str], str], ctype: str) -> str:
    """A database of the throwaway cluster with this LC_CTYPE: a deployment's is a UTF-8 one,
    which pg_trgm needs to count Chinese characters as letters (`maintenance.work_orders.
    search`); the test cluster's own default is C."""
    import psycopg

    from tests.support.postgres import SUPERUSER

    name = f"bench_{os.getpid()}"
    with psycopg.connect(
        f"host=127.0.0.1 port={port} user={SUPERUSER} dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            f"LC_COLLATE 'C' LC_CTYPE '{ctype}'"
        )
    return url(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--database-url", help="an empty database to fill (default: SQLite)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway cluster")
    parser.add_argument("--shapes", action="store_true", help="the rare filters, shape by shape")
    parser.add_argument("--search", action="store_true", help="q, tags, sync windows")
    parser.add_argument(
        "--ctype",
        default="C.utf8",
        help="LC_CTYPE of the --postgres database (C: pg_trgm sees no Chinese letters)",
    )
    parser.add_argument("--repeat", type=int, default=100, help="requests per shape (--shapes)")
    args = parser.parse_args()

    def measure(url: str) -> None:
        if args.shapes:
            run_shapes(url, args.orders, args.repeat)
        elif args.search:
            run_search(url, args.orders, args.repeat)
        else:
            run(url, args.orders, args.rate, args.seconds)

    if args.database_url:
        measure(args.database_url)
    elif args.postgres:
        from tests.support.postgres import start_postgres

        pg = start_postgres()
        try:
            measure(utf8_database(pg.port, pg.url, args.ctype))
        finally:
            pg.stop()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            measure(f"sqlite:///{tmp}/bench.db")


if __name__ == "__main__":
    main()
