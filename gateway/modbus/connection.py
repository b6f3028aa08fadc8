"""One connection per host:port (or serial line), shared by every unit id behind it.

pymodbus runs one request at a time per client. Units take turns on our own FIFO lock, one
whole poll per turn (`turn`), so each request gets its own device's timeout and a silent unit
costs its siblings at most one timeout per attempt; the poller's backoff keeps those attempts
rare. A late answer to a timed-out request would be mistaken for the next one, so the link is
reset after a timeout instead of trusting what arrives next.

pymodbus waits with `asyncio.wait_for`, which on Python 3.11 returns the result and drops a
cancellation that arrives in the same turn as the reply (or the connection): a stopping gateway
would then poll on for ever. Every await into pymodbus is followed by `_keep_cancellation`.
"""

from __future__ import annotations

import asyncio
import logging

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from propwatch.profiles import Function
from propwatch.site import Device

log = logging.getLogger(__name__)

ModbusClient = AsyncModbusTcpClient | AsyncModbusSerialClient


class ModbusError(Exception):
    """A read failed: timeout, broken connection or a Modbus exception response."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def link_key(device: Device) -> tuple[str, int]:
    """Devices with the same key share one connection: host:port, or the serial port."""
    if device.protocol == "modbus_rtu":
        assert device.serial_port is not None
        return (device.serial_port, 0)
    return (device.host, device.port)


def _keep_cancellation() -> None:
    """Raise the cancellation a `wait_for` inside pymodbus swallowed, if the task has one."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class ModbusConnection:
    """Owns one pymodbus client, connects lazily and serialises requests fairly."""

    def __init__(self, client: ModbusClient, name: str) -> None:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        self.client = client
        self.name = name
        self.users = 0
        self.turn = asyncio.Lock()
        """Held by one device for one whole poll; waiters are served in arrival order."""
        self.requests = 0
        self.resets = 0

    @classmethod
    def tcp(cls, host: str, port: int, timeout: float = 1.0) -> ModbusConnection:
        client = AsyncModbusTcpClient(
            host, port=port, timeout=timeout, retries=0, reconnect_delay=0, reconnect_delay_max=0
        )
        return cls(client, f"{host}:{port}")

    @classmethod
    def serial(
        cls,
        port: str,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        timeout: float = 1.0,
    ) -> ModbusConnection:
        """Modbus RTU on a serial line; `port` may also be a pyserial URL (`socket://h:p`)."""
        client = AsyncModbusSerialClient(
            port,
            framer=FramerType.RTU,
            baudrate=baudrate,
            parity=parity,
            stopbits=stopbits,
            bytesize=bytesize,
            timeout=timeout,
            retries=0,
            reconnect_delay=0,
            reconnect_delay_max=0,
        )
        return cls(client, port)

    @classmethod
    def for_device(cls, device: Device) -> ModbusConnection:
        if device.protocol == "modbus_rtu":
            assert device.serial_port is not None
            return cls.serial(
                device.serial_port,
                device.baudrate,
                device.parity,
                device.stopbits,
                device.bytesize,
                device.timeout,
            )
        return cls.tcp(device.host, device.port, device.timeout)

    async def _ensure_connected(self) -> None:
        if self.client.connected:
            return
        connected = await self.client.connect()
        _keep_cancellation()
        if not connected:
            raise ModbusError("connect", f"cannot connect to {self.name}")

    async def read(
        self, function: Function, address: int, count: int, unit_id: int, reply_within: float
    ) -> list[int] | list[bool]:
        """One read; the caller holds `turn`."""
        await self._ensure_connected()
        self.client.ctx.comm_params.timeout_connect = reply_within
        self.requests += 1
        try:
            response = await self._request(function, address, count, unit_id)
            _keep_cancellation()
        except (TimeoutError, ModbusIOException) as exc:
            self._reset()
            _keep_cancellation()
            raise ModbusError("timeout", f"{self.name} unit {unit_id}: {exc}") from exc
        except (ModbusException, OSError) as exc:
            self._reset()
            _keep_cancellation()
            raise ModbusError("connection", f"{type(exc).__name__}: {exc}") from exc
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise ModbusError("exception", f"Modbus exception {code} from unit {unit_id}")
        if function in (Function.COIL, Function.DISCRETE_INPUT):
            bits = list(response.bits[:count])
            if len(bits) < count:
                raise ModbusError("exception", f"short answer from unit {unit_id}")
            return bits
        if len(response.registers) < count:
            raise ModbusError("exception", f"short answer from unit {unit_id}")
        return list(response.registers)

    async def _request(
        self, function: Function, address: int, count: int, unit_id: int
    ) -> ModbusPDU:
        c = self.client
        if function is Function.COIL:
            return await c.read_coils(address, count=count, device_id=unit_id)
        if function is Function.DISCRETE_INPUT:
            return await c.read_discrete_inputs(address, count=count, device_id=unit_id)
        if function is Function.HOLDING:
            return await c.read_holding_registers(address, count=count, device_id=unit_id)
        return await c.read_input_registers(address, count=count, device_id=unit_id)

    def _reset(self) -> None:
        """Drop the link so a stray late answer cannot be read as the next unit's reply."""
        self.resets += 1
        self.client.close()

    def close(self) -> None:
        self.client.close()
