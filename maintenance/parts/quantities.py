"""Decimal quantities and prices as the API speaks them, integers as the tables keep them.

A quantity has at most three decimals (thousandths of a 米), a price at most two (分); more is
refused rather than rounded, so what is kept is what was sent. A line's cost is rounded to the
分 half up, the way an invoice rounds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MILLI = Decimal(1000)
FEN = Decimal(100)
MAX_MILLI = 2_000_000_000
"""Thousandths a column holds (32-bit): two million of any unit."""
MAX_FEN = 2_000_000_000


def to_milli(q: Decimal) -> int:
    """Thousandths of the unit; ValueError for more than three decimals or out of range."""
    scaled = q * MILLI
    if scaled != scaled.to_integral_value():
        raise ValueError("at most three decimals")
    n = int(scaled)
    if abs(n) > MAX_MILLI:
        raise ValueError("too large")
    return n


def to_fen(price: Decimal) -> int:
    scaled = price * FEN
    if scaled != scaled.to_integral_value():
        raise ValueError("at most two decimals")
    n = int(scaled)
    if n < 0 or n > MAX_FEN:
        raise ValueError("out of range")
    return n


def quantity(milli: int) -> Decimal:
    """2500 → Decimal('2.5'); whole numbers without a point (3, not 3.000)."""
    q = Decimal(milli) / MILLI
    return q.quantize(Decimal(1)) if q == q.to_integral_value() else q.normalize()


def price(fen: int) -> Decimal:
    return (Decimal(fen) / FEN).quantize(Decimal("0.01"))


def line_cost_fen(quantity_milli: int, unit_price_fen: int) -> int:
    """quantity × unit price in 分, rounded half up."""
    exact = Decimal(quantity_milli) * Decimal(unit_price_fen) / MILLI
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def text(d: Decimal) -> str:
    """How quantities read in messages: 2.5, 3."""
    return format(d, "f")
