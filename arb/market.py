"""A snapshot of the whole market: every venue fetched concurrently, failures contained.

One venue down never takes the others with it: its health names it and the
reason in one line, and the snapshot carries every quote the others gave. A
venue that answers but with no usable quote (an empty list) has failed too: an
empty answer is never shown as "ok, 0 quotes".

`VenueHealth` is the one account of a venue: one fetch's outcome here, and in
`arb.book` the venue's record across fetches, with its live feed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from arb.http import RetryPolicy, VenueError, VenueHttp
from arb.models import Quote
from arb.symbols import normalize_asset
from arb.venues.base import VenueClient
from arb.venues.registry import SPECS

if TYPE_CHECKING:
    from arb.models import Opportunity
    from arb.settings import Settings
    from arb.spread import ScanParams

log = logging.getLogger(__name__)


class FeedView(Protocol):
    """What /status and the REST schedule read of a live feed (`arb.feeds.base.FeedState`)."""

    connected: bool
    last_message_at: float | None
    disconnected_at: float | None
    reconnects: int
    last_error: str | None
    unreachable: str | None  # the network kind (arb.network) of its last failed connect

    @property
    def heard_since_connect(self) -> bool: ...

    def silent_for(self, now: float) -> float | None: ...

    def live(self, now: float, max_silence_s: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class VenueHealth:
    """What a venue's REST fetches say (one fetch, or the record across them) and its feed."""

    venue: str
    last_ok_at: float | None = None  # when its data was last fetched whole
    quote_count: int = 0  # quotes held now, possibly stale (one fetch: the quotes it gave)
    last_error: str | None = None  # the latest failure, cleared by a success
    last_error_at: float | None = None
    warnings: tuple[str, ...] = ()  # the latest fetch's degradations
    empty: bool = False  # the latest fetch answered, but with no usable quote
    elapsed_s: float = 0.0  # the latest fetch's duration
    feed: FeedView | None = None  # its live feed, if it has one

    @property
    def ok(self) -> bool:
        """The latest fetch gave quotes."""
        return self.last_error is None and self.last_ok_at is not None

    @property
    def fetched(self) -> bool:
        """A fetch has ended, well or not."""
        return self.last_ok_at is not None or self.last_error_at is not None

    def age_s(self, now: float) -> float | None:
        return None if self.last_ok_at is None else max(0.0, now - self.last_ok_at)


class SnapshotRanking(Protocol):
    """The ranking a book keeps warm across its snapshots: `arb.ranking.Ranking`."""

    def scan(
        self,
        snapshot: MarketSnapshot,
        params: ScanParams,
        now: float | None = None,
        assets: Iterable[str] | None = None,
    ) -> list[Opportunity]: ...


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    quotes: tuple[Quote, ...]
    health: tuple[VenueHealth, ...]  # of the venues fetched
    taken_at: float
    # The book's warm ranking (`arb.ranking.ranked`); None: a one-shot fetch, scanned whole.
    ranking: SnapshotRanking | None = field(default=None, repr=False, compare=False)
    _by_asset: dict[str, list[Quote]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for q in self.quotes:
            self._by_asset.setdefault(q.asset, []).append(q)

    @property
    def failures(self) -> list[VenueHealth]:
        return [h for h in self.health if not h.ok]

    def for_asset(self, asset: str) -> list[Quote]:
        """Quotes of one asset as the user typed it (BTC, btcusdt, 1000PEPE...)."""
        return list(self._by_asset.get(normalize_asset(asset), ()))

    def assets(self) -> list[str]:
        return sorted(self._by_asset)

    def grouped(self) -> Mapping[str, list[Quote]]:
        """Every quote by canonical asset, in the snapshot's order; read only."""
        return self._by_asset


Fetched = tuple[list[Quote], VenueHealth]  # one venue's fetch: its quotes and how it went


class Market:
    """Owns the venue clients; `fetch()` asks them all at once, `snapshot()` as one view."""

    def __init__(
        self,
        clients: Sequence[VenueClient],
        venue_deadline_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        on_fetched: Callable[[VenueHealth], None] | None = None,
    ) -> None:
        """`on_fetched` hears each venue's outcome as it ends (the CLI's progress)."""
        self.clients = {c.name: c for c in clients}
        self.venue_deadline_s = venue_deadline_s
        self.clock = clock
        self.on_fetched = on_fetched

    async def fetch(
        self, venues: Sequence[str] | None = None, deadline_s: float | None = None
    ) -> list[Fetched]:
        """Every venue at once; each one cut at `deadline_s` (default: the venue deadline)."""
        names = list(venues) if venues else list(self.clients)
        unknown = [n for n in names if n not in self.clients]
        if unknown:
            raise ValueError(f"venue not enabled: {', '.join(unknown)}")
        deadline = self.venue_deadline_s if deadline_s is None else deadline_s
        return await asyncio.gather(*(self._fetch(self.clients[n], deadline) for n in names))

    async def snapshot(
        self, venues: Sequence[str] | None = None, deadline_s: float | None = None
    ) -> MarketSnapshot:
        """One fetch of every venue (as `fetch`), as a snapshot: a one-shot command's view."""
        fetched = await self.fetch(venues, deadline_s)
        quotes = tuple(q for qs, _ in fetched for q in qs)
        return MarketSnapshot(quotes, tuple(h for _, h in fetched), self.clock())

    async def _fetch(self, client: VenueClient, deadline_s: float) -> Fetched:
        started = time.monotonic()
        error: str | None = None
        quotes: list[Quote] = []
        warnings: tuple[str, ...] = ()
        empty = False
        try:
            async with asyncio.timeout(deadline_s):
                fetched = await client.fetch_quotes()
            quotes, warnings = fetched.quotes, tuple(fetched.warnings)
            if not quotes:
                empty, error = True, f"{client.name}: answered an empty list"
        except VenueError as e:
            error = str(e)
        except TimeoutError:
            error = f"{client.name}: no complete answer within {deadline_s:g} s"
        except Exception as e:  # a parser bug must not take the other venues down
            log.exception("%s: unexpected failure", client.name)
            error = f"{client.name}: internal error ({type(e).__name__})"
        if error:
            log.warning("venue failed: %s", error)
        for w in warnings:
            log.warning("%s degraded: %s", client.name, w)
        now = self.clock()
        outcome = VenueHealth(
            venue=client.name,
            last_ok_at=now if error is None else None,
            quote_count=len(quotes),
            last_error=error,
            last_error_at=None if error is None else now,
            warnings=warnings,
            empty=empty,
            elapsed_s=time.monotonic() - started,
        )
        if self.on_fetched is not None:
            self.on_fetched(outcome)
        return quotes, outcome

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients.values()))


def venue_http(settings: Settings, venue: str) -> VenueHttp:
    """One venue's session as the settings configure it (URL, timeout, retries, caps)."""
    return VenueHttp(
        venue,
        settings.venue[venue].rest_url,
        timeout_s=settings.http_timeout_s,
        retry=RetryPolicy(attempts=settings.http_attempts),
        max_cooldown_s=settings.max_cooldown_s,
        max_reply_bytes=settings.max_reply_bytes,
    )


def make_clients(settings: Settings, venues: Sequence[str] | None = None) -> list[VenueClient]:
    """One public client (one HTTP session) per enabled venue."""
    clients = []
    for name in venues or settings.venues:
        clients.append(SPECS[name].client_class()(venue_http(settings, name)))
    return clients
