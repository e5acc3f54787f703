"""Slow-moving venue metadata (instrument lists, interval tables, contract sizes), cached:
`TtlCache`, and `Metadata` to declare one GET's cache on a public client class.

One-shot commands (`arb-bot scan`) live for one scan, so an in-memory cache never hits:
`kept_on_disk` makes every `Metadata` keep its raw replies in a `DiskCache` too, for
the same `ttl_s`, so the next run within it skips those requests. The bot never calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar, overload

from arb.http import VenueError, VenueHttp

if TYPE_CHECKING:
    from arb.venues.base import VenueClient

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a metadata cache whose reloads fail keeps serving its last good value.
STALE_S = 1800.0

# Where `Metadata` keeps its replies besides memory: set by `kept_on_disk` (the CLI's).
_disk: DiskCache | None = None


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

    async def holding(self, *keys: object) -> T:
        """The value (a mapping), reloaded once when it lacks one of `keys`: listed by the
        venue since it was loaded. A key still missing after that is the caller's to say."""
        value = await self.get()
        if any(key not in value for key in keys):  # type: ignore[operator]
            self.invalidate()
            value = await self.get()
        return value


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

    on_disk = True  # one reply, decoded: `kept_on_disk` may keep it between runs

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, client: None, owner: type) -> Metadata[T]: ...
    @overload
    def __get__(self, client: VenueClient, owner: type) -> TtlCache[T]: ...
    def __get__(self, client: VenueClient | None, owner: type) -> Metadata[T] | TtlCache[T]:
        if client is None:
            return self
        loader = self._loader(client.http, self.decode)
        if _disk is not None and self.on_disk:
            loader = self._through_disk(_disk, client.http)
        cache = TtlCache(loader, self.ttl_s, STALE_S, client.clock)
        client.__dict__[self.name] = cache  # the client's own from now on
        return cache

    def _loader(self, http: VenueHttp, decode: Callable[[bytes], T]) -> Callable[[], Awaitable[T]]:
        return lambda: http.get(self.path, self.params, decode=decode)

    def _key(self, http: VenueHttp) -> str:
        """What names this reply on disk: the request, as sent to this venue's URL."""
        params = json.dumps(self.params, sort_keys=True)
        return f"{type(self).__name__} {http.base_url}{self.path} {params}"

    def _through_disk(self, disk: DiskCache, http: VenueHttp) -> Callable[[], Awaitable[T]]:
        """The loader, reading a fresh reply from `disk` first and writing each new one."""
        key = self._key(http)

        async def load() -> T:
            body = disk.read(key, self.ttl_s)
            if body is not None:
                try:
                    return self.decode(body)
                except Exception as e:  # a reply the parser no longer takes: ask again
                    log.debug("cached %s unreadable, refetching: %s", self.path, e)
            fetched: list[bytes] = []

            def decode(raw: bytes) -> T:
                value = self.decode(raw)
                fetched.append(raw)  # kept only once it parsed
                return value

            value = await self._loader(http, decode)()
            disk.write(key, fetched[-1])
            return value

        return load


@contextlib.contextmanager
def kept_on_disk(directory: str | None) -> Iterator[None]:
    """Within it, each `Metadata` first asked also keeps its replies in `directory` (None:
    memory only). For one-shot commands: a long-running process keeps them in memory."""
    global _disk
    before, _disk = _disk, None if directory is None else DiskCache(directory)
    try:
        yield
    finally:
        _disk = before


class DiskCache:
    """Public venue replies on disk, a file per request, each read back while younger
    than the expiry its reader asks for.

    Safe to delete at any time: a missing, corrupt, foreign or expired file reads as
    None, and a directory that cannot be written only means nothing is kept. Writes go
    to a temporary file renamed into place, so a reader never sees half a reply. The
    file names are hashes of the requests; the files hold no URL, key or secret. Only
    `Metadata` replies (public, unsigned) come here: the signed clients never do.
    """

    def __init__(self, directory: str, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock

    def path(self, key: str) -> str:
        return os.path.join(self.directory, hashlib.sha256(key.encode()).hexdigest()[:32])

    def read(self, key: str, ttl_s: float) -> bytes | None:
        """The reply kept for `key` if it is younger than `ttl_s`, else None."""
        try:
            with open(self.path(key), "rb") as f:
                data = f.read()
            head, _, body = data.partition(b"\n")
            meta = json.loads(head)
            age = self._clock() - float(meta["at"])
            if meta["size"] != len(body) or not 0 <= age < ttl_s:
                return None
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return body

    def write(self, key: str, body: bytes) -> None:
        """Keep `body` as `key`'s reply as of now; never fails the command."""
        path = self.path(key)
        temporary = f"{path}.{os.getpid()}.tmp"
        head = json.dumps({"at": self._clock(), "size": len(body)}).encode()
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            with open(temporary, "wb") as f:
                f.write(head + b"\n" + body)
            os.replace(temporary, path)
        except OSError as e:
            log.debug("venue metadata not kept on disk: %s", e)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
