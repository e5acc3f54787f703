"""A venue's recorded books as its test_rest.py reads them, and fills worked out by hand on
them, checked against `arb.depth.fill`: the walk is written in a comment, the figures as
literals."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from arb.depth import Book, Side, fill


@dataclass(frozen=True)
class HandFill:
    side: Side
    notional_usd: float
    coins: float  # after rounding down to the book's lot
    filled_usd: float
    vwap: float
    slippage_bps: float

    def check(self, book: Book) -> None:
        """`fill` agrees to 1e-9: absolute for amounts and prices, relative below 1 (a PEPE
        price is 3.6e-6), absolute for the slippage in basis points."""
        got = fill(book, self.side, self.notional_usd)
        assert got.complete
        assert got.coins == pytest.approx(self.coins, rel=1e-12, abs=0)
        assert _within(got.filled_usd, self.filled_usd)
        assert got.vwap is not None and _within(got.vwap, self.vwap)
        assert got.slippage_bps == pytest.approx(self.slippage_bps, rel=0, abs=1e-9)


def _within(got: float, want: float) -> bool:
    return abs(got - want) <= 1e-9 * min(1.0, abs(want))


@dataclass(frozen=True)
class RecordedBook:
    """What a venue's test reads off one of its recorded books: the first levels a side in
    USD per coin and coins, the order step and minimum its metadata gives, in coins, and
    fills worked out by hand on it."""

    symbol: str
    bids: tuple[tuple[float, float], ...]  # the first levels, best first
    asks: tuple[tuple[float, float], ...]
    lot: float
    min_qty: float
    fills: tuple[HandFill, ...]
    levels: int | None = None  # levels a side in the file, where the test counts them
    mid: float | None = None  # (best bid + best ask) / 2, where the test states it

    def check(self, book: Book, venue: str) -> None:
        assert (book.venue, book.symbol) == (venue, self.symbol)
        if self.levels is not None:
            assert (len(book.bids), len(book.asks)) == (self.levels, self.levels)
        if self.mid is not None:
            assert book.mid == self.mid
        assert [(x.price, x.size) for x in book.bids[: len(self.bids)]] == list(self.bids)
        assert [(x.price, x.size) for x in book.asks[: len(self.asks)]] == list(self.asks)
        assert (book.lot, book.min_qty) == (self.lot, self.min_qty)
        for hand in self.fills:
            hand.check(book)
