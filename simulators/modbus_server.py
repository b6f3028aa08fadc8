"""Serve device models over Modbus TCP with pymodbus' SimDevice datastore.

Registers are refreshed from the model on each request (the SimDevice action), so what a
master reads is the physics at that instant. A master reads a device in several blocks back to
back (coils, inputs, registers); the model is advanced once and its encoded registers are kept
for `cache_seconds` of simulated time, so a poll costs one physics step, not one per block.

Communication faults live here, not in models: a device can stop answering (no reply at all,
the master times out), answer with a Modbus exception, or answer slowly.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from propwatch.clock import Clock
from propwatch.profiles import Function, ModbusPoint, ModbusProfile
from propwatch.registers import decode, encode
from simulators.model import DeviceModel, Value

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
    cache_seconds: float = 0.05
    requests: int = field(default=0, init=False)
    physics_steps: int = field(default=0, init=False)
    _points: dict[Function, list[ModbusPoint]] = field(default_factory=dict, init=False)
    _sizes: dict[Function, int] = field(default_factory=dict, init=False)
    _values: dict[str, Value] = field(default_factory=dict, init=False)
    _values_at: float = field(default=float("-inf"), init=False)
    _encoded: dict[Function, list[int]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for fn in _BLOCK_ORDER:
            pts = [p for p in self.profile.points if p.function is fn]
            self._points[fn] = pts
            end = max((p.address + p.width for p in pts), default=1)
            bit_fn = fn in (Function.COIL, Function.DISCRETE_INPUT)
            self._sizes[fn] = (end + 15) // 16 if bit_fn else end

    def sim_device(self) -> SimDevice:
        blocks: list[list[SimData]] = []
        for fn in _BLOCK_ORDER:
            bit_fn = fn in (Function.COIL, Function.DISCRETE_INPUT)
            kind = DataType.BITS if bit_fn else DataType.REGISTERS
            blocks.append([SimData(0, count=self._sizes[fn], values=0, datatype=kind)])
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
            # The server is told to ignore unknown ids; this makes it send nothing at all.
            raise NoSuchIdException(f"unit {self.unit_id} is silent")
        if self.comm_fault is CommFault.EXCEPTION:
            return ExcCodes.DEVICE_FAILURE
        if self.comm_fault is CommFault.SLOW:
            await asyncio.sleep(self.slow_seconds)
        fn = _FC_FUNCTION.get(function_code)
        if fn is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if set_values is not None:
            self._apply_writes(fn, address, list(set_values))
        registers[:] = self._registers(fn)
        return None

    def _apply_writes(self, fn: Function, address: int, values: list[int] | list[bool]) -> None:
        """FC 5/15 set coils, FC 6/16 registers; a point the write covers whole is decoded to
        its engineering value and handed to the model as a command (a write of part of a
        multi-register value is not one)."""
        for p in self._points[fn]:
            start = p.address - address
            if start < 0 or start + p.width > len(values):
                continue
            if fn is Function.COIL:
                self.model.command(p.name, bool(values[start]))
            else:
                self.model.command(
                    p.name, decode(p, [int(v) for v in values[start : start + p.width]])
                )
        self._values_at = float("-inf")  # the next read shows the command's effect

    def current_values(self) -> dict[str, Value]:
        """The model's values, advanced at most once per `cache_seconds` of simulated time."""
        now = self.clock.now()
        t = now.timestamp()
        if not (0.0 <= t - self._values_at < self.cache_seconds):
            self._values = self.model.values(now)
            self._values_at = t
            self._encoded.clear()
            self.physics_steps += 1
        return self._values

    def _registers(self, fn: Function) -> list[int]:
        values = self.current_values()
        cached = self._encoded.get(fn)
        if cached is not None:
            return cached
        size = self._sizes[fn]
        if fn in (Function.COIL, Function.DISCRETE_INPUT):
            bits = [False] * (size * 16)
            for p in self._points[fn]:
                if p.name in values:
                    bits[p.address] = bool(values[p.name])
            regs = SimUtils.bitsToRegisters(bits)
        else:
            regs = [0] * size
            for p in self._points[fn]:
                if p.name in values:
                    words = encode(p, values[p.name])
                    regs[p.address : p.address + len(words)] = words
        self._encoded[fn] = regs
        return regs


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
            [d.sim_device() for d in self.devices.values()],
            address=(self.host, self.port),
            ignore_missing_devices=True,
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
