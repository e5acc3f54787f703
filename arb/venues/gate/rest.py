"""Gate v4 public market data (USDT-settled perpetuals).

`GET /api/v4/futures/usdt/contracts` gives every USDT perpetual's current funding
rate, its own interval (`funding_interval`, in SECONDS), the next settlement
(`funding_next_apply`, in epoch SECONDS), the mark price, the contract size and the
open interest in contracts, in one reply: it is the call made on every scan. It
answers at most 1000 rows a page (`limit`, `offset`), so a page as long as the limit
is followed by the next. 24 h turnover is only in `/futures/usdt/tickers`
(`volume_24h_quote`, in USDT), fetched at most once a minute like the other
venues' turnover tables.

Prices are per coin of the contract's base: `quanto_multiplier` is the contract
size (coins per contract) and only sizes orders and open interest. A `1000BONK_USDT`
base is 1000 BONK, so its price is per 1000 coins and the quote carries multiplier
1000, as a 1000BONKUSDT quote does elsewhere.

Delisting (`in_delisting`, or a `status` other than `trading` in the current docs),
inverse and non-USDT rows are skipped. Errors come as non-2xx replies with
`{"label","message"}`, which the shared HTTP layer types by status; the same body
with a 2xx status is raised here as a `ReplyError`.

Settled funding comes from `GET /api/v4/futures/usdt/funding_rate?contract=`, rows
`{"t": seconds, "r": rate}`, at most 1000 a reply: the `limit` settlements up to `to`.

Order books come from `GET /api/v4/futures/usdt/order_book?contract=&limit=`, levels
`{"p": price, "s": contracts}` best first: prices per unit of the name's base (1000 coins
for 1000BONK_USDT) and sizes in contracts, so both are converted with the cached contract
list (`common.to_contracts`: coins per contract, and the smallest order in contracts).
"""

from __future__ import annotations

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
    sized_book,
)
from arb.venues.cache import Metadata
from arb.venues.gate.common import (
    NAME,
    PAGE_LIMIT,
    SETTLE,
    ContractRow,
    ContractTable,
    ErrorReply,
    classify,
    contract_pages,
    raise_label,
    to_contracts,
    unwrapper,
)
from arb.venues.numbers import Num, RawNum, present, to_number

TICKERS = "/api/v4/futures/usdt/tickers"
FUNDING_RATE = "/api/v4/futures/usdt/funding_rate"
# Public futures endpoints allow 200 requests per 10 s per IP each, whatever the depth;
# 100 levels a side is the most a documented client asks for (the docs give no maximum).
ORDER_BOOK = "/api/v4/futures/usdt/order_book"
BOOK_DEPTH = 100

TURNOVER_TTL_S = 60.0
CONTRACTS_TTL_S = 600.0  # contract sizes change with a relisting, not between scans


class Contract(msgspec.Struct, gc=False):
    # Sizes are integers in older docs and strings in current ones: Num takes both.
    name: str
    type: str = ""  # "direct" (linear) or "inverse"
    status: str = ""  # prelaunch, trading, delisting, delisted, circuit_breaker; absent before
    in_delisting: bool = False
    funding_rate: Num = ""
    funding_interval: Num = ""  # seconds
    funding_next_apply: Num = ""  # epoch seconds
    mark_price: Num = ""  # per coin of the base
    quanto_multiplier: Num = ""  # coins of the base per contract
    position_size: Num = ""  # open interest, contracts


class PriceSize(msgspec.Struct, gc=False):
    p: RawNum = None  # per unit of the name's base
    s: RawNum = None  # contracts (an integer in the docs, a string in replies since 2025)


class OrderBook(msgspec.Struct, gc=False):
    asks: list[PriceSize]  # best first
    bids: list[PriceSize]
    current: RawNum = None  # when the reply was made, epoch seconds


class Ticker(msgspec.Struct, gc=False):
    contract: str
    volume_24h_quote: Num = ""


class FundingRateRow(msgspec.Struct, gc=False):
    t: RawNum = None  # the settlement, epoch seconds
    r: RawNum = None


decode_contracts = unwrapper(Contract)
_tickers = unwrapper(Ticker)
_funding_rates = unwrapper(FundingRateRow)
_order_book = msgspec.json.Decoder(OrderBook, strict=False).decode
_refusal = msgspec.json.Decoder(ErrorReply).decode


def open_interest_value(c: Contract) -> float | None:
    """Contracts x coins per contract x price per coin; None unless all three are given."""
    if "" in (c.position_size, c.quanto_multiplier, c.mark_price):
        return None
    return c.position_size * c.quanto_multiplier * c.mark_price


