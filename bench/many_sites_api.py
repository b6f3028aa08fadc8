"""Two API replicas over 200 sites x 50 assets and 1,000,000 orders on PostgreSQL.

    .venv/bin/python -m bench.many_sites_api                          # throwaway cluster
    .venv/bin/python -m bench.many_sites_api --keep /var/tmp/many-sites-pg   # load the orders once
    .venv/bin/python -m bench.many_sites_api --sites 200 --assets 50 --orders 1000000 \\
        --rate 100 --seconds 30

Generates the site files (`bench.many_sites`), builds the database (`bench.many_sites_db`:
registries and orders by COPY), then starts two `propwatch api --sites DIR` processes on distinct
free ports, one after the other, and for each prints its start-up time (from the exec to the
moment `GET /api/v1/sites` lists every site, the company token's view) and its resident memory
then (VmRSS, and VmHWM, the peak). Then the work-order list at `--rate` requests/s, alternated
between the two replicas, open loop (each latency counted from the scheduled send, as
`bench.api_work_orders` does) for a company token (every site), a site token and a region token
(the 40 sites of one 区域), one after the other, `--seconds` each: p50/p95/p99/max, errors and
each replica's CPU per request. The mix is the duty room's lists of `bench.api_work_orders` with
the generated zones and technicians, every tenth request a second page through a cursor; for the
company and region tokens one request in eight also picks one site (`site_id`, the site
switcher). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.api_work_orders import Client, cpu_seconds, pct
from bench.many_sites import write_sites
from bench.many_sites_db import build, cluster, ensure_database, tokens
from propwatch.site import load_site

ROOT = Path(__file__).resolve().parent.parent
PAGE = 50

QUERIES: tuple[dict[str, Any], ...] = (
    {"status": "dispatched"},
    {"status": ["accepted", "on_site"], "zone": "zone-a"},
    {"assignee": "tech-1"},
    {"assignee": "tech-2", "status": "on_hold"},
    {"priority": "emergency"},
    {"zone": "zone-b", "sort": "resolve_due"},
    {},
)


def memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    port: int
    started: float = 0.0  # seconds from exec to every site listed
    cpu: float = 0.0  # CPU seconds of the start-up
    rss: float = 0.0
    hwm: float = 0.0


@contextmanager
def api_replica(url: str, sites_dir: Path, var_dir: Path) -> Iterator[Replica]:
    port = free_port()
    env = {
        **os.environ,
        "PROPWATCH_DATABASE_URL": url,
        "PROPWATCH_API_HOST": "127.0.0.1",
        "PROPWATCH_API_PORT": str(port),
        "PROPWATCH_VAR_DIR": str(var_dir),
        "PROPWATCH_API_RATE_LIMIT": "0",  # the server's figures, not the per-token limit's
    }
    log = (var_dir / "api.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "propwatch.cli",
            "api",
            "--sites" if sites_dir.is_dir() else "--site",
            str(sites_dir),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield Replica(proc, port)
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


async def wait_for_sites(replica: Replica, token: str, count: int, t0: float) -> None:
    """Poll `GET /api/v1/sites` until it lists `count` sites; the time from `t0`."""
    client = Client(replica.port, token)
    request = client.request("/api/v1/sites")
    try:
        while True:
            if replica.proc.poll() is not None:
                raise RuntimeError(f"the API exited with {replica.proc.returncode}")
            try:
                status, body = await client.get(request)
                if status == 200 and len(json.loads(body)) >= count:
                    replica.started = time.perf_counter() - t0
                    break
            except (OSError, ValueError, asyncio.IncompleteReadError):
                client.idle.clear()
            await asyncio.sleep(0.05)
    finally:
        client.close()
    replica.cpu = cpu_seconds(replica.proc.pid)
    replica.rss, replica.hwm = memory(replica.proc.pid)


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    start: float = 0.0
    last: float = 0.0
    generator_cpu: float = 0.0
    server_cpu: list[float] = field(default_factory=list)


def paths(rng: random.Random, sites: list[str] | None, cursor: str) -> list[str]:
    out = ["/api/v1/work-orders?" + urlencode({**q, "limit": PAGE}, doseq=True) for q in QUERIES]
    if sites is not None:
        out += [
            "/api/v1/work-orders?"
            + urlencode({**q, "site_id": rng.choice(sites), "limit": PAGE}, doseq=True)
            for q in QUERIES
        ]
    return [*out, "/api/v1/work-orders?" + urlencode({"cursor": cursor, "limit": PAGE})]


async def drive(
    replicas: list[Replica], token: str, sites: list[str] | None, rate: float, seconds: float
) -> Result:
    """Open loop over the replicas in turn: request i leaves at start + i/rate to replica i % n;
    its latency counts from that instant."""
    clients = [Client(r.port, token) for r in replicas]
    rng = random.Random(3)
    try:
        status, body = await clients[0].get(clients[0].request(f"/api/v1/work-orders?limit={PAGE}"))
        if status != 200:
            raise RuntimeError(f"first page: {status} {body[:300]!r}")
        cursor = json.loads(body)["next_cursor"]
        mix = paths(rng, sites, cursor)
        for path in mix * 2:  # warm-up, checked in full
            for c in clients:
                status, body = await c.get(c.request(path))
                if status != 200 or not json.loads(body)["items"]:
                    raise RuntimeError(f"warm-up {path}: {status} {body[:300]!r}")
        plain = len(QUERIES)
        r = Result()

        async def one(c: Client, scheduled: float, request: bytes) -> None:
            sent: list[float] = []
            try:
                status, body = await asyncio.wait_for(c.get(request, sent), 10)
                if status != 200 or not body.startswith(b'{"items":[{'):
                    r.errors.append(f"{status} {body[:120]!r}")
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
                r.errors.append(repr(exc))
            done = time.perf_counter()
            r.latencies.append(done - scheduled)
            r.last = max(r.last, done)
            if sent:
                r.lags.append(sent[0] - scheduled)

        cpu0 = [cpu_seconds(x.proc.pid) for x in replicas]
        gen0 = time.process_time()
        total = int(rate * seconds)
        r.start = time.perf_counter() + 0.2
        tasks = []
        for i in range(total):
            scheduled = r.start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if i % 10 == 9:
                path = mix[-1]
            elif sites is not None and i % 8 == 3:
                path = mix[plain + rng.randrange(plain)]
            else:
                path = mix[rng.randrange(plain)]
            c = clients[i % len(clients)]
            tasks.append(asyncio.create_task(one(c, scheduled, c.request(path))))
        await asyncio.gather(*tasks)
        r.generator_cpu = time.process_time() - gen0
        r.server_cpu = [cpu_seconds(x.proc.pid) - c0 for x, c0 in zip(replicas, cpu0, strict=True)]
        r.latencies.sort()
        r.lags.sort()
        return r
    finally:
        for c in clients:
            c.close()


def report(label: str, r: Result, rate: float, seconds: float, load: float) -> None:
    lat, lags, n = r.latencies, r.lags, len(r.latencies)
    elapsed = r.last - r.start
    first = f" (first: {r.errors[0]})" if r.errors else ""
    per = " + ".join(f"{cpu / n * 2 * 1000:.2f}" for cpu in r.server_cpu)
    print(
        f"{label}: {n} requests at {rate:.0f}/s over {seconds:.0f} s, two replicas in turn, "
        f"load average {load:.1f} at start\n"
        f"  p50 {pct(lat, 0.50):.1f} ms, p95 {pct(lat, 0.95):.1f} ms, p99 {pct(lat, 0.99):.1f} ms,"
        f" max {lat[-1] * 1000:.1f} ms; achieved {n / elapsed:.1f}/s, errors {len(r.errors)}"
        f"{first}\n"
        f"  replica CPU per request it served: {per} ms; generator send lag p99 "
        f"{pct(lags, 0.99):.2f} ms, max {lags[-1] * 1000:.2f} ms, CPU "
        f"{r.generator_cpu / n * 1000:.2f} ms per request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--keep", type=Path, help="keep the cluster (and its orders) here")
    parser.add_argument("--only-startup", action="store_true", help="no list load")
    args = parser.parse_args()

    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="many-sites-")))
        sites_dir = work / "sites"
        generated = write_sites(sites_dir, args.sites, args.assets)
        ids = [g.site_id for g in generated]
        region = [g.site_id for g in generated if g.region == generated[0].region]
        pg = stack.enter_context(cluster(args.keep))
        url = ensure_database(pg)
        t0 = time.perf_counter()
        took = build(url, [load_site(g.path) for g in generated], args.orders)
        if took:
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in took.items())
            print(f"built {args.orders:,} orders in {time.perf_counter() - t0:.1f} s ({steps})")
        else:
            print(f"kept database: {args.sites} sites, {args.orders:,} orders")
        made = tokens(url, ids, generated[0].region)
        replicas = []
        for n in (1, 2):
            var = work / f"api-{n}"
            var.mkdir()
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            replica = stack.enter_context(api_replica(url, sites_dir, var))
            asyncio.run(wait_for_sites(replica, made["company"], len(ids), t0))
            print(
                f"API replica {n}: {len(ids)} sites x {args.assets} assets listed "
                f"{replica.started:.1f} s after exec ({replica.cpu:.1f} s CPU), "
                f"RSS {replica.rss:.0f} MiB (peak {replica.hwm:.0f} MiB), "
                f"load average {load:.1f} at start"
            )
            replicas.append(replica)
        if args.only_startup:
            return
        runs: list[tuple[str, str, list[str] | None]] = [
            ("company token", made["company"], ids),
            ("site token", made["site"], None),
            (f"region token ({len(region)} sites)", made["region"], region),
        ]
        for label, token, switch in runs:
            load = os.getloadavg()[0]
            r = asyncio.run(drive(replicas, token, switch, args.rate, args.seconds))
            report(label, r, args.rate, args.seconds, load)
        for n, replica in enumerate(replicas, 1):
            rss, hwm = memory(replica.proc.pid)
            print(f"API replica {n} after the load: RSS {rss:.0f} MiB (peak {hwm:.0f} MiB)")


if __name__ == "__main__":
    main()
