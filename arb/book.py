"""The market book: every venue's quotes and health, kept whole between fetches.

A REST fetch of a venue replaces its quotes (`replace`); a failed one keeps them, to
age out through the scan's max-age filter and be reported as stale, never silently
shown as current. A venue that answers an empty list has failed too: its health says
so and how old the data it keeps is. Live updates (`apply`) change the quotes of the
symbols the venue's last REST fetch listed, and tell the listeners which assets moved.
The snapshot commands answer from is rebuilt only after a change, when asked: one
snapshot is one version of the book, ranked once (`arb.ranking`) however many ask.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence

import msgspec

from arb.formats import ago
from arb.market import FeedView, MarketSnapshot, VenueHealth
from arb.models import Quote, QuoteUpdate
from arb.ranking import Ranking

Listener = Callable[[set[str]], None]  # called with the assets whose quotes changed


class MarketBook:
    def __init__(self, venues: Iterable[str], clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.live_updates = 0  # `apply` calls that changed a quote
        self.touched_at: float | None = None  # the last REST result or live update
        self._health = {venue: VenueHealth(venue) for venue in venues}
        self._quotes: dict[str, dict[str, Quote]] = {}  # venue -> symbol -> quote
        self._symbols: dict[str, set[tuple[str, str]]] = {}  # asset -> {(venue, symbol)}
        self._snapshot: MarketSnapshot | None = None  # rebuilt after a change, when asked
        self._listeners: list[Listener] = []
        self._data_at: dict[str, float] = {}  # venue -> its last good REST fetch or update
        # Each asset's ranked pairs, kept across snapshots: every snapshot of this book
        # shares it, so an update re-ranks only the assets whose quotes it replaced.
        self.ranking = Ranking()

    @property
    def venues(self) -> list[str]:
        return list(self._health)

    def health(self) -> list[VenueHealth]:
        return list(self._health.values())

    def health_of(self, venue: str) -> VenueHealth:
        return self._health[venue]

    def age_s(self) -> float | None:
        """Seconds since the data last changed: a REST result or a live update."""
        if self.touched_at is None:
            return None
        return max(0.0, self.clock() - self.touched_at)

    def data_at(self, venue: str) -> float | None:
        """When the venue's data last came good: a whole REST fetch or a live update that
        changed one of its quotes; None before any."""
        return self._data_at.get(venue)

    def snapshot(self) -> MarketSnapshot | None:
        """Every quote held and the health of every venue fetched; None before any fetch."""
        if self._snapshot is None and self.touched_at is not None:
            quotes = tuple(q for v in self._health for q in self._quotes.get(v, {}).values())
            health = tuple(h for h in self._health.values() if h.fetched)
            self._snapshot = MarketSnapshot(quotes, health, self.touched_at, self.ranking)
        return self._snapshot

    def symbols(self, venue: str) -> list[str]:
        """The venue symbols its last good REST fetch listed: what live updates may change."""
        return list(self._quotes.get(venue, {}))

    def quotes_for(self, asset: str) -> list[Quote]:
        """The quotes of one canonical asset, without building a snapshot."""
        out = []
        for venue, symbol in self._symbols.get(asset, ()):
            q = self._quotes.get(venue, {}).get(symbol)
            if q is not None:
                out.append(q)
        return out

    # --- REST -------------------------------------------------------------------------

    def replace(self, quotes: Sequence[Quote], outcome: VenueHealth) -> None:
        """One venue's REST fetch (`arb.market.Market.fetch`): its quotes replace the
        venue's when it succeeded; a failure keeps the last good ones and says so."""
        venue = outcome.venue
        old = self._health[venue]
        if outcome.ok:
            self._index(venue, quotes)
            health = outcome
        else:
            health = dataclasses.replace(
                outcome,
                last_ok_at=old.last_ok_at,
                quote_count=len(self._quotes.get(venue, ())),
                last_error=_kept(outcome, old),
                warnings=(),
            )
        self._health[venue] = dataclasses.replace(health, feed=old.feed)
        self._changed()
        if outcome.ok:
            self._data_at[venue] = self.clock()

    def attach_feed(self, venue: str, feed: FeedView) -> None:
        """The venue's live feed, shown in its health."""
        self._health[venue] = dataclasses.replace(self._health[venue], feed=feed)
        self._snapshot = None

    def _index(self, venue: str, quotes: Sequence[Quote]) -> None:
        for keys in self._symbols.values():
            keys.difference_update({k for k in keys if k[0] == venue})
        for q in quotes:
            self._symbols.setdefault(q.asset, set()).add((venue, q.symbol))
        self._quotes[venue] = {q.symbol: q for q in quotes}

    def _changed(self) -> None:
        self.touched_at = self.clock()
        self._snapshot = None

    # --- live updates -----------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """`listener(assets)` after every live update that changed those assets' quotes."""
        self._listeners.append(listener)

    def apply(self, updates: Iterable[QuoteUpdate]) -> set[str]:
        """Merge live updates into the book; returns the assets whose quotes changed.

        Symbols the last REST snapshot did not list are ignored until the next one.
        """
        changed: set[str] = set()
        venues: set[str] = set()
        for u in updates:
            book = self._quotes.get(u.venue)
            q = book.get(u.symbol) if book is not None else None
            if q is None:
                continue
            book[u.symbol] = _updated(q, u)
            changed.add(q.asset)
            venues.add(u.venue)
        if changed:
            self.live_updates += 1
            self._changed()
            self._data_at.update(dict.fromkeys(venues, self.touched_at))
            for listener in self._listeners:
                listener(changed)
        return changed


def _kept(outcome: VenueHealth, old: VenueHealth) -> str | None:
    """A failure's error; an empty answer's says how old the data kept instead is."""
    if not outcome.empty or old.last_ok_at is None or outcome.last_error_at is None:
        return outcome.last_error
    kept = ago(max(0.0, outcome.last_error_at - old.last_ok_at))
    return f"{outcome.last_error}; keeping the data from {kept} ago"


def _updated(q: Quote, u: QuoteUpdate) -> Quote:
    """`q` with what the update says; a field it does not carry keeps the REST value."""
    return msgspec.structs.replace(
        q,
        rate=q.rate if u.rate is None else u.rate,
        next_funding_time=(
            q.next_funding_time if u.next_funding_time is None else u.next_funding_time
        ),
        mark_price=q.mark_price if u.mark_price is None else u.mark_price,
        interval_h=q.interval_h if u.interval_h is None else u.interval_h,
        turnover_24h=q.turnover_24h if u.turnover_24h is None else u.turnover_24h,
        open_interest_value=(
            q.open_interest_value if u.open_interest_value is None else u.open_interest_value
        ),
        received_at=u.received_at,
    )
