"""Maintenance over 200 sites x 50 assets on PostgreSQL: start-up, passes, an alarm storm.

    .venv/bin/python -m bench.many_sites_maintenance                 # all three parts
    .venv/bin/python -m bench.many_sites_maintenance --part startup  # or passes, storm
    .venv/bin/python -m bench.many_sites_maintenance --keep /var/tmp/many-sites-pg

startup + storm: real mosquitto (`max_queued_messages 0`, as shipped) and two
`propwatch maintenance --sites DIR` processes (distinct PROPWATCH_INSTANCE_ID, one
PROPWATCH_MQTT_SHARED_GROUP) on a fresh database. Replica 1 starts alone on the empty database
(migrations and the registry of every site: the cold start); its start-up time is from the exec
to the moment it holds every site's lease and every site has had its first plan pass (a
`plan_cursor` row), read from the database; its RSS then. Replica 2 starts next (a warm start:
the registry is there) and is timed to the moment the two hold every site between them, each a
share. Then the storm: 20 alarm raises (door_forced_open on 20 access controllers) in each of 50
sites, 1,000 events spread evenly over 10 s, published with paho at QoS 1 on each asset's alarm
topic as the gateway publishes them (`propwatch.events.alarm_topic`, `AlarmEvent` JSON); the
figure is the time from the first publish until the last of the 1,000 work orders exists, and
the duplicates (orders per asset and alarm type beyond one, alarms per episode beyond one).

passes: one plan and escalation pass over every site, as a replica runs it per site
(`PlanScheduler.run_pass`: plans, warranty reminders, night lighting; then `escalate_overdue`),
in 1 and then 2 worker processes splitting the sites, each on a copy of the same registered
database, the two workers released together at each instant; the wall time of the slower.
Instants on the injected clock: the first pass (every plan's cursor made), a steady pass 60 s
later (nothing due), a pass after a day away (a day's patrols, disinfections and monthly
services made, yesterday's open orders climbing the escalation ladder), and a steady pass 60 s
after that (every open order checked, nothing new). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.many_sites import GeneratedSite, write_sites
from bench.many_sites_api import memory
from bench.many_sites_db import Cluster, cluster
from maintenance.db import Database
from propwatch.events import AlarmAction, AlarmEvent, Severity, alarm_topic

ROOT = Path(__file__).resolve().parent.parent
PASS_START = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)  # Monday 08:30 in Asia/Shanghai
PASS_INSTANTS = (
    ("first pass (cursors made)", timedelta(0)),
    ("steady pass, 60 s later", timedelta(seconds=60)),
    ("after a day away", timedelta(days=1, seconds=60)),
    ("steady pass with a day's open orders", timedelta(days=1, seconds=120)),
)


def fresh_database(c: Cluster, name: str, template: str | None = None) -> str:
    import psycopg

    with psycopg.connect(c.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else " TEMPLATE template0"
        conn.execute(
            f"CREATE DATABASE \"{name}\"{copy} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.utf8'"
        )
    return c.url(name)


def scalar(db: Database, sql: str, **params: Any) -> Any:
    with db.engine.connect() as conn:
        try:
            return conn.execute(text(sql), params).scalar_one()
        except Exception:  # a table the replica has not migrated yet
            return None


# --- processes ----------------------------------------------------------------------------------


@contextmanager
def mosquitto(folder: Path) -> Iterator[int]:
    from tests.support.servers import free_port

    port = free_port()
    data = folder / "mosquitto-data"
    data.mkdir()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
        f"max_inflight_messages 0\npersistence true\npersistence_location {data}/\n"
        f"autosave_interval 1\nuser {os.environ.get('USER', 'root')}\n"
    )
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def maintenance(
    url: str, mqtt_port: int, sites_dir: Path, var_dir: Path, replica: str
) -> Iterator[subprocess.Popen[bytes]]:
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PROPWATCH_DATABASE_URL": url,
        "PROPWATCH_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "PROPWATCH_VAR_DIR": str(var_dir),
        "PROPWATCH_INSTANCE_ID": replica,
        "PROPWATCH_MQTT_SHARED_GROUP": "maintenance",
    }
    log = (var_dir / "maintenance.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "propwatch.cli", "maintenance", "--sites", str(sites_dir)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def held(db: Database, replica: str) -> int:
    return int(
        scalar(
            db,
            "SELECT count(*) FROM site_lease WHERE holder LIKE :r AND until > now()",
            r=f"{replica}%",
        )
        or 0
    )


def wait(check: Any, proc: subprocess.Popen[bytes], timeout: float, what: str) -> float:
    t0 = time.perf_counter()
    while not check():
        if proc.poll() is not None:
            raise RuntimeError(f"maintenance exited with {proc.returncode} waiting for {what}")
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(what)
        time.sleep(0.1)
    return time.perf_counter() - t0


def startup_and_storm(
    c: Cluster, work: Path, generated: list[GeneratedSite], storm: bool, storm_sites: int
) -> None:
    from bench.api_work_orders import cpu_seconds

    n = len(generated)
    url = fresh_database(c, "many_sites_maintenance")
    db = Database(url)
    with ExitStack() as stack:
        port = stack.enter_context(mosquitto(work))
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        r1 = stack.enter_context(maintenance(url, port, work / "sites", work / "m1", "replica-1"))
        leases = wait(lambda: held(db, "replica-1") >= n, r1, 300, "every lease") + 0
        t_leases = time.perf_counter() - t0
        wait(
            lambda: (scalar(db, "SELECT count(DISTINCT site_id) FROM plan_cursor") or 0) >= n,
            r1,
            300,
            "every site's first pass",
        )
        t_pass = time.perf_counter() - t0
        rss, hwm = memory(r1.pid)
        print(
            f"maintenance replica 1 (cold: empty database, {n} sites): every lease held "
            f"{t_leases:.1f} s after exec, every site's first plan pass done {t_pass:.1f} s "
            f"({cpu_seconds(r1.pid):.1f} s CPU); RSS {rss:.0f} MiB (peak {hwm:.0f} MiB); "
            f"load average {load:.1f} at start"
        )
        del leases
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        r2 = stack.enter_context(maintenance(url, port, work / "sites", work / "m2", "replica-2"))

        def shared() -> bool:
            two = held(db, "replica-2")
            return two > 0 and two + held(db, "replica-1") >= n

        wait(shared, r2, 300, "the leases shared")
        t_shared = time.perf_counter() - t0
        rss2, hwm2 = memory(r2.pid)
        print(
            f"maintenance replica 2 (warm: registry there): the sites shared {t_shared:.1f} s "
            f"after exec ({held(db, 'replica-1')} + {held(db, 'replica-2')} leases), "
            f"{cpu_seconds(r2.pid):.1f} s CPU; RSS {rss2:.0f} MiB (peak {hwm2:.0f} MiB); "
            f"load average {load:.1f} at start"
        )
        if storm:
            run_storm(db, port, generated[:storm_sites], [r1, r2])
        for name, proc in (("1", r1), ("2", r2)):
            rss, hwm = memory(proc.pid)
            print(f"maintenance replica {name} at the end: RSS {rss:.0f} MiB (peak {hwm:.0f} MiB)")
    db.dispose()


def run_storm(
    db: Database, port: int, sites: list[GeneratedSite], procs: list[subprocess.Popen[bytes]]
) -> None:
    import paho.mqtt.client as mqtt

    run = uuid.uuid4().hex[:8]
    events = []
    for g in sites:
        for asset in g.access_controllers[:20]:
            events.append(
                AlarmEvent(
                    site_id=g.site_id,
                    occurred_at=datetime.now(UTC),
                    action=AlarmAction.RAISE,
                    episode_id=f"storm-{run}-{g.site_id}-{asset}",
                    asset_id=asset,
                    device_id=asset,
                    alarm_type="door_forced_open",
                    severity=Severity.MAJOR,
                    rule_id="door-forced",
                    message="门被强行打开",
                )
            )
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-gateway-{run}")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    before = scalar(db, "SELECT count(*) FROM work_order WHERE source = 'alarm'") or 0
    load = os.getloadavg()[0]
    spread = 10.0
    t0 = time.perf_counter()
    infos = []
    for i, ev in enumerate(events):
        delay = t0 + i * spread / len(events) - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        stamped = ev.model_copy(update={"occurred_at": datetime.now(UTC)})
        infos.append(
            client.publish(alarm_topic(ev.site_id, ev.asset_id), stamped.model_dump_json(), qos=1)
        )
    published = time.perf_counter() - t0
    for info in infos:
        info.wait_for_publish(30)
    acked = time.perf_counter() - t0
    like = f"alarm:storm-{run}-%"

    def made() -> int:
        return int(scalar(db, "SELECT count(*) FROM work_order WHERE source_key LIKE :k", k=like))

    last = 0
    deadline = t0 + 300
    while True:
        count = made()
        if count != last:
            last, t_last = count, time.perf_counter() - t0
        if count >= len(events) or time.perf_counter() > deadline:
            break
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a maintenance replica exited with {p.returncode}")
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    per_asset = scalar(
        db,
        "SELECT count(*) - count(DISTINCT (site_id, asset_id, alarm_type)) FROM work_order "
        "WHERE source_key LIKE :k",
        k=like,
    )
    alarms = scalar(db, "SELECT count(*) FROM alarm WHERE episode_id LIKE :k", k=like[6:])
    alarm_dups = scalar(
        db,
        "SELECT count(*) - count(DISTINCT episode_id) FROM alarm WHERE episode_id LIKE :k",
        k=like[6:],
    )
    after = scalar(db, "SELECT count(*) FROM work_order WHERE source = 'alarm'") or 0
    print(
        f"alarm storm: {len(events)} raises ({len(events) // len(sites)} in each of {len(sites)} "
        f"sites) published at QoS 1 over {published:.1f} s (all acknowledged by the broker at "
        f"{acked:.1f} s), two replicas in one shared group; load average {load:.1f} at start\n"
        f"  the last work order existed {t_last:.1f} s after the first publish; {last} orders "
        f"for {len(events)} episodes ({after - before} alarm orders new in all); duplicates: "
        f"{per_asset} orders per asset and type, {alarm_dups} alarms per episode "
        f"({alarms} alarms)"
    )


# --- passes -------------------------------------------------------------------------------------


def pass_worker(
    url: str,
    paths: list[str],
    barrier: Any,
    out: Any,
    instants: tuple[tuple[str, timedelta], ...],
) -> None:
    import maintenance.models  # noqa: F401  (every table, as the service has them)
    from maintenance.escalation import escalate_overdue
    from maintenance.scheduler import PlanScheduler
    from propwatch.clock import ManualClock
    from propwatch.site import load_site

    sites = [load_site(Path(p)) for p in paths]
    db = Database(url)
    clock = ManualClock(PASS_START)
    schedulers = [PlanScheduler(site, db, clock) for site in sites]
    for label, offset in instants:
        clock.set(PASS_START + offset)
        barrier.wait()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        created = fired = 0
        for site, plans in zip(sites, schedulers, strict=True):
            created += plans.run_pass().created
            with db.session() as s:
                fired += len(escalate_overdue(s, site.spec, clock.now(), site.id))
        out.put((label, time.perf_counter() - t0, time.process_time() - cpu0, created, fired))
    db.dispose()


def passes(
    c: Cluster, generated: list[GeneratedSite], instants: tuple[tuple[str, timedelta], ...]
) -> None:
    from maintenance.registry.service import sync_registry
    from propwatch.site import load_site

    template = "many_sites_registered"
    url = fresh_database(c, template)
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        for g in generated:
            sync_registry(s, load_site(g.path), PASS_START - timedelta(days=30))
    db.dispose()
    ctx = mp.get_context("spawn")
    for workers in (1, 2):
        run_url = fresh_database(c, f"many_sites_passes_{workers}", template)
        barrier = ctx.Barrier(workers)
        out = ctx.Queue()
        shares = [[str(g.path) for g in generated[k::workers]] for k in range(workers)]
        procs = [
            ctx.Process(target=pass_worker, args=(run_url, share, barrier, out, instants))
            for share in shares
        ]
        load = os.getloadavg()[0]
        for p in procs:
            p.start()
        results: dict[str, list[tuple[float, float, int, int]]] = {}
        for _ in range(workers * len(instants)):
            label, wall, cpu, created, fired = out.get(timeout=1800)
            results.setdefault(label, []).append((wall, cpu, created, fired))
        for p in procs:
            p.join(60)
        print(
            f"one pass over {len(generated)} sites, {workers} worker process(es) "
            f"({' + '.join(str(len(s)) for s in shares)} sites), load average {load:.1f} at start:"
        )
        for label, _ in instants:
            rows = results[label]
            wall = max(r[0] for r in rows)
            print(
                f"  {label:<38} {wall:6.1f} s wall (each: "
                f"{', '.join(f'{r[0]:.1f} s, {r[1]:.1f} s CPU' for r in rows)}); "
                f"{sum(r[2] for r in rows):,} orders made, {sum(r[3] for r in rows):,} rungs fired"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--storm-sites", type=int, default=50)
    parser.add_argument("--part", choices=("all", "startup", "storm", "passes"), default="all")
    parser.add_argument("--keep", type=Path, help="the cluster's folder (kept)")
    parser.add_argument(
        "--instants", type=int, default=len(PASS_INSTANTS), help="passes: the first N instants"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="many-sites-m-")))
        generated = write_sites(work / "sites", args.sites, args.assets)
        pg = stack.enter_context(cluster(args.keep))
        if args.part in ("all", "startup", "storm"):
            startup_and_storm(pg, work, generated, args.part in ("all", "storm"), args.storm_sites)
        if args.part in ("all", "passes"):
            passes(pg, generated, PASS_INSTANTS[: args.instants])


if __name__ == "__main__":
    main()
