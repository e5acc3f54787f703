"""What every venue client shares: the fetch result, a metadata cache, number parsing."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Literal, TypeVar

from arb.http import VenueError, VenueHttp
from arb.models import Quote

log = logging.getLogger(__name__)

T = TypeVar("T")

USD_SETTLES = frozenset({"USDT", "USDC"})
# Venues send numbers as strings and "" where a value is missing. Struct fields of
# this type, decoded with strict=False, become floats in C; "" stays "": missing.
Num = float | Literal[""]


@dataclass(slots=True)
class VenueFetch:
    """Quotes from one venue, plus what was degraded on the way (e.g. no turnover)."""

    quotes: list[Quote]
    warnings: list[str] = field(default_factory=list)


class VenueClient(ABC):
    """Public market data of one venue. Parsing lives in pure module functions."""

    name: ClassVar[str]
    default_rest_url: ClassVar[str]

    def __init__(self, http: VenueHttp, clock: Callable[[], float] = time.time) -> None:
        self.http = http
        self.clock = clock

    @abstractmethod
    async def fetch_quotes(self) -> VenueFetch:
        """Every in-scope perpetual's current funding, in as few calls as the venue allows."""

    async def close(self) -> None:
        await self.http.close()


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


def next_hour_ms(now_s: float) -> int:
    hour_ms = 3_600_000
    return (int(now_s * 1000) // hour_ms + 1) * hour_ms
