"""The shared market view that commands answer from, refreshed in the background.

`MarketService.refresh()` fetches every venue once (concurrent callers share
one fetch) and merges the result into the last good data: a venue that fails
keeps its previous quotes, which age out through the scan's max-age filter
and are reported as stale, never silently shown as current.
`current()` answers at once from a fresh snapshot and only waits for a fetch
when there is none yet or it is older than `max_age_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from arb.market import Market, MarketSnapshot, VenueStatus
from arb.models import Quote

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VenueHealth:
    """What `/status` says about one venue."""

    venue: str
    last_ok_at: float | None  # when its data was last fetched whole
    quote_count: int  # quotes held now (possibly stale)
    last_error: str | None  # the latest failure, cleared by a success
    last_error_at: float | None
    warnings: tuple[str, ...] = ()

    def age_s(self, now: float) -> float | None:
        return None if self.last_ok_at is None else max(0.0, now - self.last_ok_at)


class MarketService:
    def __init__(
        self,
        market: Market,
        max_age_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.market = market
        self.max_age_s = max_age_s
        self.clock = clock
        self.started_at = clock()
        self.snapshot: MarketSnapshot | None = None
        self.refreshes = 0
        self._refreshed_at: float | None = None
        self._quotes: dict[str, tuple[Quote, ...]] = {}
        self._health: dict[str, VenueHealth] = {
            name: VenueHealth(name, None, 0, None, None) for name in market.clients
        }
        self._inflight: asyncio.Task[MarketSnapshot] | None = None

    @property
    def venues(self) -> list[str]:
        return list(self.market.clients)

    def health(self) -> list[VenueHealth]:
        return [self._health[name] for name in self.venues]

    def age_s(self) -> float | None:
        """Seconds since the last refresh completed (None before the first)."""
        if self._refreshed_at is None:
            return None
        return max(0.0, self.clock() - self._refreshed_at)

    async def refresh(self, deadline_s: float | None = None) -> MarketSnapshot:
        """Fetch every venue; callers arriving during a fetch wait for that same fetch.

        `deadline_s` cuts each venue's fetch (default: the market's venue deadline).
        """
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._refresh(deadline_s))
        # Shielded: a caller that gives up (a timed-out command) does not cancel the fetch.
        return await asyncio.shield(self._inflight)

    async def current(self) -> MarketSnapshot:
        snapshot, age = self.snapshot, self.age_s()
        if snapshot is not None and age is not None and age <= self.max_age_s:
            return snapshot
        return await self.refresh()

    async def _refresh(self, deadline_s: float | None) -> MarketSnapshot:
        fetched = await self.market.snapshot(deadline_s=deadline_s)
        by_venue: dict[str, list[Quote]] = {}
        for q in fetched.quotes:
            by_venue.setdefault(q.venue, []).append(q)
        for status in fetched.statuses:
            self._record(status, by_venue.get(status.venue, []))
        quotes = tuple(q for name in self.venues for q in self._quotes.get(name, ()))
        self.snapshot = MarketSnapshot(quotes, fetched.statuses, fetched.taken_at)
        self._refreshed_at = self.clock()
        self.refreshes += 1
        return self.snapshot

    def _record(self, status: VenueStatus, quotes: list[Quote]) -> None:
        old = self._health[status.venue]
        if status.ok:
            self._quotes[status.venue] = tuple(quotes)
            self._health[status.venue] = VenueHealth(
                status.venue, status.fetched_at, len(quotes), None, None, status.warnings
            )
        else:
            self._health[status.venue] = VenueHealth(
                status.venue,
                old.last_ok_at,
                len(self._quotes.get(status.venue, ())),
                status.error,
                status.fetched_at,
            )

    async def close(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
            try:
                await self._inflight
            except (asyncio.CancelledError, Exception):
                log.debug("refresh cancelled at close")
        await self.market.close()
