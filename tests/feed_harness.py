"""Running a real `Feed` against a fake venue WebSocket server, at test speed.

Shared by the feed tests: a backoff that records the failure counts it was asked
for, a re-seed hook that records the feed's last error at each (re)connect (and can
act at a given call, between two connections), and an `on_updates` that hands each
symbol's updates out in order; every wait is on an event, bounded, never a sleep.

    async with FakeBybitWs() as fake, running_feed(BybitDialect(), fake.url, ["BTCUSDT"]) as run:
        await fake.wait_subscribed(1, ["BTCUSDT"])
        await fake.push_rate("BTCUSDT", 0.0002)
        assert (await run.next_update("BTCUSDT")).rate == 0.0002
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from arb.feeds.base import Backoff, Dialect, Feed
from arb.models import QuoteUpdate

WAIT_S = 5.0  # a bound for failures only: passing waits take milliseconds


@dataclass(frozen=True)
class CountingBackoff(Backoff):
    """Test-speed backoff that records the failure count of each delay it gives."""

    failures: list[int] = field(default_factory=list)

    def delay(self, failures: int, rng: random.Random) -> float:
        self.failures.append(failures)
        return super().delay(failures, rng)


async def until(event: asyncio.Event, condition: Callable[[], object], what: str) -> None:
    """Until `condition()` holds, re-checked each time `event` is set."""
    try:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                event.clear()
                await event.wait()
    except TimeoutError:
        raise TimeoutError(f"{what} not within {WAIT_S:g} s") from None


@dataclass
class Reseed:
    """The REST re-seed hook `Feed` calls on every (re)connect: it returns the symbols to
    subscribe (the last list repeats), records the feed's last error at each call (the
    error that ended the session before it: the loop clears it once the venue talks
    again) and runs `on_call[n]`, if any, at the n-th call, before that connection."""

    lists: list[list[str]]
    feed: Feed | None = None
    errors_seen: list[str | None] = field(default_factory=list)
    on_call: dict[int, Callable[[], object]] = field(default_factory=dict)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self) -> list[str]:
        assert self.feed is not None
        self.errors_seen.append(self.feed.state.last_error)
        self.on_call.get(self.calls, lambda: None)()
        self.called.set()
        return self.lists[min(self.calls, len(self.lists)) - 1]

    @property
    def calls(self) -> int:
        return len(self.errors_seen)

    async def wait_calls(self, n: int) -> None:
        await until(self.called, lambda: self.calls >= n, f"{n} re-seeds")


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
        def mine() -> list[QuoteUpdate]:
            return [u for u in self.received if u.symbol == symbol]

        await until(self.arrived, lambda: len(mine()) > self.taken[symbol], f"a {symbol} update")
        self.taken[symbol] += 1
        return mine()[self.taken[symbol] - 1]

    async def wait_count(self, n: int) -> list[QuoteUpdate]:
        """Every update so far, once there are at least `n`."""
        await until(self.arrived, lambda: len(self.received) >= n, f"{n} updates")
        return self.received


@dataclass
class Running:
    feed: Feed
    reseed: Reseed
    updates: Updates

    async def next_update(self, symbol: str) -> QuoteUpdate:
        return await self.updates.next(symbol)


@contextlib.asynccontextmanager
async def running_feed(
    dialect: Dialect,
    url: str,
    *lists: list[str],
    on_call: dict[int, Callable[[], object]] | None = None,
    backoff: Backoff | None = None,
    **feed_options: Any,
) -> AsyncIterator[Running]:
    """The real `Feed` loop on `dialect` and `url`, re-seeding with `lists` in turn, until
    the block ends; `feed_options` go to `Feed` (a `clock`, say)."""
    reseed, updates = Reseed(list(lists), on_call=dict(on_call or {})), Updates()
    backoff = backoff or CountingBackoff(initial_s=0.01, max_s=0.05)
    feed = Feed(dialect, url, reseed, updates, backoff=backoff, **feed_options)
    reseed.feed = feed
    task = asyncio.create_task(feed.run())
    try:
        yield Running(feed, reseed, updates)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
