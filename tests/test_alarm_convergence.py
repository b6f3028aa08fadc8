"""The alarm list is the truth about the equipment, across restarts: real simulators, gateway,
maintenance service and mosquitto as processes; one of them is killed or stopped while alarms are
raised, faults are cleared while it is away, and after its restart the list converges to the
devices' real state and to the gateway's own snapshot of active conditions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from maintenance.db import Database
from maintenance.registry.models import Asset
from tests.stack import (
    Service,
    SiteStack,
    Snapshots,
    dump,
    open_alarms,
    open_episodes,
    quick_site_copy,
    simulator_control,
    stack_ready,
    wait_for,
)
from tests.support.postgres import Postgres
from tests.support.servers import Mosquitto, free_port, start_mosquitto

SITE = "hexie"
ENTRAPMENT = ("lift-1-1", "elevator_entrapment")
TERMINAL_COMM = ("lift-1-1", "elevator_terminal_comm")
LOW_PRESSURE = ("pump-1", "low_outlet_pressure")
CONVERGE = 60.0
"""A deadline for the test only; the time it takes is measured by bench/alarm_convergence.py."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    m = start_mosquitto(tmp_path)  # its own: this test restarts it
    yield m
    m.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/propwatch.db"
    postgres: Postgres = request.getfixturevalue("postgres")
    return postgres.create_database()


@pytest.fixture
def stack(tmp_path: Path, broker: Mosquitto, database_url: str) -> Iterator[SiteStack]:
    s = SiteStack(quick_site_copy(tmp_path), broker.url, database_url, tmp_path / "run")
    s.start()
    yield s
    s.close()


def _converged(
    stack: SiteStack, db: Database, snapshots: Snapshots, expected: set[tuple[str, str]]
) -> float:
    """Seconds until the alarm list is `expected` and holds exactly the snapshot's episodes."""

    def check() -> bool:
        return open_alarms(db, SITE) == expected and open_episodes(db, SITE) == snapshots.episodes()

    return wait_for(
        check,
        CONVERGE,
        f"alarms {dump(expected)}; have {dump(open_alarms(db, SITE))}, "
        f"episodes {dump(open_episodes(db, SITE))} vs snapshot {dump(snapshots.episodes())}",
        stack.logs,
    )


def _raise_two_faults_on_the_lift_and_one_on_the_pump(
    stack: SiteStack, db: Database, snapshots: Snapshots
) -> None:
    wait_for(lambda: stack_ready(db, snapshots), CONVERGE, "the stack to start", stack.logs)
    _converged(stack, db, snapshots, set())  # healthy first
    stack.control("inject", "lift-1-1", "entrapment", "--param", "passengers=2")
    stack.control("inject", "pump-1", "pressure_collapse")
    _converged(stack, db, snapshots, {ENTRAPMENT, LOW_PRESSURE})
    stack.control("inject", "lift-1-1", "comm_loss")  # must not clear the entrapment
    _converged(stack, db, snapshots, {ENTRAPMENT, TERMINAL_COMM, LOW_PRESSURE})


@pytest.mark.parametrize("how", ["kill", "stop"])
@pytest.mark.parametrize("who", ["gateway", "maintenance"])
def test_after_a_service_restart_the_alarm_list_is_the_devices_real_state(
    stack: SiteStack, database_url: str, broker: Mosquitto, who: str, how: str
) -> None:
    db = Database(database_url)
    with Snapshots(broker.url, SITE) as snapshots:
        _raise_two_faults_on_the_lift_and_one_on_the_pump(stack, db, snapshots)
        getattr(stack[who], how)()
        # While it is away: the pump is repaired and the terminal reconnects; the car stays stuck.
        stack.control("clear", "pump-1", "pressure_collapse")
        stack.control("clear", "lift-1-1", "comm_loss")
        stack[who].start()
        _converged(stack, db, snapshots, {ENTRAPMENT})
        stack.control("clear", "lift-1-1", "entrapment")
        _converged(stack, db, snapshots, set())
    db.dispose()


def test_after_a_broker_restart_the_alarm_list_is_the_devices_real_state(
    stack: SiteStack, database_url: str, broker: Mosquitto
) -> None:
    db = Database(database_url)
    with Snapshots(broker.url, SITE) as snapshots:
        _raise_two_faults_on_the_lift_and_one_on_the_pump(stack, db, snapshots)
        broker.stop()
        stack.control("clear", "pump-1", "pressure_collapse")
        stack.control("clear", "lift-1-1", "comm_loss")
        broker.start()
        _converged(stack, db, snapshots, {ENTRAPMENT})
    db.dispose()


def test_a_gateway_restarted_without_its_state_leaves_no_stale_alarm(
    stack: SiteStack, database_url: str, broker: Mosquitto
) -> None:
    """Even a gateway that lost its disk (a replaced box): its first snapshot is the truth."""
    db = Database(database_url)
    with Snapshots(broker.url, SITE) as snapshots:
        _raise_two_faults_on_the_lift_and_one_on_the_pump(stack, db, snapshots)
        stack["gateway"].kill()
        for f in (stack.root / "gateway").glob("conditions.db*"):
            f.unlink()
        stack.control("clear", "pump-1", "pressure_collapse")
        stack["gateway"].start()
        _converged(stack, db, snapshots, {ENTRAPMENT, TERMINAL_COMM})
    db.dispose()


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_restarted_demo_keeps_no_alarm_of_the_devices_it_had_before(
    tmp_path: Path, how: str
) -> None:
    """`make demo`, faults raised, stopped and started again: its simulated devices start
    healthy, so its alarm list must be empty again, not the old alarms raised for ever."""
    site_file = quick_site_copy(tmp_path)
    var = tmp_path / "var"
    env = {
        **os.environ,
        "PROPWATCH_VAR_DIR": str(var),
        "PROPWATCH_API_PORT": str(free_port()),
    }
    env.pop("PROPWATCH_MQTT_URL", None)
    demo = Service("demo", ["demo", "--site", str(site_file)], env, tmp_path / "demo.log")
    db = Database(f"sqlite:///{var}/propwatch.db")
    demo.start()
    try:
        wait_for(lambda: _demo_ready(db), CONVERGE, "the demo to start", demo.tail)
        simulator_control(
            site_file, env, "inject", "lift-1-1", "entrapment", "--param", "passengers=2"
        )
        simulator_control(site_file, env, "inject", "pump-1", "pressure_collapse")
        wait_for(
            lambda: open_alarms(db, SITE) == {ENTRAPMENT, LOW_PRESSURE},
            CONVERGE,
            "the demo's alarms",
            demo.tail,
        )
        getattr(demo, how)()
        demo.start()
        wait_for(lambda: open_alarms(db, SITE) == set(), CONVERGE, "an empty list", demo.tail)
    finally:
        demo.kill()
        db.dispose()


def _demo_ready(db: Database) -> bool:
    try:
        with db.session() as s:
            return bool(s.scalar(select(func.count(Asset.id)).where(Asset.state_at.is_not(None))))
    except SQLAlchemyError:
        return False
