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
from typing import Any, ClassVar, NamedTuple, TypeVar

import msgspec

from arb.http import VenueError, VenueHttp
from arb.models import Quote
from arb.venues.numbers import RawNum, to_number

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
