"""The register codec round-trips every type in every word order."""

from __future__ import annotations

import pytest

from propwatch.profiles import DataType, Function, ModbusPoint, WordOrder
from propwatch.registers import decode, encode


@pytest.mark.parametrize("order", list(WordOrder))
@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        (DataType.INT16, -1234),
        (DataType.UINT16, 65000),
        (DataType.INT32, -7_654_321),
        (DataType.UINT32, 4_000_000_000),
        (DataType.INT64, -(2**40) - 3),
        (DataType.FLOAT32, 0.375),
        (DataType.FLOAT64, 12345.678901),
    ],
)
def test_encode_then_decode_returns_the_value(
    order: WordOrder, dtype: DataType, value: float
) -> None:
    point = ModbusPoint(name="x", function=Function.HOLDING, address=0, type=dtype, order=order)
    assert decode(point, encode(point, value)) == value


def test_word_orders_match_the_documented_layouts() -> None:
    # 0x01020304 as ABCD is [0x0102, 0x0304]
    layouts = {
        WordOrder.ABCD: [0x0102, 0x0304],
        WordOrder.CDAB: [0x0304, 0x0102],
        WordOrder.BADC: [0x0201, 0x0403],
        WordOrder.DCBA: [0x0403, 0x0201],
    }
    for order, regs in layouts.items():
        point = ModbusPoint(
            name="x", function=Function.INPUT, address=0, type=DataType.UINT32, order=order
        )
        assert encode(point, 0x01020304) == regs
        assert decode(point, regs) == 0x01020304


def test_scale_and_offset_apply_on_decode() -> None:
    point = ModbusPoint(
        name="t", function=Function.INPUT, address=0, type=DataType.INT16, scale=0.1, offset=-40
    )
    assert decode(point, encode(point, 21.5)) == pytest.approx(21.5)


def test_string_points_trim_padding() -> None:
    point = ModbusPoint(
        name="sn", function=Function.HOLDING, address=0, type=DataType.STRING, length=4
    )
    assert decode(point, encode(point, "EV-12")) == "EV-12"
