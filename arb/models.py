"""The desk's nouns: a venue quote for one perpetual, a cross-venue opportunity, a venue's
order book, and what storage keeps of them (subscriptions, alert state, risk state,
funding history points, model calls, the trading journal's orders and trades).

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


# --- trading: orders and the journal (arb.trading, storage.journal) ---------------------

Side = Literal["buy", "sell"]
# filled: all of it; partial: some, the rest cancelled; none: nothing filled, the order is
# done (IOC expired, or cancelled); rejected: the venue refused it, nothing exists;
# unknown: no answer (timeout, disconnect) or not final yet: look it up by client id.
Status = Literal["filled", "partial", "none", "rejected", "unknown"]
FINAL: frozenset[str] = frozenset({"filled", "partial", "none", "rejected"})
TradeKind = Literal["open", "close"]
TradeMode = Literal["paper", "live"]
# working: orders may be out; hedged: both legs hold the same coins (within tolerance);
# flat: nothing was left on (nothing filled, or what filled was unwound); unhedged: the
# legs differ and repairs failed: trading halts until a person looks; refused: nothing
# was sent (a venue could not be prepared, a limit, a halt found at the last moment).
TradeState = Literal["working", "hedged", "flat", "unhedged", "refused"]


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One IOC limit order, as the journal records it before it is sent. Sizes in coins,
    prices in USD per coin: each venue's order client converts to its own units."""

    client_id: str  # from the journal: letters and digits only, at most 20 characters
    venue: str
    symbol: str  # the venue's symbol, as Quote.symbol and Book.symbol
    side: Side
    coins: float  # a whole number of the venue's lots, in coins
    price_cap: float  # USD per coin: a buy fills at or below it, a sell at or above
    reduce_only: bool = False

    @property
    def signed(self) -> float:
        """+1 for a buy, -1 for a sell."""
        return 1.0 if self.side == "buy" else -1.0


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What came of an order, as the venue says (or that it did not say)."""

    client_id: str
    status: Status
    filled_coins: float = 0.0
    avg_price: float | None = None  # USD per coin; None when nothing filled
    fee_usd: float | None = None  # paid (positive) in USD; None: the venue did not say
    order_id: str | None = None  # the venue's own id, when it gave one
    reason: str | None = None  # the venue's words, for rejected and unknown

    @property
    def final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True, slots=True)
class JournalOrder:
    """An order as the journal holds it: written before it is sent (`outcome` None),
    rewritten after every answer and lookup."""

    trade_id: int
    step: str  # "long", "short", "repair 1", ...: what the order was for
    intent: OrderIntent
    outcome: OrderOutcome | None
    created_at: float
    updated_at: float

    @property
    def filled(self) -> float:
        """Signed coins this order moved (+ bought), as far as known."""
        if self.outcome is None:
            return 0.0
        return self.intent.signed * self.outcome.filled_coins


@dataclass(frozen=True, slots=True)
class JournalTrade:
    """One open or close of a carry: its plan, its state, and every order sent for it."""

    id: int
    kind: TradeKind
    mode: TradeMode
    asset: str
    long_venue: str
    long_symbol: str
    short_venue: str
    short_symbol: str
    coins: float  # planned per leg
    notional_usd: float  # planned per leg
    # A close's coins long minus coins short when planned (its drift, closed with it); an
    # open's is 0: it leaves whatever drift it found.
    start_net: float
    state: TradeState
    note: str | None  # the last words on it, as told to the chat
    chat_id: int | None
    message_id: int | None
    created_at: float
    updated_at: float
    orders: tuple[JournalOrder, ...] = ()


@dataclass(frozen=True, slots=True)
class Halt:
    """Trading stopped, and why: by /halt or by the trader itself (an unhedged book, an
    order it could not account for)."""

    reason: str
    by: str  # who: an admin's name, or "the trader"
    at: float
