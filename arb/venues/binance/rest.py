"""Binance USDⓈ-M futures public market data.

`GET /fapi/v1/premiumIndex` (no symbol) gives every symbol's rate, mark and next
funding time, but no interval, no turnover and no contract type. Those come from
slower endpoints, cached: exchangeInfo (which rows are trading perpetuals, and
their base asset), fundingInfo (lists only symbols with non-default settings;
absent means 8 h) and the 24 h ticker (weight 40, so polled at most once a minute).

Settled funding comes from `GET /fapi/v1/fundingRate`, ascending, 1000 a page.

Order books come from `GET /fapi/v1/depth` (limit 100: weight 5), prices per unit of the
symbol's base and quantities in those units (1000PEPEUSDT: per and in 1000 PEPE); order
steps from exchangeInfo's MARKET_LOT_SIZE (a taker's market order), else LOT_SIZE, cached.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import msgspec

from arb.depth import Book
from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import (
    USD_SETTLES,
    FundingPoint,
    HistoryPage,
    Perp,
    Sizing,
    VenueClient,
    VenueFetch,
    history_page,
    in_coins,
    sized_book,
    walk_forward,
)
from arb.venues.binance.common import NAME, ErrorReply, reply_error
from arb.venues.cache import Metadata
from arb.venues.numbers import Num, RawNum, present

log = logging.getLogger(__name__)

PREMIUM_INDEX = "/fapi/v1/premiumIndex"
EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
FUNDING_INFO = "/fapi/v1/fundingInfo"
TICKER_24H = "/fapi/v1/ticker/24hr"
FUNDING_RATE_HISTORY = "/fapi/v1/fundingRate"
DEPTH = "/fapi/v1/depth"
HISTORY_LIMIT = 1000  # the endpoint's maximum page (shares 500 requests / 5 min with fundingInfo)
# Levels a side. The weight grows with the limit: 5-50 levels cost 2, 100 cost 5, 500 cost
# 10, 1000 cost 20 (of 2400 a minute); 100 levels cover the sizes we quote.
DEPTH_LIMIT = 100

DEFAULT_INTERVAL_H = 8.0
# Binance changes intervals while symbols are live: keep fundingInfo short-lived.
EXCHANGE_INFO_TTL_S = 600.0
FUNDING_INFO_TTL_S = 60.0
TICKER_TTL_S = 60.0
# Order steps change with a relisting at most: exchangeInfo (weight 1) is read again for
# them, apart from the perpetual list, hourly and only when a book is asked for.
SIZING_TTL_S = 3600.0
# Filters in the order they are read: a market order's step and minimum first.
LOT_FILTERS = ("MARKET_LOT_SIZE", "LOT_SIZE")


class PremiumIndex(msgspec.Struct, gc=False):
    symbol: str
    markPrice: Num = ""
    lastFundingRate: Num = ""  # "" for delivery contracts
    nextFundingTime: int = 0


class LotFilter(msgspec.Struct, gc=False):
    filterType: str = ""
    stepSize: RawNum = None  # in units of the symbol's base (1000PEPE)
    minQty: RawNum = None


class SymbolInfo(msgspec.Struct):
    symbol: str
    contractType: str = ""
    status: str = ""
    baseAsset: str = ""
    quoteAsset: str = ""
    marginAsset: str = ""
    filters: list[LotFilter] = msgspec.field(default_factory=list)


class ExchangeInfo(msgspec.Struct):
    symbols: list[SymbolInfo]


class Depth(msgspec.Struct, gc=False):
    bids: list[tuple[RawNum, RawNum]]  # best first
    asks: list[tuple[RawNum, RawNum]]


class FundingInfo(msgspec.Struct):
    symbol: str
    fundingIntervalHours: int | None = None


class Ticker24h(msgspec.Struct, gc=False):
    symbol: str
    quoteVolume: Num = ""


class FundingRateRow(msgspec.Struct, gc=False):
    fundingTime: RawNum = None  # the settlement, ms as a number
    fundingRate: RawNum = None


# premiumIndex answers an object when asked for one symbol and an array otherwise.
_premium = msgspec.json.Decoder(list[PremiumIndex] | PremiumIndex, strict=False)
_exchange_info = msgspec.json.Decoder(ExchangeInfo)
_funding_info = msgspec.json.Decoder(list[FundingInfo])
_ticker = msgspec.json.Decoder(list[Ticker24h], strict=False)
_funding_history = msgspec.json.Decoder(list[FundingRateRow], strict=False)
_depth = msgspec.json.Decoder(Depth, strict=False)
_error_reply = msgspec.json.Decoder(ErrorReply)


def trading_perps(body: bytes) -> Iterator[tuple[SymbolInfo, Perp]]:
    """An exchangeInfo reply's trading USDT/USDC perpetuals: delivery and SETTLING rows
    drop out here."""
    for s in _exchange_info.decode(body).symbols:
        if s.contractType != "PERPETUAL" or s.status != "TRADING":
            continue
        if s.quoteAsset not in USD_SETTLES:
            continue
        asset, multiplier = split_multiplier(s.baseAsset)
        yield s, Perp(asset, multiplier, s.marginAsset or s.quoteAsset)


def parse_exchange_info(body: bytes) -> dict[str, Perp]:
    return {s.symbol: perp for s, perp in trading_perps(body)}


def parse_sizing(body: bytes) -> dict[str, Sizing]:
    """exchangeInfo -> each trading perpetual's multiplier, step and minimum quantity, the
    last two from the symbol's base units into coins."""
    table: dict[str, Sizing] = {}
    for s, perp in trading_perps(body):
        m = perp.multiplier
        by_type = {f.filterType: f for f in s.filters}
        lots = next((by_type[t] for t in LOT_FILTERS if t in by_type), LotFilter())
        table[s.symbol] = Sizing(m, in_coins(lots.stepSize, m), in_coins(lots.minQty, m))
    return table


