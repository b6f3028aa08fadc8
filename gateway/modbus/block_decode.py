"""Decode a whole read block at once: its registers packed once, a precompiled struct per point.

`propwatch.registers.decode` handles one point from its own slice of words (the codec the
simulators share); doing that for every point of every poll re-packed each point's words and
looked up its format again, a few microseconds a value. A block decoder gives the same values:
the common big-endian (ABCD) numbers are read straight from the block's bytes, anything else
(swapped word orders, strings) goes through `decode`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from gateway.modbus.coalesce import ReadBlock
from gateway.readings import Value
from propwatch.profiles import DataType, Function, ModbusPoint, WordOrder
from propwatch.registers import decode

_FMT = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}

BlockDecoder = Callable[[list[int] | list[bool], dict[str, Value]], None]


def block_decoder(block: ReadBlock) -> BlockDecoder:
    """A function that puts the block's point values, by name, into the dict it is given."""
    if block.function in (Function.COIL, Function.DISCRETE_INPUT):
        bits = [(p.name, p.address - block.address) for p in block.points]

        def decode_bits(words: list[int] | list[bool], values: dict[str, Value]) -> None:
            for name, off in bits:
                values[name] = bool(words[off])

        return decode_bits

    words_struct = struct.Struct(f">{block.count}H")
    fast: list[tuple[str, struct.Struct, int, float, float, bool]] = []
    slow: list[tuple[ModbusPoint, int]] = []
    for p in block.points:
        off = p.address - block.address
        fmt = _FMT.get(p.type)
        if fmt is None or p.order is not WordOrder.ABCD:
            slow.append((p, off))
            continue
        plain = p.scale == 1.0 and p.offset == 0.0
        fast.append((p.name, struct.Struct(">" + fmt), 2 * off, p.scale, p.offset, plain))

    def decode_registers(words: list[int] | list[bool], values: dict[str, Value]) -> None:
        raw = words_struct.pack(*words)
        for name, st, at, scale, offset, plain in fast:
            (number,) = st.unpack_from(raw, at)
            values[name] = number if plain else float(number) * scale + offset
        for p, off in slow:
            values[p.name] = decode(p, words[off : off + p.width])

    return decode_registers
