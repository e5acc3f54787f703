"""Order books of the legs a command asks about: fetched on demand, kept a few seconds.

Nothing streams books. `/size`, `/funding`'s best pair, `/signal` and an alert about to go
out each ask for the two legs they name (`OrderBooks.pair`), never the whole market: a
book is one request of the venue's own weight (each client's `order_book` says which).
A book is kept BOOK_TTL_S, and callers asking for a leg whose fetch is under way share
it, so a burst of replies about one carry costs the venue two requests.

A leg whose book cannot be had (its venue failing, slow, or not enabled) comes back as
that leg's reason, in the desk's words; it never raises through the other leg.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arb.http import VenueError
from arb.models import Opportunity, Quote

if TYPE_CHECKING:
    from arb.depth import Book
    from arb.venues.base import VenueClient

log = logging.getLogger(__name__)

BOOK_TTL_S = 3.0  # a book older than this is fetched again: books move within seconds
BOOK_DEADLINE_S = 10.0  # a leg's fetch, retries included, before it is "no answer"
PRUNE_AT = 256  # cached books before the expired ones are dropped


@dataclass(frozen=True, slots=True)
class SizeParams:
    """What a carry is sized at: the notional per leg and the slippage a capacity allows.
    `min_capacity_usd` (None: off) is the alerts' floor on that capacity."""

    notional_usd: float = 10_000.0
    max_slippage_bps: float = 10.0
    min_capacity_usd: float | None = None


@dataclass(frozen=True, slots=True)
class LegBook:
    """One leg's book, or why there is none."""

    side: str  # "long" or "short"
    venue: str
    symbol: str
    book: Book | None
    error: str | None = None  # set when `book` is None


class BookError(Exception):
    """A book could not be had. `str()` is one line a desk can read."""


class OrderBooks:
    """Books per (venue, symbol), fetched through the venues' public clients."""

    def __init__(
        self,
        clients: Iterable[VenueClient],
        ttl_s: float = BOOK_TTL_S,
        clock: Callable[[], float] = time.time,
        deadline_s: float = BOOK_DEADLINE_S,
    ) -> None:
        self.clients = {c.name: c for c in clients}
        self.ttl_s = ttl_s
        self.clock = clock
        self.deadline_s = deadline_s
        self.fetches = 0  # books asked of the venues, for tests and the bench
        self._cache: dict[tuple[str, str], tuple[float, Book]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[Book]] = {}

    async def get(self, venue: str, symbol: str) -> Book:
        """The book of `symbol` on `venue`, at most `ttl_s` old. Raises BookError."""
        key = (venue, symbol)
        cached = self._cache.get(key)
        if cached is not None and self.clock() - cached[0] <= self.ttl_s:
            return cached[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(venue, symbol), name=f"book {venue} {symbol}")
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settled(key, t))
        # Shielded: one caller giving up must not cancel the fetch the others wait for.
        return await asyncio.shield(task)

    def peek(self, venue: str, symbol: str) -> Book | None:
        """The last book fetched of `symbol` on `venue`, however old (its lot and minimum
        order outlive its prices); None when none was."""
        cached = self._cache.get((venue, symbol))
        return cached[1] if cached is not None else None

    async def leg(self, side: str, quote: Quote) -> LegBook:
        """`get` for one leg, its failure as the leg's reason."""
        try:
            book = await self.get(quote.venue, quote.symbol)
        except BookError as e:
            return LegBook(side, quote.venue, quote.symbol, None, str(e))
        return LegBook(side, quote.venue, quote.symbol, book)

    async def pair(self, o: Opportunity) -> tuple[LegBook, LegBook]:
        """The long and the short leg's books, fetched at once."""
        long, short = await asyncio.gather(self.leg("long", o.long), self.leg("short", o.short))
        return long, short

    async def _fetch(self, venue: str, symbol: str) -> Book:
        client = self.clients.get(venue)
        if client is None:
            raise BookError(f"{venue} is not enabled here")
        self.fetches += 1
        try:
            async with asyncio.timeout(self.deadline_s):
                book = await client.order_book(symbol)
        except VenueError as e:
            raise BookError(str(e)) from None
        except TimeoutError:
            raise BookError(f"{venue}: no book within {self.deadline_s:g} s") from None
        except Exception as e:  # a parser bug answers for its leg only
            log.exception("%s %s: order book failed", venue, symbol)
            raise BookError(f"{venue}: internal error ({type(e).__name__})") from None
        self._keep((venue, symbol), book)
        return book

    def _settled(self, key: tuple[str, str], task: asyncio.Task[Book]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: every caller may have given up waiting

    def _keep(self, key: tuple[str, str], book: Book) -> None:
        now = self.clock()
        if len(self._cache) >= PRUNE_AT:
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] <= self.ttl_s}
        self._cache[key] = (now, book)
