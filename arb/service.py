"""The shared market view that commands answer from: when to fetch its book by REST.

`MarketService.refresh()` fetches venues once (callers arriving during a fetch of every
venue share it) and hands each venue's result to the book (`arb.book.MarketBook`),
which keeps the last good data of a venue that fails. `current()` answers at once from
a fresh snapshot and only waits for a fetch when there is none yet or it is older than
`max_age_s`. A venue whose live feed talks is fetched by REST less often
(`polled_venues`); the feeds (`arb.feeds.manager`) seed and update the book.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from arb.book import MarketBook
from arb.market import FeedView, Market, MarketSnapshot, VenueHealth

log = logging.getLogger(__name__)


class MarketService:
    def __init__(self, market: Market, max_age_s: float) -> None:
        self.market = market
        self.max_age_s = max_age_s
        self.clock = market.clock
        self.book = MarketBook(market.clients, market.clock)
        self.refreshes = 0
        self._inflight: asyncio.Task[MarketSnapshot] | None = None
        self._silence_s: dict[str, float] = {}  # venue -> how long its live feed may be quiet

    @property
    def venues(self) -> list[str]:
        return list(self.market.clients)

    @property
    def snapshot(self) -> MarketSnapshot | None:
        return self.book.snapshot()

    def health(self) -> list[VenueHealth]:
        return self.book.health()

    def age_s(self) -> float | None:
        """Seconds since the data last changed: a REST refresh or a live update."""
        return self.book.age_s()

    def attach_feed(self, venue: str, feed: FeedView, silence_s: float) -> None:
        """A live feed of `venue`: live while it hears something every `silence_s`."""
        self.book.attach_feed(venue, feed)
        self._silence_s[venue] = silence_s

    def feed_live(self, venue: str) -> bool:
        """Whether the venue's live feed is up and talking now."""
        feed = self.book.health_of(venue).feed
        return feed is not None and feed.live(self.clock(), self._silence_s[venue])

    def polled_venues(self) -> list[str]:
        """Venues to fetch by REST now: those without a live feed, and live ones whose last
        REST snapshot is half the max quote age old. A stream pushes a symbol only when it
        changes, so a quiet symbol would otherwise age out although nothing is wrong."""
        now = self.clock()
        out = []
        for v in self.venues:
            last = self.book.health_of(v).last_ok_at
            if not self.feed_live(v) or last is None or now - last > self.max_age_s / 2:
                out.append(v)
        return out

    async def refresh(
        self, deadline_s: float | None = None, venues: Sequence[str] | None = None
    ) -> MarketSnapshot:
        """Fetch venues by REST (default: every venue); callers arriving during a fetch of
        every venue wait for that same fetch.

        `deadline_s` cuts each venue's fetch (default: the market's venue deadline).
        """
        if venues is not None:
            return await self._refresh(deadline_s, venues)
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._refresh(deadline_s, None))
        # Shielded: a caller that gives up (a timed-out command) does not cancel the fetch.
        return await asyncio.shield(self._inflight)

    async def refresh_polled(self, deadline_s: float | None = None) -> MarketSnapshot:
        """The periodic refresh: only the venues without a live feed."""
        polled = self.polled_venues()
        if len(polled) == len(self.venues):
            return await self.refresh(deadline_s)
        if polled:
            return await self.refresh(deadline_s, polled)
        return self.snapshot or await self.refresh(deadline_s)

    async def current(self) -> MarketSnapshot:
        snapshot, age = self.snapshot, self.age_s()
        if snapshot is not None and age is not None and age <= self.max_age_s:
            return snapshot
        return await self.refresh()

    async def _refresh(
        self, deadline_s: float | None, venues: Sequence[str] | None
    ) -> MarketSnapshot:
        for quotes, outcome in await self.market.fetch(venues, deadline_s=deadline_s):
            self.book.replace(quotes, outcome)
        self.refreshes += 1
        snapshot = self.snapshot
        assert snapshot is not None
        return snapshot

    async def seed(self, venue: str) -> list[str]:
        """A REST snapshot of one venue (a feed's start or reconnect); its symbols."""
        await self.refresh(venues=[venue])
        return self.book.symbols(venue)

    async def close(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
            try:
                await self._inflight
            except (asyncio.CancelledError, Exception):
                log.debug("refresh cancelled at close")
        await self.market.close()
