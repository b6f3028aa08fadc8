"""One connection per host:port (or serial line), shared by every unit id behind it.

One task per link polls its units in turn (`gateway.modbus.link`), so requests on a link never
overlap; `turn` is held for one whole poll all the same, so that a second caller (a test, a
command later) waits its turn instead of interleaving with a poll. Each request gets its own
device's timeout, and a silent unit costs its siblings at most one timeout per attempt; the
poller's backoff keeps those attempts rare. A command (`gateway.commands`) takes `turn` too:
the lock serves waiters in arrival order, so it goes before the link task's next poll.
A late answer to a timed-out request could be mistaken for the next one (RTU frames carry
no transaction id), and a TCP peer that stopped answering is often a half-open socket, so
the link is reset after a timeout.

Modbus TCP goes through our own framing (`gateway.modbus.tcp`): every await there is on a
future we own, so a cancelled poll stops at once. Modbus RTU goes through pymodbus, which waits
with `asyncio.wait_for`; on Python 3.11 that returns the result and drops a cancellation that
arrives in the same turn as the reply (or the connection), so every await into pymodbus is
followed by `_keep_cancellation`, and the link poller also stops on its own flag.
"""

from __future__ import annotations

import asyncio
import logging

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from gateway.modbus.tcp import LinkLost, ModbusTcpProtocol, bits_of, registers_of, write_pdu
from propwatch.profiles import Function
from propwatch.site import Device

log = logging.getLogger(__name__)

