"""Bybit v5 public market data (linear perpetuals).

One call gives everything: `GET /v5/market/tickers?category=linear` carries the
funding rate, the symbol's own interval in hours, the next funding time, mark,
turnover and open-interest value. The same list mixes in dated futures and
pre-market contracts with blank numeric fields; those rows are skipped.
"""

from __future__ import annotations

import functools
import logging

import msgspec

from arb.http import ReplyError
from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import Num, VenueClient, VenueFetch

log = logging.getLogger(__name__)

NAME = "bybit"
REST_URL = "https://api.bybit.com"
TICKERS = "/v5/market/tickers"

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


_decode = msgspec.json.Decoder(Envelope, strict=False).decode


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
    if env.retCode != 0:
        raise ReplyError(str(env.retCode), env.retMsg, retryable=env.retCode in RETRYABLE_CODES)
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


class BybitClient(VenueClient):
    name = NAME
    default_rest_url = REST_URL

    async def fetch_quotes(self) -> VenueFetch:
        def decode(body: bytes) -> list[Quote]:
            return parse_tickers(body, self.clock())

        quotes = await self.http.get(TICKERS, {"category": "linear"}, decode=decode)
        return VenueFetch(quotes)
