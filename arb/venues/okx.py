"""OKX v5 public market data (USDT/USDC linear swaps).

`GET /api/v5/public/funding-rate?instId=ANY` gives every swap's rate, but its
`fundingTime` is the *upcoming* settlement and the interval exists only as
`nextFundingTime - fundingTime`. Mark prices and 24 h volume come from two more
bulk calls; the instrument list (linear or inverse, settle currency, state) is
cached. Prices are per coin, so no multiplier: `ctVal` only sizes orders.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from arb.http import ReplyError, VenueError
from arb.models import Quote
from arb.venues.base import USD_SETTLES, TtlCache, VenueClient, VenueFetch

log = logging.getLogger(__name__)

NAME = "okx"
REST_URL = "https://www.okx.com"
FUNDING_RATE = "/api/v5/public/funding-rate"
INSTRUMENTS = "/api/v5/public/instruments"
MARK_PRICE = "/api/v5/public/mark-price"
TICKERS = "/api/v5/market/tickers"

INSTRUMENTS_TTL_S = 600.0
STALE_S = 1800.0
HOUR_MS = 3_600_000
# 50001 service unavailable, 50004 endpoint timeout, 50011 rate limit, 50013 busy.
RETRYABLE_CODES = frozenset({"50001", "50004", "50011", "50013"})


class Envelope(msgspec.Struct):
    code: str
    msg: str = ""
    data: msgspec.Raw = msgspec.Raw(b"[]")


class FundingRate(msgspec.Struct):
    instId: str
    fundingRate: str = ""
    fundingTime: str = ""
    nextFundingTime: str = ""


class Instrument(msgspec.Struct):
    instId: str
    ctType: str = ""
    ctValCcy: str = ""
    settleCcy: str = ""
    state: str = ""
    ruleType: str = ""
    uly: str = ""
    expTime: str = ""


class MarkPrice(msgspec.Struct):
    instId: str
    markPx: str = ""


class Ticker(msgspec.Struct):
    instId: str
    last: str = ""
    volCcy24h: str = ""


class Swap(msgspec.Struct, frozen=True):
    asset: str
    settle: str


_envelope = msgspec.json.Decoder(Envelope)
_funding = msgspec.json.Decoder(list[FundingRate])
_instruments = msgspec.json.Decoder(list[Instrument])
_marks = msgspec.json.Decoder(list[MarkPrice])
_tickers = msgspec.json.Decoder(list[Ticker])


def unwrap(body: bytes) -> msgspec.Raw:
    # OKX sends errors (50011 among them) with HTTP 200 too, and `code` is a string.
    env = _envelope.decode(body)
    if env.code != "0":
        raise ReplyError(env.code, env.msg, retryable=env.code in RETRYABLE_CODES)
    return env.data


def parse_instruments(body: bytes) -> dict[str, Swap]:
    """Live, normal-rule, linear USDT/USDC swaps that are not being delisted."""
    swaps: dict[str, Swap] = {}
    for i in _instruments.decode(unwrap(body)):
        if i.ctType != "linear" or i.settleCcy not in USD_SETTLES:
            continue
        if i.state != "live" or i.ruleType not in ("", "normal") or i.expTime:
            continue
        asset = i.ctValCcy or i.uly.split("-", 1)[0]
        if asset:
            swaps[i.instId] = Swap(asset, i.settleCcy)
    return swaps


def decode_funding(body: bytes) -> list[FundingRate]:
    return _funding.decode(unwrap(body))


def parse_marks(body: bytes) -> dict[str, float]:
    return {m.instId: float(m.markPx) for m in _marks.decode(unwrap(body)) if m.markPx}


def parse_turnover(body: bytes) -> dict[str, float]:
    """Quote turnover: for swaps `volCcy24h` is in base coins, so times `last`."""
    return {
        t.instId: float(t.volCcy24h) * float(t.last)
        for t in _tickers.decode(unwrap(body))
        if t.volCcy24h and t.last
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
        if swap is None or not r.fundingRate or not r.fundingTime or not r.nextFundingTime:
            continue
        try:
            funding_ms = int(r.fundingTime)
            interval_h = (int(r.nextFundingTime) - funding_ms) / HOUR_MS
            if interval_h <= 0:
                continue
            quotes.append(
                Quote(
                    venue=NAME,
                    asset=swap.asset,
                    symbol=r.instId,
                    rate=float(r.fundingRate),
                    interval_h=interval_h,
                    next_funding_time=funding_ms,  # fundingTime is the upcoming settlement
                    mark_price=marks.get(r.instId),
                    turnover_24h=turnover.get(r.instId),
                    open_interest_value=None,  # one more call per scan; not worth it yet
                    received_at=received_at,
                    multiplier=1.0,
                    settle=swap.settle,
                )
            )
        except ValueError:
            log.warning("okx: skipping %s, unparsable number", r.instId)
    return quotes


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

    async def fetch_quotes(self) -> VenueFetch:
        funding, swaps, marks, turnover = await asyncio.gather(
            self.http.get(
                FUNDING_RATE, {"instId": "ANY"}, decode=lambda b: (decode_funding(b), self.clock())
            ),
            self.swaps.get(),
            self.http.get(MARK_PRICE, {"instType": "SWAP"}, decode=parse_marks),
            self.http.get(TICKERS, {"instType": "SWAP"}, decode=parse_turnover),
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
