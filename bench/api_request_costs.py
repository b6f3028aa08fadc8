"""What each kind of API request costs the server in CPU, and A/B between two settings.

    .venv/bin/python -m bench.api_request_costs                          # this code, SQLite
    .venv/bin/python -m bench.api_request_costs --postgres
    .venv/bin/python -m bench.api_request_costs --ab PROPWATCH_EVENT_LOOP=asyncio,uvloop

`bench.api_load` measures the API under an open-loop mix; this one says where its CPU goes. It
builds the database of `bench.api_work_orders` (the example site, `--orders` orders), starts
`propwatch api` as deployed and sends each kind of request one at a time, `--n` of a kind in a
batch: `/healthz`, each list query of the mix, a keyed create (first copy), its replay, a create
without a key. The server's CPU (utime + stime from /proc) over a batch, divided by the
requests, is the figure; sequential requests leave the generator's CPU out of it.

With `--ab VAR=A,B` two API processes run on one database, one with VAR=A and one with VAR=B,
and the batches alternate between them `--pairs` times; each kind prints both medians and the
median of the per-pair ratios B/A, so a machine busy with other work moves both alike. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from bench.api_load import post
from bench.api_work_orders import (
    PAGE,
    QUERIES,
    ROOT,
    SITE,
    Client,
    build,
    cpu_seconds,
    wait_ready,
)
from tests.support.postgres import start_postgres


@contextlib.contextmanager
def api(url: str, port: int, var: Path, extra: dict[str, str]) -> Iterator[int]:
    env = {
        **os.environ,
        "PROPWATCH_DATABASE_URL": url,
        "PROPWATCH_API_HOST": "127.0.0.1",
        "PROPWATCH_API_PORT": str(port),
        "PROPWATCH_VAR_DIR": str(var),
        "PROPWATCH_API_RATE_LIMIT": "0",
        **extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "propwatch.cli", "api", "--site", str(SITE)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _body(j: int) -> bytes:
    return json.dumps(
        {
            "site_id": "hexie",
            "title": f"单价 {j}",
            "category": "general",
            "priority": "general",
            "description": "工单系统转来的报修",
        },
        ensure_ascii=False,
    ).encode()


class Kinds:
    """The requests of each kind for one server; keys are never reused across batches."""

    def __init__(self, client: Client, port: int, token: str, tag: str) -> None:
        self.client, self.port, self.token, self.tag = client, port, token, tag
        self.lists = [
            client.request("/api/v1/work-orders?" + urlencode({**q, "limit": PAGE}, doseq=True))
            for q in QUERIES
        ]
        self.serial = 0
        self.last_keyed: list[bytes] = []

    def names(self) -> list[str]:
        lists = [f"list {i}" for i in range(len(self.lists))]
        return ["healthz", *lists, "create, keyed", "replay", "create, no key"]

    def batch(self, name: str, n: int) -> list[bytes]:
        if name == "healthz":
            return [self.client.request("/healthz")] * n
        if name.startswith("list "):
            return [self.lists[int(name[5:])]] * n
        if name == "replay":
            return self.last_keyed
        start, self.serial = self.serial, self.serial + n
        keyed = [
            post(self.port, self.token, f"cost-{self.tag}-{j}", _body(j))
            for j in range(start, start + n)
        ]
        if name == "create, keyed":
            self.last_keyed = keyed
            return keyed
        return [r.replace(b"\r\nIdempotency-Key: ", b"\r\nX-Not-A-Key: ") for r in keyed]


async def _cost(client: Client, pid: int, requests: list[bytes]) -> float:
    """Server CPU milliseconds per request over the batch; every answer must be a success."""
    before = cpu_seconds(pid)
    for request in requests:
        status, body = await client.get(request)
        if status not in (200, 201):
            raise RuntimeError(f"{status} {body[:200]!r}")
    return (cpu_seconds(pid) - before) / len(requests) * 1000


async def measure(
    ports: list[int], pids: list[int], token: str, n: int, pairs: int
) -> dict[str, list[list[float]]]:
    clients = [Client(port, token) for port in ports]
    try:
        for client in clients:
            await wait_ready(client, time.monotonic() + 90)
        kinds = [
            Kinds(c, p, token, f"{os.getpid()}-{p}") for c, p in zip(clients, ports, strict=True)
        ]
        for k in kinds:  # warm: statements compiled, pools filled
            for name in k.names():
                await _cost(k.client, pids[0], k.batch(name, 10)[:10])
        figures: dict[str, list[list[float]]] = {
            name: [[] for _ in ports] for name in kinds[0].names()
        }
        for _ in range(pairs):
            for name in kinds[0].names():
                for i, k in enumerate(kinds):
                    figures[name][i].append(await _cost(k.client, pids[i], k.batch(name, n)))
        return figures
    finally:
        for client in clients:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=200, help="requests of a kind in a batch")
    parser.add_argument("--pairs", type=int, default=3, help="batches of each kind per server")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster")
    parser.add_argument("--ab", help="VAR=A,B: two servers, VAR=A and VAR=B, interleaved")
    args = parser.parse_args()
    variants: list[dict[str, str]] = [{}]
    if args.ab:
        var, _, values = args.ab.partition("=")
        variants = [{var: v} for v in values.split(",", 1)]
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.postgres:
            pg = start_postgres()
            stack.callback(pg.stop)
            url = pg.create_database()
        else:
            url = f"sqlite:///{tmp}/propwatch.db"
        token = build(url, args.orders)
        ports = [18500 + (os.getpid() + i) % 400 for i in range(len(variants))]
        pids = [
            stack.enter_context(api(url, port, tmp / f"var{i}", extra))
            for i, (port, extra) in enumerate(zip(ports, variants, strict=True))
        ]
        load = os.getloadavg()[0]
        figures = asyncio.run(measure(ports, pids, token, args.n, args.pairs))
    print(
        f"{url.split(':')[0]}, {args.orders:,} orders, {args.n} requests a batch, "
        f"{args.pairs} batches a kind per server, load average {load:.1f} at start"
    )
    heads = [", ".join(f"{k}={v}" for k, v in e.items()) or "this code" for e in variants]
    print(f"  {'server CPU per request, ms':<28}" + "".join(f"{h:>26}" for h in heads), end="")
    print("   B/A (median of pairs)" if len(variants) == 2 else "")
    for name, per in figures.items():
        line = f"  {name:<28}" + "".join(f"{statistics.median(v):>26.3f}" for v in per)
        if len(per) == 2:
            line += f"   {statistics.median(b / a for a, b in zip(*per, strict=True)):.2f}"
        print(line)


if __name__ == "__main__":
    main()
