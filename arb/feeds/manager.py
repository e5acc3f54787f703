"""The live feeds of every enabled venue, run as tasks, feeding the MarketService's book.

Each feed seeds its venue from REST on every (re)connect, then merges updates
into the book; its state shows in the venue's health. While a feed is down, the
scheduled refresh polls that venue by REST instead (`MarketService.polled_venues`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from arb.feeds.base import Dialect, Feed
from arb.service import MarketService
from arb.settings import Settings
from arb.venues.registry import SPECS

log = logging.getLogger(__name__)


def dialect_for(venue: str) -> Dialect | None:
    cls = SPECS[venue].dialect_class()
    return None if cls is None else cls()


class Feeds:
    def __init__(self, service: MarketService, settings: Settings) -> None:
        self.feeds: dict[str, Feed] = {}
        for venue in settings.venues:
            dialect = dialect_for(venue)
            if dialect is None:
                continue
            feed = Feed(
                dialect,
                settings.venue[venue].ws_url,
                symbols=lambda v=venue: service.seed(v),
                on_updates=service.book.apply,
                clock=service.clock,
            )
            service.attach_feed(venue, feed.state, dialect.silence_s)
            self.feeds[venue] = feed
        self._tasks: list[asyncio.Task[None]] = []

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
