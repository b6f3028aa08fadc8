"""Runtime control: `propwatch simulate --site F inject ...` against a running fleet."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from propwatch.cli import main
from propwatch.clock import SystemClock
from propwatch.site import Site, load_site
from simulators.control import ControlError, send
from simulators.fleet import Fleet
from simulators.scenario import Scenario, Step
from tests.simulators.conftest import write_site


def _cli(site: Site, sock: Path, *args: str) -> int:
    return main(["simulate", "--site", str(site.path), "--control", str(sock), *args])


def test_cli_inject_reaches_the_running_device(modbus_site: Site, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"

    async def run() -> tuple[int, list[str]]:
        async with Fleet(modbus_site, SystemClock(), control_path=sock) as fleet:
            rc = await asyncio.to_thread(
                _cli, modbus_site, sock, "inject", "pump-1", "bearing_drift", "--param", "per_day=8"
            )
            return rc, sorted(fleet.models["pump-1"].faults)

    rc, faults = asyncio.run(run())
    assert rc == 0 and faults == ["bearing_drift"]


def test_cli_comm_sets_the_modbus_communication_fault(modbus_site: Site, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"

    async def run() -> tuple[int, str, float]:
        async with Fleet(modbus_site, SystemClock(), control_path=sock) as fleet:
            rc = await asyncio.to_thread(
                _cli, modbus_site, sock, "comm", "lift-1-1", "slow", "--seconds", "2.5"
            )
            sim = fleet.modbus["lift-1-1"]
            return rc, sim.comm_fault.value, sim.slow_seconds

    assert asyncio.run(run()) == (0, "slow", 2.5)


def test_cli_reports_an_unknown_fault_and_exits_non_zero(
    modbus_site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = tmp_path / "ctl.sock"

    async def run() -> int:
        async with Fleet(modbus_site, SystemClock(), control_path=sock):
            return await asyncio.to_thread(_cli, modbus_site, sock, "inject", "pump-1", "meltdown")

    assert asyncio.run(run()) == 1
    assert "meltdown" in capsys.readouterr().err


def test_cli_without_a_running_simulator_says_so(
    modbus_site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(modbus_site, tmp_path / "nobody.sock", "status") == 1
    assert "no simulator is listening" in capsys.readouterr().err


def test_status_lists_faults_and_comm_state(modbus_site: Site, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"

    async def run() -> dict[str, object]:
        async with Fleet(modbus_site, SystemClock(), control_path=sock) as fleet:
            fleet.apply(Step(after=0, device="lighting-b", fault="breaker_trip"))
            fleet.apply(Step(after=0, device="pump-1", comm="exception"))
            return await send(sock, {"op": "status"})

    answer = asyncio.run(run())
    devices = answer["status"]["devices"]  # type: ignore[index]
    assert devices["lighting-b"]["faults"] == ["breaker_trip"]
    assert devices["pump-1"]["comm"] == "exception"


@pytest.mark.parametrize(
    "line",
    [b"not json\n", b"[1, 2]\n", b'{"op": "explode"}\n', b'{"op": "inject", "device": "x"}\n'],
)
def test_bad_requests_are_answered_and_the_server_keeps_serving(
    modbus_site: Site, tmp_path: Path, line: bytes
) -> None:
    sock = tmp_path / "ctl.sock"

    async def run() -> tuple[dict[str, object], dict[str, object]]:
        async with Fleet(modbus_site, SystemClock(), control_path=sock):
            reader, writer = await asyncio.open_unix_connection(str(sock))
            writer.write(line)
            bad = json.loads(await reader.readline())
            writer.close()
            good = await send(sock, {"op": "status"})
            return bad, good

    bad, good = asyncio.run(run())
    assert bad["ok"] is False and bad["error"]
    assert good["ok"] is True


def test_a_scenario_naming_an_unknown_fault_is_refused_at_start(modbus_site: Site) -> None:
    scenario = Scenario(name="bad", steps=[Step(after=1, device="pump-1", fault="meltdown")])

    async def run() -> None:
        async with Fleet(modbus_site, SystemClock(), scenario=scenario):
            pass

    with pytest.raises(ValueError, match="meltdown"):
        asyncio.run(run())


def test_a_second_simulator_of_the_same_site_does_not_steal_the_socket(
    modbus_site: Site, tmp_path: Path
) -> None:
    sock = tmp_path / "ctl.sock"
    (tmp_path / "other").mkdir()
    other_site = load_site(write_site(tmp_path / "other"))

    async def run() -> dict[str, object]:
        async with Fleet(modbus_site, SystemClock(), control_path=sock):
            with pytest.raises(ControlError, match="another simulator"):
                async with Fleet(other_site, SystemClock(), control_path=sock):
                    pass
            return await send(sock, {"op": "status"})

    assert asyncio.run(run())["ok"] is True


def test_a_stale_socket_file_is_replaced(modbus_site: Site, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"
    sock.write_bytes(b"")  # left behind by a killed run

    async def run() -> dict[str, object]:
        async with Fleet(modbus_site, SystemClock(), control_path=sock):
            return await send(sock, {"op": "status"})

    assert asyncio.run(run())["ok"] is True
