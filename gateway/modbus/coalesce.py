"""Plan the fewest reads that cover a profile's points."""

from __future__ import annotations

from dataclasses import dataclass

from propwatch.profiles import Function, ModbusPoint

MAX_REGISTERS = 125
MAX_BITS = 2000


@dataclass(frozen=True)
class ReadBlock:
    function: Function
    address: int
    count: int
    points: tuple[ModbusPoint, ...]


def coalesce_reads(points: list[ModbusPoint], max_gap: int = 8) -> list[ReadBlock]:
    """Merge points of one function into blocks when the gap between them is at most `max_gap`
    and the block stays within the protocol limit (125 registers, 2000 bits)."""
    blocks: list[ReadBlock] = []
    for fn in Function:
        pts = sorted((p for p in points if p.function is fn), key=lambda p: p.address)
        limit = MAX_BITS if fn in (Function.COIL, Function.DISCRETE_INPUT) else MAX_REGISTERS
        current: list[ModbusPoint] = []
        start = end = 0
        for p in pts:
            p_end = p.address + p.width
            if current and p.address - end <= max_gap and p_end - start <= limit:
                current.append(p)
                end = max(end, p_end)
                continue
            if current:
                blocks.append(ReadBlock(fn, start, end - start, tuple(current)))
            current, start, end = [p], p.address, p_end
        if current:
            blocks.append(ReadBlock(fn, start, end - start, tuple(current)))
    return blocks
