"""Bybit v5 public market data (linear perpetuals).

One call gives everything: `GET /v5/market/tickers?category=linear` carries the
funding rate, the symbol's own interval in hours, the next funding time, mark,
turnover and open-interest value. The same list mixes in dated futures and
pre-market contracts with blank numeric fields; those rows are skipped.

Settled funding comes from `GET /v5/market/funding/history`, newest first, 200 a page.

Order books come from `GET /v5/market/orderbook?category=linear` (up to 500 levels a side;
200 asked), prices per unit of the symbol's base and sizes in those units (1000PEPEUSDT:
per and in 1000 PEPE); order steps from instruments-info's lotSizeFilter, cached.
"""

from __future__ import annotations

import logging
from functools import partial

import msgspec

from arb.depth import Book
from arb.models import Quote
from arb.venues.base import (
    FundingPoint,
    HistoryPage,
    Sizing,
    VenueClient,
    VenueFetch,
    history_page,
    in_coins,
    sized_book,
)
from arb.venues.bybit.common import NAME, Rows, classify, unwrapper
from arb.venues.cache import Metadata
from arb.venues.numbers import Num, RawNum, present

log = logging.getLogger(__name__)

TICKERS = "/v5/market/tickers"
FUNDING_HISTORY = "/v5/market/funding/history"
ORDER_BOOK = "/v5/market/orderbook"
INSTRUMENTS = "/v5/market/instruments-info"
HISTORY_LIMIT = 200  # the endpoint's maximum page
# Levels a side: linear takes 1-500. Public market data has no per-endpoint weight, only
# the IP's 600 requests per 5 s, so depth costs bytes, not quota; 200 levels cover any
# size we would quote.
BOOK_LIMIT = 200
# The instruments-info page: 1000 is the maximum and holds every linear contract.
INSTRUMENTS_LIMIT = 1000
SIZING_TTL_S = 600.0


class Ticker(msgspec.Struct, gc=False):
    # Perps and futures share the list, so blanks are normal.
    symbol: str
    fundingRate: Num = ""
    fundingIntervalHour: Num = ""
    nextFundingTime: Num = ""
    markPrice: Num = ""
    turnover24h: Num = ""
    openInterestValue: Num = ""
    deliveryTime: Num = ""
    curPreListingPhase: str = ""


class FundingRow(msgspec.Struct, gc=False):
    fundingRateTimestamp: RawNum = None  # the settlement, ms as a string
    fundingRate: RawNum = None


class LotSizeFilter(msgspec.Struct, gc=False):
    qtyStep: RawNum = None  # in units of the symbol's base (1000PEPE)
    minOrderQty: RawNum = None


class Instrument(msgspec.Struct, gc=False):
    symbol: str
    lotSizeFilter: LotSizeFilter = msgspec.field(default_factory=LotSizeFilter)


class OrderBook(msgspec.Struct, gc=False):
    b: list[tuple[RawNum, RawNum]] = msgspec.field(default_factory=list)  # bids, best first
    a: list[tuple[RawNum, RawNum]] = msgspec.field(default_factory=list)  # asks, best first


decode_tickers = unwrapper(Rows[Ticker])
_funding_rows = unwrapper(Rows[FundingRow])
_instruments = unwrapper(Rows[Instrument])
_order_book = unwrapper(OrderBook)


def parse_tickers(body: bytes, received_at: float) -> list[Quote]:
    """Linear tickers reply -> quotes of USDT/USDC perpetuals that are trading."""
    quotes: list[Quote] = []
    append = quotes.append
    for t in decode_tickers(body).rows:
        rate, interval_h = t.fundingRate, t.fundingIntervalHour
        if rate == "" or interval_h == "" or interval_h <= 0:
            continue  # a dated future or a contract without funding
        if t.deliveryTime or t.curPreListingPhase:
            continue  # a perpetual being delisted, or a pre-market contract
        info = classify(t.symbol)
        if info is None:
            continue
        asset, multiplier, settle = info
        append(
            Quote(
                venue=NAME,
                asset=asset,
                symbol=t.symbol,
                rate=rate,
                interval_h=interval_h,
                next_funding_time=int(t.nextFundingTime) if t.nextFundingTime else None,
                mark_price=present(t.markPrice),
                turnover_24h=present(t.turnover24h),
                open_interest_value=present(t.openInterestValue),
                received_at=received_at,
                multiplier=multiplier,
                settle=settle,
            )
        )
    return quotes


def parse_sizing(body: bytes) -> dict[str, Sizing]:
    """instruments-info -> each in-scope symbol's multiplier, qtyStep and minOrderQty, the
    last two from the symbol's base units into coins."""
    table: dict[str, Sizing] = {}
    for row in _instruments(body).rows:
        perp = classify(row.symbol)
        if perp is not None:
            lots = row.lotSizeFilter
            m = perp.multiplier
            table[row.symbol] = Sizing(m, in_coins(lots.qtyStep, m), in_coins(lots.minOrderQty, m))
    return table


def parse_book(body: bytes, symbol: str, sizing: Sizing, received_at: float) -> Book:
    """An orderbook reply -> `symbol`'s book in USD per coin and coins."""
    book = _order_book(body)
    return sized_book(NAME, symbol, book.b, book.a, sizing, received_at)


def decode_funding_history(body: bytes) -> HistoryPage:
    """A funding-history reply as a page (the venue sends it newest first)."""
    rows = _funding_rows(body).rows
    return history_page([(r.fundingRateTimestamp, r.fundingRate) for r in rows])


def history_params(symbol: str, end: int) -> dict[str, str]:
    """The page of settlements at or before `end` (ms)."""
    return {
        "category": "linear",
        "symbol": symbol,
        "endTime": str(end),
        "limit": str(HISTORY_LIMIT),
    }


class BybitClient(VenueClient):
    name = NAME
    sizings = Metadata(
        INSTRUMENTS,
        parse_sizing,
        SIZING_TTL_S,
        {"category": "linear", "limit": str(INSTRUMENTS_LIMIT)},
    )

    async def fetch_quotes(self) -> VenueFetch:
        def decode(body: bytes) -> list[Quote]:
            return parse_tickers(body, self.clock())

        quotes = await self.http.get(TICKERS, {"category": "linear"}, decode=decode)
        return VenueFetch(quotes)

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """Pages walk back from `end_ms` by moving endTime, so when the request bound
        stops them the most recent settlements are the ones kept.

        Only endTime is sent: the docs define it alone ("the 200 records before it")
        but not what a range wider than a page returns with startTime as well.
        """

        return await self.walk_back(
            FUNDING_HISTORY,
            partial(history_params, symbol),
            decode_funding_history,
            cursor=end_ms,
            older=lambda page, _: page.points[0].time_ms - 1,
            start_ms=start_ms,
            end_ms=end_ms,
            full=HISTORY_LIMIT,
        )

    async def order_book(self, symbol: str) -> Book:
        query = {"category": "linear", "symbol": symbol, "limit": str(BOOK_LIMIT)}
        return await self.fetch_book(self.sizings, ORDER_BOOK, symbol, parse_book, query=query)
