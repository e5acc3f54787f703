"""OKX v5 public market data (USDT/USDC linear swaps).

`GET /api/v5/public/funding-rate?instId=ANY` gives every swap's rate, but its
`fundingTime` is the *upcoming* settlement and the interval exists only as
`nextFundingTime - fundingTime`. Mark prices and 24 h volume come from two more
bulk calls (turnover cached for a minute); the instrument list (linear or
inverse, settle currency, state) is cached. Prices are per coin, so no
multiplier: `ctVal` only sizes orders.

Settled funding comes from `GET /api/v5/public/funding-rate-history`, newest first,
paged with `after`; `realizedRate` is what was charged, `fundingRate` what was predicted.

Order books come from `GET /api/v5/market/books?instId=&sz=`, levels
`[price, contracts, "0", orders]` best first: sizes are contracts, so times the cached
instrument's `ctVal` (x `ctMult`) for coins, and so are its `lotSz` and `minSz`.
"""

from __future__ import annotations

import logging
from functools import partial

import msgspec

from arb.depth import Book
from arb.http import ReplyShapeError
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
from arb.venues.cache import Metadata
from arb.venues.numbers import Num, RawNum, to_number
from arb.venues.okx.common import (
    INSTRUMENTS,
    INSTRUMENTS_TTL_S,
    NAME,
    SWAPS,
    decode_instruments,
    interval_hours,
    unwrapper,
)

log = logging.getLogger(__name__)

FUNDING_RATE = "/api/v5/public/funding-rate"
MARK_PRICE = "/api/v5/public/mark-price"
TICKERS = "/api/v5/market/tickers"
FUNDING_HISTORY = "/api/v5/public/funding-rate-history"
# 40 requests per 2 s per IP whatever the depth, so the deepest book it gives: 400 a side.
BOOKS = "/api/v5/market/books"
BOOK_DEPTH = 400
HISTORY_LIMIT = 400  # the current docs' maximum page
# Older docs capped a page at 100: a page of exactly 100 may have more behind it.
OLD_HISTORY_LIMIT = 100

TURNOVER_TTL_S = 60.0


class FundingRate(msgspec.Struct, gc=False):
    instId: str
    fundingRate: Num = ""
    fundingTime: Num = ""  # the upcoming settlement, ms
    nextFundingTime: Num = ""  # the one after it, ms


class MarkPrice(msgspec.Struct, gc=False):
    instId: str
    markPx: Num = ""


class Ticker(msgspec.Struct, gc=False):
    instId: str
    last: Num = ""
    volCcy24h: Num = ""


class FundingHistoryRow(msgspec.Struct, gc=False):
    fundingTime: RawNum = None  # the settlement, ms as a string
    fundingRate: RawNum = None  # the rate predicted for the period
    realizedRate: RawNum = None  # the rate actually charged


class BookSnapshot(msgspec.Struct, gc=False):
    asks: list[list[RawNum]] = []  # [price, contracts, "0" (deprecated), orders], best first
    bids: list[list[RawNum]] = []
    ts: RawNum = None


class Swap(msgspec.Struct, frozen=True):
    asset: str
    settle: str


decode_funding = unwrapper(FundingRate)
_marks = unwrapper(MarkPrice)
_tickers = unwrapper(Ticker)
_funding_history = unwrapper(FundingHistoryRow)
_books = unwrapper(BookSnapshot)


def parse_instruments(body: bytes) -> dict[str, Swap]:
    """Live, normal-rule, linear USDT/USDC swaps that are not being delisted."""
    swaps: dict[str, Swap] = {}
    for i in decode_instruments(body):
        if not i.linear_usd or i.state != "live" or i.ruleType not in ("", "normal"):
            continue
        if i.asset and not i.expTime:
            swaps[i.instId] = Swap(i.asset, i.settleCcy)
    return swaps


def parse_sizing(body: bytes) -> dict[str, Sizing]:
    """Every linear USDT/USDC swap's sizing: prices per coin, sizes, `lotSz` and `minSz` in
    contracts of `ctVal` (x `ctMult`) coins."""
    table: dict[str, Sizing] = {}
    for i in decode_instruments(body):
        coins = i.coins
        if i.linear_usd and coins is not None:
            table[i.instId] = Sizing(
                1.0, in_coins(i.lotSz, coins), in_coins(i.minSz, coins), float(coins)
            )
    return table


def parse_marks(body: bytes) -> dict[str, float]:
    return {m.instId: m.markPx for m in _marks(body) if m.markPx != ""}


