"""What every venue's public client shares: the base class and its fetch result, the
funding-history walk. How venues write numbers is `arb.venues.numbers`; how they cache
slow-moving metadata, `arb.venues.cache`."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar

import msgspec

from arb.http import VenueError, VenueHttp
from arb.models import Book, Level, Quote
from arb.venues.numbers import RawNum, per_coin, to_decimal, to_number

log = logging.getLogger(__name__)

T = TypeVar("T")

USD_SETTLES = frozenset({"USDT", "USDC"})
# Requests one `funding_history` call may send: enough for 30 days of hourly funding
# on every venue, and a bound on what one caller can cost us against the rate limits.
MAX_HISTORY_REQUESTS = 4
HOUR_MS = 3_600_000


class Perp(NamedTuple):
    """A USDT or USDC perpetual as a venue's symbol names it."""

    asset: str  # canonical: PEPE for 1000PEPEUSDT
    multiplier: float  # coins per unit of the symbol's base: 1000 for 1000PEPEUSDT
    settle: str


class Sizing(NamedTuple):
    """How a venue writes and sizes one symbol's orders, for its order book (all in coins)."""

    multiplier: float  # coins per unit its prices are per and its sizes count (1000PEPE: 1000)
    lot: float  # order size step (0: any size)
    min_qty: float  # smallest order (0: none)
    # Coins per unit its sizes count where the venue counts contracts (a contract size,
    # times the multiplier where prices are per unit) rather than units; 0: the multiplier.
    contract: float = 0.0

    @property
    def size_unit(self) -> float:
        return self.contract or self.multiplier


BookParser = Callable[[bytes, str, Sizing, float], Book]  # (reply, symbol, sizing, received_at)


class SizingTable(Protocol):
    """A cached table of sizings by symbol: a `Metadata`'s TtlCache, or one like it."""

    async def get(self) -> Mapping[str, Sizing]: ...


@dataclass(slots=True)
class VenueFetch:
    """Quotes from one venue, plus what was degraded on the way (e.g. no turnover)."""

    quotes: list[Quote]
    warnings: list[str] = field(default_factory=list)


class FundingPoint(msgspec.Struct, frozen=True, gc=False):
    """One settled funding: when it was charged and the rate charged then.

    `rate` is per the venue's own interval, as the venue publishes it (already hourly
    where `hourly_history` says so), because history alone cannot say what the interval was.
    """

    time_ms: int  # the settlement, ms since the epoch (UTC)
    rate: float


class HistoryPage(NamedTuple):
    """One reply of a funding-history endpoint.

    `rows` counts what the venue sent, junk included: a page as long as the limit may
    have more behind it however many of its rows were skipped.
    """

    points: list[FundingPoint]  # oldest first
    rows: int


