"""What every signed venue client shares.

Credentials come from the environment only and are kept out of `repr()`.
Each venue's clock offset is measured from its public time endpoint at the
first request and every `resync_s`, and applied to every timestamp; a
timestamp error (each venue's own code: `timestamp_codes`) resyncs and retries
the request once. Errors are the shared `VenueError`s; a refused key or
signature becomes an `AuthError` that says so per venue, never with the key.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.http import VenueAPIError, VenueError, VenueHttp, VenueHTTPError
from arb.venues.cache import STALE_S, TtlCache

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Mapping[str, str] | None


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

    async def sync(self, if_due: bool = False) -> int:
        """Measure the offset now (`if_due`: unless a sync finished within `resync_s`,
        checked under the lock, so concurrent first requests measure it once)."""
        async with self._lock:
            if if_due and self._fresh():
                return self.offset_ms
            before = self._clock()
            server_ms = await self._fetch()
            after = self._clock()
            self.offset_ms = server_ms - int((before + after) / 2 * 1000)
            self.synced_at = after
            if abs(self.offset_ms) > 1000:
                log.info("clock offset to server: %+d ms", self.offset_ms)
            return self.offset_ms

    def _fresh(self) -> bool:
        return self.synced_at is not None and self._clock() - self.synced_at < self.resync_s

    async def ensure(self) -> None:
        """Sync when never synced or due; a failed periodic resync keeps the last offset."""
        if self._fresh():
            return
        try:
            await self.sync(if_due=True)
        except VenueError as e:
            if self.synced_at is None:
                raise
            log.warning("clock resync failed, keeping offset %+d ms: %s", self.offset_ms, e)


class PrivateClient(ABC):
    """One venue's signed reads. Subclasses sign (most by writing `headers`); this class
    syncs the clock, retries, and keeps the contract sizes of a venue that counts
    positions in contracts (its `load_contracts`)."""

    name: ClassVar[str]
    # The venue's own code for "timestamp outside the accepted window".
    timestamp_codes: ClassVar[frozenset[str]]
    # Codes that mean the key, signature, passphrase, IP or permissions were refused.
    auth_codes: ClassVar[frozenset[str]]
    # The public time endpoint and the decoder of its reply into the venue's time in ms.
    server_time: ClassVar[tuple[str, Callable[[bytes], int]]]
    # How far (ms) a request's timestamp may stray from the venue's clock before it is
    # refused; `arb-bot doctor` fails a clock skewed past it. None: the venue does not say.
    window_ms: ClassVar[int | None] = None
    # Whether its keys come with a passphrase (as its spec says; a test holds them equal).
    signs_with_passphrase: ClassVar[bool] = False
    # How long `contracts` keeps the sizes (they change only with a relisting), and how
    # long a failed reload serves the last ones.
    contracts_ttl_s: ClassVar[float] = 600.0
    contracts_stale_s: ClassVar[float] = STALE_S

    def __init__(
        self,
        http: VenueHttp,
        credentials: Credentials,
        resync_s: float = 300.0,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if self.signs_with_passphrase and not credentials.passphrase:
            raise ValueError(
                f"{self.name} signs with a passphrase: set {self.name.upper()}_API_PASSPHRASE"
            )
        self.http = http
        self.credentials = credentials
        self.clock = ServerClock(self.server_time_ms, resync_s)
        self._sleep = sleep  # the pause between pages, where a venue needs one
        # Set by `funding` when its request bound cut the period short: the time (ms) from
        # which the payments it returned are complete.
        self.funding_complete_from: int | None = None

    async def server_time_ms(self) -> int:
        """The venue's time from its public time endpoint."""
        path, decode = self.server_time
        return await self.http.get(path, decode=decode)

    def sign(self, timestamp_ms: int, path: str, params: Params) -> tuple[Params, dict[str, str]]:
        """The query to send and the headers that sign a GET of `path` with `params` at
        `timestamp_ms`; the headers go to VenueHttp and nowhere else. Here the query goes
        as given and `headers` signs it; a venue that signs in the query writes its own."""
        return params, self.headers(timestamp_ms, "GET", path, params)

    def headers(self, timestamp_ms: int, method: str, path: str, params: Params) -> dict[str, str]:
        """The headers that sign one bodiless request of `method` to `path` with the query
        `params` at `timestamp_ms`, for the default `sign`."""
        raise NotImplementedError(f"{self.name} signs with its own `sign`")

    async def load_contracts(self) -> Mapping[str, Any]:
        """The venue's contract sizes by symbol, for `contracts` (a venue whose positions
        come in coins has none)."""
        raise NotImplementedError(f"{self.name} sizes positions in coins")

    @functools.cached_property
    def contracts(self) -> TtlCache[Mapping[str, Any]]:
        """`load_contracts`, cached."""
        return TtlCache(self.load_contracts, self.contracts_ttl_s, self.contracts_stale_s)

    @abstractmethod
    async def balances(self) -> list[Balance]: ...

    @abstractmethod
    async def positions(self) -> list[Position]: ...

    @abstractmethod
    async def funding(self, start_ms: int, end_ms: int) -> list[FundingPayment]:
        """Funding settlements with start_ms <= time < end_ms, oldest first."""

    async def key_access(self) -> KeyAccess:
        """What this key may do, where the venue lets a key read its own permissions;
        a venue that does not says so (everything None)."""
        return KeyAccess(self.name, None, None, "no way to read a key's permissions")

    async def signed(self, send: Callable[[int], Awaitable[T]]) -> T:
        """Run `send(timestamp_ms)` with the venue's time; on a timestamp error, resync the
        clock and run it once more; a refused key or signature becomes an AuthError. A
        venue that echoes the key in an error (some do) has it blanked."""
        try:
            await self.clock.ensure()
            try:
                return await self._auth_checked(send, self.clock.now_ms())
            except VenueError as e:
                if code_of(e) not in self.timestamp_codes:
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

    async def get(self, path: str, params: Params, decode: Callable[[bytes], T]) -> T:
        """A signed GET: the query signed is the query sent, as a dict given to VenueHttp
        and never in `path`, so that errors, which name the path, never carry a signature."""

        async def send(timestamp_ms: int) -> T:
            query, headers = self.sign(timestamp_ms, path, params)
            return await self.http.request(
                "GET", path, params=query, headers=headers, decode=decode
            )

        return await self.signed(send)

    def sign_body(
        self, timestamp_ms: int, method: str, path: str, params: Params, body: str
    ) -> tuple[Params, dict[str, str]]:
        """The query to send and the headers that sign a request of `method` to `path`
        with the query `params` and the JSON `body` ("" for none) at `timestamp_ms`: the
        order path's signing (a venue that takes orders writes its own)."""
        raise NotImplementedError(f"{self.name} takes no orders")

    async def send(
        self,
        method: str,
        path: str,
        decode: Callable[[bytes], T],
        *,
        params: Params = None,
        body: Mapping[str, Any] | None = None,
        once: bool = False,
    ) -> T:
        """A signed request of the order path: `body` goes as compact JSON (the exact
        bytes signed), `once` sends it a single time (an order is never retried blind:
        a lost answer is looked up by its client id). Clock resync and the refused-key
        AuthError as for `get`."""
        text = "" if body is None else json.dumps(body, separators=(",", ":"))
        data = text.encode() if body is not None else None

        async def attempt(timestamp_ms: int) -> T:
            query, headers = self.sign_body(timestamp_ms, method, path, params, text)
            if data is not None:
                headers = {**headers, "Content-Type": "application/json"}
            return await self.http.request(
                method, path, params=query, data=data, headers=headers, decode=decode, once=once
            )

        return await self.signed(attempt)

    async def sized(self, held: Iterable[str]) -> Mapping[str, Any]:
        """The contract sizes of the symbols `held`, from `contracts`: reloaded once when one
        is missing (listed since the list was cached); one still missing is left out, said."""
        held = set(held)
        contracts = await self.contracts.holding(*held)
        if unsized := sorted(held - contracts.keys()):
            log.warning("%s: no contract size for %s; left out", self.name, ", ".join(unsized))
        return contracts

    def funding_cut(self, requests: int, cut: int) -> None:
        """Say that `funding` stopped at its request bound and settlements up to `cut` (ms)
        were left out."""
        log.warning(
            "%s funding: stopped after %d requests; settlements up to %d ms left out",
            self.name,
            requests,
            cut,
        )
        self.funding_complete_from = cut

    async def _auth_checked(self, send: Callable[[int], Awaitable[T]], ts: int) -> T:
        try:
            return await send(ts)
        except VenueError as e:
            code = code_of(e)
            if code in self.auth_codes or (code is None and _status(e) in (401,)):
                raise AuthError(e.venue, e.endpoint, f"key refused: {e.reason}") from None
            raise

    async def close(self) -> None:
        await self.http.close()


