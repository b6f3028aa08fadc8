"""Serve device models over Modbus TCP with pymodbus' SimDevice datastore.

Registers are refreshed from the model on every request (the SimDevice action), so what a
master reads is the physics at that instant. Communication faults live here, not in models:
a device can stop answering, answer with a Modbus exception, or answer slowly.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from propwatch.clock import Clock
from propwatch.profiles import Function, ModbusProfile
from propwatch.registers import encode
from simulators.model import DeviceModel

log = logging.getLogger(__name__)

_FC_FUNCTION = {
    1: Function.COIL,
    5: Function.COIL,
    15: Function.COIL,
    2: Function.DISCRETE_INPUT,
    3: Function.HOLDING,
    6: Function.HOLDING,
    16: Function.HOLDING,
    4: Function.INPUT,
}
_BLOCK_ORDER = (Function.COIL, Function.DISCRETE_INPUT, Function.HOLDING, Function.INPUT)


class CommFault(StrEnum):
    NONE = "none"
    SILENT = "silent"  # 不应答: the device stops answering
    EXCEPTION = "exception"  # answers with Modbus exception 4 (device failure)
    SLOW = "slow"  # answers after `slow_seconds`


@dataclass
class SimulatedModbusDevice:
    """One unit id behind a TCP port: a profile, a model and its communication state."""

    unit_id: int
    profile: ModbusProfile
    model: DeviceModel
    clock: Clock
    comm_fault: CommFault = CommFault.NONE
    slow_seconds: float = 2.0
    requests: int = field(default=0, init=False)

    def sim_device(self) -> SimDevice:
        blocks: list[list[SimData]] = []
        for fn in _BLOCK_ORDER:
            pts = [p for p in self.profile.points if p.function is fn]
            end = max((p.address + p.width for p in pts), default=1)
            if fn in (Function.COIL, Function.DISCRETE_INPUT):
                blocks.append(
                    [SimData(0, count=(end + 15) // 16, values=0, datatype=DataType.BITS)]
                )
            else:
                blocks.append([SimData(0, count=end, values=0, datatype=DataType.REGISTERS)])
        return SimDevice(
            self.unit_id,
            simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
            action=self._on_request,
        )

    async def _on_request(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests += 1
        if self.comm_fault is CommFault.SILENT:
            await asyncio.sleep(3600)  # the master times out; the connection stays open
        if self.comm_fault is CommFault.EXCEPTION:
            return ExcCodes.DEVICE_FAILURE
        if self.comm_fault is CommFault.SLOW:
            await asyncio.sleep(self.slow_seconds)
        fn = _FC_FUNCTION.get(function_code)
        if fn is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if set_values is not None:
            self._apply_writes(fn, address, list(set_values))
        self._refresh(fn, registers)
        return None

    def _apply_writes(self, fn: Function, address: int, values: list[int] | list[bool]) -> None:
        for p in self.profile.points:
            if p.function is fn and address <= p.address < address + len(values):
                self.model.command(p.name, values[p.address - address])

    def _refresh(self, fn: Function, registers: list[int]) -> None:
        values = self.model.values(self.clock.now())
        if fn in (Function.COIL, Function.DISCRETE_INPUT):
            bits = SimUtils.registersToBits(registers)
            for p in self.profile.points:
                if p.function is fn and p.name in values:
                    bits[p.address] = bool(values[p.name])
            registers[:] = SimUtils.bitsToRegisters(bits)[: len(registers)]
            return
        for p in self.profile.points:
            if p.function is fn and p.name in values:
                regs = encode(p, values[p.name])
                registers[p.address : p.address + len(regs)] = regs


class ModbusSimServer:
    """One listening TCP port serving one or more unit ids (a gateway with devices behind it)."""

    def __init__(self, host: str, port: int, devices: list[SimulatedModbusDevice]) -> None:
        self.host = host
        self.port = port
        self.devices = {d.unit_id: d for d in devices}
        self._server: ModbusTcpServer | None = None

    async def __aenter__(self) -> ModbusSimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        logging.getLogger("pymodbus").setLevel(logging.WARNING)
        self._server = ModbusTcpServer(
            [d.sim_device() for d in self.devices.values()], address=(self.host, self.port)
        )
        await self._server.serve_forever(background=True)
        log.info(
            "Modbus simulator listening on %s:%d (units %s)",
            self.host,
            self.port,
            sorted(self.devices),
        )

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
