"""Carry at a size (arb/depth.py): fills worked by hand on small books, and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb import spread
from arb.depth import Book, Level, capacity_usd, fill, hedge_coins, size_carry, slippage_bps
from tests.test_spread import FEES, quote

# bids 99@1, 98@2, 95@5 ($770 in 8 coins); asks 100@1, 101@2, 103@5 ($817 in 8 coins).
BIDS = (Level(99.0, 1.0), Level(98.0, 2.0), Level(95.0, 5.0))
ASKS = (Level(100.0, 1.0), Level(101.0, 2.0), Level(103.0, 5.0))
MID = 99.5  # (99 + 100) / 2


def book(bids=BIDS, asks=ASKS, lot=0.0, min_qty=0.0) -> Book:
    return Book("v", "XUSDT", tuple(bids), tuple(asks), 0.0, lot=lot, min_qty=min_qty)


def close(a: float | None, b: float, tol: float = 1e-9) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# --- worked examples ----------------------------------------------------------------------


def test_buy_walks_the_asks_and_takes_the_last_level_partly():
    # $100 buys the 1 coin at 100; the other $150 buys 150/101 coins at 101:
    # coins = 1 + 150/101 = 251/101 = 2.48514851485...; vwap = 250 / (251/101) = 25250/251
    # = 100.59760956175...; slippage = (25250/251 - 99.5) / 99.5 * 1e4 = 275.5/251/99.5 * 1e4
    # = 110.31251876914...
    f = fill(book(), "buy", 250.0)
    assert f.side == "buy" and f.asked_usd == 250.0 and f.complete
    assert close(f.coins, 251 / 101)
    assert close(f.filled_usd, 250.0)
    assert close(f.vwap, 100.59760956175299)
    assert close(f.slippage_bps, 110.31251876914453)


def test_sell_walks_the_bids():
    # $99 + $196 sell 3 coins; the other $5 sells 5/95 = 1/19 coin at 95: coins = 58/19,
    # vwap = 300 / (58/19) = 2850/29 = 98.27586206896...; slippage = (99.5 - 2850/29) / 99.5
    # * 1e4 = 35.5/29/99.5 * 1e4 = 123.02893779241...
    f = fill(book(), "sell", 300.0)
    assert f.complete
    assert close(f.coins, 58 / 19)
    assert close(f.vwap, 98.27586206896552)
    assert close(f.slippage_bps, 123.02893779241033)


def test_the_best_level_alone_costs_half_the_spread():
    # 0.5 coin at 100: vwap 100, slippage (100 - 99.5) / 99.5 * 1e4 = 50.25125628140...
    f = fill(book(), "buy", 50.0)
    assert close(f.coins, 0.5) and close(f.vwap, 100.0)
    assert close(f.slippage_bps, 50.25125628140704)


def test_coins_round_down_to_a_lot_of_0_1_and_the_rest_is_not_bought():
    # 2.485 coins round down to 2.4: 1 at 100 + 1.4 at 101 = $241.40; vwap 241.4/2.4 =
    # 100.58333...; slippage (1207/12 - 199/2) / (199/2) * 1e4 = 130000/1194 = 108.87772194...
    f = fill(book(lot=0.1), "buy", 250.0)
    assert f.coins == 2.4  # exactly: no 2.4000000000000004
    assert close(f.filled_usd, 241.4)
    assert close(f.vwap, 100.58333333333333)
    assert close(f.slippage_bps, 108.87772194304857)
    assert f.complete  # lot rounding is not a thin book


def test_coins_round_down_to_a_lot_of_0_001():
    # 2.48514... coins round down to 2.485: 100 + 101 * 1.485 = $249.985;
    # vwap 249.985 / 2.485 = 100.59758551307...; slippage 110.31010181693...
    f = fill(book(lot=0.001), "buy", 250.0)
    assert f.coins == 2.485
    assert close(f.filled_usd, 249.985)
    assert close(f.vwap, 100.59758551307847)
    assert close(f.slippage_bps, 110.31010181693173)
    assert f.complete


@pytest.mark.parametrize("lots", [3, 7, 29, 30, 71])
def test_whole_lots_come_out_as_their_decimal(lots):
    # $n * 0.1 * 100 buys exactly n lots of 0.1 at the best ask (100 coins deep).
    b = book(asks=[Level(100.0, 100.0)], lot=0.1)
    f = fill(b, "buy", lots * 10.0)
    assert repr(f.coins) == repr(lots / 10)


def test_below_the_minimum_order_nothing_fills():
    # $50 is 0.5 coin, under the 1-coin minimum: no order at all.
    f = fill(book(lot=0.1, min_qty=1.0), "buy", 50.0)
    assert (f.coins, f.filled_usd, f.vwap, f.slippage_bps, f.complete) == (0, 0, None, None, False)
    # $100 is exactly the minimum.
    assert fill(book(lot=0.1, min_qty=1.0), "buy", 100.0).coins == 1.0


def test_less_than_one_lot_fills_nothing():
    f = fill(book(lot=1.0), "buy", 50.0)
    assert (f.coins, f.vwap, f.complete) == (0, None, False)


def test_asking_nothing_is_complete_and_fills_nothing():
    f = fill(book(min_qty=1.0), "sell", 0.0)
    assert (f.coins, f.filled_usd, f.vwap, f.slippage_bps, f.complete) == (0, 0, None, None, True)


def test_a_thin_book_fills_what_it_has_and_never_extrapolates():
    # $1,000 against $817 of asks: all 8 coins, vwap 817/8 = 102.125,
    # slippage (102.125 - 99.5) / 99.5 * 1e4 = 263.81909547738...
    f = fill(book(), "buy", 1_000.0)
    assert not f.complete
    assert f.coins == 8.0 and close(f.filled_usd, 817.0)
    assert close(f.vwap, 102.125)
    assert close(f.slippage_bps, 263.81909547738695)


def test_the_whole_side_exactly_is_complete():
    assert fill(book(), "buy", 817.0).complete
    assert fill(book(), "sell", 770.0).complete
    assert not fill(book(), "sell", 770.01).complete


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_notional_is_a_finite_non_negative_number(bad):
    with pytest.raises(ValueError, match="notional"):
        fill(book(), "buy", bad)


def test_a_side_is_buy_or_sell():
    with pytest.raises(ValueError, match="side"):
        fill(book(), "long", 10.0)  # type: ignore[arg-type]


def test_a_crossed_book_has_a_mid_and_a_negative_slippage():
    # bid 101 over ask 100: mid 100.5; buying at 100 is (100 - 100.5) / 100.5 * 1e4 =
    # -49.75124378109... bp: a gain, shown as it is.
    b = book(bids=[Level(101.0, 1.0)], asks=[Level(100.0, 1.0)])
    assert b.mid == 100.5
    assert close(fill(b, "buy", 50.0).slippage_bps, -49.75124378109453)
    assert close(fill(b, "sell", 50.5).slippage_bps, -49.75124378109453)


@pytest.mark.parametrize(
    ("bids", "asks"), [((), ASKS), (BIDS, ()), ((), ())], ids=["no bids", "no asks", "empty"]
)
def test_a_one_sided_or_empty_book_has_no_mid_and_no_slippage(bids, asks):
    b = book(bids=bids, asks=asks)
    assert b.mid is None
    for side, levels in (("buy", asks), ("sell", bids)):
        f = fill(b, side, 50.0)
        assert f.slippage_bps is None
        assert f.complete == bool(levels) and (f.vwap is None) == (not levels)
        assert capacity_usd(b, side, 1_000.0) == 0.0


def test_capacity_solves_the_level_where_the_limit_is_crossed():
    # 100.5025... bp over 99.5 is a vwap of 100.5: the 1 coin at 100, then x at 101 with
    # (100 + 101x) / (1 + x) = 100.5, x = 0.5/0.5 = 1: 2 coins for $201.
    max_bps = 1 / 99.5 * 1e4
    assert close(capacity_usd(book(), "buy", max_bps), 201.0)
    # Selling down to a vwap of 98.5: 1 at 99, then (99 + 98x) / (1 + x) = 98.5, x = 1: $197.
    assert close(capacity_usd(book(), "sell", max_bps), 197.0)
    # Lots of 0.3 coin: 2 coins is 6.67 lots, so 6 lots = 1.8 coins: 100 + 101 * 0.8 = $180.80.
    assert close(capacity_usd(book(lot=0.3), "buy", max_bps), 180.8)


def test_a_level_exactly_at_the_limit_is_within_it():
    # 19.99 / 20.01: mid 20, both best levels exactly 5 bp away (where 20 * (1 + 5/1e4) in
    # floats falls just short of 20.01); 5 bp takes the whole side: 10 * 20.01, 10 * 19.99.
    b = book(bids=[Level(19.99, 10.0)], asks=[Level(20.01, 10.0)])
    assert close(capacity_usd(b, "buy", 5.0), 200.1)
    assert close(capacity_usd(b, "sell", 5.0), 199.9)
    assert capacity_usd(b, "buy", 4.999) == capacity_usd(b, "sell", 4.999) == 0.0


def test_capacity_inside_the_best_level_and_beyond_the_book():
    # The best ask alone is 50.25 bp over the mid: a tighter limit fits nothing.
    assert capacity_usd(book(), "buy", 50.0) == 0.0
    # Any limit the whole side meets gives the whole side, never more.
    assert close(capacity_usd(book(), "buy", 1e6), 817.0)
    assert close(capacity_usd(book(), "sell", 1e6), 770.0)
    # A minimum order past the limit: nothing.
    assert capacity_usd(book(min_qty=2.5), "buy", 1 / 99.5 * 1e4) == 0.0


# --- a carry at a size --------------------------------------------------------------------

# Long leg: 99.9 / 100.1 (mid 100: 10 bp either way); short leg: 98.95 / 99.05 (mid 99:
# 0.05/99 * 1e4 = 5.0505... bp either way), 10 coins a side each.
LONG_BOOK = book(bids=[Level(99.9, 10.0)], asks=[Level(100.1, 10.0)])
SHORT_BOOK = book(bids=[Level(98.95, 10.0)], asks=[Level(99.05, 10.0)])


def carry_opportunity():
    # Fees 2 * (0.0005 + 0.00055) = 0.0021; spread (0.0005 - 0.0001) / 8 = 0.00005 per hour.
    return spread.opportunity(quote("a", 0.0001), quote("b", 0.0005), FEES, 168.0)


def test_a_carry_at_a_size_adds_slippage_and_the_adverse_basis_to_the_fees():
    o = carry_opportunity()
    s = size_carry(o, LONG_BOOK, SHORT_BOOK, 500.0, 12.0)
    # entry = exit = 10 + 5.0505... = 15.050505... bp; the short's mid is 1% under the long's:
    # adverse basis 100 bp. cost = 0.0021 + (2 * 15.0505... + 100) / 1e4 = 0.015110101...
    # Both legs trade the 500 / 100.1 coins the long buys (fewer than the short's 500 / 98.95),
    # so the short sells them for 500 * 98.95 / 100.1, the smallest of the four fills.
    assert s.complete and close(s.coins, 500 / 100.1)
    assert [f.coins for f in s.fills] == [s.coins] * 4
    assert close(s.fillable_usd, 500 * 98.95 / 100.1)
    assert close(s.entry_slippage_bps, 15.050505050505)
    assert close(s.exit_slippage_bps, 15.050505050505)
    assert close(s.adverse_basis_bps, 100.0)
    assert s.fees == o.fees_round_trip == pytest.approx(0.0021)
    assert close(s.cost, 0.015110101010101)
    # (0.00005 * 168 - 0.0151101...) / 168 * 8760 = -0.34988...; break-even 0.0151101/0.00005 h.
    assert close(s.apr_net, (0.00005 * 168 - 0.015110101010101) / 168 * 8760)
    assert close(s.breakeven_h, 302.20202020202)
    # Capacity at 12 bp: every level of both legs is within it (10 bp and 5.05 bp from the
    # mids), so the thinner whole side: the short's bids, 10 * 98.95 = $989.50.
    assert close(s.capacity_usd, 989.5)
    # At 7 bp the long's first ask (10 bp) is already too far: nothing.
    assert size_carry(o, LONG_BOOK, SHORT_BOOK, 500.0, 7.0).capacity_usd == 0.0
    assert s.notional_usd == 500.0 and s.max_slippage_bps == 12.0


def test_a_basis_in_the_carry_s_favour_costs_nothing():
    s = size_carry(carry_opportunity(), SHORT_BOOK, LONG_BOOK, 500.0, 10.0)
    assert s.adverse_basis_bps == 0.0


def test_a_carry_too_big_for_the_books_has_no_figures_at_the_size():
    # The short's bids hold 10 * 98.95 = $989.50: short of $1,000. Both legs trade the
    # 1000 / 100.1 coins the long buys (under the short's 10), which the short sells for less.
    s = size_carry(carry_opportunity(), LONG_BOOK, SHORT_BOOK, 1_000.0, 10.0)
    assert not s.complete and not s.short_entry.complete and s.long_entry.complete
    assert (s.cost, s.apr_net, s.breakeven_h) == (None, None, None)
    assert close(s.short_entry.book_usd, 989.5)
    assert close(s.fillable_usd, 1000 / 100.1 * 98.95)


def test_a_thin_exit_side_leaves_the_carry_incomplete():
    # Entries fill, but the long's bids (the close) hold only $99.90.
    thin_bids = book(bids=[Level(99.9, 1.0)], asks=[Level(100.1, 10.0)])
    s = size_carry(carry_opportunity(), thin_bids, SHORT_BOOK, 500.0, 10.0)
    assert s.long_entry.complete and s.short_entry.complete and not s.long_exit.complete
    assert not s.complete and s.cost is None
    assert close(s.fillable_usd, 99.9)


def test_a_one_sided_book_leaves_the_carry_incomplete():
    s = size_carry(carry_opportunity(), book(bids=(), asks=ASKS), SHORT_BOOK, 500.0, 10.0)
    assert not s.complete and s.cost is None and s.capacity_usd == 0.0


@pytest.mark.parametrize("bad", [0.0, -5.0, math.nan, math.inf])
def test_a_carry_s_size_is_positive(bad):
    with pytest.raises(ValueError, match="size"):
        size_carry(carry_opportunity(), LONG_BOOK, SHORT_BOOK, bad, 10.0)


def test_no_breakeven_without_a_spread():
    o = spread.opportunity(quote("a", 0.0003), quote("b", 0.0003), FEES, 168.0)
    s = size_carry(o, LONG_BOOK, SHORT_BOOK, 500.0, 10.0)
    assert s.cost is not None and s.breakeven_h is None and s.apr_net is not None


def test_both_legs_trade_the_same_coins_in_lots_both_venues_take():
    # $20,000 buys 20000 / 77617.5 = 0.25767... BTC on a venue of 0.01 lots and sells
    # 20000 / 77598.4 = 0.25773... on one of 0.0001 lots: both legs trade 0.25 BTC (not
    # 0.25 against 0.2576, 0.0076 BTC of delta left open).
    coarse = book(bids=[Level(77617.4, 5.0)], asks=[Level(77617.5, 5.0)], lot=0.01, min_qty=0.01)
    fine = book(bids=[Level(77598.4, 5.0)], asks=[Level(77598.5, 5.0)], lot=0.0001)
    s = size_carry(carry_opportunity(), coarse, fine, 20_000.0, 10.0)
    assert [f.coins for f in s.fills] == [0.25] * 4 and s.coins == 0.25
    assert close(s.short_entry.filled_usd, 0.25 * 77598.4)
    assert close(s.fillable_usd, 0.25 * 77598.4) and s.complete
    # Lots that do not divide each other meet at their least common multiple: 0.3 and 0.2
    # trade in steps of 0.6, and under the larger minimum order nothing trades.
    a = book(bids=[Level(9.9, 100.0)], asks=[Level(10.0, 100.0)], lot=0.3)
    b = book(bids=[Level(9.9, 100.0)], asks=[Level(10.0, 100.0)], lot=0.2, min_qty=1.2)
    assert hedge_coins(a, b, 17.0) == 1.2  # 17 / 10 = 1.7 coins: two steps of 0.6
    assert hedge_coins(a, b, 11.0) == 0.0  # 1.1 coins: one step, under b's 1.2 minimum


# --- properties ---------------------------------------------------------------------------

LOTS = st.sampled_from([0.0, 0.001, 0.01, 0.1, 1.0, 0.25])
SIDES = st.sampled_from(["buy", "sell"])
# Of the side's whole depth; no notional under a billionth of it (a float's last bits).
FRACTIONS = st.just(0.0) | st.floats(1e-9, 1.5)
MAX_BPS = st.floats(0.0, 500.0)


@st.composite
def books(draw) -> Book:
    """An uncrossed book of up to 8 levels a side; sizes whole lots when it has a lot."""
    lot = draw(LOTS)
    base = draw(st.floats(1e-3, 1e5))
    # Locked, or a tick at least a millionth: a level a float's width from the limit price
    # is on one side of it or the other, and a multiplier may move it across.
    half_spread = draw(st.just(0.0) | st.floats(1e-6, 0.01))

    def side(sign: int) -> tuple[Level, ...]:
        price, levels = base * (1 + sign * half_spread), []
        for _ in range(draw(st.integers(0, 8))):
            size = draw(st.integers(1, 1_000)) * lot if lot else draw(st.floats(1e-3, 1e3))
            levels.append(Level(price, size))
            price *= 1 + sign * draw(st.floats(1e-6, 0.01))
        return tuple(levels)

    asks, bids = side(+1), side(-1)
    min_qty = lot * draw(st.integers(0, 5)) if lot else draw(st.sampled_from([0.0, 0.5]))
    return Book("v", "X", bids, asks, 0.0, lot=lot, min_qty=min_qty)


def levels_of(b: Book, side: str) -> tuple[Level, ...]:
    return b.asks if side == "buy" else b.bids


def depth_usd(b: Book, side: str) -> float:
    return sum(lv.price * lv.size for lv in levels_of(b, side))


def cost_of(levels, coins: float) -> float:
    usd = 0.0
    for lv in levels:
        take = min(lv.size, coins)
        usd, coins = usd + lv.price * take, coins - take
    return usd


@given(books(), SIDES, FRACTIONS, FRACTIONS)
def test_slippage_never_decreases_with_size(b, side, x, y):
    depth = depth_usd(b, side)
    small, big = fill(b, side, min(x, y) * depth), fill(b, side, max(x, y) * depth)
    assert small.coins <= big.coins
    if small.slippage_bps is not None and big.slippage_bps is not None:
        assert small.slippage_bps <= big.slippage_bps + 1e-9


@given(books(), SIDES, FRACTIONS)
def test_a_fill_never_exceeds_the_book_nor_the_ask(b, side, x):
    levels, depth = levels_of(b, side), depth_usd(b, side)
    f = fill(b, side, x * depth)
    assert f.filled_usd <= depth * (1 + 1e-12)
    assert f.coins <= sum(lv.size for lv in levels) * (1 + 1e-9)
    top = max((lv.price for lv in levels), default=0.0)
    assert f.filled_usd <= f.asked_usd * (1 + 1e-9) + 1e-9 * b.lot * top
    if f.complete and f.asked_usd > 0:
        # Short of the ask by less than one lot's worth.
        assert f.asked_usd - f.filled_usd <= b.lot * top + 1e-9 * f.asked_usd
    if f.asked_usd > depth * (1 + 1e-9):
        assert not f.complete
    if f.coins:
        assert f.coins >= b.min_qty * (1 - 1e-12) and close(f.vwap, f.filled_usd / f.coins)
        if b.lot:
            assert close(f.coins / b.lot, round(f.coins / b.lot))


@given(books(), SIDES, FRACTIONS)
def test_slippage_is_a_cost_on_an_uncrossed_book(b, side, x):
    f = fill(b, side, x * depth_usd(b, side))
    assert f.slippage_bps is None or f.slippage_bps >= -1e-9


@given(books(), SIDES, MAX_BPS)
def test_capacity_is_the_largest_fill_within_the_limit(b, side, max_bps):
    levels, depth = levels_of(b, side), depth_usd(b, side)
    cap = capacity_usd(b, side, max_bps)
    assert 0.0 <= cap <= depth * (1 + 1e-12)
    if b.mid is None:
        assert cap == 0.0
        return
    at = fill(b, side, cap)
    assert close(at.filled_usd, cap)
    if at.slippage_bps is not None:
        assert at.slippage_bps <= max_bps + 1e-9
    # The next order up (one more lot, or the first order allowed) breaks the limit.
    if b.lot:
        bigger = at.coins + b.lot if at.coins else max(b.lot, b.min_qty)
        if bigger <= sum(lv.size for lv in levels) * (1 - 1e-9):
            over = fill(b, side, cost_of(levels, bigger))
            assert close(over.coins, bigger)
            assert over.slippage_bps > max_bps - 1e-9
    elif 0 < cap < depth * (1 - 1e-9) and at.coins > b.min_qty:
        assert close(at.slippage_bps, max_bps, 1e-6)  # no lot: the limit exactly
    elif cap == 0 and levels and not b.min_qty:
        assert slippage_bps(side, levels[0].price, b.mid) > max_bps - 1e-9


@given(books(), books(), FRACTIONS, MAX_BPS, st.floats(-0.001, 0.001), st.floats(-0.001, 0.001))
def test_a_carry_nets_with_the_same_apr_formula_as_the_scan(
    long_b, short_b, x, max_bps, rate_a, rate_b
):
    o = spread.opportunity(quote("a", rate_a), quote("b", rate_b), FEES, 168.0)
    notional = max(x * min(depth_usd(long_b, "buy"), depth_usd(short_b, "sell")), 1.0)
    s = size_carry(o, long_b, short_b, notional, max_bps)
    assert s.fees == o.fees_round_trip
    assert s.capacity_usd == min(
        capacity_usd(long_b, "buy", max_bps), capacity_usd(short_b, "sell", max_bps)
    )
    assert s.fillable_usd <= notional * (1 + 1e-9) + 1e-6
    if not s.complete:
        assert (s.cost, s.apr_net, s.breakeven_h) == (None, None, None)
        return
    slips = [f.slippage_bps for f in s.fills]
    assert s.entry_slippage_bps == slips[0] + slips[1]
    assert s.exit_slippage_bps == slips[2] + slips[3]
    assert (
        s.cost
        == o.fees_round_trip
        + (s.entry_slippage_bps + s.exit_slippage_bps + s.adverse_basis_bps) / 1e4
    )
    assert s.apr_net == spread.apr_net(o.spread_hourly, s.cost, o.horizon_h)
    assert s.apr_net <= o.apr_net + 1e-12  # size never helps (the books are uncrossed)


@given(books(), books(), FRACTIONS)
def test_a_carry_s_legs_hold_the_same_coins_in_lots_of_both_venues(long_b, short_b, x):
    notional = max(x * min(depth_usd(long_b, "buy"), depth_usd(short_b, "sell")), 1.0)
    s = size_carry(carry_opportunity(), long_b, short_b, notional, 10.0)
    coins = s.coins
    assert all(f.coins == coins for f in s.fills[:2])  # an exit may hold fewer: incomplete
    assert all(f.coins == coins or not f.complete for f in s.fills[2:])
    # Never more than either leg trades alone, in whole lots of each venue, over both minimums.
    assert coins <= fill(long_b, "buy", notional).coins * (1 + 1e-12)
    assert coins <= fill(short_b, "sell", notional).coins * (1 + 1e-12)
    for b in (long_b, short_b):
        if coins and b.lot:
            assert close(coins / b.lot, round(coins / b.lot))
        assert coins == 0 or coins >= b.min_qty * (1 - 1e-12)


def scaled(b: Book, price_k: float = 1.0, size_k: float = 1.0) -> Book:
    def side(levels):
        return tuple(Level(lv.price * price_k, lv.size * size_k) for lv in levels)

    lot, min_qty = b.lot * size_k, b.min_qty * size_k
    return Book(b.venue, b.symbol, side(b.bids), side(b.asks), 0.0, lot=lot, min_qty=min_qty)


K = st.floats(1e-3, 1e3)


@given(books(), SIDES, FRACTIONS, MAX_BPS, K)
def test_a_price_multiplier_leaves_coins_and_slippage_alone(b, side, x, max_bps, k):
    notional = x * depth_usd(b, side)
    f, g = fill(b, side, notional), fill(scaled(b, price_k=k), side, notional * k)
    assert close(g.coins, f.coins)
    assert (g.vwap is None) == (f.vwap is None) and (f.vwap is None or close(g.vwap, f.vwap * k))
    assert (g.slippage_bps is None) == (f.slippage_bps is None)
    if f.slippage_bps is not None:
        assert math.isclose(g.slippage_bps, f.slippage_bps, rel_tol=1e-9, abs_tol=1e-7)
    cap, cap_k = capacity_usd(b, side, max_bps), capacity_usd(scaled(b, price_k=k), side, max_bps)
    assert math.isclose(cap_k, cap * k, rel_tol=1e-9, abs_tol=1e-9 * depth_usd(b, side) * k)


@given(books(), SIDES, FRACTIONS, MAX_BPS, K)
def test_a_size_multiplier_leaves_the_vwap_alone(b, side, x, max_bps, k):
    notional = x * depth_usd(b, side)
    f, g = fill(b, side, notional), fill(scaled(b, size_k=k), side, notional * k)
    assert close(g.coins, f.coins * k)
    assert (g.vwap is None) == (f.vwap is None) and (f.vwap is None or close(g.vwap, f.vwap))
    assert g.complete == f.complete
    cap, cap_k = capacity_usd(b, side, max_bps), capacity_usd(scaled(b, size_k=k), side, max_bps)
    assert math.isclose(cap_k, cap * k, rel_tol=1e-9, abs_tol=1e-9 * depth_usd(b, side) * k)
