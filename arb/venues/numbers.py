"""How venues write numbers, read one way: strings or numbers, "" or null where a value
is missing, and junk now and then. Every venue's public, streaming and signed client
reads them with these."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Literal

# Venues send numbers as strings and "" where a value is missing. Struct fields of
# this type, decoded with strict=False, become floats in C; "" stays "": missing.
Num = float | Literal[""]
# A history row's number left as the venue wrote it (string or number), so that one
# junk row is skipped by `to_number` instead of failing the whole reply in the decoder.
RawNum = str | float | None


def to_number(value: RawNum) -> float | None:
    """A venue's number, string or not; None for "", junk, NaN or infinity."""
    if value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def present(value: Num | None) -> float | None:
    """A number the venue gave, or None for "" and null: missing is never zero."""
    return None if value is None or value == "" else value


def to_positive(value: RawNum) -> float | None:
    """A price or leverage: venues write "" or "0" (or a negative liquidation price) where
    there is none."""
    x = to_number(value)
    return x if x is not None and x > 0 else None


def to_non_negative(value: RawNum) -> float | None:
    """A volume or an open interest: zero is a figure, less than zero junk."""
    x = to_number(value)
    return x if x is not None and x >= 0 else None


def per_coin(value: RawNum, multiplier: float) -> float | None:
    """A price quoted per `multiplier` coins (1000PEPEUSDT's is per 1000 PEPE) as a price
    per coin, so that a size in coins times it stays the position's value; None where
    there is none. Divided in decimal: the venue's 0.0036339 becomes 0.0000036339, not
    0.0000036338999999999996."""
    d = to_decimal(value)
    if d is None or d <= 0:
        return None
    return float(d / Decimal(repr(float(multiplier))))


def to_decimal(value: RawNum) -> Decimal | None:
    """A size exactly as the venue wrote it, so that contracts times a contract size stay
    exact (3 contracts of 0.1 are 0.3 coins, not 0.30000000000000004); None for junk."""
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None
