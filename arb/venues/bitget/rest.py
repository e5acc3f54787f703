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
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Generic, Literal, NamedTuple, TypeVar

import msgspec

from arb.http import ReplyError
from arb.models import Quote
from arb.symbols import split_multiplier
from arb.venues.base import (
    MAX_HISTORY_REQUESTS,
    FundingPoint,
    HistoryPage,
    RawNum,
    TtlCache,
    VenueClient,
    VenueFetch,
    history_page,
    settled_in,
)

NAME = "bitget"
REST_URL = "https://api.bitget.com"
TICKERS = "/api/v2/mix/market/tickers"
CURRENT_FUNDING = "/api/v2/mix/market/current-fund-rate"
FUNDING_HISTORY = "/api/v2/mix/market/history-fund-rate"
PRODUCT_TYPE = "USDT-FUTURES"
SETTLE = "USDT"
HISTORY_LIMIT = 100  # the endpoint's maximum pageSize

SCHEDULE_TTL_S = 60.0
STALE_S = 1800.0
HOUR_MS = 3_600_000
SUCCESS = "00000"
# Codes worth a retry: too many requests (429, 1001), "system is abnormal, please
# try again later" (40015) and "server is busy" (40604).
RETRYABLE_CODES = frozenset({"429", "1001", "40015", "40604"})
T = TypeVar("T")

# A number sent as a string; "" or null when missing. Decoded with strict=False.
Opt = float | Literal[""] | None


class Envelope(msgspec.Struct, Generic[T], gc=False):
    code: str | int
    msg: str = ""
    data: list[T] | None = None  # null on errors


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


class Schedule(NamedTuple):
    interval_h: float
    next_ms: int | None  # the upcoming settlement when the table was read


def _unwrapper(row: type[T]) -> Callable[[bytes], list[T]]:
    """A decoder of Bitget's envelope with `data` rows of one type, in one pass."""
    decode = msgspec.json.Decoder(Envelope[row], strict=False).decode  # type: ignore[valid-type]

    def unwrap(body: bytes) -> list[T]:
        # Bitget answers some errors with HTTP 200 too: only `code` tells.
        env = decode(body)
        code = str(env.code)
        if code != SUCCESS:
            raise ReplyError(code, env.msg, retryable=code in RETRYABLE_CODES)
        return env.data or []

    return unwrap


decode_tickers = _unwrapper(Ticker)
_settings = _unwrapper(FundingSetting)
_history = _unwrapper(HistoryRow)


def present(value: Opt) -> float | None:
    """A number the venue gave, or None for "" and null: missing is never zero."""
    return None if value is None or value == "" else value


def expires(delivery_time: str | float | None) -> bool:
    """Perpetuals send null (or "" or 0); a delivery time means a dated future, or a
    perpetual set to settle and go away: neither is a carry leg."""
    return delivery_time not in (None, "", "0", 0)


@functools.lru_cache(maxsize=16_384)
def classify(symbol: str) -> tuple[str, float] | None:
    """`BTCUSDT` -> (BTC, 1); `1000BONKUSDT` -> (BONK, 1000); None when the symbol does
    not end in USDT (dated futures carry a date suffix, `ETHUSDT_231229`)."""
    base = symbol.removesuffix(SETTLE)
    return None if base == symbol else split_multiplier(base)


def parse_schedules(body: bytes) -> dict[str, Schedule]:
    """current-fund-rate for every symbol -> interval and upcoming settlement per symbol.
    A row without a positive interval is left out: its hourly rate cannot be known."""
    schedules: dict[str, Schedule] = {}
    for s in _settings(body):
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
        asset, multiplier = info
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


def decode_funding_history(body: bytes) -> HistoryPage:
    """A history-fund-rate reply (newest first) as a page."""
    return history_page([(r.fundingTime, r.fundingRate) for r in _history(body)])


def parse_funding_history(body: bytes) -> list[FundingPoint]:
    """Settled rates of one symbol, each per the symbol's interval at the time, oldest first."""
    return decode_funding_history(body).points


class BitgetClient(VenueClient):
    name = NAME
    default_rest_url = REST_URL

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.schedules = TtlCache(
            lambda: self.http.get(
                CURRENT_FUNDING, {"productType": PRODUCT_TYPE}, decode=parse_schedules
            ),
            SCHEDULE_TTL_S,
            STALE_S,
            self.clock,
        )

    async def fetch_quotes(self) -> VenueFetch:
        """One tickers call per scan, plus the schedule table once a minute."""
        tickers, schedules = await asyncio.gather(
            self.http.get(
                TICKERS,
                {"productType": PRODUCT_TYPE},
                decode=lambda b: (decode_tickers(b), self.clock()),
            ),
            self.schedules.get(),
            return_exceptions=True,
        )
        # Without the rates or the intervals there is nothing right to show.
        for required in (tickers, schedules):
            if isinstance(required, BaseException):
                raise required
        rows, received_at = tickers
        return VenueFetch(join_quotes(rows, schedules, received_at))

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """Pages walk back from the newest settlement (`pageNo` 1), as the endpoint has no
        time filter, so when the request bound stops them (past 400 settlements from now)
        the most recent ones are kept. A settlement landing between two pages shifts the
        rows by one: the next page repeats a row, which `settled_in` drops; none is lost.
        """
        points: list[FundingPoint] = []
        for page_no in range(1, MAX_HISTORY_REQUESTS + 1):
            params = {
                "symbol": symbol,
                "productType": PRODUCT_TYPE,
                "pageSize": str(HISTORY_LIMIT),
                "pageNo": str(page_no),
            }
            page = await self.http.get(FUNDING_HISTORY, params, decode=decode_funding_history)
            points += page.points
            if page.rows < HISTORY_LIMIT or not page.points or page.points[0].time_ms <= start_ms:
                break
        return settled_in(points, start_ms, end_ms)
