"""What every fake venue account shares: its keys, its own server clock, the check in front
of every signed endpoint (one order of refusals, each venue reading its own headers and
signature), a log of refusals, the common arguments of its row builders, and a desk that
serves one venue's account with that venue's signed clients against it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any, ClassVar, Self

import aiohttp
from aiohttp import web

from arb.accounts.base import Credentials, PrivateClient, oldest_first
from arb.accounts.models import FundingPayment
from arb.http import RetryPolicy, VenueHttp
from arb.venues.registry import SPECS, key_variables
from tests.conftest import T0_MS
from tests.fakes.venues import FakeVenues

Handler = Callable[[web.Request], Awaitable[Any]]
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
H0_MS = T0_MS - T0_MS % HOUR_MS  # the last settlement hour before the fixtures' snapshot


def hmac_b64(secret: str, message: str | bytes) -> str:
    """Base64 of the HMAC-SHA256 of `message` under `secret`, as Bitget and OKX sign."""
    data = message.encode() if isinstance(message, str) else message
    return base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


def first_missing(headers: Mapping[str, str], required: Iterable[tuple[str, Any]]) -> Any:
    """The code of the first `(header, code)` of `required` absent or empty, else None."""
    return next((code for name, code in required if not headers.get(name)), None)


@dataclass(frozen=True)
class Refusals:
    """The venue's code for each reason it refuses a signed request."""

    key: Any  # a key it does not know
    stale: Any  # a timestamp outside its window
    signature: Any  # a signature over other bytes, or with another secret
    unreadable_time: Any = None  # a timestamp it cannot read; None: as `stale`
    passphrase: Any = None  # a wrong passphrase, where the keys have one

    def of_wrong(self) -> dict[str, Any]:
        """The code for each credential given wrong."""
        codes = {"secret": self.signature, "key": self.key}
        return codes if self.passphrase is None else codes | {"passphrase": self.passphrase}


@dataclass(frozen=True)
class Sent:
    """What a signed request carries, read by the venue's own rule."""

    key: str
    time_ms: float | None  # its timestamp; None when the venue cannot read it
    signature: str
    expected: str  # the signature the venue works out over the bytes it received
    passphrase: str | None = None
    behind_ms: int | None = None  # how far behind the server it may be; None: the window


@dataclass(frozen=True)
class Held:
    """A position as a test states it; each venue's `position` says in which units."""

    symbol: str
    side: str  # "long" or "short"
    size: float
    entry: float
    mark: float
    upnl: float
    leverage: float
    liq: float | None  # None: no liquidation price
    margin_mode: str = "cross"  # or "isolated"
    adl_rank: int | None = None  # 1 (last) to 5 (first to be deleveraged); None: unpublished


