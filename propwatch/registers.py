"""Register codec shared by the gateway (decode) and the simulators (encode).

Word/byte orders: ABCD big-endian; CDAB word-swapped; BADC byte-swapped; DCBA little-endian.
"""

from __future__ import annotations

import struct

from propwatch.profiles import DataType, ModbusPoint, WordOrder

_FMT = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}

Value = float | int | bool | str


def _reorder(raw: bytes, order: WordOrder) -> bytes:
    """Turn big-endian bytes into the wire order (the mapping is its own inverse)."""
    if order is WordOrder.ABCD or len(raw) < 2:
        return raw
    words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if order in (WordOrder.CDAB, WordOrder.DCBA):
        words.reverse()
    if order in (WordOrder.BADC, WordOrder.DCBA):
        words = [w[::-1] for w in words]
    return b"".join(words)


def _to_registers(raw: bytes) -> list[int]:
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def _from_registers(regs: list[int]) -> bytes:
    return b"".join(r.to_bytes(2, "big") for r in regs)


def decode(point: ModbusPoint, words: list[int] | list[bool]) -> Value:
    """Registers (or one bit) as read from the wire into an engineering value."""
    if point.type is DataType.BOOL:
        return bool(words[0])
    raw = _reorder(_from_registers([int(w) for w in words]), point.order)
    if point.type is DataType.STRING:
        return raw.rstrip(b"\x00 ").decode("utf-8", errors="replace")
    (number,) = struct.unpack(">" + _FMT[point.type], raw)
    if point.scale == 1.0 and point.offset == 0.0:
        return number  # type: ignore[no-any-return]
    return float(number) * point.scale + point.offset


def encode(point: ModbusPoint, value: Value) -> list[int]:
    """An engineering value into wire registers (simulators and tests)."""
    if point.type is DataType.BOOL:
        return [int(bool(value))]
    if point.type is DataType.STRING:
        raw = str(value).encode("utf-8")[: point.width * 2].ljust(point.width * 2, b"\x00")
        return _to_registers(_reorder(raw, point.order))
    fmt = _FMT[point.type]
    number = (float(value) - point.offset) / point.scale
    if fmt in "fd":
        raw = struct.pack(">" + fmt, number)
    else:
        raw = struct.pack(">" + fmt, _clamp_int(round(number), fmt))
    return _to_registers(_reorder(raw, point.order))


_RANGES = {
    "h": (-(2**15), 2**15 - 1),
    "H": (0, 2**16 - 1),
    "i": (-(2**31), 2**31 - 1),
    "I": (0, 2**32 - 1),
    "q": (-(2**63), 2**63 - 1),
}


def _clamp_int(n: int, fmt: str) -> int:
    lo, hi = _RANGES[fmt]
    return max(lo, min(hi, n))
