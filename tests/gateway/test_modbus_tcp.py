"""Modbus TCP framing against peers that answer badly: late, out of turn, or malformed.

The simulators always answer well, so these peers are small asyncio servers scripted per test
that speak MBAP over real loopback sockets.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

import pytest

from gateway.modbus.connection import ModbusConnection, ModbusError
from propwatch.profiles import Function
from tests.support.servers import free_port

Answer = Callable[[int, bytes], bytes]
"""Given a request's transaction id and its PDU (unit, function, address, count), the bytes to
send back."""


def _mbap(tid: int, body: bytes) -> bytes:
    return struct.pack(">HHH", tid, 0, len(body)) + body


def _registers(unit: int, words: list[int]) -> bytes:
    return bytes([unit, 4, 2 * len(words)]) + struct.pack(f">{len(words)}H", *words)


async def _serve(port: int, answer: Answer) -> asyncio.Server:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(6)
                tid, _, length = struct.unpack(">HHH", header)
                writer.write(answer(tid, await reader.readexactly(length)))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(client, "127.0.0.1", port)


def _read(answer: Answer, reads: int = 1) -> list[list[int] | list[bool] | ModbusError]:
    async def scenario() -> list[list[int] | list[bool] | ModbusError]:
        port = free_port()
        server = await _serve(port, answer)
        conn = ModbusConnection.tcp("127.0.0.1", port)
        out: list[list[int] | list[bool] | ModbusError] = []
        try:
            for _ in range(reads):
                try:
                    out.append(await conn.read(Function.INPUT, 0, 2, 1, 0.2))
                except ModbusError as exc:
                    out.append(exc)
        finally:
            conn.close()
            server.close()
        return out

    return asyncio.run(scenario())


def test_an_answer_with_another_transaction_id_is_not_taken_for_the_reply() -> None:
    (result,) = _read(lambda tid, pdu: _mbap(tid + 7, _registers(1, [1, 2])))

    assert isinstance(result, ModbusError) and result.kind == "timeout"


def test_a_late_answer_to_a_timed_out_request_is_not_the_next_reply() -> None:
    """The first request is answered after its timeout; the second must get its own answer."""

    async def scenario() -> tuple[ModbusError | None, list[int] | list[bool], list[int]]:
        tids: list[int] = []

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    tid, _, length = struct.unpack(">HHH", await reader.readexactly(6))
                    await reader.readexactly(length)
                    tids.append(tid)
                    if len(tids) == 1:
                        await asyncio.sleep(0.4)  # past the 0.2 s the gateway waits
                    writer.write(_mbap(tid, _registers(1, [len(tids), 0])))
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        port = free_port()
        server = await asyncio.start_server(client, "127.0.0.1", port)
        conn = ModbusConnection.tcp("127.0.0.1", port)
        first: ModbusError | None = None
        try:
            try:
                await conn.read(Function.INPUT, 0, 2, 1, 0.2)
            except ModbusError as exc:
                first = exc
            second = await conn.read(Function.INPUT, 0, 2, 1, 1.0)
        finally:
            conn.close()
            server.close()
        return first, second, tids

    first, second, tids = asyncio.run(scenario())

    assert first is not None and first.kind == "timeout"
    assert second == [2, 0]
    assert len(set(tids)) == len(tids)  # a new connection does not reuse transaction ids


@pytest.mark.parametrize(
    "body",
    [b"", b"\x01", b"\x01\x04"],
    ids=["empty", "unit only", "no byte count"],
)
def test_a_malformed_answer_is_an_exception_and_the_next_read_goes_on(body: bytes) -> None:
    answers = iter([body, _registers(1, [5, 6])])

    results = _read(lambda tid, pdu: _mbap(tid, next(answers)), reads=2)

    assert isinstance(results[0], ModbusError) and results[0].kind == "exception"
    assert results[1] == [5, 6]


def test_an_answer_from_another_unit_or_function_is_refused() -> None:
    answers = iter([_registers(2, [1, 2]), bytes([1, 3, 4, 0, 1, 0, 2]), _registers(1, [7, 8])])

    results = _read(lambda tid, pdu: _mbap(tid, next(answers)), reads=3)

    assert [r.kind if isinstance(r, ModbusError) else r for r in results] == [
        "exception",
        "exception",
        [7, 8],
    ]


def test_a_short_answer_is_refused() -> None:
    (result,) = _read(lambda tid, pdu: _mbap(tid, _registers(1, [1])))

    assert isinstance(result, ModbusError) and "short answer" in str(result)


def test_a_modbus_exception_reply_carries_its_code() -> None:
    (result,) = _read(lambda tid, pdu: _mbap(tid, bytes([1, 0x84, 2])))

    assert isinstance(result, ModbusError) and result.kind == "exception"
    assert "Modbus exception 2" in str(result)
