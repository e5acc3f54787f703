"""Risk on the desk's open carries: each book's legs, how far each is from liquidation,
how lopsided the book is, what it earns now, and each venue account's margin health.

Pure: `assess` takes what the signed clients read (positions, balances, the venues that
could not be read) and the market snapshot (each leg's current funding), and returns a
`RiskReport`, books worst first. `arb.risk_alerts` decides from a report what to tell the
desk; `/risk` and `arb-bot risk` show it.

Figures and their signs:
- liq_distance_pct = |mark - liquidation| / mark x 100, per leg; None without both.
- A book's drift is its net size: longs - shorts in coins; in USD at the legs' mark (their
  size-weighted mean, so the sign always follows the coins and a basis between venues is
  not counted as delta); and in % of the larger side (coins, which is its notional at that
  mark). A lone leg drifts 100 %.
- A leg's next payment = -signed notional x its quote's rate (a long pays a positive rate),
  in the settle currency, at its next funding time; None without a mark or a quote.
- A book with both sides earns `arb.spread.directed` on its largest long leg's quote and its
  largest short leg's quote (the long where the desk is long): the same figures /funding
  shows for that direction, net APR after round-trip fees over the horizon. None for a lone
  leg or when either of those legs has no quote.
- Books are those `arb.accounts.hedge.books` makes (the grouping /positions shows), worst
  first: nearest liquidation, then the largest drift %, then the lowest carry; a lone leg
  ranks by its liquidation distance like any book.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from arb.accounts.hedge import Book, Status, books
from arb.accounts.models import Balance, Position
from arb.models import Opportunity, Quote
from arb.spread import DEFAULT_TAKER_FEES, directed, held_apr
from arb.venues.registry import NAMES


class Snapshot(Protocol):
    """What `assess` reads of the market's snapshot (`arb.market.MarketSnapshot`): its
    quotes. A protocol, not the import: `arb.market` reaches `arb.settings`, which holds
    `RiskParams`."""

    @property
    def quotes(self) -> Sequence[Quote]: ...


@dataclass(frozen=True, slots=True)
class RiskParams:
    """The thresholds the desk set (ARB_LIQ_WARN_PCT, ARB_LIQ_CRIT_PCT, ARB_EXIT_APR,
    ARB_MAX_DRIFT_PCT, ARB_RISK_UNREADABLE_S, ARB_ALERT_MIN_GAP_S) and the carry's terms."""

    fees: Mapping[str, float] = field(default_factory=dict)  # venue -> taker fee (else SPECS)
    horizon_h: float = 168.0
    liq_warn_pct: float = 15.0
    liq_crit_pct: float = 7.0
    exit_apr: float = 0.0  # a decimal APR: a book whose carry nets under it alerts
    max_drift_pct: float = 5.0  # of the larger side's notional
    unreadable_s: float = 180.0  # an account unreadable this long alerts
    min_gap_s: float = 900.0  # one key never alerts twice within this

    # What is past its threshold: the one judgement /risk's marks and the alerts share.

    def near(self, distance_pct: float | None) -> bool:
        """Within ARB_LIQ_WARN_PCT of liquidation."""
        return distance_pct is not None and distance_pct < self.liq_warn_pct

    def critical(self, distance_pct: float | None) -> bool:
        """Within ARB_LIQ_CRIT_PCT of liquidation."""
        return distance_pct is not None and distance_pct < self.liq_crit_pct

    def drifting(self, drift_pct: float | None) -> bool:
        """Lopsided past ARB_MAX_DRIFT_PCT of the larger side."""
        return drift_pct is not None and drift_pct > self.max_drift_pct

    def losing(self, carry_apr: float | None) -> bool:
        """A held carry netting under ARB_EXIT_APR."""
        return carry_apr is not None and carry_apr < self.exit_apr


@dataclass(frozen=True, slots=True)
class LegRisk:
    position: Position
    quote: Quote | None  # the leg's current funding (same venue and symbol), if listed
    liq_distance_pct: float | None
    next_payment_usd: float | None  # + received, - paid, at quote.next_funding_time


@dataclass(frozen=True, slots=True)
class BookRisk:
    asset: str
    legs: tuple[LegRisk, ...]  # longs first, as arb.accounts.hedge orders them
    status: Status  # hedged, imbalanced or unhedged (a lone leg)
    drift_coins: float  # longs - shorts
    drift_usd: float | None  # drift_coins x the legs' size-weighted mark; None: no mark
    drift_pct: float | None  # |drift_coins| / the larger side x 100 (= of its notional)
    carry: Opportunity | None  # None: a lone leg, or its largest leg of a side has no quote
    next_settlement_usd: float | None  # the legs' next payments summed

    @property
    def carry_apr(self) -> float | None:
        """What the held carry nets from here (`spread.held_apr`: the entry's fees are paid,
        the exit's are not); None without a carry."""
        return None if self.carry is None else held_apr(self.carry)

    @property
    def worst_liq_pct(self) -> float | None:
        """The nearest leg's distance to liquidation."""
        distances = [x.liq_distance_pct for x in self.legs if x.liq_distance_pct is not None]
        return min(distances) if distances else None


@dataclass(frozen=True, slots=True)
class AccountRisk:
    venue: str
    equity: float | None
    margin_ratio: float | None  # Balance.margin_ratio: maintenance / margin balance
    error: str | None  # why it could not be read now (None: read)


