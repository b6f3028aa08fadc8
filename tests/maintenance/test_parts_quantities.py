"""Quantities and prices between the API's decimals and the tables' integers: exact both ways,
more decimals refused rather than rounded, a line's cost rounded half up to the 分."""

from __future__ import annotations

from decimal import Decimal

import pytest

from maintenance.parts.quantities import line_cost_fen, price, quantity, to_fen, to_milli


@pytest.mark.parametrize(
    ("given", "milli", "shown"),
    [
        ("3", 3000, "3"),
        ("2.5", 2500, "2.5"),
        ("0.125", 125, "0.125"),
        ("-2", -2000, "-2"),
        ("10.000", 10000, "10"),
        ("1000000", 1_000_000_000, "1000000"),
    ],
)
def test_a_quantity_goes_to_thousandths_and_back(given: str, milli: int, shown: str) -> None:
    assert to_milli(Decimal(given)) == milli
    assert str(quantity(milli)) == shown


@pytest.mark.parametrize("given", ["0.0001", "2.5005", "3000000"])
def test_a_quantity_with_more_decimals_or_too_large_is_refused(given: str) -> None:
    with pytest.raises(ValueError):
        to_milli(Decimal(given))


def test_prices_keep_two_decimals() -> None:
    assert (to_fen(Decimal("12.80")), str(price(1280)), str(price(0))) == (1280, "12.80", "0.00")
    for bad in ("1.234", "-0.01"):
        with pytest.raises(ValueError):
            to_fen(Decimal(bad))


@pytest.mark.parametrize(
    ("milli", "fen", "cost"),
    [(2500, 335, 838), (3000, 1280, 3840), (1, 1, 0), (500, 1, 1), (333, 100, 33), (1500, 3, 5)],
)
def test_a_line_costs_quantity_times_price_rounded_half_up(milli: int, fen: int, cost: int) -> None:
    # 2.5 × 3.35 = 8.375 → 8.38; 0.001 × 0.01 → 0; 0.5 × 0.01 = 0.005 → 0.01; 1.5 × 0.03 = 0.045
    assert line_cost_fen(milli, fen) == cost
