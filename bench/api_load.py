"""The API under load: lists and keyed POSTs sent three times each, SQLite and PostgreSQL.

    .venv/bin/python -m bench.api_load                   # SQLite, 500 requests/s for 20 s
    .venv/bin/python -m bench.api_load --postgres        # a throwaway PostgreSQL 15 cluster
    .venv/bin/python -m bench.api_load --database-url postgresql+psycopg://...
    .venv/bin/python -m bench.api_load --rate 500 --seconds 20 --post-share 0.3 --orders 10000

What a ticket system does to the API when its network is poor: it lists, and it creates work
orders with an `Idempotency-Key`, sending each POST again when no answer came in time. Here every
new order is sent three times with the same key and body: the second copy 1 ms after the first
(a twin that races it), the third `--retry-after` seconds later (a retry after a timeout). The
rest of the schedule is the duty room's list queries (`bench.api_work_orders`).

The database is built with the example site and `--orders` work orders; the API runs as deployed
(`propwatch api --site ...`, its own process, the pool sized by the default settings) and this
process is the generator: an open loop, each request sent at its scheduled time whatever the
answers do, its latency counted from that time (no coordinated omission), plain HTTP/1.1 on
keep-alive connections, a new one whenever every open one is busy.

It prints, per kind of request (list, first copy, twin, retry), p50/p99/max and the answers by
status; the 5xx count; and from the database afterwards how many orders each logical order made
(duplicates: more than one; lost: none although some copy was answered 201). A twin answered 409
`idempotency_key_in_use` is counted as such (a real client retries after `Retry-After`; the third
copy here is that retry). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import uvloop
from sqlalchemy import func, select

from bench.api_work_orders import (
    PAGE,
    QUERIES,
    ROOT,
    SITE,
    Client,
    build,
    cpu_seconds,
    pct,
    wait_ready,
)
from maintenance.db import Database
from maintenance.work_orders.models import WorkOrder

TITLE = "负载测试 "
KINDS = ("list", "first", "twin", "retry")


@dataclass(frozen=True)
class Planned:
    at: float  # seconds after the start
    kind: str
    request: bytes
    replica: int
    order: int | None = None  # the logical order of a POST copy


@dataclass
class Result:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)
    ids: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    lags: list[float] = field(default_factory=list)
    generator_cpu: float = 0.0
    server_cpu: float = 0.0
    elapsed: float = 0.0


@contextlib.contextmanager
def api_process(url: str, port: int, var_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`propwatch api` as deployed, default pool settings; no rate limit (one token sends all)."""
    env = {
        **os.environ,
        "PROPWATCH_DATABASE_URL": url,
        "PROPWATCH_API_HOST": "127.0.0.1",
        "PROPWATCH_API_PORT": str(port),
        "PROPWATCH_VAR_DIR": str(var_dir),
        "PROPWATCH_API_RATE_LIMIT": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "propwatch.cli", "api", "--site", str(SITE)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def post(port: int, token: str, key: str, body: bytes) -> bytes:
    head = (
        f"POST /api/v1/work-orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def plan(
    port: int,
    token: str,
    client: Client,
    replicas: int,
    rate: float,
    seconds: float,
    share: float,
    retry: float,
) -> list[Planned]:
    """The schedule: `share` of `rate` are POST copies (three per order), the rest lists; lists
    go round the replicas, and each copy of an order to another replica than the one before."""
    rng = random.Random(11)
    lists = [
        client.request("/api/v1/work-orders?" + urlencode({**q, "limit": PAGE}, doseq=True))
        for q in QUERIES
    ]
    new_rate = rate * share / 3
    list_rate = rate - 3 * new_rate
    out = [
        Planned(i / list_rate, "list", rng.choice(lists), i % replicas)
        for i in range(int(list_rate * seconds))
    ]
    run = f"{os.getpid()}-{int(time.time())}"
    for j in range(int(new_rate * seconds)):
        at = j / new_rate
        body = json.dumps(
            {
                "site_id": "hexie",
                "title": f"{TITLE}{j}",
                "category": rng.choice(("general", "lighting", "water_supply")),
                "priority": "general",
                "description": "工单系统转来的报修",
            },
            ensure_ascii=False,
        ).encode()
        request = post(port, token, f"load-{run}-{j}", body)
        for copy, (kind, delay) in enumerate((("first", 0.0), ("twin", 0.001), ("retry", retry))):
            out.append(Planned(at + delay, kind, request, (j + copy) % replicas, j))
    return sorted(out, key=lambda p: p.at)


async def drive(clients: list[Client], schedule: list[Planned]) -> Result:
    r = Result()

    async def one(start: float, p: Planned) -> None:
        scheduled = start + p.at
        sent: list[float] = []
        try:
            status, body = await asyncio.wait_for(clients[p.replica].get(p.request, sent), 30)
            r.statuses[p.kind][status] += 1
            if p.order is not None and status in (200, 201):
                r.ids[p.order].add(int(json.loads(body)["id"]))
            elif p.kind == "list" and (status != 200 or not body.startswith(b'{"items":[')):
                r.errors.append(f"list {status} {body[:120]!r}")
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
            r.statuses[p.kind][0] += 1
            r.errors.append(f"{p.kind} {exc!r}")
        r.latencies[p.kind].append(time.perf_counter() - scheduled)
        if sent:
            r.lags.append(sent[0] - scheduled)

    cpu0 = time.process_time()
    start = time.perf_counter() + 0.2
    tasks = []
    for p in schedule:
        delay = start + p.at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(start, p)))
    await asyncio.gather(*tasks)
    r.elapsed = time.perf_counter() - start
    r.generator_cpu = time.process_time() - cpu0
    for values in r.latencies.values():
        values.sort()
    r.lags.sort()
    return r