FUNCTION_CODES = {
    Function.COIL: 1,
    Function.DISCRETE_INPUT: 2,
    Function.HOLDING: 3,
    Function.INPUT: 4,
}


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
    """Owns one link (a Modbus TCP socket, or a pymodbus serial client), connects lazily."""

    def __init__(
        self,
        name: str,
        *,
        host: str = "",
        port: int = 0,
        timeout: float = 1.0,
        client: AsyncModbusSerialClient | None = None,
    ) -> None:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        self.name = name
        self.host = host
        self.port = port
        self.timeout = timeout
        """How long a TCP connect may take."""
        self.client = client
        """The pymodbus client of a serial line; None for Modbus TCP."""
        self._tcp: ModbusTcpProtocol | None = None
        self._last_tid = 0
        self.turn = asyncio.Lock()
        """Held by one device for one whole poll; waiters are served in arrival order."""
        self.requests = 0
        self.resets = 0

    @classmethod
    def tcp(cls, host: str, port: int, timeout: float = 1.0) -> ModbusConnection:
        return cls(f"{host}:{port}", host=host, port=port, timeout=timeout)

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
        return cls(port, client=client, timeout=timeout)

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

    async def read(
        self, function: Function, address: int, count: int, unit_id: int, reply_within: float
    ) -> list[int] | list[bool]:
        """One read; the caller holds `turn`."""
        self.requests += 1
        if self.client is not None:
            return await self._read_serial(
                self.client, function, address, count, unit_id, reply_within
            )
        link = self._tcp
        if link is None or link.transport is None:
            link = await self._connect()
        try:
            frame = await link.request(
                unit_id, FUNCTION_CODES[function], address, count, reply_within
            )
        except TimeoutError as exc:
            self._reset()
            raise ModbusError("timeout", f"{self.name} unit {unit_id}: {exc}") from exc
        except LinkLost as exc:
            self._reset()
            raise ModbusError("connection", f"{type(exc).__name__}: {exc}") from exc
        if len(frame) < 3:
            self._reset()  # the byte stream is no longer to be trusted
            raise ModbusError("exception", f"malformed answer from unit {unit_id}: {frame!r}")
        if frame[1] & 0x80:
            raise ModbusError("exception", f"Modbus exception {frame[2]} from unit {unit_id}")
        if frame[0] != unit_id or frame[1] != FUNCTION_CODES[function]:
            self._reset()
            raise ModbusError(
                "exception", f"answer from unit {frame[0]} fc {frame[1]} to unit {unit_id}"
            )
        if function in (Function.COIL, Function.DISCRETE_INPUT):
            values: list[int] | list[bool] | None = bits_of(frame, count)
        else:
            values = registers_of(frame, count)
        if values is None:
            raise ModbusError("exception", f"short answer from unit {unit_id}")
        return values

    async def write(
        self,
        function: Function,
        address: int,
        values: list[int] | list[bool],
        unit_id: int,
        reply_within: float,
    ) -> int:
        """One write, with FC 5 or 15 (coils), 6 or 16 (holding registers) as the count fits;
        the function code used. The caller holds `turn`."""
        if function is Function.COIL:
            fc = 5 if len(values) == 1 else 15
        elif function is Function.HOLDING:
            fc = 6 if len(values) == 1 else 16
        else:
            raise ValueError(f"{function} points cannot be written")
        self.requests += 1
        if self.client is not None:
            await self._write_serial(self.client, fc, address, values, unit_id, reply_within)
            return fc
        link = self._tcp
        if link is None or link.transport is None:
            link = await self._connect()
        try:
            if fc == 5:
                frame = await link.request(
                    unit_id, 5, address, 0xFF00 if values[0] else 0, reply_within
                )
            elif fc == 6:
                frame = await link.request(unit_id, 6, address, int(values[0]), reply_within)
            else:
                frame = await link.request_pdu(
                    unit_id, write_pdu(fc, address, values), reply_within
                )
        except TimeoutError as exc:
            self._reset()
            raise ModbusError("timeout", f"{self.name} unit {unit_id}: {exc}") from exc
        except LinkLost as exc:
            self._reset()
            raise ModbusError("connection", f"{type(exc).__name__}: {exc}") from exc
        if len(frame) < 3:
            self._reset()
            raise ModbusError("exception", f"malformed answer from unit {unit_id}: {frame!r}")
        if frame[1] & 0x80:
            raise ModbusError("exception", f"Modbus exception {frame[2]} from unit {unit_id}")
        if frame[0] != unit_id or frame[1] != fc:
            self._reset()
            raise ModbusError(
                "exception", f"answer from unit {frame[0]} fc {frame[1]} to unit {unit_id}"
            )
        return fc

    async def _write_serial(
        self,
        client: AsyncModbusSerialClient,
        fc: int,
        address: int,
        values: list[int] | list[bool],
        unit_id: int,
        reply_within: float,
    ) -> None:
        await self._serial_ready(client, reply_within)
        try:
            if fc == 5:
                response = await client.write_coil(address, bool(values[0]), device_id=unit_id)
            elif fc == 15:
                bits = [bool(v) for v in values]
                response = await client.write_coils(address, bits, device_id=unit_id)
            elif fc == 6:
                response = await client.write_register(address, int(values[0]), device_id=unit_id)
            else:
                words = [int(v) for v in values]
                response = await client.write_registers(address, words, device_id=unit_id)
            _keep_cancellation()
        except (TimeoutError, ModbusIOException, ModbusException, OSError) as exc:
            raise self._serial_failed(exc, unit_id) from exc
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise ModbusError("exception", f"Modbus exception {code} from unit {unit_id}")

    async def _connect(self) -> ModbusTcpProtocol:
        loop = asyncio.get_running_loop()
        link = ModbusTcpProtocol(self._last_tid)
        try:
            async with asyncio.timeout(self.timeout):
                await loop.create_connection(lambda: link, self.host, self.port)
        except (TimeoutError, OSError) as exc:
            raise ModbusError("connect", f"cannot connect to {self.name}: {exc}") from exc
        self._tcp = link
        return link

    async def _read_serial(
        self,
        client: AsyncModbusSerialClient,
        function: Function,
        address: int,
        count: int,
        unit_id: int,
        reply_within: float,
    ) -> list[int] | list[bool]:
        await self._serial_ready(client, reply_within)
        try:
            response = await _request(client, function, address, count, unit_id)
            _keep_cancellation()
        except (TimeoutError, ModbusIOException, ModbusException, OSError) as exc:
            raise self._serial_failed(exc, unit_id) from exc
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

    async def _serial_ready(self, client: AsyncModbusSerialClient, reply_within: float) -> None:
        if not client.connected:
            connected = await client.connect()
            _keep_cancellation()
            if not connected:
                raise ModbusError("connect", f"cannot connect to {self.name}")
        client.ctx.comm_params.timeout_connect = reply_within

    def _serial_failed(self, exc: Exception, unit_id: int) -> ModbusError:
        """A failed serial request: the link reset, and the error as a poll counts it."""
        self._reset()
        _keep_cancellation()
        if isinstance(exc, TimeoutError | ModbusIOException):
            return ModbusError("timeout", f"{self.name} unit {unit_id}: {exc}")
        return ModbusError("connection", f"{type(exc).__name__}: {exc}")

    def _reset(self) -> None:
        """Drop the link so a stray late answer cannot be read as the next unit's reply."""
        self.resets += 1
        self.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self._tcp is not None:
            self._last_tid = self._tcp.last_tid
            self._tcp.close()
            self._tcp = None


async def _request(
    c: AsyncModbusSerialClient, function: Function, address: int, count: int, unit_id: int
) -> ModbusPDU:
    if function is Function.COIL:
        return await c.read_coils(address, count=count, device_id=unit_id)
    if function is Function.DISCRETE_INPUT:
        return await c.read_discrete_inputs(address, count=count, device_id=unit_id)
    if function is Function.HOLDING:
        return await c.read_holding_registers(address, count=count, device_id=unit_id)
    return await c.read_input_registers(address, count=count, device_id=unit_id)