def hmac_hex(secret: str, message: str, algorithm: Callable[..., Any] = hashlib.sha256) -> str:
    """HMAC of `message` keyed with `secret`, both UTF-8, in lowercase hex."""
    return hmac.new(secret.encode(), message.encode(), algorithm).hexdigest()


def hmac_base64(secret: str, message: str) -> str:
    """HMAC-SHA256 of `message` keyed with `secret`, both UTF-8, in Base64."""
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def oldest_first(payments: Iterable[FundingPayment]) -> list[FundingPayment]:
    return sorted(payments, key=lambda p: (p.time_ms, p.symbol))


def cut_short(payments: list[FundingPayment], before: int) -> tuple[list[FundingPayment], int]:
    """What a walk stopped by its request bound can vouch for, and the time at or before
    which settlements were left out. Pages run newest first and many perpetuals settle at
    the same instant, so the oldest time fetched may go on in the page not asked for: it
    is left out too (`before` when nothing was fetched)."""
    cut = min((p.time_ms for p in payments), default=before)
    return [p for p in payments if p.time_ms > cut], cut


def _scrub(text: str, credentials: Credentials) -> str:
    for secret in (credentials.key, credentials.secret, credentials.passphrase):
        if secret:
            text = text.replace(secret, "***")
    return text


def code_of(e: VenueError) -> str | None:
    """The venue's own error code (or label) an error carries, None without one."""
    if isinstance(e, VenueAPIError | VenueHTTPError):
        return e.code
    return None


def _status(e: VenueError) -> int | None:
    return e.status if isinstance(e, VenueHTTPError) else None
