"""Coalescing: the fewest reads that cover a profile's points within the protocol limits."""

from __future__ import annotations

from gateway.modbus.coalesce import MAX_BITS, MAX_REGISTERS, coalesce_reads
from propwatch.profiles import DataType, Function, ModbusPoint


def _reg(name: str, address: int, type: DataType = DataType.UINT16) -> ModbusPoint:
    return ModbusPoint(name=name, function=Function.HOLDING, address=address, type=type)


def _bit(name: str, address: int) -> ModbusPoint:
    return ModbusPoint(name=name, function=Function.COIL, address=address, type=DataType.BOOL)


def test_contiguous_points_become_one_read_spanning_their_widths() -> None:
    points = [_reg("a", 0, DataType.FLOAT32), _reg("b", 2, DataType.INT64), _reg("c", 6)]
    (block,) = coalesce_reads(points)
    assert (block.address, block.count, len(block.points)) == (0, 7, 3)


def test_a_gap_within_max_gap_is_read_through() -> None:
    (block,) = coalesce_reads([_reg("a", 0), _reg("b", 9)], max_gap=8)
    assert (block.address, block.count) == (0, 10)


def test_a_gap_beyond_max_gap_splits_the_read() -> None:
    blocks = coalesce_reads([_reg("a", 0), _reg("b", 10)], max_gap=8)
    assert [(b.address, b.count) for b in blocks] == [(0, 1), (10, 1)]


def test_max_gap_zero_reads_only_adjacent_points_together() -> None:
    blocks = coalesce_reads([_reg("a", 0), _reg("b", 1), _reg("c", 3)], max_gap=0)
    assert [(b.address, b.count) for b in blocks] == [(0, 2), (3, 1)]


def test_no_register_read_exceeds_125_registers() -> None:
    points = [_reg(f"p{i}", i * 2, DataType.FLOAT32) for i in range(200)]
    blocks = coalesce_reads(points)
    assert all(b.count <= MAX_REGISTERS for b in blocks)
    assert len(blocks) == 4  # 400 registers in the fewest 125-register reads
    assert sum(len(b.points) for b in blocks) == 200


def test_no_coil_read_exceeds_2000_bits() -> None:
    blocks = coalesce_reads([_bit(f"c{i}", i) for i in range(4500)])
    assert [b.count for b in blocks] == [MAX_BITS, MAX_BITS, 500]


def test_points_of_different_functions_are_never_read_together() -> None:
    blocks = coalesce_reads([_reg("a", 0), _bit("b", 0), _bit("c", 1)])
    assert sorted((b.function, b.count) for b in blocks) == [
        (Function.COIL, 2),
        (Function.HOLDING, 1),
    ]


def test_a_wide_point_never_straddles_the_limit() -> None:
    points = [_reg("a", 0), _reg("b", 122, DataType.INT64)]
    blocks = coalesce_reads(points, max_gap=124)
    assert [(b.address, b.count) for b in blocks] == [(0, 1), (122, 4)]