def join_quotes(
    rows: list[Contract], turnover: dict[str, float], received_at: float
) -> list[Quote]:
    """Trading linear USDT perpetuals with funding -> quotes (a zero rate is kept)."""
    quotes: list[Quote] = []
    for c in rows:
        if c.in_delisting or c.status not in ("", "trading") or c.type not in ("", "direct"):
            continue  # delisting or delisted, pre-launch or halted, or inverse
        if c.funding_rate == "" or c.funding_interval == "" or c.funding_interval <= 0:
            continue
        info = classify(c.name)
        if info is None:
            continue
        asset, multiplier = info
        next_s = c.funding_next_apply
        quotes.append(
            Quote(
                venue=NAME,
                asset=asset,
                symbol=c.name,
                rate=c.funding_rate,
                interval_h=c.funding_interval / 3600,
                next_funding_time=round(next_s * 1000) if next_s != "" and next_s > 0 else None,
                mark_price=present(c.mark_price),
                turnover_24h=turnover.get(c.name),
                open_interest_value=open_interest_value(c),
                received_at=received_at,
                multiplier=multiplier,
                settle=SETTLE,
            )
        )
    return quotes


def parse_turnover(body: bytes) -> dict[str, float]:
    """24 h turnover in USDT by contract."""
    return {t.contract: t.volume_24h_quote for t in _tickers(body) if t.volume_24h_quote != ""}


def parse_sizing(rows: list[ContractRow]) -> dict[str, Sizing]:
    """Each contract's sizing (`common.to_contracts`): prices per unit of the name's base,
    sizes in contracts, and Gate trades whole contracts from `order_size_min` up."""
    return {
        name: Sizing(c.price_unit, float(c.coins), float(c.coins * c.min_contracts), float(c.coins))
        for name, c in to_contracts(rows).items()
    }


def decode_order_book(body: bytes) -> OrderBook:
    """An order_book reply; Gate's error object (with a 2xx status) as a ReplyError."""
    try:
        return _order_book(body)
    except msgspec.ValidationError as shape:
        try:
            refusal = _refusal(body)
        except msgspec.ValidationError:
            raise shape from None
        raise_label(refusal.label, refusal.message)
        raise  # not reached: raise_label raises


def parse_book(body: bytes, symbol: str, sizing: Sizing, received_at: float) -> Book:
    """An order_book reply for `symbol` in USD per coin and coins (`parse_sizing`)."""
    book = decode_order_book(body)
    bids, asks = ([(level.p, level.s) for level in side] for side in (book.bids, book.asks))
    return sized_book(NAME, symbol, bids, asks, sizing, received_at)


def seconds_to_ms(value: RawNum) -> RawNum:
    """Gate's epoch seconds as ms; junk stays junk for `history_page` to skip."""
    seconds = to_number(value)
    return None if seconds is None else seconds * 1000


def decode_funding_history(body: bytes) -> HistoryPage:
    """A funding_rate reply (newest first in recorded samples) as a page."""
    return history_page([(seconds_to_ms(row.t), row.r) for row in _funding_rates(body)])


def history_params(symbol: str, to_s: int) -> dict[str, str]:
    """The page of settlements up to `to_s` (epoch seconds)."""
    return {"contract": symbol, "to": str(to_s), "limit": str(PAGE_LIMIT)}


class GateClient(VenueClient):
    name = NAME
    # 24 h turnover moves slowly and takes a second bulk call: once a minute at most.
    turnover = Metadata(TICKERS, parse_turnover, TURNOVER_TTL_S)
    sizings = ContractTable(parse_sizing, CONTRACTS_TTL_S)

    async def contracts(self) -> tuple[list[Contract], float]:
        """Every USDT contract, a page of PAGE_LIMIT at a time, and when they came."""
        return await contract_pages(self.http, decode_contracts), self.clock()

    async def fetch_quotes(self) -> VenueFetch:
        return await self.joined(
            join_quotes, self.contracts(), [], {"24h turnover": self.turnover.get()}
        )

    async def order_book(self, symbol: str) -> Book:
        """One order_book call; the contract size comes from the cached contract list."""
        query = {"contract": symbol, "limit": str(BOOK_DEPTH)}
        return await self.fetch_book(self.sizings, ORDER_BOOK, symbol, parse_book, query=query)

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """Pages walk back from `end_ms` by moving `to` (read as inclusive), so when the
        request bound stops them (past 4000 settlements) the most recent are kept.

        Only `to` is sent: the docs define `to` with `limit` alone ("from defaults to the
        start of the range `to` and `limit` return"), not which rows a range wider than
        a page returns when `from` is sent as well.
        """

        return await self.walk_back(
            FUNDING_RATE,
            partial(history_params, symbol),
            decode_funding_history,
            cursor=end_ms // 1000,
            older=lambda page, _: page.points[0].time_ms // 1000 - 1,
            start_ms=start_ms,
            end_ms=end_ms,
            full=PAGE_LIMIT,
        )
