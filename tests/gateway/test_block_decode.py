"""A block decoder gives, point for point, the values of the shared register codec."""

from __future__ import annotations

import math

from gateway.modbus.block_decode import block_decoder
from gateway.modbus.coalesce import coalesce_reads
from gateway.readings import Value
from propwatch.profiles import DataType, Function, ModbusPoint, WordOrder
from propwatch.registers import decode, encode

SAMPLES: dict[DataType, Value] = {
    DataType.BOOL: True,
    DataType.INT16: -1234,
    DataType.UINT16: 54321,
    DataType.INT32: -123456789,
    DataType.UINT32: 3_000_000_123,
    DataType.INT64: -(2**40) - 7,
    DataType.FLOAT32: 12.5,
    DataType.FLOAT64: -0.0001234,
    DataType.STRING: "泵房A",
}


def _points() -> list[ModbusPoint]:
    points = []
    address = 0
    for order in WordOrder:
        for data_type in DataType:
            scaled = data_type not in (DataType.BOOL, DataType.STRING)
            for scale, offset in [(1.0, 0.0), (0.1, -40.0)] if scaled else [(1.0, 0.0)]:
                point = ModbusPoint(
                    name=f"p{len(points)}",
                    function=Function.HOLDING,
                    address=address,
                    type=data_type,
                    order=order,
                    length=4 if data_type is DataType.STRING else None,
                    scale=scale,
                    offset=offset,
                )
                points.append(point)
                address += point.width + 1
    return points


def test_every_type_order_and_scale_decodes_as_the_register_codec_does() -> None:
    points = _points()
    words = [0] * (max(p.address + p.width for p in points) + 1)
    for p in points:
        words[p.address : p.address + p.width] = encode(p, SAMPLES[p.type])
    expected: dict[str, Value] = {}
    got: dict[str, Value] = {}
    for block in coalesce_reads(points):
        block_words = words[block.address : block.address + block.count]
        for p in block.points:
            off = p.address - block.address
            expected[p.name] = decode(p, block_words[off : off + p.width])
        block_decoder(block)(block_words, got)

    assert got.keys() == expected.keys() == {p.name for p in points}
    for name, value in expected.items():
        assert type(got[name]) is type(value), name
        if isinstance(value, float):
            assert math.isclose(float(got[name]), value, rel_tol=0, abs_tol=0), name
        else:
            assert got[name] == value, name


def test_bits_decode_by_their_offset_in_the_block() -> None:
    points = [
        ModbusPoint(name=f"b{a}", function=Function.DISCRETE_INPUT, address=a, type=DataType.BOOL)
        for a in (3, 4, 9)
    ]
    (block,) = coalesce_reads(points)
    values: dict[str, Value] = {}
    block_decoder(block)([False, True, False, False, False, False, True], values)

    assert values == {"b3": False, "b4": True, "b9": True}
