"""The spread engine: pure functions from quotes to ranked opportunities.

Formulas are the README's "The numbers": hourly = rate / interval_h; short the higher hourly
leg, long the lower; fees are a round trip on both legs (open and close).
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from arb.models import HOURS_PER_YEAR, Opportunity, Quote
from arb.venues.registry import SPECS

# Taker fees per venue (decimal), public base tier; override per venue in settings.
DEFAULT_TAKER_FEES: Mapping[str, float] = {s.name: s.taker_fee for s in SPECS.values()}


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


def held_apr(o: Opportunity) -> float:
    """What an open carry nets from here, as APR: its funding over the horizon less the
    exit's taker fees (the entry's are paid): `apr_net` with half the round trip."""
    return apr_net(o.spread_hourly, o.fees_round_trip / 2, o.horizon_h)


def basis_bps(short: Quote, long: Quote) -> float | None:
    short_px, long_px = short.unit_price, long.unit_price
    if short_px is None or long_px is None or long_px <= 0:
        return None
    return (short_px - long_px) / long_px * 10_000


def opportunity(a: Quote, b: Quote, fees: Mapping[str, float], horizon_h: float) -> Opportunity:
    """The carry between two quotes of one asset, whichever order they come in."""
    # Ties broken by venue then symbol so that input order never changes the answer.
    a_key, b_key = (a.hourly, a.venue, a.symbol), (b.hourly, b.venue, b.symbol)
    short, long = (a, b) if a_key > b_key else (b, a)
    return directed(long, short, fees, horizon_h)


def directed(long: Quote, short: Quote, fees: Mapping[str, float], horizon_h: float) -> Opportunity:
    """The carry long `long` / short `short` as given, never reordered: what a book the
    desk holds earns. Its spread and APRs are negative when the long leg earns more."""
    if long.asset != short.asset:
        raise ValueError(f"quotes of different assets: {long.asset} vs {short.asset}")
    spread_h = short.hourly - long.hourly
    fee = fees_round_trip(_fee(fees, long.venue), _fee(fees, short.venue))
    return Opportunity(
        asset=long.asset,
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


# Where one pair of an asset ranks among the asset's pairs: `rank_key` without the asset.
PairRank = tuple[float, float, str, str, str, str]
RankedPair = tuple[PairRank, Quote, Quote]  # (rank, long leg, short leg)


def ranked_pairs(
    legs: Iterable[Quote], fees: Mapping[str, float], horizon_h: float
) -> list[RankedPair]:
    """Every cross-venue pair of one asset's legs, unordered, each with its rank.

    The figures are `opportunity()`'s formulas on the same floats, so a pair's rank
    is exactly `rank_key` of its Opportunity; Opportunity objects are built only for
    the pairs a caller keeps: a 500-asset market has thousands of pairs.
    """
    # Ascending by opportunity()'s leg order, so in every pair the later leg is the short.
    rows = sorted(
        ((q.hourly, q.venue, q.symbol, _fee(fees, q.venue), q) for q in legs),
        key=_LEG_ORDER,
    )
    pairs: list[RankedPair] = []
    for i, (h_long, v_long, s_long, f_long, long) in enumerate(rows):
        for h_short, v_short, s_short, f_short, short in rows[i + 1 :]:
            if v_long == v_short:
                continue
            spread_h = h_short - h_long
            net = apr_net(spread_h, fees_round_trip(f_long, f_short), horizon_h)
            rank = (net, spread_h * HOURS_PER_YEAR, v_long, v_short, s_long, s_short)
            pairs.append((rank, long, short))
    return pairs


def best_pair(
    legs: Iterable[Quote], fees: Mapping[str, float], horizon_h: float
) -> Opportunity | None:
    """One asset's best carry among `legs` (already eligible): highest net APR, then gross.

    `scan` keeps exactly this pair for the asset; `arb.carry.best_carry` answers with it.
    """
    best = max(ranked_pairs(legs, fees, horizon_h), key=_FIRST, default=None)
    return None if best is None else opportunity(best[1], best[2], fees, horizon_h)


def scan(quotes: Iterable[Quote], params: ScanParams, now: float) -> list[Opportunity]:
    """Each asset's best pair (or every pair) among eligible quotes, ranked by `rank_key`.

    `min_apr` is a floor on the ranking, applied after each asset's best is chosen: an
    asset whose best nets less is left out; it never makes another pair the asset's best.
    """
    by_asset: dict[str, list[Quote]] = defaultdict(list)
    for q in quotes:
        if eligible(q, params, now):
            by_asset[q.asset].append(q)
    fees, horizon, floor = params.taker_fees, params.horizon_h, params.min_apr
    found: list[Opportunity] = []
    for legs in by_asset.values():
        if params.best_per_asset:
            best = best_pair(legs, fees, horizon)
            if best is not None and (floor is None or best.apr_net >= floor):
                found.append(best)
        else:
            found += [
                opportunity(long, short, fees, horizon)
                for rank, long, short in ranked_pairs(legs, fees, horizon)
                if floor is None or rank[0] >= floor
            ]
    found.sort(key=rank_key, reverse=True)
    return found


_LEG_ORDER = operator.itemgetter(0, 1, 2)
_FIRST = operator.itemgetter(0)


def rank_key(o: Opportunity) -> tuple[float, float, str, str, str, str, str]:
    # Names last so equal figures still order the same way every run; symbols too, for a
    # venue that lists an asset twice (BTCUSDT and BTCPERP).
    return (
        o.apr_net,
        o.apr_gross,
        o.asset,
        o.long.venue,
        o.short.venue,
        o.long.symbol,
        o.short.symbol,
    )
