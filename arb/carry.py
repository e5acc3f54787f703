"""The best carry of one asset now: the one answer every reply and alert gives.

`/funding`, `/scan`, `/signal`, `/chart`, `/history`, the alerts and the CLI all
name an asset's best pair from the same legs, filtered the same way and ranked
the same way: `best_carry` here, and `arb.spread.scan` for the whole market,
which keeps exactly `best_carry`'s pair for each asset (both use
`spread.eligible` and `spread.best_pair`); the bot's book keeps that scan warm
(`arb.ranking`), ranking again only the assets whose quotes changed. A leg the
filters leave out is named with the reason, so a reply that shows it can say why
it is not in the pair.

`min_apr` (a /scan floor) filters the ranking only: it never changes which pair
is an asset's best, and `best_carry` ignores it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from arb.formats import ago, money
from arb.market import MarketSnapshot
from arb.models import Opportunity, Quote
from arb.spread import ScanParams, best_pair, eligible
from arb.symbols import normalize_asset


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A leg the filters keep out of the asset's best pair, and why in a desk's words."""

    quote: Quote
    reason: str  # "data 6m old", "24h turnover $300K under the $500K minimum"


@dataclass(frozen=True, slots=True)
class Carry:
    asset: str
    best: Opportunity | None  # None: fewer than two venues have a leg that passes
    quotes: tuple[Quote, ...]  # every leg, left out or not; highest hourly first
    left_out: tuple[LeftOut, ...]  # in the order of `quotes`


def left_out_reason(quote: Quote, params: ScanParams, now: float) -> str | None:
    """Why `spread.eligible` refuses this leg, or None when it passes."""
    if eligible(quote, params, now):
        return None
    age = now - quote.received_at
    if age > params.max_quote_age_s:
        # Not "over the 5m limit": ago() truncates, and 5m30s would read "5m old" beside it.
        return f"data {ago(age)} old"
    return (
        f"24h turnover ${money(quote.turnover_24h)} under the "
        f"${money(params.min_turnover_24h)} minimum"
    )


def best_carry(asset: str, quotes: Iterable[Quote], params: ScanParams, now: float) -> Carry:
    """The best carry of `asset` among `quotes` (its legs on the venues asked) at `now`.

    Ranked as `scan` ranks (`rank_key`: net APR, then gross APR), from the legs
    `spread.eligible` lets through; every other leg comes back with its reason.
    """
    legs = sorted(quotes, key=lambda q: (-q.hourly, q.venue, q.symbol))
    strays = [q for q in legs if q.asset != asset]
    if strays:
        raise ValueError(f"a {strays[0].asset} quote among the legs of {asset}")
    usable: list[Quote] = []
    left_out: list[LeftOut] = []
    for q in legs:
        reason = left_out_reason(q, params, now)
        if reason is None:
            usable.append(q)
        else:
            left_out.append(LeftOut(q, reason))
    best = best_pair(usable, params.taker_fees, params.horizon_h)
    return Carry(asset, best, tuple(legs), tuple(left_out))


def carry_in(snapshot: MarketSnapshot, asset: str, params: ScanParams) -> Carry:
    """`best_carry` of the asset as the user typed it, over a snapshot at its own time:
    what /funding shows and /scan ranks from the same snapshot.

    Raises ValueError when `asset` cannot be an asset name at all.
    """
    name = normalize_asset(asset)
    return best_carry(name, snapshot.for_asset(name), params, snapshot.taken_at)
