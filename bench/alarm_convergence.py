"""Time from a restart to a converged alarm list, per restarted process.

Real processes (`propwatch simulate`, `gateway`, `maintenance`) and a real mosquitto, as in
tests/test_alarm_convergence.py: two faults on the lift and one on the pump are raised, one
process is killed (SIGKILL) or the broker stopped, the pump is repaired and the lift's terminal
reconnects while it is away, and the clock runs from its restart until the alarm list holds
exactly the remaining fault and exactly the episodes of the gateway's snapshot.

    python -m bench.alarm_convergence [--rounds 5] [--poll 1.0] [--postgres]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from maintenance.db import Database
from tests.stack import (
    SiteStack,
    Snapshots,
    open_alarms,
    open_episodes,
    quick_site_copy,
    stack_ready,
    wait_for,
)
from tests.support.postgres import start_postgres
from tests.support.servers import Mosquitto, start_mosquitto

SITE = "hexie"
ENTRAPMENT = ("lift-1-1", "elevator_entrapment")
TERMINAL_COMM = ("lift-1-1", "elevator_terminal_comm")
LOW_PRESSURE = ("pump-1", "low_outlet_pressure")


def _converge(
    stack: SiteStack, db: Database, snaps: Snapshots, want: set[tuple[str, str]]
) -> float:
    return wait_for(
        lambda: open_alarms(db, SITE) == want and open_episodes(db, SITE) == snaps.episodes(),
        120,
        f"alarms {sorted(want)}",
        stack.logs,
    )


def one_round(tmp: Path, broker: Mosquitto, database_url: str, who: str, poll: float) -> float:
    stack = SiteStack(quick_site_copy(tmp, poll), broker.url, database_url, tmp / "run")
    db = Database(database_url)
    stack.start()
    try:
        with Snapshots(broker.url, SITE) as snaps:
            wait_for(lambda: stack_ready(db, snaps), 120, "the stack", stack.logs)
            _converge(stack, db, snaps, set())
            stack.control("inject", "lift-1-1", "entrapment", "--param", "passengers=2")
            stack.control("inject", "pump-1", "pressure_collapse")
            stack.control("inject", "lift-1-1", "comm_loss")
            _converge(stack, db, snaps, {ENTRAPMENT, TERMINAL_COMM, LOW_PRESSURE})
            if who == "broker":
                broker.stop()
            else:
                stack[who].kill()
            stack.control("clear", "pump-1", "pressure_collapse")
            stack.control("clear", "lift-1-1", "comm_loss")
            started = time.monotonic()
            if who == "broker":
                broker.start()
            else:
                stack[who].start()
            _converge(stack, db, snaps, {ENTRAPMENT})
            return time.monotonic() - started
    finally:
        stack.close()
        db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--poll", type=float, default=1.0, help="poll interval of the devices (s)")
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        pg = start_postgres() if args.postgres else None
        print(f"poll interval {args.poll} s, rule delays 0.4 s, {args.rounds} rounds each")
        print("restarted     median   max   (seconds from restart to a converged list)")
        for who in ("gateway", "maintenance", "broker"):
            times = []
            for i in range(args.rounds):
                tmp = Path(root) / f"{who}-{i}"
                tmp.mkdir()
                broker = start_mosquitto(tmp)
                url = pg.create_database() if pg else f"sqlite:///{tmp}/propwatch.db"
                try:
                    times.append(one_round(tmp, broker, url, who, args.poll))
                finally:
                    broker.stop()
            print(f"{who:<12} {statistics.median(times):6.2f} {max(times):6.2f}")
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
