"""Slow-moving venue metadata (instrument lists, interval tables, contract sizes), cached:
`TtlCache`, and `Metadata` to declare one GET's cache on a public client class."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar, overload

from arb.http import VenueError, VenueHttp

if TYPE_CHECKING:
    from arb.venues.base import VenueClient

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a metadata cache whose reloads fail keeps serving its last good value.
STALE_S = 1800.0


class TtlCache(Generic[T]):
    """Slow-moving venue metadata (instrument lists, interval tables).

    Reloaded after `ttl_s`; a failed reload keeps serving the last good value
    for up to `stale_s` so a blip on a metadata endpoint does not drop a venue.
    Concurrent callers share one load.
    """

    def __init__(
        self,
        loader: Callable[[], Awaitable[T]],
        ttl_s: float,
        stale_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._loader = loader
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self._clock = clock
        self._value: T | None = None
        self._loaded_at = float("-inf")
        self._expired = False
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Reload on the next `get()`; the current value stays as the stale fallback."""
        self._expired = True

    def _fresh(self, now: float) -> bool:
        return self._value is not None and not self._expired and now - self._loaded_at < self.ttl_s

    async def get(self) -> T:
        if self._fresh(self._clock()):
            return self._value  # type: ignore[return-value]
        async with self._lock:
            now = self._clock()
            if self._fresh(now):
                return self._value  # type: ignore[return-value]
            try:
                self._value = await self._loader()
                self._loaded_at = now
                self._expired = False
            except VenueError as e:
                if self._value is None or now - self._loaded_at > self.stale_s:
                    raise
                log.warning("serving cached metadata after a failed reload: %s", e)
            return self._value


class Metadata(Generic[T]):
    """Slow-moving metadata from one GET, declared on a client class
    (`turnover = Metadata(TICKERS, parse_turnover, 60.0)`): each client gets its own
    TtlCache of it, on the client's clock, the first time it asks."""

    def __init__(
        self,
        path: str,
        decode: Callable[[bytes], T],
        ttl_s: float,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.path, self.decode, self.ttl_s, self.params = path, decode, ttl_s, params

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, client: None, owner: type) -> Metadata[T]: ...
    @overload
    def __get__(self, client: VenueClient, owner: type) -> TtlCache[T]: ...
    def __get__(self, client: VenueClient | None, owner: type) -> Metadata[T] | TtlCache[T]:
        if client is None:
            return self
        cache = TtlCache(self._loader(client.http), self.ttl_s, STALE_S, client.clock)
        client.__dict__[self.name] = cache  # the client's own from now on
        return cache

    def _loader(self, http: VenueHttp) -> Callable[[], Awaitable[T]]:
        return lambda: http.get(self.path, self.params, decode=self.decode)
