"""Carry at a size: what an order book says a notional costs to put on and take off.

Pure functions from order books to fills; no I/O, no venue knowledge (each venue's client
turns its book into a `Book` in USD per coin and coins). Figures and their signs:

- A `Fill` walks one side of a book from the best level: a buy takes the asks, a sell hits
  the bids. `coins` is rounded DOWN to the book's lot (never more than asked, never more
  than the book), `filled_usd` is what exactly those coins cost level by level, `vwap` is
  `filled_usd / coins`. Nothing is extrapolated: a book thinner than the ask fills what it
  has and says `complete=False`.
- `slippage_bps` is a cost against the book's mid, positive when it hurts:
  buy (vwap - mid) / mid * 1e4, sell (mid - vwap) / mid * 1e4. On an uncrossed book it is
  at least half the spread and never decreases with size.
- `capacity_usd` is the largest notional whose fill stays within a slippage limit, solved
  exactly level by level (the vwap of a walk is monotone in the coins taken).
- A `SizedCarry` is one opportunity at a notional per leg: buy the long leg at its asks,
  sell the short leg at its bids, the same coins on both (`hedge_coins`: what the notional
  takes on the dearer leg, in lots both venues accept), and estimate the close from the
  same books. Its `cost`
  is a decimal of the notional: round-trip taker fees + (entry + exit slippage + adverse
  basis) / 1e4; `apr_net` is `arb.spread.apr_net` with that cost in place of the fees, so
  at a size it is the same formula /scan ranks by.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

# Level and Book are the venue clients' output, so they live with Quote in arb.models
# (arb.venues.base names them without an import loop); this module is where they are used.
from arb.models import Book, Level, Opportunity
from arb.spread import apr_net

BPS = 10_000
# A walk's coins within this fraction of a lot count as the lot: 0.3 / 0.1 is 2.9999999999999996.
_LOT_TOLERANCE = 1e-9
# Relative float noise: a walk ending this close to the notional covered it, a size this close
# to the minimum order meets it.
_REL_TOLERANCE = 1e-12
# A level this close (relative) to the limit price is at it: mid * (1 + bps) is rounded too.
_PRICE_TOLERANCE = 1e-13


Side = Literal["buy", "sell"]  # buy walks the asks, sell walks the bids


@dataclass(frozen=True, slots=True)
class Fill:
    side: Side
    asked_usd: float  # the notional asked for
    coins: float  # filled, rounded DOWN to the book's lot
    filled_usd: float  # sum(price * coins taken)
    vwap: float | None  # filled_usd / coins; None when nothing fills
    slippage_bps: float | None  # vs the book's mid, a cost: see the module docstring
    complete: bool  # the book (after lot rounding, within one lot) covered asked_usd; True for 0
    book_usd: float  # what the whole side holds, at its prices


def fill(book: Book, side: Side, notional_usd: float) -> Fill:
    """Take `notional_usd` from one side of `book`, as a market order of whole lots would.

    The walk takes coins from the best level until price * coins reaches the notional (the
    last level partly), rounds them down to the lot and prices exactly those coins. Below
    the book's minimum order (or one lot) nothing fills. `complete` is False when the book
    runs out before the notional: the fill is what the book has, never extrapolated.
    """
    _check_notional(notional_usd)
    raw, covered = _coins_for(_levels(book, side), notional_usd)
    return _priced(book, side, notional_usd, _tradable(book, raw), covered)


def hedge_coins(long_book: Book, short_book: Book, notional_usd: float) -> float:
    """The coins a hedged carry of `notional_usd` per leg trades on both legs: what the
    notional buys on the long's asks or sells on the short's bids, whichever is fewer,
    rounded down to a step both venues' lots divide; 0 below either venue's minimum order.
    Both legs hold the same coins, so the carry starts delta-neutral."""
    _check_notional(notional_usd)
    long_raw, _ = _coins_for(long_book.asks, notional_usd)
    short_raw, _ = _coins_for(short_book.bids, notional_usd)
    step = _common_lot(long_book.lot, short_book.lot)
    return _round_down(min(long_raw, short_raw), step, max(long_book.min_qty, short_book.min_qty))


def capacity_usd(book: Book, side: Side, max_slippage_bps: float) -> float:
    """The largest notional whose fill slippage stays <= `max_slippage_bps`.

    Exact: a fill's vwap moves monotonically with the coins taken, so the walk finds the
    level where it would cross the limit price and solves that level's partial take in
    closed form, then rounds down to the lot. Never more than the side's whole depth;
    0 when the book has no mid to measure against or not even one order fits.
    """
    mid = book.mid
    if mid is None or mid <= 0:
        return 0.0
    levels = _levels(book, side)
    sign = 1 if side == "buy" else -1
    limit = mid * (1 + sign * max_slippage_bps / BPS)  # the vwap the slippage allows
    coins = usd = 0.0  # taken so far, at a vwap within the limit
    for level in levels:
        take = level.size
        if sign * (level.price - limit) > limit * _PRICE_TOLERANCE:
            # A level past the limit: take x with (usd + price*x) / (coins + x) == limit.
            take = min(take, max(0.0, (limit * coins - usd) / (level.price - limit)))
        coins, usd = coins + take, usd + level.price * take
        if take < level.size:
            break
    return _cost_of(levels, _tradable(book, coins))


def slippage_bps(side: Side, vwap: float | None, mid: float | None) -> float | None:
    """A fill's cost against the mid, in basis points; positive hurts."""
    if vwap is None or mid is None or mid <= 0:
        return None
    gap = vwap - mid if side == "buy" else mid - vwap
    return gap / mid * BPS