@dataclass(frozen=True, slots=True)
class RiskReport:
    books: tuple[BookRisk, ...]  # worst first: nearest liquidation, then drift, then carry
    accounts: tuple[AccountRisk, ...]  # every venue with keys, in registry order
    taken_at: float


def assess(
    positions: Mapping[str, list[Position]],
    balances: Mapping[str, list[Balance]],
    errors: Mapping[str, str],
    snapshot: Snapshot,
    params: RiskParams,
    now: float,
) -> RiskReport:
    """The desk's books and accounts as risk sees them. `positions`/`balances` by venue
    (a venue missing from them and named in `errors` could not be read)."""
    quotes = _quote_index(snapshot.quotes)
    fees = {**DEFAULT_TAKER_FEES, **params.fees}
    found = books(p for ps in positions.values() for p in ps)
    assessed = [book_risk(b, quotes, fees, params.horizon_h) for b in found]
    assessed.sort(key=_worst_first)
    venues = _in_registry_order({*positions, *balances, *errors})
    accounts = tuple(account_risk(v, balances.get(v, ()), errors.get(v)) for v in venues)
    return RiskReport(tuple(assessed), accounts, now)


def liq_distance_pct(mark: float | None, liquidation: float | None) -> float | None:
    """How far the mark is from liquidation, in % of the mark, whichever the side."""
    if mark is None or liquidation is None or mark <= 0:
        return None
    return abs(mark - liquidation) / mark * 100


def next_payment(p: Position, q: Quote | None) -> float | None:
    """What the leg receives (+) or pays (-) at its next settlement at today's rate."""
    if q is None or p.notional is None:
        return None
    return -p.notional * q.rate


def leg_risk(p: Position, q: Quote | None) -> LegRisk:
    return LegRisk(p, q, liq_distance_pct(p.mark_price, p.liquidation_price), next_payment(p, q))


def drift(legs: Iterable[Position]) -> tuple[float, float | None, float | None]:
    """(coins, USD, % of the larger side) of longs - shorts; see the module's doc."""
    legs = list(legs)
    longs = sum(p.size for p in legs if p.side == "long")
    shorts = sum(p.size for p in legs if p.side == "short")
    coins = longs - shorts
    marked = [p for p in legs if p.mark_price is not None]
    marked_size = sum(p.size for p in marked)
    usd = None
    if marked_size > 0:
        mark = sum(p.size * (p.mark_price or 0.0) for p in marked) / marked_size
        usd = coins * mark
    larger = max(longs, shorts)
    return coins, usd, (abs(coins) / larger * 100 if larger > 0 else None)


def book_carry(
    legs: tuple[LegRisk, ...], fees: Mapping[str, float], horizon_h: float
) -> Opportunity | None:
    """What the book earns now: its largest long leg against its largest short leg."""
    long = _largest(legs, "long")
    short = _largest(legs, "short")
    if long is None or short is None or long.quote is None or short.quote is None:
        return None
    return directed(long.quote, short.quote, fees, horizon_h)


def book_risk(
    b: Book, quotes: Mapping[tuple[str, str], Quote], fees: Mapping[str, float], horizon_h: float
) -> BookRisk:
    legs = tuple(leg_risk(p, quotes.get((p.venue, p.symbol))) for p in b.legs)
    coins, usd, share = drift(b.legs)
    payments = [x.next_payment_usd for x in legs]
    return BookRisk(
        asset=b.asset,
        legs=legs,
        status=b.status,
        drift_coins=coins,
        drift_usd=usd,
        drift_pct=share,
        carry=book_carry(legs, fees, horizon_h),
        next_settlement_usd=None if None in payments else sum(x or 0.0 for x in payments),
    )


def account_risk(venue: str, balances: Iterable[Balance], error: str | None) -> AccountRisk:
    """One venue's account: its equity summed, the margin ratio it gives (if any)."""
    held = list(balances)
    ratios = [b.margin_ratio for b in held if b.margin_ratio is not None]
    equity = sum(b.equity for b in held) if held else None
    return AccountRisk(venue, equity, ratios[0] if ratios else None, error)


def _largest(legs: Iterable[LegRisk], side: str) -> LegRisk | None:
    sided = [x for x in legs if x.position.side == side]
    # Equal sizes on two venues: the venue named last, so the choice never depends on the
    # order the accounts answered in.
    return max(sided, key=lambda x: (x.position.size, x.position.venue), default=None)


def _quote_index(quotes: Iterable[Quote]) -> dict[tuple[str, str], Quote]:
    """(venue, symbol) -> its quote, the freshest if the snapshot holds two."""
    out: dict[tuple[str, str], Quote] = {}
    for q in quotes:
        held = out.get((q.venue, q.symbol))
        if held is None or q.received_at > held.received_at:
            out[(q.venue, q.symbol)] = q
    return out


def _in_registry_order(venues: Iterable[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(NAMES)}
    return sorted(venues, key=lambda v: (rank.get(v, len(rank)), v))


def _worst_first(b: BookRisk) -> tuple[float, float, float, str]:
    liq = b.worst_liq_pct
    apr = b.carry.apr_net if b.carry is not None else math.inf
    return (math.inf if liq is None else liq, -(b.drift_pct or 0.0), apr, b.asset)