class FakeAccountClock:
    """The fake venue's clock is the real one plus `skew_ms`; tests move it to simulate a
    drifting server. Refused signed requests are logged (by venue code) in `refusals`,
    the raw path and query of accepted ones in `signed_paths`, calls of the public time
    endpoint counted in `time_calls`."""

    venue: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]  # its key, secret and, where it has one, passphrase
    refuses: ClassVar[Refusals]
    window_ms: ClassVar[float]  # how far from its clock a timestamp may be
    ahead_ms: ClassVar[float | None] = None  # how far ahead; None: `window_ms`
    leverage: ClassVar[float] = 10.0  # a `position_row` given none
    time_path: ClassVar[str]  # the public time endpoint

    def __init__(self) -> None:
        self.key, self.secret, self.passphrase = (*self.keys, None)[:3]
        self.skew_ms = 0  # this server's clock is the real clock plus this
        self.time_calls = 0
        self.refusals: list[Any] = []  # the venue's codes of refused requests, in order
        self.signed_paths: list[str] = []  # raw path and query of accepted requests
        self._ids = 0

    def env(self) -> dict[str, str]:
        """The settings that point the bot's keys for this venue at this account."""
        values = (self.key, self.secret, self.passphrase)
        return dict(zip(key_variables(self.venue), values, strict=False))

    def next_id(self) -> int:
        """A new id, growing like the venue's own."""
        self._ids += 1
        return self._ids

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.skew_ms

    def clock_at(self, ms: int) -> None:
        """Set `skew_ms` so that this server's clock reads `ms` now."""
        self.skew_ms = ms - int(time.time() * 1000)

    @property
    def refused(self) -> int:
        return len(self.refusals)

    # --- serving ------------------------------------------------------------------

    def install(self, fake: FakeVenues) -> Self:
        """Serve this account from `fake`: the public time endpoint, and each of
        `signed_reads` behind the venue's check."""
        fake.route(self.venue, "GET", self.time_path, self.server_time)
        for path, answer in self.signed_reads().items():
            fake.route(self.venue, "GET", path, self.checked(answer))
        return self

    def signed_reads(self) -> dict[str, Callable[[web.Request], Any]]:
        """The signed endpoints this fake serves, and how each answers."""
        raise NotImplementedError

    async def server_time(self, request: web.Request) -> Any:
        self.time_calls += 1
        return self.time_reply(self.now_ms())

    def time_reply(self, now_ms: int) -> Any:
        """The venue's answer to its time endpoint when its clock reads `now_ms`."""
        raise NotImplementedError

    # --- the check ----------------------------------------------------------------

    def read(self, request: web.Request, body: bytes) -> Sent | Any:
        """What this signed request carries, or the venue's code for a part it lacks."""
        raise NotImplementedError

    def read_b64(
        self, request: web.Request, body: bytes, names: tuple[str, ...], to_ms: Callable
    ) -> Sent:
        """A request signed as Bitget and OKX sign: `names` its key, signature, timestamp
        and passphrase headers, `to_ms` the timestamp's reading; the signature
        Base64(HMAC-SHA256) of the timestamp, method, raw path and query, and raw body."""
        key, signature, timestamp, passphrase = (request.headers[name] for name in names)
        path = request.raw_path.removeprefix(f"/{self.venue}")
        message = timestamp.encode() + request.method.encode() + path.encode() + body
        return Sent(key, to_ms(timestamp), signature, hmac_b64(self.secret, message), passphrase)

    def refusal(self, request: web.Request, body: bytes) -> Any:
        """The venue's code for why it refuses this signed request, None when it is signed
        right: the parts present, the key, the timestamp (readable, then in the window),
        the passphrase, then the signature."""
        sent = self.read(request, body)
        if not isinstance(sent, Sent):
            return sent
        codes = self.refuses
        if sent.key != self.key:
            return codes.key
        if sent.time_ms is None:
            return codes.stale if codes.unreadable_time is None else codes.unreadable_time
        lead = sent.time_ms - self.now_ms()
        behind = self.window_ms if sent.behind_ms is None else sent.behind_ms
        ahead = self.window_ms if self.ahead_ms is None else self.ahead_ms
        if not -behind <= lead <= ahead:
            return codes.stale
        if sent.passphrase != self.passphrase:
            return codes.passphrase
        if not hmac.compare_digest(sent.signature.encode(), sent.expected.encode()):
            return codes.signature
        return None

    def refused_reply(self, code: Any, request: web.Request, body: bytes) -> Any:
        """How the venue answers the request it refused with `code`."""
        raise NotImplementedError

    def checked(self, answer: Callable[[web.Request], Any]) -> Handler:
        """`answer` behind the venue's signature check: a refused request is logged and
        answered as the venue answers it."""

        async def read(request: web.Request, body: bytes) -> Any:
            return answer(request)

        return self.guarded(read)

    def guarded(self, answer: Callable[[web.Request, bytes], Awaitable[Any]]) -> Handler:
        """The coroutine `answer(request, body)` (an order endpoint, which waits on the
        matching engine) behind the same check as `checked`."""

        async def handler(request: web.Request) -> Any:
            body = await request.read()
            code = self.refusal(request, body)
            if code is not None:
                self.refusals.append(code)
                return self.refused_reply(code, request, body)
            self.signed_paths.append(request.raw_path.removeprefix(f"/{self.venue}"))
            return await answer(request, body)

        return handler

    # --- rows -----------------------------------------------------------------------

    def position_row(
        self,
        symbol: str,
        side: str,
        size: float,
        entry: float,
        mark: float,
        upnl: float,
        leverage: float | None = None,
        liq: float | None = None,
    ) -> dict[str, Any]:
        """A position row as the venue writes it; `leverage` this fake's default if none."""
        lever = self.leverage if leverage is None else leverage
        return self.position(Held(symbol, side, size, entry, mark, upnl, lever, liq))

    def position(self, held: Held) -> dict[str, Any]:
        """`held` as the venue writes a position."""
        raise NotImplementedError

    def funding_row(self, symbol: str, amount: float, time_ms: int) -> dict[str, Any]:
        """A funding settlement as the venue writes it: `amount` positive when received."""
        raise NotImplementedError

    def payment_of(self, row: dict[str, Any]) -> FundingPayment:
        """What a client must read `row` (a `funding_row`) as, worked out without it."""
        raise NotImplementedError

    def funding_series(
        self, symbol: str, every_h: int, days: int, sign: int, last_ms: int
    ) -> list[dict[str, Any]]:
        """Settlements every `every_h` hours back from `last_ms` over `days` days, received
        or paid by turns (`sign` the first's), each with its own amount."""
        return [
            self.funding_row(
                symbol, sign * (-1) ** k * (k + 1) / 1000, last_ms - k * every_h * HOUR_MS
            )
            for k in range(days * 24 // every_h)
        ]

    def payments(self, rows: list[dict[str, Any]], start: int, end: int) -> list[FundingPayment]:
        """The payments of `rows` in [start, end), oldest first, as a client must give them."""
        return oldest_first(p for p in map(self.payment_of, rows) if start <= p.time_ms < end)


class Sleeps:
    """A client's pacing between pages, recorded instead of waited."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass
class Desk:
    """A running FakeVenues serving one venue's fake account, and that venue's signed
    clients against it."""

    fake: FakeVenues
    account: Any  # the venue's FakeAccount
    clients: list[PrivateClient]

    @property
    def venue(self) -> str:
        return self.account.venue

    def client(self, sleep: Sleeps | None = None, **creds: str) -> PrivateClient:
        """A signed client on the account's keys but for `creds` (a wrong key, say), its
        pacing recorded by `sleep` (a new `Sleeps` by default); closed with the desk."""
        spec = SPECS[self.venue]
        names = ("key", "secret", "passphrase") if spec.passphrase else ("key", "secret")
        keys = {name: getattr(self.account, name) for name in names}
        url = self.fake.url(self.venue)
        http = VenueHttp(self.venue, url, timeout_s=2, retry=RetryPolicy(attempts=1))
        client = spec.account_class()(http, Credentials(**(keys | creds)), sleep=sleep or Sleeps())
        self.clients.append(client)
        return client

    def queries(self, path: str) -> list[str]:
        """The raw query of each accepted request to `path`, in order."""
        split = (signed.partition("?") for signed in self.account.signed_paths)
        return [query for at, _, query in split if at == path]

    async def raw_get(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        """GET `path` (and its query) with exactly `headers`: the status and JSON reply."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.fake.url(self.venue) + path, headers=headers) as resp,
        ):
            return resp.status, await resp.json()


@asynccontextmanager
async def fake_desk(venue: str) -> AsyncIterator[Desk]:
    """`venue`'s fake account (tests/venues/<venue>/fake_account.py) on a new FakeVenues;
    every client the desk made is closed on exit."""
    account_class = import_module(f"tests.venues.{venue}.fake_account").FakeAccount
    async with FakeVenues() as fake:
        desk = Desk(fake, account_class().install(fake), [])
        try:
            yield desk
        finally:
            for client in desk.clients:
                await client.close()
