"""The live feeds of every enabled venue, run as tasks, feeding the MarketService's book.

Each feed seeds its venue from REST on every (re)connect, then merges updates
into the book. While a feed is down, the scheduled refresh polls that venue
by REST instead (`MarketService.polled_venues`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from arb.feeds.base import Dialect, Feed, FeedState
from arb.service import MarketService
from arb.settings import Settings
from arb.venues.registry import SPECS

log = logging.getLogger(__name__)


def dialect_for(venue: str) -> Dialect | None:
    cls = SPECS[venue].dialect_class()
    return None if cls is None else cls()


class Feeds:
    def __init__(
        self,
        service: MarketService,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.clock = clock
        self.feeds: dict[str, Feed] = {}
        for venue in settings.venues:
            dialect = dialect_for(venue)
            if dialect is None:
                continue
            self.feeds[venue] = Feed(
                dialect,
                settings.venue[venue].ws_url,
                symbols=lambda v=venue: service.seed(v),
                on_updates=service.apply,
                clock=clock,
            )
        self._tasks: list[asyncio.Task[None]] = []
        service.feed_live = self.live

    def live(self, venue: str) -> bool:
        feed = self.feeds.get(venue)
        return feed is not None and feed.state.live(self.clock(), feed.dialect.silence_s)

    def states(self) -> dict[str, FeedState]:
        return {venue: feed.state for venue, feed in self.feeds.items()}

    def start(self) -> None:
        for venue, feed in self.feeds.items():
            self._tasks.append(asyncio.create_task(feed.run(), name=f"feed-{venue}"))
        log.info("live feeds: %s", ", ".join(self.feeds) or "none")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