def error_reply(body: bytes) -> ErrorReply | None:
    """Binance's error envelope, where a reply that is not what was asked for holds one."""
    try:
        return _error_reply.decode(body)
    except msgspec.DecodeError:
        return None


def parse_book(body: bytes, symbol: str, sizing: Sizing, received_at: float) -> Book:
    """A depth reply -> `symbol`'s book in USD per coin and coins."""
    try:
        depth = _depth.decode(body)
    except msgspec.ValidationError:
        error = error_reply(body)
        if error is None:
            raise
        raise reply_error(error.code, error.msg) from None
    return sized_book(NAME, symbol, depth.bids, depth.asks, sizing, received_at)


def parse_funding_info(body: bytes) -> dict[str, float]:
    return {
        f.symbol: float(f.fundingIntervalHours)
        for f in _funding_info.decode(body)
        if f.fundingIntervalHours and f.fundingIntervalHours > 0
    }


def parse_ticker_24h(body: bytes) -> dict[str, float]:
    return {t.symbol: t.quoteVolume for t in _ticker.decode(body) if t.quoteVolume != ""}


def decode_premium_index(body: bytes) -> list[PremiumIndex]:
    rows = _premium.decode(body)
    return [rows] if isinstance(rows, PremiumIndex) else rows


def join_quotes(
    rows: list[PremiumIndex],
    perps: dict[str, Perp],
    intervals: dict[str, float],
    turnover: dict[str, float],
    received_at: float,
) -> list[Quote]:
    """Rates joined with the perpetual list, intervals and turnover."""
    quotes: list[Quote] = []
    for r in rows:
        perp = perps.get(r.symbol)
        if perp is None or r.lastFundingRate == "":
            continue
        quotes.append(
            Quote(
                venue=NAME,
                asset=perp.asset,
                symbol=r.symbol,
                rate=r.lastFundingRate,
                interval_h=intervals.get(r.symbol, DEFAULT_INTERVAL_H),
                next_funding_time=r.nextFundingTime or None,
                mark_price=present(r.markPrice),
                turnover_24h=turnover.get(r.symbol),
                open_interest_value=None,  # per-symbol endpoint only
                received_at=received_at,
                multiplier=perp.multiplier,
                settle=perp.settle,
            )
        )
    return quotes


def decode_funding_history(body: bytes) -> HistoryPage:
    """A fundingRate reply (ascending) as a page."""
    return history_page([(r.fundingTime, r.fundingRate) for r in _funding_history.decode(body)])


class BinanceClient(VenueClient):
    name = NAME
    perps = Metadata(EXCHANGE_INFO, parse_exchange_info, EXCHANGE_INFO_TTL_S)
    intervals = Metadata(FUNDING_INFO, parse_funding_info, FUNDING_INFO_TTL_S)
    turnover = Metadata(TICKER_24H, parse_ticker_24h, TICKER_TTL_S)
    sizings = Metadata(EXCHANGE_INFO, parse_sizing, SIZING_TTL_S)

    async def fetch_quotes(self) -> VenueFetch:
        # Without the rates, the perpetual list or the intervals there is nothing
        # right to show; turnover alone is optional.
        return await self.joined(
            join_quotes,
            self.stamped(PREMIUM_INDEX, None, decode_premium_index),
            [self.perps.get(), self.intervals.get()],
            {"24h turnover": self.turnover.get()},
        )

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """A range wider than a page comes back as its first 1000 rows, so pages walk
        forward from `start_ms`; when the request bound stops them (past 4000
        settlements) the oldest ones are kept."""

        async def page_from(start: int) -> HistoryPage:
            params = {
                "symbol": symbol,
                "startTime": str(start),
                "endTime": str(end_ms),
                "limit": str(HISTORY_LIMIT),
            }
            return await self.http.get(FUNDING_RATE_HISTORY, params, decode=decode_funding_history)

        return await walk_forward(page_from, start_ms, end_ms, HISTORY_LIMIT)

    async def order_book(self, symbol: str) -> Book:
        query = {"symbol": symbol, "limit": str(DEPTH_LIMIT)}
        return await self.fetch_book(self.sizings, DEPTH, symbol, parse_book, query=query)
