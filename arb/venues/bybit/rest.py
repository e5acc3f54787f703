"""Bybit v5 public market data (linear perpetuals).

One call gives everything: `GET /v5/market/tickers?category=linear` carries the
funding rate, the symbol's own interval in hours, the next funding time, mark,
turnover and open-interest value. The same list mixes in dated futures and
pre-market contracts with blank numeric fields; those rows are skipped.

Settled funding comes from `GET /v5/market/funding/history`, newest first, 200 a page.
"""

from __future__ import annotations

import functools
import logging

import msgspec

from arb.http import ReplyError
from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import (
    MAX_HISTORY_REQUESTS,
    FundingPoint,
    HistoryPage,
    Num,
    RawNum,
    VenueClient,
    VenueFetch,
    history_page,
    settled_in,
)

log = logging.getLogger(__name__)

NAME = "bybit"
REST_URL = "https://api.bybit.com"
TICKERS = "/v5/market/tickers"
FUNDING_HISTORY = "/v5/market/funding/history"
HISTORY_LIMIT = 200  # the endpoint's maximum page

# retCodes worth a retry: rate limits and server-side errors.
RETRYABLE_CODES = frozenset({10006, 10016, 10429})
# Settle currency by symbol suffix: USDT perps end in USDT, USDC perps in PERP
# (BTCPERP) or, for newer listings, USDC.
SUFFIX_SETTLE = (("USDT", "USDT"), ("PERP", "USDC"), ("USDC", "USDC"))


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


class TickersResult(msgspec.Struct, gc=False):
    rows: list[Ticker] = msgspec.field(name="list", default_factory=list)


class Envelope(msgspec.Struct, gc=False):
    retCode: int
    retMsg: str = ""
    result: TickersResult = msgspec.field(default_factory=TickersResult)


class FundingRow(msgspec.Struct, gc=False):
    fundingRateTimestamp: RawNum = None  # the settlement, ms as a string
    fundingRate: RawNum = None


class FundingResult(msgspec.Struct, gc=False):
    rows: list[FundingRow] = msgspec.field(name="list", default_factory=list)


class FundingEnvelope(msgspec.Struct, gc=False):
    retCode: int
    retMsg: str = ""
    result: FundingResult = msgspec.field(default_factory=FundingResult)


_decode = msgspec.json.Decoder(Envelope, strict=False).decode
_decode_funding = msgspec.json.Decoder(FundingEnvelope, strict=False).decode


def check_ret_code(ret_code: int, ret_msg: str) -> None:
    """Bybit answers its own errors with HTTP 200 too: only `retCode` tells."""
    if ret_code != 0:
        raise ReplyError(str(ret_code), ret_msg, retryable=ret_code in RETRYABLE_CODES)


@functools.lru_cache(maxsize=16_384)
def classify(symbol: str) -> tuple[str, float, str] | None:
    """Symbol -> (canonical asset, multiplier, settle currency); None if out of scope."""
    if "-" in symbol:
        return None  # dated future, e.g. BTCUSDT-11SEP26
    for suffix, settle in SUFFIX_SETTLE:
        if symbol.endswith(suffix) and len(symbol) > len(suffix):
            try:
                asset, multiplier = split_multiplier(symbol[: -len(suffix)])
            except ValueError:
                return None
            return asset, multiplier, settle
    return None


def parse_tickers(body: bytes, received_at: float) -> list[Quote]:
    """Linear tickers reply -> quotes of USDT/USDC perpetuals that are trading."""
    env = _decode(body)
    check_ret_code(env.retCode, env.retMsg)
    quotes: list[Quote] = []
    append = quotes.append
    for t in env.result.rows:
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
                mark_price=t.markPrice if t.markPrice != "" else None,
                turnover_24h=t.turnover24h if t.turnover24h != "" else None,
                open_interest_value=t.openInterestValue if t.openInterestValue != "" else None,
                received_at=received_at,
                multiplier=multiplier,
                settle=settle,
            )
        )
    return quotes


def decode_funding_history(body: bytes) -> HistoryPage:
    """A funding-history reply as a page (the venue sends it newest first)."""
    env = _decode_funding(body)
    check_ret_code(env.retCode, env.retMsg)
    return history_page([(r.fundingRateTimestamp, r.fundingRate) for r in env.result.rows])


def parse_funding_history(body: bytes) -> list[FundingPoint]:
    """Settled rates of one symbol, each per the symbol's interval at the time, oldest first."""
    return decode_funding_history(body).points


class BybitClient(VenueClient):
    name = NAME
    default_rest_url = REST_URL

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
        points: list[FundingPoint] = []
        end = end_ms
        for _ in range(MAX_HISTORY_REQUESTS):
            params = {
                "category": "linear",
                "symbol": symbol,
                "endTime": str(end),
                "limit": str(HISTORY_LIMIT),
            }
            page = await self.http.get(FUNDING_HISTORY, params, decode=decode_funding_history)
            points += page.points
            if page.rows < HISTORY_LIMIT or not page.points or page.points[0].time_ms <= start_ms:
                break
            end = page.points[0].time_ms - 1
        return settled_in(points, start_ms, end_ms)
