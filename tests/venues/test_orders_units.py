"""Properties of the pure helpers every venue's order path shares (`arb.trading.orders`):
a price put on a tick grid never crosses the cap it came from, a size in lots never
grows, a number written for a venue reads back as the same float, and a price cap only
moves further from the best price as the slippage allowed grows."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from arb.trading.orders import decimal_text, price_cap, to_lots, to_tick

prices = st.floats(min_value=1e-9, max_value=1e7, allow_nan=False, allow_infinity=False)
# Ticks and lots as venues publish them: a digit times a power of ten.
steps = st.builds(
    lambda digit, exponent: float(Decimal(digit).scaleb(exponent)),
    st.sampled_from([1, 2, 5]),
    st.integers(min_value=-10, max_value=3),
)
sides = st.sampled_from(["buy", "sell"])


def on_grid(x: float, step: float) -> bool:
    return (Decimal(repr(x)) / Decimal(repr(step))) % 1 == 0


@given(prices, steps, sides)
def test_to_tick_lands_on_the_grid_and_never_crosses_the_cap(price, tick, side):
    assume(price / tick < 1e12)  # a grid of more steps than a venue would publish
    got = to_tick(price, tick, side)
    assert on_grid(got, tick)
    if side == "buy":
        assert got <= price and price - got < tick * (1 + 1e-9)
    else:
        assert got >= price and got - price < tick * (1 + 1e-9)


@given(prices, steps, sides)
def test_a_price_already_on_the_grid_stays(price, tick, side):
    assume(price / tick < 1e12)
    on = to_tick(price, tick, "buy")
    assert to_tick(on, tick, side) == on


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False), steps)
def test_to_lots_never_exceeds_and_is_whole_lots(coins, lot):
    assume(coins / lot < 1e12)
    got = to_lots(coins, lot)
    assert 0 <= got <= coins
    assert on_grid(got, lot)
    assert coins - got < lot * (1 + 1e-9)


@given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False))
def test_decimal_text_reads_back_as_the_same_float_without_an_exponent(x):
    text = decimal_text(x)
    assert float(text) == x
    assert "e" not in text.lower()
    assert text == "0" or not text.endswith("0") or "." not in text
    assert not text.endswith(".")


@given(prices, sides, st.floats(0, 500), st.floats(0, 500))
def test_price_cap_moves_away_from_the_best_price_with_slippage(best, side, a, b):
    low, high = sorted((a, b))
    lo, hi = price_cap(best, side, low), price_cap(best, side, high)
    if side == "buy":
        assert best <= lo <= hi
    else:
        assert best >= lo >= hi
