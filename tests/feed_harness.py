"""Running a real `Feed` against a fake venue WebSocket server, at test speed.

Shared by the feed tests: a backoff that records the failure counts it was asked
for, a re-seed hook that records the feed's last error at each (re)connect, and an
`on_updates` that hands each symbol's updates out in order without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from arb.feeds.base import Backoff, Dialect, Feed
from arb.models import QuoteUpdate

WAIT_S = 5.0


@dataclass(frozen=True)
class CountingBackoff(Backoff):
    """Test-speed backoff that records the failure count of each delay it gives."""

    failures: list[int] = field(default_factory=list)

    def delay(self, failures: int, rng: random.Random) -> float:
        self.failures.append(failures)
        return super().delay(failures, rng)


@dataclass
class Reseed:
    """The REST re-seed hook `Feed` calls on every (re)connect: it returns the symbols to
    subscribe (the last list repeats) and records the feed's last error at each call."""

    lists: list[list[str]]
    feed: Feed | None = None
    errors_seen: list[str | None] = field(default_factory=list)

    async def __call__(self) -> list[str]:
        assert self.feed is not None
        self.errors_seen.append(self.feed.state.last_error)
        return self.lists[min(len(self.errors_seen), len(self.lists)) - 1]


@dataclass
class Updates:
    """`on_updates` for the feed: keeps every update and hands out each symbol's in order."""

    received: list[QuoteUpdate] = field(default_factory=list)
    taken: Counter[str] = field(default_factory=Counter)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, updates: list[QuoteUpdate]) -> None:
        self.received += updates
        self.arrived.set()

    async def next(self, symbol: str) -> QuoteUpdate:
        async with asyncio.timeout(WAIT_S):
            while True:
                mine = [u for u in self.received if u.symbol == symbol]
                if len(mine) > self.taken[symbol]:
                    self.taken[symbol] += 1
                    return mine[self.taken[symbol] - 1]
                self.arrived.clear()
                await self.arrived.wait()


@dataclass
class Running:
    feed: Feed
    reseed: Reseed
    updates: Updates

    async def next_update(self, symbol: str) -> QuoteUpdate:
        return await self.updates.next(symbol)


@contextlib.asynccontextmanager
async def running_feed(dialect: Dialect, url: str, *lists: list[str]) -> AsyncIterator[Running]:
    reseed, updates = Reseed(list(lists)), Updates()
    feed = Feed(dialect, url, reseed, updates, backoff=CountingBackoff(initial_s=0.01, max_s=0.05))
    reseed.feed = feed
    task = asyncio.create_task(feed.run())
    try:
        yield Running(feed, reseed, updates)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
