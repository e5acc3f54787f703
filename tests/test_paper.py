"""Paper venues (arb.trading.paper): IOC fills walked on the live books to the price cap in
whole lots, reduce-only clamped to the paper position, one fill per client id."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.books import OrderBooks
from arb.models import Book, Level, OrderIntent
from arb.trading.paper import PaperVenue, walk

VENUE, SYMBOL = "alpha", "XUSDT"


def whole_lots(coins: float, lot: float) -> bool:
    if lot <= 0:
        return True
    steps = Decimal(repr(coins)) / Decimal(repr(lot))
    return steps == steps.to_integral_value()


prices = st.lists(st.integers(1, 400), min_size=1, max_size=8, unique=True)
sizes = st.floats(0.001, 5, allow_nan=False).map(lambda x: round(x, 3))
lots = st.sampled_from([0.0, 0.001, 0.01, 0.1, 0.5, 1.0])


@given(prices, st.data(), lots, st.integers(0, 2000), st.integers(1, 400), st.booleans())
def test_a_walk_fills_whole_lots_never_past_the_cap(ticks, data, lot, asked_lots, cap_tick, buy):
    side = "buy" if buy else "sell"
    ticks = sorted(ticks, reverse=not buy)  # best first
    levels = [Level(100 + t / 10, data.draw(sizes)) for t in ticks]
    coins = asked_lots * 0.01
    cap = 100 + cap_tick / 10
    filled, cost = walk(levels, coins, cap, side, lot)
    within = [lv for lv in levels if (lv.price <= cap if buy else lv.price >= cap)]
    assert filled <= coins + 1e-9
    assert filled <= sum(lv.size for lv in within) + 1e-9
    assert whole_lots(filled, lot)
    if not filled:
        assert cost == 0
        return
    avg = cost / filled
    best = levels[0].price
    lo, hi = (best, cap) if buy else (cap, best)
    assert lo - 1e-9 <= avg <= hi + 1e-9
    # it takes what the cap allows, less at most one lot (and float dust)
    reachable = min(coins, sum(lv.size for lv in within))
    assert filled >= reachable - max(lot, 0.0) - 1e-6


def test_the_odd_part_past_the_last_lot_is_priced_where_it_was_taken():
    # 0.13 at 100 then 0.05 at 101: one lot of 0.1 fills, all of it at 100
    filled, cost = walk([Level(100, 0.13), Level(101, 0.05)], 1.0, 200, "buy", 0.1)
    assert filled == pytest.approx(0.1)
    assert cost / filled == pytest.approx(100.0)


class Public:
    name = VENUE

    def __init__(self, lot: float = 0.01):
        self.lot = lot

    async def order_book(self, symbol: str) -> Book:
        bids = (Level(100.0, 1.0), Level(99.0, 1.0), Level(98.0, 1.0))
        asks = (Level(101.0, 1.0), Level(102.0, 1.0), Level(103.0, 1.0))
        return Book(VENUE, symbol, bids, asks, 0.0, lot=self.lot)


def venue(held: dict | None = None) -> PaperVenue:
    return PaperVenue(VENUE, OrderBooks([Public()]), 0.0005, held if held is not None else {})


def intent(cid: str, side: str, coins: float, cap: float, reduce_only: bool = False):
    return OrderIntent(cid, VENUE, SYMBOL, side, coins, cap, reduce_only)  # type: ignore[arg-type]


async def test_a_buy_walks_to_the_cap_and_pays_the_taker_fee():
    held: dict = {}
    v = venue(held)
    out = await v.place(intent("a1", "buy", 2.5, 102.0))
    assert (out.status, out.filled_coins) == ("partial", 2.0)
    assert out.avg_price == pytest.approx(101.5)
    assert out.fee_usd == pytest.approx(203.0 * 0.0005)
    assert held == {(VENUE, SYMBOL): 2.0}
    assert await v.lookup(intent("a1", "buy", 2.5, 102.0)) == out
    assert await v.lookup(intent("zz", "buy", 1.0, 102.0)) is None


async def test_the_same_client_id_never_fills_twice():
    held: dict = {}
    v = venue(held)
    first = await v.place(intent("a1", "sell", 1.0, 99.0))
    again = await v.place(intent("a1", "sell", 1.0, 99.0))
    assert again == first and held == {(VENUE, SYMBOL): -1.0}


async def test_nothing_within_the_cap_fills_nothing():
    v = venue()
    out = await v.place(intent("a1", "buy", 1.0, 100.5))
    assert (out.status, out.filled_coins) == ("none", 0.0)


async def test_reduce_only_clamps_to_the_position_and_refuses_without_one():
    held = {(VENUE, SYMBOL): 0.5}
    v = venue(held)
    out = await v.place(intent("r1", "sell", 2.0, 90.0, reduce_only=True))
    assert (out.status, out.filled_coins) == ("partial", 0.5)
    assert held[(VENUE, SYMBOL)] == pytest.approx(0.0)
    refused = await v.place(intent("r2", "sell", 1.0, 90.0, reduce_only=True))
    assert refused.status == "rejected" and "reduce-only" in refused.reason
    # a reduce-only buy against a long would open more: refused too
    held[(VENUE, SYMBOL)] = 1.0
    wrong_way = await v.place(intent("r3", "buy", 1.0, 110.0, reduce_only=True))
    assert wrong_way.status == "rejected"
    assert held[(VENUE, SYMBOL)] == 1.0


async def test_a_venue_without_a_book_rejects():
    v = PaperVenue("gamma", OrderBooks([Public()]), 0.0005, {})
    out = await v.place(OrderIntent("a1", "gamma", SYMBOL, "buy", 1.0, 200.0))
    assert out.status == "rejected" and "not enabled" in out.reason