def parse_turnover(body: bytes) -> dict[str, float]:
    """Quote turnover: for swaps `volCcy24h` is in base coins, so times `last`."""
    return {
        t.instId: t.volCcy24h * t.last for t in _tickers(body) if t.volCcy24h != "" and t.last != ""
    }


def join_quotes(
    rows: list[FundingRate],
    swaps: dict[str, Swap],
    marks: dict[str, float],
    turnover: dict[str, float],
    received_at: float,
) -> list[Quote]:
    quotes: list[Quote] = []
    for r in rows:
        swap = swaps.get(r.instId)
        if swap is None or "" in (r.fundingRate, r.fundingTime, r.nextFundingTime):
            continue  # not a live linear USD swap, or no funding (a zero rate is kept)
        interval_h = interval_hours(r.fundingTime, r.nextFundingTime)
        if interval_h <= 0:
            continue
        quotes.append(
            Quote(
                venue=NAME,
                asset=swap.asset,
                symbol=r.instId,
                rate=r.fundingRate,
                interval_h=interval_h,
                next_funding_time=int(r.fundingTime),  # the upcoming settlement
                mark_price=marks.get(r.instId),
                turnover_24h=turnover.get(r.instId),
                open_interest_value=None,  # one more call per scan; not worth it yet
                received_at=received_at,
                multiplier=1.0,
                settle=swap.settle,
            )
        )
    return quotes


def charged_rate(row: FundingHistoryRow) -> RawNum:
    """`realizedRate` when the row has one; rows without it only carry the prediction."""
    return row.realizedRate if to_number(row.realizedRate) is not None else row.fundingRate


def decode_funding_history(body: bytes) -> HistoryPage:
    """A funding-rate-history reply (newest first) as a page."""
    return history_page([(r.fundingTime, charged_rate(r)) for r in _funding_history(body)])


def pairs(levels: list[list[RawNum]]) -> list[tuple[RawNum, RawNum]]:
    """(price, contracts) of each level; a level too short to hold both is dropped."""
    return [(level[0], level[1]) for level in levels if len(level) >= 2]


def parse_book(body: bytes, symbol: str, sizing: Sizing, received_at: float) -> Book:
    """A books reply for `symbol` in USD per coin and coins (`parse_sizing`)."""
    snapshots = _books(body)
    if not snapshots:
        raise ReplyShapeError(f"no book for {symbol}")
    book = snapshots[0]
    return sized_book(NAME, symbol, pairs(book.bids), pairs(book.asks), sizing, received_at)


def history_params(symbol: str, after: int) -> dict[str, str]:
    """The page of settlements before `after` (ms, exclusive)."""
    return {"instId": symbol, "after": str(after), "limit": str(HISTORY_LIMIT)}


class OkxClient(VenueClient):
    name = NAME
    swaps = Metadata(INSTRUMENTS, parse_instruments, INSTRUMENTS_TTL_S, SWAPS)
    # 24 h turnover moves slowly: fetched at most once a minute.
    turnover = Metadata(TICKERS, parse_turnover, TURNOVER_TTL_S, SWAPS)
    # Order sizes for books: every linear swap's, a cache of its own of the same list.
    sizings = Metadata(INSTRUMENTS, parse_sizing, INSTRUMENTS_TTL_S, SWAPS)

    async def fetch_quotes(self) -> VenueFetch:
        return await self.joined(
            join_quotes,
            self.stamped(FUNDING_RATE, {"instId": "ANY"}, decode_funding),
            [self.swaps.get()],
            {
                "mark prices": self.http.get(MARK_PRICE, SWAPS, decode=parse_marks),
                "24h turnover": self.turnover.get(),
            },
        )

    async def order_book(self, symbol: str) -> Book:
        """One books call; the contract size comes from the cached instrument list."""
        query = {"instId": symbol, "sz": str(BOOK_DEPTH)}
        return await self.fetch_book(self.sizings, BOOKS, symbol, parse_book, query=query)

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """Pages walk back from `end_ms` with `after` (exclusive: rows older than it), so
        when the request bound stops them the most recent settlements are the ones kept."""

        return await self.walk_back(
            FUNDING_HISTORY,
            partial(history_params, symbol),
            decode_funding_history,
            cursor=end_ms + 1,
            older=lambda page, _: page.points[0].time_ms,
            start_ms=start_ms,
            end_ms=end_ms,
            full=lambda rows: rows >= HISTORY_LIMIT or rows == OLD_HISTORY_LIMIT,
        )