@dataclass(frozen=True, slots=True)
class SizedCarry:
    opportunity: Opportunity
    notional_usd: float  # asked per leg
    long_entry: Fill  # buy the long leg at its venue's asks
    short_entry: Fill  # sell the short leg at its venue's bids
    long_exit: Fill  # estimated close from the same books: sell the long at the bids
    short_exit: Fill  #   and buy the short back at the asks
    fees: float  # = opportunity.fees_round_trip (decimal)
    entry_slippage_bps: float | None  # long + short entry
    exit_slippage_bps: float | None
    adverse_basis_bps: float  # max(0, -(short_mid - long_mid)/long_mid*1e4): a cost only
    cost: float | None  # fees + (entry + exit slippage + adverse basis)/1e4, decimal of notional
    apr_net: float | None  # arb.spread.apr_net(spread_hourly, cost, horizon_h)
    breakeven_h: float | None  # cost / spread_hourly (None if spread <= 0)
    capacity_usd: float  # the smaller leg's capacity within max_slippage_bps
    max_slippage_bps: float

    @property
    def fills(self) -> tuple[Fill, Fill, Fill, Fill]:
        return (self.long_entry, self.short_entry, self.long_exit, self.short_exit)

    @property
    def coins(self) -> float:
        """The coins each leg trades (the same on both: the carry is delta-neutral)."""
        return self.long_entry.coins

    @property
    def complete(self) -> bool:
        """Both books cover the notional in and out; else cost/apr_net/breakeven_h are None."""
        return _all_complete(self.fills)

    @property
    def fillable_usd(self) -> float:
        """The smallest of the four fills in USD: what both legs put on and take off (the
        notional, less the lot rounding and the basis, when complete)."""
        return min(f.filled_usd for f in self.fills)


def size_carry(
    opportunity: Opportunity,
    long_book: Book,
    short_book: Book,
    notional_usd: float,
    max_slippage_bps: float,
) -> SizedCarry:
    """`opportunity` at `notional_usd` per leg, priced on the two legs' books."""
    if not 0 < notional_usd < math.inf:
        raise ValueError(f"a carry's size is a positive number of USD, not {notional_usd!r}")
    # Both legs trade the same coins: what the notional takes on the dearer leg, in lots
    # both venues accept. Each leg's entry is complete when its book covers the notional,
    # each exit when the other side of its book holds those coins.
    coins = hedge_coins(long_book, short_book, notional_usd)
    long_entry = _leg_fill(long_book, "buy", notional_usd, coins)
    short_entry = _leg_fill(short_book, "sell", notional_usd, coins)
    long_exit = _leg_fill(long_book, "sell", notional_usd, coins, entry=False)
    short_exit = _leg_fill(short_book, "buy", notional_usd, coins, entry=False)
    entry = _sum_or_none(long_entry.slippage_bps, short_entry.slippage_bps)
    exit_ = _sum_or_none(long_exit.slippage_bps, short_exit.slippage_bps)
    basis = adverse_basis_bps(long_book.mid, short_book.mid)
    fees = opportunity.fees_round_trip
    cost = None
    # Complete fills of a positive notional have coins, so both books have a mid: the
    # slippages are known exactly when the four fills are complete.
    fills = (long_entry, short_entry, long_exit, short_exit)
    if _all_complete(fills) and entry is not None and exit_ is not None:
        cost = fees + (entry + exit_ + basis) / BPS
    spread_h = opportunity.spread_hourly
    return SizedCarry(
        opportunity=opportunity,
        notional_usd=notional_usd,
        long_entry=long_entry,
        short_entry=short_entry,
        long_exit=long_exit,
        short_exit=short_exit,
        fees=fees,
        entry_slippage_bps=entry,
        exit_slippage_bps=exit_,
        adverse_basis_bps=basis,
        cost=cost,
        apr_net=None if cost is None else apr_net(spread_h, cost, opportunity.horizon_h),
        breakeven_h=cost / spread_h if cost is not None and spread_h > 0 else None,
        capacity_usd=min(
            capacity_usd(long_book, "buy", max_slippage_bps),
            capacity_usd(short_book, "sell", max_slippage_bps),
        ),
        max_slippage_bps=max_slippage_bps,
    )


