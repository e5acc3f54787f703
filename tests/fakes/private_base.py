"""What every fake venue account shares: its keys, its own server clock, a log of refusals,
and the check in front of every signed endpoint."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from aiohttp import web

from arb.accounts.base import Credentials, PrivateClient, oldest_first
from arb.accounts.models import FundingPayment
from arb.http import RetryPolicy, VenueHttp
from arb.venues.registry import SPECS, key_variables

Handler = Callable[[web.Request], Awaitable[Any]]
HOUR_MS = 3_600_000


class FakeAccountClock:
    """The fake venue's clock is the real one plus `skew_ms`; tests move it to simulate a
    drifting server. Refused signed requests are logged (by venue code) in `refusals`,
    calls of the public time endpoint counted in `time_calls`."""

    venue: ClassVar[str]

    def __init__(
        self, key: str, secret: str, passphrase: str | None = None, skew_ms: int = 0
    ) -> None:
        self.key = key
        self.secret = secret
        self.passphrase = passphrase
        self.skew_ms = skew_ms  # this server's clock is the real clock plus this
        self.time_calls = 0
        self.refusals: list[Any] = []  # the venue's codes of refused requests, in order
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

    def refusal(self, request: web.Request, body: bytes) -> Any:
        """The venue's code for why it refuses this signed request; None when it is signed
        right."""
        raise NotImplementedError

    def refused_reply(self, code: Any) -> web.Response:
        """How the venue answers a refused request."""
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

    def checked(self, answer: Callable[[web.Request], Any]) -> Handler:
        """`answer` behind the venue's signature check: a refused request is logged and
        answered as the venue answers it."""

        async def handler(request: web.Request) -> Any:
            code = self.refusal(request, await request.read())
            if code is not None:
                self.refusals.append(code)
                return self.refused_reply(code)
            return answer(request)

        return handler


class Sleeps:
    """A client's pacing between pages, recorded instead of waited."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@asynccontextmanager
async def signed_clients(venue: str) -> AsyncIterator[Callable[..., PrivateClient]]:
    """`make(fake, account, sleep=None, **creds)`: the venue's signed client against a fake
    account, on its keys but for `creds` (a wrong key, say), pacing recorded by `sleep`
    (a `Sleeps` by default); every client made is closed on exit."""
    spec = SPECS[venue]
    clients: list[PrivateClient] = []

    def make(fake: Any, account: FakeAccountClock, sleep=None, **creds: str) -> PrivateClient:
        names = ("key", "secret", "passphrase") if spec.passphrase else ("key", "secret")
        keys = {name: getattr(account, name) for name in names}
        http = VenueHttp(venue, fake.url(venue), timeout_s=2, retry=RetryPolicy(attempts=1))
        client = spec.account_class()(http, Credentials(**(keys | creds)), sleep=sleep or Sleeps())
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()
