"""Bybit v5 public market data (linear perpetuals).

One call gives everything: `GET /v5/market/tickers?category=linear` carries the
funding rate, the symbol's own interval in hours, the next funding time, mark,
turnover and open-interest value. The same list mixes in dated futures and
pre-market contracts with blank numeric fields; those rows are skipped.
"""

from __future__ import annotations

import logging

import msgspec

from arb.http import ReplyError
from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import VenueClient, VenueFetch, num

log = logging.getLogger(__name__)

NAME = "bybit"
REST_URL = "https://api.bybit.com"
TICKERS = "/v5/market/tickers"

# retCodes worth a retry: rate limits and server-side errors.
RETRYABLE_CODES = frozenset({10006, 10016, 10429})
# Settle currency by symbol suffix: USDT perps end in USDT, USDC perps in PERP
# (BTCPERP) or, for newer listings, USDC.
SUFFIX_SETTLE = (("USDT", "USDT"), ("PERP", "USDC"), ("USDC", "USDC"))


class Envelope(msgspec.Struct):
    retCode: int
    retMsg: str = ""
    result: msgspec.Raw = msgspec.Raw(b"null")


class Ticker(msgspec.Struct):
    # Every value is a string; perps and futures share the list, so blanks are normal.
    symbol: str
    fundingRate: str = ""
    fundingIntervalHour: str = ""
    nextFundingTime: str = ""
    markPrice: str = ""
    turnover24h: str = ""
    openInterestValue: str = ""
    deliveryTime: str = ""
    curPreListingPhase: str = ""


class TickersResult(msgspec.Struct):
    rows: list[Ticker] = msgspec.field(name="list")
    category: str = ""


_envelope = msgspec.json.Decoder(Envelope)
_tickers = msgspec.json.Decoder(TickersResult)


def unwrap(body: bytes) -> msgspec.Raw:
    env = _envelope.decode(body)
    if env.retCode != 0:
        raise ReplyError(str(env.retCode), env.retMsg, retryable=env.retCode in RETRYABLE_CODES)
    return env.result


def parse_tickers(body: bytes, received_at: float) -> list[Quote]:
    """Linear tickers reply -> quotes of USDT/USDC perpetuals that are trading."""
    result = _tickers.decode(unwrap(body))
    quotes: list[Quote] = []
    for t in result.rows:
        if "-" in t.symbol or t.deliveryTime not in ("", "0") or t.curPreListingPhase:
            continue  # dated future, delisting perp, or pre-market contract
        if not t.fundingRate or not t.fundingIntervalHour:
            continue
        settle = base = None
        for suffix, ccy in SUFFIX_SETTLE:
            if t.symbol.endswith(suffix) and len(t.symbol) > len(suffix):
                base, settle = t.symbol[: -len(suffix)], ccy
                break
        if base is None or settle is None:
            continue
        try:
            interval_h = float(t.fundingIntervalHour)
            if interval_h <= 0:
                continue
            asset, multiplier = split_multiplier(base)
            next_ms = int(t.nextFundingTime) if t.nextFundingTime not in ("", "0") else None
            quotes.append(
                Quote(
                    venue=NAME,
                    asset=asset,
                    symbol=t.symbol,
                    rate=float(t.fundingRate),
                    interval_h=interval_h,
                    next_funding_time=next_ms,
                    mark_price=num(t.markPrice),
                    turnover_24h=num(t.turnover24h),
                    open_interest_value=num(t.openInterestValue),
                    received_at=received_at,
                    multiplier=multiplier,
                    settle=settle,
                )
            )
        except ValueError:
            log.warning("bybit: skipping %s, unparsable number", t.symbol)
    return quotes


class BybitClient(VenueClient):
    name = NAME
    default_rest_url = REST_URL

    async def fetch_quotes(self) -> VenueFetch:
        def decode(body: bytes) -> list[Quote]:
            return parse_tickers(body, self.clock())

        quotes = await self.http.get(TICKERS, {"category": "linear"}, decode=decode)
        return VenueFetch(quotes)
