"""One TCP connection per host:port, shared by every unit id behind it."""

from __future__ import annotations

import logging

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from propwatch.profiles import Function

log = logging.getLogger(__name__)


class ModbusError(Exception):
    """A read failed: timeout, broken connection or a Modbus exception response."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class ModbusConnection:
    """Owns the client and reconnects lazily; pymodbus serialises requests on it."""

    def __init__(self, host: str, port: int, timeout: float = 1.0) -> None:
        self.host = host
        self.port = port
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        self.client = AsyncModbusTcpClient(
            host, port=port, timeout=timeout, retries=0, reconnect_delay=0, reconnect_delay_max=0
        )

    async def ensure_connected(self) -> None:
        if self.client.connected:
            return
        if not await self.client.connect():
            raise ModbusError("connect", f"cannot connect to {self.host}:{self.port}")

    async def read(
        self, function: Function, address: int, count: int, unit_id: int
    ) -> list[int] | list[bool]:
        await self.ensure_connected()
        try:
            response: ModbusPDU
            if function is Function.COIL:
                response = await self.client.read_coils(address, count=count, device_id=unit_id)
            elif function is Function.DISCRETE_INPUT:
                response = await self.client.read_discrete_inputs(
                    address, count=count, device_id=unit_id
                )
            elif function is Function.HOLDING:
                response = await self.client.read_holding_registers(
                    address, count=count, device_id=unit_id
                )
            else:
                response = await self.client.read_input_registers(
                    address, count=count, device_id=unit_id
                )
        except (TimeoutError, ModbusIOException) as exc:
            raise ModbusError("timeout", f"{self.host}:{self.port} unit {unit_id}: {exc}") from exc
        except (ModbusException, OSError) as exc:
            self.client.close()
            raise ModbusError("connection", f"{type(exc).__name__}: {exc}") from exc
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise ModbusError("exception", f"Modbus exception {code} from unit {unit_id}")
        if function in (Function.COIL, Function.DISCRETE_INPUT):
            return list(response.bits[:count])
        return list(response.registers)

    def close(self) -> None:
        self.client.close()
