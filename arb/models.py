"""The desk's nouns: a venue quote for one perpetual, a cross-venue opportunity, a venue's
order book, and what storage keeps of them (subscriptions, alert state, risk state,
funding history points, model calls).

`storage` imports only this module of `arb`: the types it reads and writes live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

HOURS_PER_YEAR = 8760
HOUR_S = 3600.0


class Quote(msgspec.Struct, frozen=True, gc=False):
    """One venue's current funding for one linear perpetual.

    `rate` is per funding interval, as the venue publishes it (0.0001 = 0.01%).
    `mark_price` is the venue's own price for one contract unit: for
    `1000PEPEUSDT` that is the price of 1000 PEPE, so compare `unit_price`.
    Optional fields are None when the venue did not give them: never zero.
    A msgspec Struct rather than a dataclass: thousands are built per scan, and a
    Struct is several times cheaper to create.
    """

    venue: str
    asset: str
    symbol: str
    rate: float
    interval_h: float
    next_funding_time: int | None  # ms since epoch, UTC
    mark_price: float | None
    turnover_24h: float | None  # quote currency
    open_interest_value: float | None  # quote currency
    received_at: float  # seconds since epoch
    multiplier: float = 1.0
    settle: str = "USDT"

    @property
    def hourly(self) -> float:
        return self.rate / self.interval_h

    @property
    def rate_8h(self) -> float:
        return self.hourly * 8

    @property
    def apr(self) -> float:
        return self.hourly * HOURS_PER_YEAR

    @property
    def unit_price(self) -> float | None:
        """Price of one coin of the canonical asset, so venues compare."""
        if self.mark_price is None:
            return None
        return self.mark_price / self.multiplier


class Opportunity(msgspec.Struct, frozen=True, gc=False):
    """Short the leg that earns the higher hourly funding, long the other."""

    asset: str
    long: Quote
    short: Quote
    spread_hourly: float
    spread_8h: float
    apr_gross: float
    fees_round_trip: float
    breakeven_h: float | None  # None when the spread is zero
    apr_net: float
    horizon_h: float
    basis_bps: float | None

    @property
    def long_venue(self) -> str:
        return self.long.venue

    @property
    def short_venue(self) -> str:
        return self.short.venue


@dataclass(frozen=True, slots=True)
class Level:
    price: float  # USD per coin (for 1000PEPEUSDT: per PEPE, i.e. the venue price / 1000)
    size: float  # coins (PEPE, not 1000PEPE lots, not contracts)


@dataclass(frozen=True, slots=True)
class Book:
    """One venue's order book for one perpetual, in USD per coin and coins (`arb.depth`
    walks it).

    Levels have positive prices and sizes (a parser drops the rest), best first.
    """

    venue: str
    symbol: str  # the venue's symbol, as Quote.symbol
    bids: tuple[Level, ...]  # best (highest) first
    asks: tuple[Level, ...]  # best (lowest) first
    received_at: float
    lot: float = 0.0  # order size step, coins (0: any size)
    min_qty: float = 0.0  # smallest order, coins (0: none)

    @property
    def mid(self) -> float | None:
        """(best bid + best ask) / 2; None if a side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2


# --- what storage keeps ------------------------------------------------------------------

Target = tuple[int, int | None]  # chat, forum topic


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    chat_id: int
    thread_id: int | None
    threshold_8h: float
    assets: frozenset[str]  # empty: every asset
    created_by: int | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class AlertKey:
    chat_id: int
    thread_id: int | None
    asset: str
    long_venue: str
    short_venue: str


@dataclass(frozen=True, slots=True)
class AlertState:
    key: AlertKey
    above: bool
    last_spread: float
    last_sent_spread: float | None
    last_sent_at: float | None


RiskKind = Literal["liq_warn", "liq_crit", "carry", "drift", "leg", "leg_gone", "unreadable"]


@dataclass(frozen=True, slots=True, order=True)
class RiskKey:
    """One condition the risk watch follows (see arb.risk_alerts)."""

    kind: RiskKind
    scope: str


@dataclass(frozen=True, slots=True)
class RiskState:
    key: RiskKey
    active: bool  # the condition holds (for "leg": the leg is open; "unreadable": failing)
    since: float  # when `active` last changed (for "unreadable": the first failed read)
    value: float | None  # the figure at the last read
    last_sent_at: float | None  # the last alert sent for this key


@dataclass(frozen=True, slots=True)
class Point:
    """A venue's hourly funding for an asset from `at` on (arb.history draws and measures
    these as step functions)."""

    at: float  # seconds since epoch
    hourly: float  # rate / interval_h
    interval_h: float
    # Set for a live rate only (`live_point`): when the interval it is predicted for ends,
    # as it started when the rate was seen, not at the interval's start. None: at + interval.
    ends: float | None = None

    @property
    def until(self) -> float:
        """When this rate stops holding, at the latest: the end of its funding interval."""
        if self.ends is not None:
            return self.ends
        return self.at + max(self.interval_h, 1.0) * HOUR_S

    @property
    def interval_start(self) -> float:
        """The start of the funding interval this rate pays for."""
        return self.until - max(self.interval_h, 1.0) * HOUR_S

    @property
    def live(self) -> bool:
        return self.ends is not None


@dataclass(frozen=True, slots=True)
class LlmCall:
    """One request to the model, as stored for /usage."""

    at: float
    asset: str
    model: str
    outcome: str  # ok, invalid, contradiction, or an LlmError kind
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    chat_id: int | None = None


@dataclass(frozen=True, slots=True)
class QuoteUpdate:
    """What one frame says about one symbol, after merging it into the dialect's state.

    Fields the venue's stream does not carry stay None: the book keeps what the
    REST snapshot said for them (e.g. a mark-price stream carries no turnover).
    """

    venue: str
    symbol: str
    received_at: float
    rate: float | None = None
    next_funding_time: int | None = None  # ms
    mark_price: float | None = None
    interval_h: float | None = None
    turnover_24h: float | None = None
    open_interest_value: float | None = None