class VenueClient(ABC):
    """Public market data of one venue. Parsing lives in pure module functions."""

    name: ClassVar[str]
    # Whether funding_history's rates are hourly whatever the interval.
    hourly_history: ClassVar[bool] = False

    def __init__(self, http: VenueHttp, clock: Callable[[], float] = time.time) -> None:
        self.http = http
        self.clock = clock

    @abstractmethod
    async def fetch_quotes(self) -> VenueFetch:
        """Every in-scope perpetual's current funding, in as few calls as the venue allows."""

    @abstractmethod
    async def funding_history(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingPoint]:
        """Settlements of the venue's own `symbol` (a `Quote.symbol` of this client) with
        start_ms <= time_ms <= end_ms, oldest first, one per time.

        At most `MAX_HISTORY_REQUESTS` requests: past that, what was fetched is returned
        (each venue's docstring says which end of the range it keeps).
        """

    @abstractmethod
    async def order_book(self, symbol: str) -> Book:
        """The current order book of the venue's own `symbol` (a `Quote.symbol` of this
        client), from one request of a depth that is cheap in the venue's weight table.

        Levels run best first (bids highest, asks lowest); prices are USD per coin and
        sizes coins, converted with the same multiplier the quotes use (1000PEPEUSDT: the
        price / 1000, the size x 1000) and the contract size where the venue counts in
        contracts. `lot` and `min_qty` are the venue's order step and smallest order, in
        coins, from its cached instrument metadata. Raises VenueError like the other calls,
        also for a symbol the venue does not list.
        """

    async def sizing(self, table: SizingTable, symbol: str, path: str) -> Sizing:
        """`symbol`'s sizing from the venue's cached instrument metadata; a symbol it does not
        list as a perpetual of ours is a VenueError on `path` before any book is asked for."""
        sizing = (await table.get()).get(symbol)
        if sizing is None:
            raise VenueError(self.name, path, f"{symbol!r} is not a listed perpetual")
        return sizing

    async def fetch_book(
        self,
        table: SizingTable,
        path: str,
        symbol: str,
        parse: BookParser,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Book:
        """`symbol`'s book from one request of `path` (a GET of `query`, or a POST of the
        JSON `body`): its sizing first, so a symbol the venue does not list costs no book
        request, then `parse(reply, symbol, sizing, received_at)`."""
        sizing = await self.sizing(table, symbol, path)

        def decode(reply: bytes) -> Book:
            return parse(reply, symbol, sizing, self.clock())

        if body is not None:
            return await self.http.post_json(path, body, decode=decode)
        return await self.http.get(path, query or {}, decode=decode)

    async def walk_back(
        self,
        path: str,
        query: Callable[[int], Mapping[str, str]],
        decode: Callable[[bytes], HistoryPage],
        *,
        cursor: int,
        older: Callable[[HistoryPage, int], int],
        start_ms: int,
        end_ms: int,
        full: int | Callable[[int], bool],
    ) -> list[FundingPoint]:
        """The settlements in [start_ms, end_ms] from GETs of `path`, newest pages first:
        `query(cursor)` asks for a page, `older(page, cursor)` gives the cursor of the one
        before it. A page that is not `full` (as long as the limit, or a test of its row
        count) is the last, and so is one that reaches `start_ms`. When
        `MAX_HISTORY_REQUESTS` stops the walk, the most recent settlements are kept."""

        async def fetch(at: int) -> HistoryPage:
            return await self.http.get(path, query(at), decode=decode)

        def reached(page: HistoryPage) -> bool:
            return page.points[0].time_ms <= start_ms

        points = await _pages(fetch, cursor, older, full, reached)
        return settled_in(points, start_ms, end_ms)

    async def stamped(
        self, path: str, params: Mapping[str, str] | None, decode: Callable[[bytes], T]
    ) -> tuple[T, float]:
        """One GET's decoded reply and when it came, on this client's clock."""
        return await self.http.get(path, params, decode=lambda body: (decode(body), self.clock()))

    async def joined(
        self,
        join: Callable[..., list[Quote]],
        rates: Awaitable[tuple[Any, float]],
        tables: Sequence[Awaitable[Any]],
        optional: Mapping[str, Awaitable[Any]] | None = None,
    ) -> VenueFetch:
        """One scan fetched at once and joined: `join(rows, *tables, *optional, received_at)`
        with the rows and time of `rates`. Without the rates or one of the `tables` there
        is nothing right to show; an `optional` one that fails is empty and a warning."""
        (stamped, *needed), extra, warnings = await gather_parts([rates, *tables], optional)
        rows, received_at = stamped
        return VenueFetch(join(rows, *needed, *extra, received_at), warnings)

    async def close(self) -> None:
        await self.http.close()


async def gather_parts(
    required: Sequence[Awaitable[Any]], optional: Mapping[str, Awaitable[Any]] | None = None
) -> tuple[list[Any], list[Any], list[str]]:
    """Every part of a scan at once. A required part that fails fails the scan; an optional
    one (named by what it gives: "24h turnover") that fails with a VenueError is an empty
    table and a warning, `no 24h turnover: <error>`."""
    optional = optional or {}
    results = await asyncio.gather(*required, *optional.values(), return_exceptions=True)
    needed, extra = results[: len(required)], results[len(required) :]
    for part in needed:
        if isinstance(part, BaseException):
            raise part
    warnings: list[str] = []
    tables: list[Any] = []
    for what, part in zip(optional, extra, strict=True):
        if isinstance(part, VenueError):
            warnings.append(f"no {what}: {part}")
            part = {}
        elif isinstance(part, BaseException):
            raise part
        tables.append(part)
    return needed, tables, warnings


async def walk_forward(
    fetch: Callable[[int], Awaitable[HistoryPage]],
    start_ms: int,
    end_ms: int,
    full: int,
) -> list[FundingPoint]:
    """The settlements in [start_ms, end_ms] from an endpoint that answers forward from a
    start time: `fetch(start)` asks for a page, the next starts past its last settlement.
    When `MAX_HISTORY_REQUESTS` stops the walk, the oldest settlements are the ones kept."""

    def later(page: HistoryPage, _: int) -> int:
        return page.points[-1].time_ms + 1

    points = await _pages(fetch, start_ms, later, full, lambda _: False)
    return settled_in(points, start_ms, end_ms)


async def _pages(
    fetch: Callable[[int], Awaitable[HistoryPage]],
    cursor: int,
    following: Callable[[HistoryPage, int], int],
    full: int | Callable[[int], bool],
    last: Callable[[HistoryPage], bool],
) -> list[FundingPoint]:
    """Every point of the pages from `cursor` on, up to a page that is not `full`, empty or
    `last`, or the request bound."""
    is_full = full if callable(full) else lambda rows: rows >= full
    points: list[FundingPoint] = []
    for _ in range(MAX_HISTORY_REQUESTS):
        page = await fetch(cursor)
        points += page.points
        if not is_full(page.rows) or not page.points or last(page):
            break
        cursor = following(page, cursor)
    return points


def book_side(
    rows: Iterable[tuple[RawNum, RawNum]], price_unit: float, size_unit: RawNum = 1
) -> tuple[Level, ...]:
    """One side of a venue's order book, (price, size) pairs best first as the venue wrote
    them, in USD per coin and coins: prices per `price_unit` coins (1000 for 1000PEPEUSDT),
    sizes in units of `size_unit` coins (the same multiplier, or a contract size), both
    converted in decimal. A level without a positive price and size is dropped."""
    levels: list[Level] = []
    for raw_price, raw_size in rows:
        price, size = per_coin(raw_price, price_unit), in_coins(raw_size, size_unit)
        if price is not None and size > 0:
            levels.append(Level(price, size))
    return tuple(levels)


def sized_book(
    venue: str,
    symbol: str,
    bids: Iterable[tuple[RawNum, RawNum]],
    asks: Iterable[tuple[RawNum, RawNum]],
    sizing: Sizing,
    received_at: float,
) -> Book:
    """A venue's book from its two sides as written, in USD per coin and coins by `sizing`."""
    return Book(
        venue=venue,
        symbol=symbol,
        bids=book_side(bids, sizing.multiplier, sizing.size_unit),
        asks=book_side(asks, sizing.multiplier, sizing.size_unit),
        received_at=received_at,
        lot=sizing.lot,
        min_qty=sizing.min_qty,
    )


def in_coins(value: RawNum, unit: RawNum) -> float:
    """A size the venue wrote in units of `unit` coins (a multiplier or a contract size),
    multiplied in decimal: 3 lots of 0.1 are 0.3 coins. 0 for a blank, junk or negative."""
    d, u = to_decimal(value), to_decimal(unit)
    if d is None or u is None or d <= 0 or u <= 0:
        return 0.0
    return float(d * u)


def next_hour_ms(now_s: float) -> int:
    return (int(now_s * 1000) // HOUR_MS + 1) * HOUR_MS


def history_page(rows: Sequence[tuple[RawNum, RawNum]]) -> HistoryPage:
    """(settlement time, rate) pairs as the venue wrote them -> a page, oldest first.

    A row with a blank or unreadable time or rate is skipped: one bad settlement says
    nothing about the others, so it should not cost the caller the whole reply.
    """
    points: list[FundingPoint] = []
    for raw_time, raw_rate in rows:
        time_ms, rate = to_number(raw_time), to_number(raw_rate)
        if time_ms is not None and time_ms > 0 and rate is not None:
            points.append(FundingPoint(int(time_ms), rate))
    points.sort(key=lambda p: p.time_ms)
    return HistoryPage(points, len(rows))


def settled_in(points: Iterable[FundingPoint], start_ms: int, end_ms: int) -> list[FundingPoint]:
    """Pages overlap and overshoot the range: keep [start_ms, end_ms], one point per
    settlement time, oldest first."""
    by_time = {p.time_ms: p for p in points if start_ms <= p.time_ms <= end_ms}
    return [by_time[t] for t in sorted(by_time)]
