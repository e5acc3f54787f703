"""Bitget v2 public market data (USDT-margined perpetuals).

`GET /api/v2/mix/market/tickers?productType=USDT-FUTURES` gives every contract's
current rate, mark price, 24 h quote volume and open interest, but neither the
interval nor the funding time. `GET /api/v2/mix/market/current-fund-rate` without
a symbol lists every symbol's interval (`fundingRateInterval`, hours) and upcoming
settlement (`nextUpdate`, ms). Intervals change rarely, so that table is cached for
a minute; a settlement that passes meanwhile is rolled on by the interval. Dated
futures share the ticker list and carry a `deliveryTime`; 1000x contracts
(1000BONKUSDT) are priced per 1000 coins. Bitget writes `null` where other venues
write "".

Settled funding comes from `GET /api/v2/mix/market/history-fund-rate`: newest first,
paged by `pageNo`, at most 100 a page, no time filter.

Order books come from `GET /api/v2/mix/market/merge-depth` unmerged (`scale0`), levels
`[price, size]` best first, sizes in the symbol's base (1000 BONK for 1000BONKUSDT, priced
per 1000 coins like its quotes). The order step and smallest order (`sizeMultiplier`,
`minTradeNum`, in the same units) come from `GET /api/v2/mix/market/contracts`, cached.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, NamedTuple

import msgspec

from arb.depth import Book
from arb.http import ReplyShapeError
from arb.models import Quote
from arb.venues.base import (
    HOUR_MS,
    FundingPoint,
    HistoryPage,
    Sizing,
    VenueClient,
    VenueFetch,
    history_page,
    in_coins,
    sized_book,
)
from arb.venues.bitget.common import NAME, PRODUCT_TYPE, SETTLE, classify, unwrapper
from arb.venues.cache import Metadata
from arb.venues.numbers import RawNum, present

TICKERS = "/api/v2/mix/market/tickers"
CURRENT_FUNDING = "/api/v2/mix/market/current-fund-rate"
FUNDING_HISTORY = "/api/v2/mix/market/history-fund-rate"
HISTORY_LIMIT = 100  # the endpoint's maximum pageSize
# Both 20 requests per second per IP. A merge-depth call costs the same at any depth, so
# it asks for the deepest (`max`), unmerged (`scale0`) book.
MERGE_DEPTH = "/api/v2/mix/market/merge-depth"
CONTRACTS = "/api/v2/mix/market/contracts"
BOOK_QUERY = {"precision": "scale0", "limit": "max"}

SCHEDULE_TTL_S = 60.0
CONTRACTS_TTL_S = 600.0  # an order step changes with a relisting, not between scans
PRODUCT = {"productType": PRODUCT_TYPE}

# A number sent as a string; "" or null when missing. Decoded with strict=False.
Opt = float | Literal[""] | None


class Ticker(msgspec.Struct, gc=False):
    symbol: str
    fundingRate: Opt = None
    markPrice: Opt = None
    quoteVolume: Opt = None  # 24 h, in the quote currency
    holdingAmount: Opt = None  # open interest, in the contract's own coin units
    deliveryTime: str | float | None = None  # set only on contracts that expire


class FundingSetting(msgspec.Struct, gc=False):
    symbol: str
    fundingRateInterval: Opt = None  # hours: 1, 2, 4 or 8
    nextUpdate: Opt = None  # the upcoming settlement, ms


class HistoryRow(msgspec.Struct, gc=False):
    fundingTime: RawNum = None  # the settlement, ms as a string
    fundingRate: RawNum = None


class ContractRow(msgspec.Struct, gc=False):
    symbol: str
    sizeMultiplier: RawNum = None  # the order size step, in the symbol's base
    minTradeNum: RawNum = None  # the smallest order, in the symbol's base


class Depth(msgspec.Struct, gc=False):
    asks: list[tuple[RawNum, RawNum]] = []  # [price, size], best first
    bids: list[tuple[RawNum, RawNum]] = []
    ts: RawNum = None


class Schedule(NamedTuple):
    interval_h: float
    next_ms: int | None  # the upcoming settlement when the table was read


_tickers = unwrapper(list[Ticker])
_settings = unwrapper(list[FundingSetting])
_history = unwrapper(list[HistoryRow])
_contracts = unwrapper(list[ContractRow])
_depth = unwrapper(Depth)


def decode_tickers(body: bytes) -> list[Ticker]:
    return _tickers(body) or []


def expires(delivery_time: str | float | None) -> bool:
    """Perpetuals send null (or "" or 0); a delivery time means a dated future, or a
    perpetual set to settle and go away: neither is a carry leg."""
    return delivery_time not in (None, "", "0", 0)


def parse_schedules(body: bytes) -> dict[str, Schedule]:
    """current-fund-rate for every symbol -> interval and upcoming settlement per symbol.
    A row without a positive interval is left out: its hourly rate cannot be known."""
    schedules: dict[str, Schedule] = {}
    for s in _settings(body) or []:
        interval_h, next_ms = present(s.fundingRateInterval), present(s.nextUpdate)
        if interval_h is None or interval_h <= 0:
            continue
        schedules[s.symbol] = Schedule(interval_h, int(next_ms) if next_ms else None)
    return schedules


def roll_forward(next_ms: int, interval_h: float, now_ms: int) -> int:
    """The first settlement after `now_ms`, from one read earlier: the cached table's
    `nextUpdate` goes stale each time a settlement passes."""
    if next_ms > now_ms:
        return next_ms
    step = int(interval_h * HOUR_MS)
    return next_ms + ((now_ms - next_ms) // step + 1) * step


def join_quotes(
    tickers: list[Ticker], schedules: dict[str, Schedule], received_at: float
) -> list[Quote]:
    """Tickers joined with their schedules. A ticker without a rate or a schedule, a
    contract that expires, or a symbol that is not a plain USDT perpetual is skipped."""
    now_ms = int(received_at * 1000)
    quotes: list[Quote] = []
    for t in tickers:
        rate = present(t.fundingRate)
        if rate is None or expires(t.deliveryTime):
            continue
        schedule = schedules.get(t.symbol)
        info = classify(t.symbol)
        if schedule is None or info is None:
            continue
        asset, multiplier = info[0], float(info[1])
        mark, holding = present(t.markPrice), present(t.holdingAmount)
        next_ms = schedule.next_ms
        quotes.append(
            Quote(
                venue=NAME,
                asset=asset,
                symbol=t.symbol,
                rate=rate,
                interval_h=schedule.interval_h,
                next_funding_time=(
                    None if next_ms is None else roll_forward(next_ms, schedule.interval_h, now_ms)
                ),
                mark_price=mark,
                turnover_24h=present(t.quoteVolume),
                # Both per contract unit (1000 BONK for 1000BONKUSDT), so the product is USDT.
                open_interest_value=(
                    holding * mark if holding is not None and mark is not None else None
                ),
                received_at=received_at,
                multiplier=multiplier,
                settle=SETTLE,
            )
        )
    return quotes


def parse_sizing(body: bytes) -> dict[str, Sizing]:
    """The contract list -> each symbol in scope's multiplier, and its order step and
    smallest order from the symbol's base units into coins."""
    table: dict[str, Sizing] = {}
    for row in _contracts(body) or []:
        info = classify(row.symbol)
        if info is not None:
            m = info[1]
            table[row.symbol] = Sizing(
                m, in_coins(row.sizeMultiplier, m), in_coins(row.minTradeNum, m)
            )
    return table