def orders_made(url: str) -> dict[int, int]:
    """Work orders in the database per logical order of the run."""
    db = Database(url)
    try:
        with db.session() as s:
            rows = s.execute(
                select(WorkOrder.title, func.count())
                .where(WorkOrder.title.like(f"{TITLE}%"))
                .group_by(WorkOrder.title)
            ).all()
    finally:
        db.dispose()
    return {int(title.removeprefix(TITLE)): n for title, n in rows}


def report(r: Result, made: dict[int, int], orders: int, rate: float, load: float) -> None:
    n = sum(len(v) for v in r.latencies.values())
    print(
        f"{n} requests at {rate:.0f}/s scheduled over {r.elapsed:.1f} s "
        f"(achieved {n / r.elapsed:.0f}/s), load average {load:.1f} at start"
    )
    for kind in KINDS:
        lat = r.latencies.get(kind)
        if not lat:
            continue
        statuses = ", ".join(
            f"{s or 'no answer'}: {c}" for s, c in sorted(r.statuses[kind].items())
        )
        print(
            f"  {kind:<6} {len(lat):5d}  p50 {pct(lat, 0.50):7.1f} ms  p99 {pct(lat, 0.99):7.1f} ms"
            f"  max {lat[-1] * 1000:7.1f} ms   {statuses}"
        )
    five = sum(c for k in r.statuses.values() for s, c in k.items() if s >= 500)
    answered = {j for j, ids in r.ids.items() if ids}
    duplicates = sum(n - 1 for n in made.values() if n > 1)
    lost = sorted(j for j in answered if made.get(j, 0) == 0)
    split = sum(1 for ids in r.ids.values() if len(ids) > 1)
    print(
        f"  5xx: {five}; no answer: {sum(k[0] for k in r.statuses.values())}\n"
        f"  orders: {orders} logical, {sum(made.values())} in the database,"
        f" {duplicates} duplicates,"
        f" {len(lost)} lost, {orders - len(made)} never made, {split} answered with two ids\n"
        f"  server CPU {r.server_cpu / n * 1000:.2f} ms per request"
        f" ({r.server_cpu / r.elapsed * 100:.0f} % of a core)\n"
        f"  generator: send lag p99 {pct(r.lags, 0.99):.2f} ms, max {r.lags[-1] * 1000:.2f} ms;"
        f" CPU {r.generator_cpu / n * 1000:.2f} ms per request"
    )
    if r.errors:
        print(f"  first errors: {r.errors[:3]}")


def run(url: str, args: argparse.Namespace) -> None:
    token = build(url, args.orders)
    ports = [18000 + (os.getpid() + i) % 1000 for i in range(args.replicas)]
    with contextlib.ExitStack() as stack:
        var = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        procs = [stack.enter_context(api_process(url, port, var / str(port))) for port in ports]

        async def measured() -> Result:
            clients = [Client(port, token) for port in ports]
            try:
                for client in clients:
                    await wait_ready(client, time.monotonic() + 60)
                schedule = plan(
                    ports[0],
                    token,
                    clients[0],
                    len(ports),
                    args.rate,
                    args.seconds,
                    args.post_share,
                    args.retry_after,
                )
                for p in [s for s in schedule if s.kind == "list"][: len(QUERIES) * 3]:
                    await clients[p.replica].get(p.request)  # warm, not counted
                cpu0 = sum(cpu_seconds(proc.pid) for proc in procs)
                r = await drive(clients, schedule)
                r.server_cpu = sum(cpu_seconds(proc.pid) for proc in procs) - cpu0
                return r
            finally:
                for client in clients:
                    client.close()

        load = os.getloadavg()[0]
        # the generator on uvloop too: its CPU a request is what it takes from the server's cores
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            r = runner.run(measured())
    orders = int(args.rate * args.post_share / 3 * args.seconds)
    print(
        f"{url.split(':')[0]}, {args.orders:,} work orders before the run, "
        f"{args.replicas} API process(es):"
    )
    report(r, orders_made(url), orders, args.rate, load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--post-share", type=float, default=0.3, help="share of POST copies")
    parser.add_argument("--retry-after", type=float, default=0.5, help="seconds to the 3rd copy")
    parser.add_argument("--orders", type=int, default=10_000, help="orders before the run")
    parser.add_argument(
        "--replicas", type=int, default=1, help="API processes (stateless replicas, one database)"
    )
    parser.add_argument("--database-url", help="an empty database to fill (default: SQLite)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway cluster")
    args = parser.parse_args()
    if args.database_url:
        run(args.database_url, args)
    elif args.postgres:
        from tests.support.postgres import start_postgres

        pg = start_postgres()
        try:
            run(pg.create_database(), args)
        finally:
            pg.stop()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", args)


if __name__ == "__main__":
    main()
