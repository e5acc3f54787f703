"""OKX v5 public market data (USDT/USDC linear swaps).

`GET /api/v5/public/funding-rate?instId=ANY` gives every swap's rate, but its
`fundingTime` is the *upcoming* settlement and the interval exists only as
`nextFundingTime - fundingTime`. Mark prices and 24 h volume come from two more
bulk calls (turnover cached for a minute); the instrument list (linear or
inverse, settle currency, state) is cached. Prices are per coin, so no
multiplier: `ctVal` only sizes orders.

Settled funding comes from `GET /api/v5/public/funding-rate-history`, newest first,
paged with `after`; `realizedRate` is what was charged, `fundingRate` what was predicted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from arb.http import ReplyError, VenueError
from arb.models import Quote
from arb.venues.base import (
    MAX_HISTORY_REQUESTS,
    USD_SETTLES,
    FundingPoint,
    HistoryPage,
    Num,
    RawNum,
    TtlCache,
    VenueClient,
    VenueFetch,
    history_page,
    settled_in,
    to_number,
)

log = logging.getLogger(__name__)

NAME = "okx"
REST_URL = "https://www.okx.com"
FUNDING_RATE = "/api/v5/public/funding-rate"
INSTRUMENTS = "/api/v5/public/instruments"
MARK_PRICE = "/api/v5/public/mark-price"
TICKERS = "/api/v5/market/tickers"
FUNDING_HISTORY = "/api/v5/public/funding-rate-history"
HISTORY_LIMIT = 400  # the current docs' maximum page
# Older docs capped a page at 100: a page of exactly 100 may have more behind it.
OLD_HISTORY_LIMIT = 100

INSTRUMENTS_TTL_S = 600.0
TURNOVER_TTL_S = 60.0
STALE_S = 1800.0
HOUR_MS = 3_600_000
T = TypeVar("T")
# 50001 service unavailable, 50004 endpoint timeout, 50011 rate limit, 50013 busy.
RETRYABLE_CODES = frozenset({"50001", "50004", "50011", "50013"})


class Envelope(msgspec.Struct, Generic[T], gc=False):
    code: str
    msg: str = ""
    data: list[T] = msgspec.field(default_factory=list)


class FundingRate(msgspec.Struct, gc=False):
    instId: str
    fundingRate: Num = ""
    fundingTime: Num = ""  # the upcoming settlement, ms
    nextFundingTime: Num = ""  # the one after it, ms


class Instrument(msgspec.Struct, gc=False):
    instId: str
    ctType: str = ""
    ctValCcy: str = ""
    settleCcy: str = ""
    state: str = ""
    ruleType: str = ""
    uly: str = ""
    expTime: str = ""


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


class Swap(msgspec.Struct, frozen=True):
    asset: str
    settle: str


def _unwrapper(row: type[T]) -> Callable[[bytes], list[T]]:
    """A decoder of OKX's envelope with `data` rows of one type, in one pass."""
    decode = msgspec.json.Decoder(Envelope[row], strict=False).decode  # type: ignore[valid-type]

    def unwrap(body: bytes) -> list[T]:
        # OKX sends errors (50011 among them) with HTTP 200 too, and `code` is a string.
        env = decode(body)
        if env.code != "0":
            raise ReplyError(env.code, env.msg, retryable=env.code in RETRYABLE_CODES)
        return env.data

    return unwrap


_instruments = _unwrapper(Instrument)
decode_funding = _unwrapper(FundingRate)
_marks = _unwrapper(MarkPrice)
_tickers = _unwrapper(Ticker)
_funding_history = _unwrapper(FundingHistoryRow)


def parse_instruments(body: bytes) -> dict[str, Swap]:
    """Live, normal-rule, linear USDT/USDC swaps that are not being delisted."""
    swaps: dict[str, Swap] = {}
    for i in _instruments(body):
        if i.ctType != "linear" or i.settleCcy not in USD_SETTLES:
            continue
        if i.state != "live" or i.ruleType not in ("", "normal") or i.expTime:
            continue
        asset = i.ctValCcy or i.uly.split("-", 1)[0]
        if asset:
            swaps[i.instId] = Swap(asset, i.settleCcy)
    return swaps


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
        interval_h = (r.nextFundingTime - r.fundingTime) / HOUR_MS
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


def parse_funding_history(body: bytes) -> list[FundingPoint]:
    """Settled rates of one swap, each per its interval at the time, oldest first."""
    return decode_funding_history(body).points


class OkxClient(VenueClient):
    name = NAME
    default_rest_url = REST_URL

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.swaps = TtlCache(
            lambda: self.http.get(INSTRUMENTS, {"instType": "SWAP"}, decode=parse_instruments),
            INSTRUMENTS_TTL_S,
            STALE_S,
            self.clock,
        )
        # 24 h turnover moves slowly; like Binance's, it is fetched at most once a minute.
        self.turnover = TtlCache(
            lambda: self.http.get(TICKERS, {"instType": "SWAP"}, decode=parse_turnover),
            TURNOVER_TTL_S,
            STALE_S,
            self.clock,
        )

    async def fetch_quotes(self) -> VenueFetch:
        funding, swaps, marks, turnover = await asyncio.gather(
            self.http.get(
                FUNDING_RATE, {"instId": "ANY"}, decode=lambda b: (decode_funding(b), self.clock())
            ),
            self.swaps.get(),
            self.http.get(MARK_PRICE, {"instType": "SWAP"}, decode=parse_marks),
            self.turnover.get(),
            return_exceptions=True,
        )
        for required in (funding, swaps):
            if isinstance(required, BaseException):
                raise required
        warnings: list[str] = []
        if isinstance(marks, VenueError):
            warnings.append(f"no mark prices: {marks}")
            marks = {}
        if isinstance(turnover, VenueError):
            warnings.append(f"no 24h turnover: {turnover}")
            turnover = {}
        for optional in (marks, turnover):
            if isinstance(optional, BaseException):
                raise optional
        rows, received_at = funding
        return VenueFetch(join_quotes(rows, swaps, marks, turnover, received_at), warnings)

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """Pages walk back from `end_ms` with `after` (exclusive: rows older than it), so
        when the request bound stops them the most recent settlements are the ones kept."""
        points: list[FundingPoint] = []
        after = end_ms + 1
        for _ in range(MAX_HISTORY_REQUESTS):
            params = {"instId": symbol, "after": str(after), "limit": str(HISTORY_LIMIT)}
            page = await self.http.get(FUNDING_HISTORY, params, decode=decode_funding_history)
            points += page.points
            last_page = page.rows < HISTORY_LIMIT and page.rows != OLD_HISTORY_LIMIT
            if last_page or not page.points or page.points[0].time_ms <= start_ms:
                break
            after = page.points[0].time_ms
        return settled_in(points, start_ms, end_ms)
