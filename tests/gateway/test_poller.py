"""The Modbus poller against real pymodbus servers serving simulated pumps."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from gateway.modbus.connection import ModbusConnection
from gateway.modbus.poller import ModbusDevicePoller
from gateway.readings import Sample
from propwatch.clock import ManualClock, SystemClock
from simulators.modbus_server import CommFault, ModbusSimServer
from tests.gateway.modbus_support import pump_device, pump_profile, simulated_pump, until
from tests.support.servers import free_port


class Recorder:
    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.online: list[bool] = []

    def sample(self, s: Sample) -> None:
        self.samples.append(s)

    def online_change(self, device_id: str, online: bool, reason: str) -> None:
        self.online.append(online)


def _poller(
    conn: ModbusConnection, rec: Recorder, clock: Any, unit_id: int = 1, **device: object
) -> ModbusDevicePoller:
    return ModbusDevicePoller(
        "hexie",
        f"pump-{unit_id}",
        pump_device(conn.port, unit_id, **device),
        pump_profile(),
        conn,
        clock,
        rec.sample,
        rec.online_change,
    )


def test_one_poll_reads_every_point_in_one_request_per_function_and_class() -> None:
    async def scenario() -> None:
        clock = SystemClock()
        port = free_port()
        sim = simulated_pump(1, clock)
        async with ModbusSimServer("127.0.0.1", port, [sim]):
            conn = ModbusConnection.tcp("127.0.0.1", port)
            poller = _poller(conn, Recorder(), clock)
            sample = await poller.poll_once()
            conn.close()
        assert set(sample.values) == {p.name for p in pump_profile().points}
        assert 0.3 < float(sample.values["outlet_pressure"]) < 0.45
        # coil, discrete inputs, input registers (normal class) and run_hours (slow class)
        assert sim.requests == len(poller.blocks) == 4

    asyncio.run(scenario())


def test_slow_points_are_read_once_every_ten_polls() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        port = free_port()
        rec = Recorder()
        async with ModbusSimServer("127.0.0.1", port, [simulated_pump(1, clock)]):
            conn = ModbusConnection.tcp("127.0.0.1", port)
            poller = _poller(conn, rec, clock, poll_interval=1.0)
            task = asyncio.create_task(poller.run())
            for n in range(1, 21):
                await until(lambda n=n: len(rec.samples) >= n, f"poll {n}")  # type: ignore[misc]
                clock.advance(1.0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            conn.close()
        with_hours = [i for i, s in enumerate(rec.samples[:20]) if "run_hours" in s.values]
        assert with_hours == [0, 10]
        assert all("outlet_pressure" in s.values for s in rec.samples)

    asyncio.run(scenario())


def test_a_silent_unit_does_not_starve_its_sibling_on_the_same_port() -> None:
    async def scenario() -> None:
        clock = SystemClock()
        port = free_port()
        healthy, silent = simulated_pump(1, clock), simulated_pump(2, clock)
        silent.comm_fault = CommFault.SILENT
        good, bad = Recorder(), Recorder()
        async with ModbusSimServer("127.0.0.1", port, [healthy, silent]):
            conn = ModbusConnection.tcp("127.0.0.1", port)
            p1 = _poller(conn, good, clock, unit_id=1)
            p2 = _poller(conn, bad, clock, unit_id=2)
            tasks = [asyncio.create_task(p.run()) for p in (p1, p2)]
            await until(lambda: bad.online == [False], "the silent unit to go offline")
            polls_when_offline = len(good.samples)
            await until(lambda: p2.health.failures >= 4, "a backed-off retry of the silent unit")
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            conn.close()
        assert p1.health.errors == {} and good.online == [True]
        assert p2.health.errors.get("timeout", 0) == p2.health.failures
        # the sibling kept polling between the silent unit's (backed-off) timeouts
        assert len(good.samples) > polls_when_offline > p2.health.failures

    asyncio.run(scenario())


def test_exception_replies_are_counted_and_the_device_goes_offline_after_three() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        port = free_port()
        sim = simulated_pump(1, clock)
        sim.comm_fault = CommFault.EXCEPTION
        rec = Recorder()
        async with ModbusSimServer("127.0.0.1", port, [sim]):
            conn = ModbusConnection.tcp("127.0.0.1", port)
            poller = _poller(conn, rec, clock, poll_interval=1.0)
            task = asyncio.create_task(poller.run())
            for n in range(1, 4):
                await until(lambda n=n: poller.health.failures >= n, f"failure {n}")  # type: ignore[misc]
                clock.advance(60.0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            conn.close()
        assert poller.health.errors == {"exception": 3}
        assert rec.online == [False]

    asyncio.run(scenario())


def test_back_online_only_after_two_good_polls_in_a_row() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        port = free_port()
        sim = simulated_pump(1, clock)
        sim.comm_fault = CommFault.EXCEPTION
        rec = Recorder()
        async with ModbusSimServer("127.0.0.1", port, [sim]):
            conn = ModbusConnection.tcp("127.0.0.1", port)
            poller = _poller(conn, rec, clock, poll_interval=1.0)
            task = asyncio.create_task(poller.run())
            for n in range(1, 4):
                await until(lambda n=n: poller.health.failures >= n, f"failure {n}")  # type: ignore[misc]
                if n < 3:
                    clock.advance(60.0)
            assert rec.online == [False]
            sim.comm_fault = CommFault.NONE
            clock.advance(60.0)
            await until(lambda: len(rec.samples) == 1, "first good poll")
            online_after_one = list(rec.online)
            clock.advance(1.0)
            await until(lambda: len(rec.samples) == 2, "second good poll")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            conn.close()
        assert online_after_one == [False]
        assert rec.online == [False, True]

    asyncio.run(scenario())


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    async def backoffs() -> list[float]:
        conn = ModbusConnection.tcp("127.0.0.1", 1)
        poller = _poller(conn, Recorder(), ManualClock(), poll_interval=1.0)
        out = []
        for failures in (1, 2, 3, 4, 10):
            poller.health.consecutive_failures = failures
            out.append(poller.backoff())
        return out

    waits = asyncio.run(backoffs())
    limits = [1.0, 2.0, 4.0, 8.0, 30.0]
    assert all(0.5 * lim <= w <= lim for w, lim in zip(waits, limits, strict=True))
    assert len({round(w / lim, 6) for w, lim in zip(waits, limits, strict=True)}) > 1


def test_a_refused_connection_counts_as_a_connect_error_and_recovers() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        port = free_port()
        rec = Recorder()
        conn = ModbusConnection.tcp("127.0.0.1", port)
        poller = _poller(conn, rec, clock, poll_interval=1.0)
        task = asyncio.create_task(poller.run())
        await until(lambda: poller.health.failures >= 1, "a failed connect")
        async with ModbusSimServer("127.0.0.1", port, [simulated_pump(1, clock)]):
            clock.advance(60.0)
            await until(lambda: len(rec.samples) >= 1, "a poll once the server is up")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            conn.close()
        assert poller.health.errors == {"connect": 1}

    asyncio.run(scenario())


def test_a_cancelled_poller_always_stops_whenever_the_cancel_lands() -> None:
    """A stopping gateway cancels its pollers; the cancel may land in the very turn a reply or a
    connection arrives, where `asyncio.wait_for` inside pymodbus would drop it on Python 3.11."""

    async def scenario() -> list[int]:
        clock = SystemClock()
        port = free_port()
        rng = random.Random(7)
        stuck: list[int] = []
        async with ModbusSimServer("127.0.0.1", port, [simulated_pump(1, clock)]):
            for attempt in range(300):
                conn = ModbusConnection.tcp("127.0.0.1", port)
                poller = _poller(conn, Recorder(), clock, poll_interval=0.001)
                task = asyncio.create_task(poller.run())
                await asyncio.sleep(rng.uniform(0.0, 0.01))
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=2.0)
                conn.close()
                if not done:
                    stuck.append(attempt)
                    break
        return stuck

    # not asyncio.run: it would wait for ever on a poller that lost its cancellation
    loop = asyncio.new_event_loop()
    try:
        stuck = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert stuck == []
