"""What every signed venue client shares.

Credentials come from the environment only and are kept out of `repr()`.
Each venue's clock offset is measured from its public time endpoint at the
first request and every `resync_s`, and applied to every timestamp; a
timestamp error (Bybit 10002, Binance -1021, OKX 50102) resyncs and retries
the request once. Errors are the shared `VenueError`s; a refused key or
signature becomes an `AuthError` that says so per venue, never with the key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from arb.accounts.models import Balance, FundingPayment, Position
from arb.http import VenueAPIError, VenueError, VenueHttp, VenueHTTPError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Credentials:
    key: str = field(repr=False)
    secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)


class AuthError(VenueError):
    """The venue refused our key, signature or permissions: no retry can help."""


class ServerClock:
    """A venue's time as an offset from ours, measured half-way through the time request."""

    def __init__(
        self,
        fetch_server_ms: Callable[[], Awaitable[int]],
        resync_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch_server_ms
        self.resync_s = resync_s
        self._clock = clock
        self.offset_ms = 0
        self.synced_at: float | None = None
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000) + self.offset_ms

    async def sync(self) -> int:
        async with self._lock:
            before = self._clock()
            server_ms = await self._fetch()
            after = self._clock()
            self.offset_ms = server_ms - int((before + after) / 2 * 1000)
            self.synced_at = after
            if abs(self.offset_ms) > 1000:
                log.info("clock offset to server: %+d ms", self.offset_ms)
            return self.offset_ms

    async def ensure(self) -> None:
        """Sync when never synced or due; a failed periodic resync keeps the last offset."""
        if self.synced_at is not None and self._clock() - self.synced_at < self.resync_s:
            return
        try:
            await self.sync()
        except VenueError as e:
            if self.synced_at is None:
                raise
            log.warning("clock resync failed, keeping offset %+d ms: %s", self.offset_ms, e)


class PrivateClient(ABC):
    """One venue's signed reads. Subclasses sign; this class syncs the clock and retries."""

    name: ClassVar[str]
    # The venue's own code for "timestamp outside the accepted window".
    timestamp_codes: ClassVar[frozenset[str]]
    # Codes that mean the key, signature, passphrase, IP or permissions were refused.
    auth_codes: ClassVar[frozenset[str]]

    def __init__(self, http: VenueHttp, credentials: Credentials, resync_s: float = 300.0) -> None:
        self.http = http
        self.credentials = credentials
        self.clock = ServerClock(self.server_time_ms, resync_s)
        # Set by `funding` when its request bound cut the period short: the time (ms) from
        # which the payments it returned are complete.
        self.funding_complete_from: int | None = None

    @abstractmethod
    async def server_time_ms(self) -> int:
        """The venue's time from its public time endpoint."""

    @abstractmethod
    async def balances(self) -> list[Balance]: ...

    @abstractmethod
    async def positions(self) -> list[Position]: ...

    @abstractmethod
    async def funding(self, start_ms: int, end_ms: int) -> list[FundingPayment]:
        """Funding settlements with start_ms <= time < end_ms, oldest first."""

    async def signed(self, send: Callable[[int], Awaitable[T]]) -> T:
        """Run `send(timestamp_ms)` with the venue's time; on a timestamp error, resync the
        clock and run it once more; a refused key or signature becomes an AuthError. A
        venue that echoes the key in an error (Bybit's 10004 does) has it blanked."""
        try:
            await self.clock.ensure()
            try:
                return await self._auth_checked(send, self.clock.now_ms())
            except VenueError as e:
                if _code(e) not in self.timestamp_codes:
                    raise
                log.warning("%s: timestamp refused, resyncing the clock, retrying once", self.name)
                await self.clock.sync()
                return await self._auth_checked(send, self.clock.now_ms())
        except VenueError as e:
            scrubbed = _scrub(e.reason, self.credentials)
            if scrubbed == e.reason:
                raise
            cls = AuthError if isinstance(e, AuthError) else VenueError
            raise cls(e.venue, e.endpoint, scrubbed) from None

    async def _auth_checked(self, send: Callable[[int], Awaitable[T]], ts: int) -> T:
        try:
            return await send(ts)
        except VenueError as e:
            code = _code(e)
            if code in self.auth_codes or (code is None and _status(e) in (401,)):
                raise AuthError(e.venue, e.endpoint, f"key refused: {e.reason}") from None
            raise

    async def close(self) -> None:
        await self.http.close()


def _scrub(text: str, credentials: Credentials) -> str:
    for secret in (credentials.key, credentials.secret, credentials.passphrase):
        if secret:
            text = text.replace(secret, "***")
    return text


def _code(e: VenueError) -> str | None:
    if isinstance(e, VenueAPIError | VenueHTTPError):
        return e.code
    return None


def _status(e: VenueError) -> int | None:
    return e.status if isinstance(e, VenueHTTPError) else None
