"""The desk's nouns: a venue quote for one perpetual, and a cross-venue opportunity."""

from __future__ import annotations

import msgspec

HOURS_PER_YEAR = 8760


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
