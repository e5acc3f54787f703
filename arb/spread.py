"""The spread engine: pure functions from quotes to ranked opportunities.

Formulas are DESIGN.md's: hourly = rate / interval_h; short the higher hourly
leg, long the lower; fees are a round trip on both legs (open and close).
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from arb.models import HOURS_PER_YEAR, Opportunity, Quote

# Taker fees per venue (decimal), public base tier; override per venue in settings.
DEFAULT_TAKER_FEES: Mapping[str, float] = {
    "bybit": 0.00055,
    "binance": 0.0005,
    "okx": 0.0005,
    "hyperliquid": 0.00045,
    "bitget": 0.0006,
    "gate": 0.0005,
}


@dataclass(frozen=True, slots=True)
class ScanParams:
    taker_fees: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TAKER_FEES))
    horizon_h: float = 168.0
    min_turnover_24h: float = 0.0
    max_quote_age_s: float = 300.0
    min_apr: float | None = None  # on apr_net
    best_per_asset: bool = True


def hourly(rate: float, interval_h: float) -> float:
    return rate / interval_h


def fees_round_trip(taker_long: float, taker_short: float) -> float:
    return 2.0 * (taker_long + taker_short)


def apr_net(spread_hourly: float, fees: float, horizon_h: float) -> float:
    return (spread_hourly * horizon_h - fees) / horizon_h * HOURS_PER_YEAR


def basis_bps(short: Quote, long: Quote) -> float | None:
    short_px, long_px = short.unit_price, long.unit_price
    if short_px is None or long_px is None or long_px <= 0:
        return None
    return (short_px - long_px) / long_px * 10_000


def opportunity(a: Quote, b: Quote, fees: Mapping[str, float], horizon_h: float) -> Opportunity:
    """The carry between two quotes of one asset, whichever order they come in."""
    if a.asset != b.asset:
        raise ValueError(f"quotes of different assets: {a.asset} vs {b.asset}")
    # Ties broken by venue then symbol so that input order never changes the answer.
    a_key, b_key = (a.hourly, a.venue, a.symbol), (b.hourly, b.venue, b.symbol)
    short, long = (a, b) if a_key > b_key else (b, a)
    spread_h = short.hourly - long.hourly
    fee = fees_round_trip(_fee(fees, long.venue), _fee(fees, short.venue))
    return Opportunity(
        asset=a.asset,
        long=long,
        short=short,
        spread_hourly=spread_h,
        spread_8h=spread_h * 8,
        apr_gross=spread_h * HOURS_PER_YEAR,
        fees_round_trip=fee,
        breakeven_h=fee / spread_h if spread_h > 0 else None,
        apr_net=apr_net(spread_h, fee, horizon_h),
        horizon_h=horizon_h,
        basis_bps=basis_bps(short, long),
    )


def _fee(fees: Mapping[str, float], venue: str) -> float:
    try:
        return fees[venue]
    except KeyError:
        raise ValueError(f"no taker fee configured for venue {venue!r}") from None


def eligible(quote: Quote, params: ScanParams, now: float) -> bool:
    """Fresh enough and liquid enough. Unknown turnover is not zero: it passes."""
    if now - quote.received_at > params.max_quote_age_s:
        return False
    return quote.turnover_24h is None or quote.turnover_24h >= params.min_turnover_24h


def scan(quotes: Iterable[Quote], params: ScanParams, now: float) -> list[Opportunity]:
    """Every cross-venue pair per asset, filtered and ranked by apr_net then apr_gross.

    The pairs' figures are computed first with the same formulas as
    `opportunity()`, and Opportunity objects are built only for the pairs kept
    (each asset's best by default): a 500-asset market has thousands of pairs.
    """
    by_asset: dict[str, list[Quote]] = defaultdict(list)
    for q in quotes:
        if eligible(q, params, now):
            by_asset[q.asset].append(q)
    fees, horizon = params.taker_fees, params.horizon_h
    found: list[Opportunity] = []
    for asset, legs in by_asset.items():
        # Ascending by opportunity()'s leg order, so in every pair the later leg is the short.
        rows = sorted(
            ((q.hourly, q.venue, q.symbol, _fee(fees, q.venue), q) for q in legs),
            key=_LEG_ORDER,
        )
        kept: list[tuple[tuple[float, float, str, str, str], Quote, Quote]] = []
        for i, (h_long, v_long, _, f_long, long) in enumerate(rows):
            for h_short, v_short, _, f_short, short in rows[i + 1 :]:
                if v_long == v_short:
                    continue
                spread_h = h_short - h_long
                net = apr_net(spread_h, fees_round_trip(f_long, f_short), horizon)
                if params.min_apr is not None and net < params.min_apr:
                    continue
                kept.append(((net, spread_h * HOURS_PER_YEAR, asset, v_long, v_short), long, short))
        if params.best_per_asset and kept:
            kept = [max(kept, key=_FIRST)]
        found.extend(opportunity(long, short, fees, horizon) for _, long, short in kept)
    found.sort(key=rank_key, reverse=True)
    return found


_LEG_ORDER = operator.itemgetter(0, 1, 2)
_FIRST = operator.itemgetter(0)


def rank_key(o: Opportunity) -> tuple[float, float, str, str, str]:
    # Names last so equal figures still order the same way every run.
    return (o.apr_net, o.apr_gross, o.asset, o.long.venue, o.short.venue)
