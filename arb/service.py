"""The shared market view that commands answer from, refreshed in the background.

`MarketService.refresh()` fetches every venue once (concurrent callers share
one fetch) and merges the result into the last good data: a venue that fails
keeps its previous quotes, which age out through the scan's max-age filter
and are reported as stale, never silently shown as current.
A venue that answers an empty list is such a failure: its status and health
say so and how old the data it keeps is.
`current()` answers at once from a fresh snapshot and only waits for a fetch
when there is none yet or it is older than `max_age_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import msgspec

from arb.formats import ago
from arb.market import Market, MarketSnapshot, VenueStatus
from arb.models import Quote, QuoteUpdate

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
        self.refreshes = 0
        self.live_updates = 0
        self._refreshed_at: float | None = None
        self._touched_at: float | None = None  # last REST refresh or live update
        self._quotes: dict[str, dict[str, Quote]] = {}  # venue -> symbol -> quote
        self._symbols: dict[str, set[tuple[str, str]]] = {}  # asset -> {(venue, symbol)}
        self._statuses: dict[str, VenueStatus] = {}
        self._snapshot: MarketSnapshot | None = None  # rebuilt after a change, when asked
        self._health: dict[str, VenueHealth] = {
            name: VenueHealth(name, None, 0, None, None) for name in market.clients
        }
        self._inflight: asyncio.Task[MarketSnapshot] | None = None
        # Set by the live feeds: venue -> whether its feed is up and talking now.
        self.feed_live: Callable[[str], bool] = lambda venue: False
        self.listeners: list[Callable[[set[str]], None]] = []

    @property
    def venues(self) -> list[str]:
        return list(self.market.clients)

    @property
    def snapshot(self) -> MarketSnapshot | None:
        if self._snapshot is None and self._touched_at is not None:
            quotes = tuple(q for name in self.venues for q in self._quotes.get(name, {}).values())
            statuses = tuple(self._statuses[n] for n in self.venues if n in self._statuses)
            self._snapshot = MarketSnapshot(quotes, statuses, self._touched_at)
        return self._snapshot

    def health(self) -> list[VenueHealth]:
        return [self._health[name] for name in self.venues]

    def age_s(self) -> float | None:
        """Seconds since the data last changed: a REST refresh or a live update."""
        if self._touched_at is None:
            return None
        return max(0.0, self.clock() - self._touched_at)

    def polled_venues(self) -> list[str]:
        """Venues to fetch by REST now: those without a live feed, and live ones whose last
        REST snapshot is half the max quote age old. A stream pushes a symbol only when it
        changes, so a quiet symbol would otherwise age out although nothing is wrong."""
        now = self.clock()
        out = []
        for v in self.venues:
            last = self._health[v].last_ok_at
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
        fetched = await self.market.snapshot(venues, deadline_s=deadline_s)
        by_venue: dict[str, list[Quote]] = {}
        for q in fetched.quotes:
            by_venue.setdefault(q.venue, []).append(q)
        for status in fetched.statuses:
            self._record(status, by_venue.get(status.venue, []))
        self._refreshed_at = self._touched_at = self.clock()
        self._snapshot = None
        self.refreshes += 1
        snapshot = self.snapshot
        assert snapshot is not None
        return snapshot

    def _record(self, status: VenueStatus, quotes: list[Quote]) -> None:
        old = self._health[status.venue]
        if status.empty and self._quotes.get(status.venue) and old.last_ok_at is not None:
            kept = ago(max(0.0, status.fetched_at - old.last_ok_at))
            status = replace(status, error=f"{status.error}; keeping the data from {kept} ago")
        self._statuses[status.venue] = status
        if status.ok:
            for keys in self._symbols.values():
                keys.difference_update({k for k in keys if k[0] == status.venue})
            for q in quotes:
                self._symbols.setdefault(q.asset, set()).add((q.venue, q.symbol))
            self._quotes[status.venue] = {q.symbol: q for q in quotes}
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

    # --- live updates -----------------------------------------------------------------

    def quotes_for(self, asset: str) -> list[Quote]:
        """The book's quotes of one canonical asset, without building a snapshot."""
        out = []
        for venue, symbol in self._symbols.get(asset, ()):
            q = self._quotes.get(venue, {}).get(symbol)
            if q is not None:
                out.append(q)
        return out

    async def seed(self, venue: str) -> list[str]:
        """A REST snapshot of one venue (a feed's start or reconnect); its symbols."""
        await self.refresh(venues=[venue])
        return list(self._quotes.get(venue, {}))

    def apply(self, updates: Iterable[QuoteUpdate]) -> set[str]:
        """Merge live updates into the book; returns the assets whose quotes changed.

        Symbols the last REST snapshot did not list are ignored until the next one.
        """
        changed: set[str] = set()
        for u in updates:
            book = self._quotes.get(u.venue)
            q = book.get(u.symbol) if book is not None else None
            if q is None:
                continue
            book[u.symbol] = msgspec.structs.replace(
                q,
                rate=q.rate if u.rate is None else u.rate,
                next_funding_time=(
                    q.next_funding_time if u.next_funding_time is None else u.next_funding_time
                ),
                mark_price=q.mark_price if u.mark_price is None else u.mark_price,
                interval_h=q.interval_h if u.interval_h is None else u.interval_h,
                turnover_24h=q.turnover_24h if u.turnover_24h is None else u.turnover_24h,
                open_interest_value=(
                    q.open_interest_value
                    if u.open_interest_value is None
                    else u.open_interest_value
                ),
                received_at=u.received_at,
            )
            changed.add(q.asset)
        if changed:
            self.live_updates += 1
            self._touched_at = self.clock()
            self._snapshot = None
            for listener in self.listeners:
                listener(changed)
        return changed

    async def close(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
            try:
                await self._inflight
            except (asyncio.CancelledError, Exception):
                log.debug("refresh cancelled at close")
        await self.market.close()