def parse_book(body: bytes, symbol: str, sizing: Sizing, received_at: float) -> Book:
    """A merge-depth reply for `symbol` in USD per coin and coins: its price is per unit of
    the symbol's base and its size counts those units (1000 coins for 1000BONKUSDT)."""
    depth = _depth(body)
    if depth is None:
        raise ReplyShapeError(f"no book for {symbol}")
    return sized_book(NAME, symbol, depth.bids, depth.asks, sizing, received_at)


def decode_funding_history(body: bytes) -> HistoryPage:
    """A history-fund-rate reply (newest first) as a page."""
    return history_page([(r.fundingTime, r.fundingRate) for r in _history(body) or []])


def history_params(symbol: str, page_no: int) -> dict[str, str]:
    """Page `page_no` of the settlements, newest first (1 is the newest)."""
    return {
        "symbol": symbol,
        "productType": PRODUCT_TYPE,
        "pageSize": str(HISTORY_LIMIT),
        "pageNo": str(page_no),
    }


class BitgetClient(VenueClient):
    name = NAME
    schedules = Metadata(CURRENT_FUNDING, parse_schedules, SCHEDULE_TTL_S, PRODUCT)
    sizings = Metadata(CONTRACTS, parse_sizing, CONTRACTS_TTL_S, PRODUCT)

    async def fetch_quotes(self) -> VenueFetch:
        """One tickers call per scan, plus the schedule table once a minute."""
        # Without the rates or the intervals there is nothing right to show.
        return await self.joined(
            join_quotes, self.stamped(TICKERS, PRODUCT, decode_tickers), [self.schedules.get()]
        )

    async def order_book(self, symbol: str) -> Book:
        """One merge-depth call; the order step comes from the cached contract list."""
        query = {"symbol": symbol, **PRODUCT, **BOOK_QUERY}
        return await self.fetch_book(self.sizings, MERGE_DEPTH, symbol, parse_book, query=query)

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """Pages walk back from the newest settlement (`pageNo` 1), as the endpoint has no
        time filter, so when the request bound stops them (past 400 settlements from now)
        the most recent ones are kept. A settlement landing between two pages shifts the
        rows by one: the next page repeats a row, which `settled_in` drops; none is lost.
        """

        return await self.walk_back(
            FUNDING_HISTORY,
            partial(history_params, symbol),
            decode_funding_history,
            cursor=1,
            older=lambda _, page_no: page_no + 1,
            start_ms=start_ms,
            end_ms=end_ms,
            full=HISTORY_LIMIT,
        )