def adverse_basis_bps(long_mid: float | None, short_mid: float | None) -> float:
    """What shorting below the long costs, in bp of the long; a basis in our favour is 0."""
    if long_mid is None or short_mid is None or long_mid <= 0:
        return 0.0
    return max(0.0, (long_mid - short_mid) / long_mid * BPS)


# --- the walk -----------------------------------------------------------------------------


def _levels(book: Book, side: Side) -> tuple[Level, ...]:
    if side == "buy":
        return book.asks
    if side == "sell":
        return book.bids
    raise ValueError(f"a side is 'buy' or 'sell', not {side!r}")


def _coins_for(levels: Sequence[Level], notional_usd: float) -> tuple[float, bool]:
    """The coins `notional_usd` buys walking `levels`, and whether the levels covered it."""
    coins, left = 0.0, notional_usd
    for level in levels:
        level_usd = level.price * level.size
        if level_usd >= left:
            return coins + left / level.price, True
        coins, left = coins + level.size, left - level_usd
    return coins, left <= notional_usd * _REL_TOLERANCE


def _cost_of(levels: Sequence[Level], coins: float) -> float:
    """What exactly `coins` cost walking `levels` (the whole side at most)."""
    usd, left = 0.0, coins
    for level in levels:
        if left <= 0:
            break
        take = min(level.size, left)
        usd, left = usd + level.price * take, left - take
    return usd


def _tradable(book: Book, coins: float) -> float:
    """`coins` rounded down to the lot; 0 below the minimum order."""
    return _round_down(coins, book.lot, book.min_qty)


def _round_down(coins: float, lot: float, min_qty: float) -> float:
    if lot > 0:
        lots = math.floor(coins / lot + _LOT_TOLERANCE)
        # Decimal so that 3 lots of 0.1 are 0.3, not 0.30000000000000004.
        coins = float(lots * Decimal(str(lot)))
    if coins <= 0 or coins < min_qty * (1 - _REL_TOLERANCE):
        return 0.0
    return coins


def _common_lot(a: float, b: float) -> float:
    """The smallest step both lots divide (0: no lot), exactly in decimal: 0.01 and 0.0001
    give 0.01, 0.3 and 0.2 give 0.6."""
    if a <= 0 or b <= 0:
        return max(a, b, 0.0)
    x, y = Decimal(str(a)), Decimal(str(b))
    unit = min(x.as_tuple().exponent, y.as_tuple().exponent)  # decimal places, negated
    scale = Decimal(1).scaleb(unit)
    return float(math.lcm(int(x / scale), int(y / scale)) * scale)


def _leg_fill(
    book: Book, side: Side, notional_usd: float, coins: float, entry: bool = True
) -> Fill:
    """One leg's fill of the carry's `coins`: an entry is complete when the side covers the
    notional, an exit when the side holds the coins."""
    levels = _levels(book, side)
    depth = sum(level.size for level in levels)
    if entry:
        _, covered = _coins_for(levels, notional_usd)
    else:
        covered = coins <= depth * (1 + _REL_TOLERANCE)
    return _priced(book, side, notional_usd, min(coins, _tradable(book, depth)), covered)


def _priced(book: Book, side: Side, asked_usd: float, coins: float, covered: bool) -> Fill:
    """The fill of exactly `coins` (already in lots) walking `side` of `book`."""
    levels = _levels(book, side)
    filled = _cost_of(levels, coins)
    vwap = filled / coins if coins > 0 else None
    return Fill(
        side=side,
        asked_usd=asked_usd,
        coins=coins,
        filled_usd=filled,
        vwap=vwap,
        slippage_bps=slippage_bps(side, vwap, book.mid),
        complete=asked_usd == 0 or (coins > 0 and covered),
        book_usd=sum(level.price * level.size for level in levels),
    )


def _check_notional(notional_usd: float) -> None:
    if not 0 <= notional_usd < math.inf:  # also NaN
        raise ValueError(f"a notional is a non-negative number of USD, not {notional_usd!r}")


def _all_complete(fills: Sequence[Fill]) -> bool:
    return all(f.complete for f in fills)


def _sum_or_none(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b
