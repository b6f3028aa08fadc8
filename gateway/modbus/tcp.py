"""Modbus TCP framed here: reads (FC 1-4) and writes (FC 5, 6, 15, 16), MBAP header,
transaction ids, one request in flight.

Why not pymodbus's client on this path: at a thousand devices its per-request work (a
`wait_for` with its own future and timer, the transaction manager, a `str(pdu)` built for a
debug line that is never logged) was most of the gateway's CPU, and its `asyncio.wait_for` can
drop a cancellation on Python 3.11, so a stopping gateway could poll on. Here a request is one
`struct.pack`, one write, one future we own and one timer; a cancelled task leaves the `await` at
once, and an answer that comes too late carries an old transaction id and is ignored.
Modbus RTU on serial lines stays with pymodbus (`gateway.modbus.connection`).
"""

from __future__ import annotations

import asyncio
import struct
from typing import cast

_REQUEST = struct.Struct(">HHHBBHH")
"""transaction id, protocol 0, length 6, unit, function, address, count"""
_MBAP = struct.Struct(">HHH")

# Bits of one byte, least significant first (Modbus packs coils and inputs that way).
_BITS = [tuple(bool(b >> i & 1) for i in range(8)) for b in range(256)]


class LinkLost(ConnectionError):
    """The TCP connection closed while a request was outstanding."""


class ModbusTcpProtocol(asyncio.Protocol):
    """One TCP connection to a Modbus TCP server (or gateway); one request at a time."""

    def __init__(self, last_tid: int = 0) -> None:
        """`last_tid`: the previous connection's, so ids do not start again at 1."""
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._tid = last_tid
        self._pending: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport implements asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        pending = self._pending
        if pending is not None and not pending.done():
            pending.set_exception(LinkLost(str(exc) if exc else "connection closed"))

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        while len(buf) >= 6:
            tid, _, length = _MBAP.unpack_from(buf)
            end = 6 + length
            if len(buf) < end:
                return
            frame = bytes(buf[6:end])  # unit id, function, data
            del buf[:end]
            pending = self._pending
            if tid == self._tid and pending is not None and not pending.done():
                pending.set_result(frame)

    @property
    def last_tid(self) -> int:
        return self._tid

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    async def request(
        self, unit_id: int, function_code: int, address: int, count: int, reply_within: float
    ) -> bytes:
        """The answer (unit id, function code, data); `TimeoutError` after `reply_within` s.
        `count` is the second word of the PDU: a count (FC 1-4), or the value of FC 5 and 6."""
        transport = self.transport
        if transport is None:
            raise LinkLost("not connected")
        self._tid = tid = self._tid % 0xFFFF + 1
        return await self._answer(
            transport,
            _REQUEST.pack(tid, 0, 6, unit_id, function_code, address, count),
            reply_within,
        )

    async def request_pdu(self, unit_id: int, pdu: bytes, reply_within: float) -> bytes:
        """Any request (FC 15 and 16 carry their values): `pdu` is function code and data."""
        transport = self.transport
        if transport is None:
            raise LinkLost("not connected")
        self._tid = tid = self._tid % 0xFFFF + 1
        frame = _MBAP.pack(tid, 0, len(pdu) + 1) + bytes((unit_id,)) + pdu
        return await self._answer(transport, frame, reply_within)

    async def _answer(
        self, transport: asyncio.Transport, frame: bytes, reply_within: float
    ) -> bytes:
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[bytes] = loop.create_future()
        self._pending = pending
        transport.write(frame)
        timer = loop.call_later(reply_within, _expire, pending)
        try:
            return await pending
        finally:
            timer.cancel()
            self._pending = None


def _expire(pending: asyncio.Future[bytes]) -> None:
    if not pending.done():
        pending.set_exception(TimeoutError("no answer in time"))


def write_pdu(function_code: int, address: int, values: list[int] | list[bool]) -> bytes:
    """The PDU of a write: FC 15 packs bits least significant first, FC 16 big-endian words."""
    if function_code == 15:
        packed = bytearray((len(values) + 7) // 8)
        for i, bit in enumerate(values):
            if bit:
                packed[i // 8] |= 1 << (i % 8)
        return struct.pack(">BHHB", 15, address, len(values), len(packed)) + bytes(packed)
    if function_code == 16:
        words = [int(v) for v in values]
        head = struct.pack(">BHHB", 16, address, len(words), 2 * len(words))
        return head + struct.pack(f">{len(words)}H", *words)
    raise ValueError(f"FC {function_code} is not a multiple write")


def registers_of(frame: bytes, count: int) -> list[int] | None:
    """The registers of an FC 3/4 answer, or None when it holds fewer than asked."""
    if len(frame) < 3 + 2 * count or frame[2] < 2 * count:
        return None
    return list(struct.unpack_from(f">{count}H", frame, 3))


def bits_of(frame: bytes, count: int) -> list[bool] | None:
    """The bits of an FC 1/2 answer, or None when it holds fewer than asked."""
    nbytes = (count + 7) // 8
    if len(frame) < 3 + nbytes or frame[2] < nbytes:
        return None
    bits = [bit for byte in frame[3 : 3 + nbytes] for bit in _BITS[byte]]
    del bits[count:]
    return bits
