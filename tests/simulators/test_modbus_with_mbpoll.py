"""Read the simulated pump and elevator with mbpoll, an independent Modbus master."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from propwatch.clock import ScaledClock, SystemClock
from propwatch.site import Site
from simulators.fleet import Fleet
from simulators.scenario import Scenario, Step
from tests.simulators.conftest import Mbpoll, MbpollError

# Input register addresses from propwatch/profiles/*.yaml
PUMP_FREQ, PUMP_CURRENT, PUMP_PRESSURE, PUMP_BEARING, PUMP_VIBRATION = 0, 2, 4, 6, 8
LIFT_FLOOR, LIFT_FAULT_CODE, LIFT_TOP, LIFT_LOWEST = 0, 16, 17, 18


def _device(site: Site, device_id: str) -> tuple[int, int]:
    d = next(d for d in site.spec.devices if d.id == device_id)
    return d.port, d.unit_id


def test_pump_readings_are_plausible(modbus_site: Site, mbpoll: Mbpoll) -> None:
    port, unit = _device(modbus_site, "pump-1")

    async def run() -> tuple[dict[int, float], dict[int, float]]:
        async with Fleet(modbus_site, SystemClock()):
            floats = await mbpoll.read(port, unit, 0, 5, "3:float")
            bits = await mbpoll.read(port, unit, 0, 4, "1")
            return floats, bits

    floats, bits = asyncio.run(run())
    assert 25 <= floats[PUMP_FREQ] <= 50
    # Current follows frequency: about 1.2 A magnetising plus load ∝ (f/50)².
    assert floats[PUMP_CURRENT] == pytest.approx(1.2 + 17 * (floats[PUMP_FREQ] / 50) ** 2, abs=1)
    assert 0.30 <= floats[PUMP_PRESSURE] <= 0.42
    assert 15 <= floats[PUMP_BEARING] <= 80 and 0 < floats[PUMP_VIBRATION] < 6
    assert bits == {0: 1, 1: 0, 2: 0, 3: 0}  # running, no overload / dry run / phase loss


def test_elevator_floor_is_within_the_buildings_range(modbus_site: Site, mbpoll: Mbpoll) -> None:
    port, unit = _device(modbus_site, "lift-1-1")

    async def run() -> dict[int, float]:
        async with Fleet(modbus_site, SystemClock()):
            return await mbpoll.read(port, unit, 0, 19, "3")

    regs = asyncio.run(run())
    lowest = regs[LIFT_LOWEST] - 65536 if regs[LIFT_LOWEST] > 32767 else regs[LIFT_LOWEST]
    floor = regs[LIFT_FLOOR] - 65536 if regs[LIFT_FLOOR] > 32767 else regs[LIFT_FLOOR]
    assert lowest <= floor <= regs[LIFT_TOP] and floor != 0
    assert regs[LIFT_FAULT_CODE] == 0


def test_entrapment_appears_when_the_scenario_says(modbus_site: Site, mbpoll: Mbpoll) -> None:
    port, unit = _device(modbus_site, "lift-1-1")
    # One simulated minute passes in one real second.
    scenario = Scenario(
        name="困人",
        speed=60,
        steps=[Step(after=60, device="lift-1-1", fault="entrapment")],
    )
    clock = ScaledClock(scenario.speed, datetime(2026, 3, 2, 0, 30, tzinfo=UTC))

    async def run() -> tuple[float, float, float]:
        async with Fleet(modbus_site, clock, scenario=scenario) as fleet:
            before = (await mbpoll.read(port, unit, LIFT_FAULT_CODE, 1, "3"))[LIFT_FAULT_CODE]
            assert not fleet.applied_steps, "the read came after the step; the test is too slow"
            # Sleep on the fleet's clock to one simulated second past the step.
            elapsed = (clock.now() - fleet.start_time).total_seconds()
            await clock.sleep(61 - elapsed)
            applied_at = clock.now()
            after = (await mbpoll.read(port, unit, LIFT_FAULT_CODE, 1, "3"))[LIFT_FAULT_CODE]
            flags = await mbpoll.read(port, unit, 7, 1, "1")  # fault_entrapment
            assert (applied_at - fleet.start_time).total_seconds() >= 60
            return before, after, flags[7]

    before, after, flag = asyncio.run(run())
    assert (before, after, flag) == (0, 2, 1)


def test_exception_mode_answers_device_failure(modbus_site: Site, mbpoll: Mbpoll) -> None:
    port, unit = _device(modbus_site, "pump-1")

    async def run() -> str:
        async with Fleet(modbus_site, SystemClock()) as fleet:
            fleet.apply(Step(after=0, device="pump-1", comm="exception"))
            with pytest.raises(MbpollError) as err:
                await mbpoll.read(port, unit, 0, 2, "3")
            # The other unit behind the same port still answers.
            await mbpoll.read(*_device(modbus_site, "lift-1-1"), 0, 1, "3")
            return str(err.value)

    assert "failure" in asyncio.run(run()).lower()


def test_silent_mode_times_the_master_out(modbus_site: Site, mbpoll: Mbpoll) -> None:
    port, unit = _device(modbus_site, "pump-1")

    async def run() -> str:
        async with Fleet(modbus_site, SystemClock()) as fleet:
            fleet.apply(Step(after=0, device="pump-1", comm="silent"))
            with pytest.raises(MbpollError) as err:
                await mbpoll.read(port, unit, 0, 2, "3", reply_timeout=0.3)
            return str(err.value)

    assert "timed out" in asyncio.run(run()).lower()


def test_slow_mode_answers_after_the_delay(modbus_site: Site, mbpoll: Mbpoll) -> None:
    port, unit = _device(modbus_site, "pump-1")

    async def run() -> float:
        async with Fleet(modbus_site, SystemClock()) as fleet:
            fleet.apply(Step(after=0, device="pump-1", comm="slow", params={"seconds": 0.6}))
            started = time.monotonic()
            await mbpoll.read(port, unit, 0, 2, "3:float", reply_timeout=2)
            return time.monotonic() - started

    assert asyncio.run(run()) >= 0.6


def test_lighting_coil_written_by_a_master_reads_back(modbus_site: Site, mbpoll: Mbpoll) -> None:
    port, unit = _device(modbus_site, "lighting-b")

    async def run() -> tuple[dict[int, float], dict[int, float]]:
        noon = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Hangzhou: lamps off
        async with Fleet(modbus_site, ScaledClock(1, noon)):
            proc = await asyncio.create_subprocess_exec(
                mbpoll.binary, "-m", "tcp", "-p", str(port), "-a", str(unit), "-0", "-r", "3",
                "-t", "0", "-1", "127.0.0.1", "1",
                stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            assert await proc.wait() == 0
            coils = await mbpoll.read(port, unit, 0, 8, "0")
            amps = await mbpoll.read(port, unit, 12, 1, "3:float")  # circuit_4_current
            return coils, amps

    coils, amps = asyncio.run(run())
    assert coils == {0: 0, 1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: 0, 7: 0}
    assert amps[12] > 0.5


def test_bearing_drift_over_simulated_days_shows_on_the_wire(
    modbus_site: Site, mbpoll: Mbpoll
) -> None:
    port, unit = _device(modbus_site, "pump-1")
    # A simulated day per real second; the drift starts with the run.
    scenario = Scenario(
        name="轴承温升",
        speed=86400,
        steps=[Step(after=0, device="pump-1", fault="bearing_drift", params={"per_day": 10})],
    )
    clock = ScaledClock(scenario.speed, datetime(2026, 3, 2, 0, 0, tzinfo=UTC))

    async def run() -> tuple[float, float, float]:
        async with Fleet(modbus_site, clock, scenario=scenario) as fleet:
            first = (await mbpoll.read(port, unit, PUMP_BEARING, 1, "3:float"))[PUMP_BEARING]
            t0 = clock.now()
            await clock.sleep(2 * 86400)
            later = (await mbpoll.read(port, unit, PUMP_BEARING, 1, "3:float"))[PUMP_BEARING]
            days = (clock.now() - t0).total_seconds() / 86400
            assert fleet.applied_steps
            return first, later, days

    first, later, days = asyncio.run(run())
    # 10 °C a day; both reads fall in the quiet night hours, so load moves it by a few °C.
    assert later - first > 10 * days - 8
