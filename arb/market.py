"""A snapshot of the whole market: every venue fetched concurrently, failures contained.

One venue down never takes the others with it: its status names it and the
reason in one line, and the snapshot carries every quote the others gave. A
venue that answers but with no usable quote (an empty list) has failed too: an
empty answer is never shown as "ok, 0 quotes".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arb.http import RetryPolicy, VenueError, VenueHttp
from arb.models import Quote
from arb.symbols import normalize_asset
from arb.venues.base import VenueClient
from arb.venues.registry import SPECS

if TYPE_CHECKING:
    from arb.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VenueStatus:
    venue: str
    ok: bool
    quote_count: int
    error: str | None
    fetched_at: float
    elapsed_s: float
    warnings: tuple[str, ...] = ()
    empty: bool = False  # it answered, but with no usable quote (then ok is False)


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    quotes: tuple[Quote, ...]
    statuses: tuple[VenueStatus, ...]
    taken_at: float
    _by_asset: dict[str, list[Quote]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for q in self.quotes:
            self._by_asset.setdefault(q.asset, []).append(q)

    @property
    def failures(self) -> list[VenueStatus]:
        return [s for s in self.statuses if not s.ok]

    def for_asset(self, asset: str) -> list[Quote]:
        """Quotes of one asset as the user typed it (BTC, btcusdt, 1000PEPE...)."""
        return list(self._by_asset.get(normalize_asset(asset), ()))

    def assets(self) -> list[str]:
        return sorted(self._by_asset)


class Market:
    """Owns the venue clients; `snapshot()` fetches them all at once."""

    def __init__(
        self,
        clients: Sequence[VenueClient],
        venue_deadline_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = {c.name: c for c in clients}
        self.venue_deadline_s = venue_deadline_s
        self.clock = clock

    async def snapshot(
        self, venues: Sequence[str] | None = None, deadline_s: float | None = None
    ) -> MarketSnapshot:
        """Every venue at once; each one cut at `deadline_s` (default: the venue deadline)."""
        names = list(venues) if venues else list(self.clients)
        unknown = [n for n in names if n not in self.clients]
        if unknown:
            raise ValueError(f"venue not enabled: {', '.join(unknown)}")
        deadline = self.venue_deadline_s if deadline_s is None else deadline_s
        results = await asyncio.gather(*(self._fetch(self.clients[n], deadline) for n in names))
        quotes = tuple(q for qs, _ in results for q in qs)
        return MarketSnapshot(quotes, tuple(s for _, s in results), self.clock())

    async def _fetch(
        self, client: VenueClient, deadline_s: float
    ) -> tuple[list[Quote], VenueStatus]:
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
        status = VenueStatus(
            venue=client.name,
            ok=error is None,
            quote_count=len(quotes),
            error=error,
            fetched_at=self.clock(),
            elapsed_s=time.monotonic() - started,
            warnings=warnings,
            empty=empty,
        )
        return quotes, status

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
