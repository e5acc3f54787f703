"""Binance USDⓈ-M futures public market data.

`GET /fapi/v1/premiumIndex` (no symbol) gives every symbol's rate, mark and next
funding time, but no interval, no turnover and no contract type. Those come from
slower endpoints, cached: exchangeInfo (which rows are trading perpetuals, and
their base asset), fundingInfo (lists only symbols with non-default settings;
absent means 8 h) and the 24 h ticker (weight 40, so polled at most once a minute).

Settled funding comes from `GET /fapi/v1/fundingRate`, ascending, 1000 a page.
"""

from __future__ import annotations

import logging

import msgspec

from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import (
    USD_SETTLES,
    FundingPoint,
    HistoryPage,
    Perp,
    VenueClient,
    VenueFetch,
    history_page,
    walk_forward,
)
from arb.venues.binance.common import NAME
from arb.venues.cache import Metadata
from arb.venues.numbers import Num, RawNum, present

log = logging.getLogger(__name__)

PREMIUM_INDEX = "/fapi/v1/premiumIndex"
EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
FUNDING_INFO = "/fapi/v1/fundingInfo"
TICKER_24H = "/fapi/v1/ticker/24hr"
FUNDING_RATE_HISTORY = "/fapi/v1/fundingRate"
HISTORY_LIMIT = 1000  # the endpoint's maximum page (shares 500 requests / 5 min with fundingInfo)

DEFAULT_INTERVAL_H = 8.0
# Binance changes intervals while symbols are live: keep fundingInfo short-lived.
EXCHANGE_INFO_TTL_S = 600.0
FUNDING_INFO_TTL_S = 60.0
TICKER_TTL_S = 60.0


class PremiumIndex(msgspec.Struct, gc=False):
    symbol: str
    markPrice: Num = ""
    lastFundingRate: Num = ""  # "" for delivery contracts
    nextFundingTime: int = 0


class SymbolInfo(msgspec.Struct):
    symbol: str
    contractType: str = ""
    status: str = ""
    baseAsset: str = ""
    quoteAsset: str = ""
    marginAsset: str = ""


class ExchangeInfo(msgspec.Struct):
    symbols: list[SymbolInfo]


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


def parse_exchange_info(body: bytes) -> dict[str, Perp]:
    """Trading USDT/USDC perpetuals only: delivery and SETTLING rows drop out here."""
    perps: dict[str, Perp] = {}
    for s in _exchange_info.decode(body).symbols:
        if s.contractType != "PERPETUAL" or s.status != "TRADING":
            continue
        if s.quoteAsset not in USD_SETTLES:
            continue
        asset, multiplier = split_multiplier(s.baseAsset)
        perps[s.symbol] = Perp(asset, multiplier, s.marginAsset or s.quoteAsset)
    return perps


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
