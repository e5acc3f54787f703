"""Every configured venue's account at once, each one's failure kept to itself.

A venue takes part when its keys are in the environment. Each read asks the
venues concurrently with a deadline; a venue that fails (a refused key, a
timeout, a ban) is reported by name with its reason while the others answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from arb.accounts.base import Credentials, PrivateClient
from arb.accounts.models import Balance, FundingPayment, KeyAccess, Position
from arb.http import VenueError
from arb.market import venue_http
from arb.settings import Settings
from arb.venues.registry import SPECS, account_venues

log = logging.getLogger(__name__)

T = TypeVar("T")

DAY_MS = 86_400_000


def client_class(venue: str) -> type[PrivateClient]:
    cls = SPECS[venue].account_class()
    if cls is None:
        raise ValueError(f"no account client for {venue!r}")
    return cls


def private_clients(settings: Settings) -> dict[str, PrivateClient]:
    """A client per venue whose keys are set (settings have checked they come complete)."""
    out: dict[str, PrivateClient] = {}
    for venue in account_venues():
        vs = settings.venue[venue]
        if not (vs.api_key and vs.api_secret):
            continue
        creds = Credentials(vs.api_key, vs.api_secret, vs.api_passphrase)
        out[venue] = client_class(venue)(venue_http(settings, venue), creds)
    return out


@dataclass(frozen=True, slots=True)
class AccountReport(Generic[T]):
    items: dict[str, list[T]]  # venue -> what it answered
    errors: dict[str, str] = field(default_factory=dict)  # venue -> why it did not
    partial: dict[str, int] = field(default_factory=dict)  # venue -> complete from (ms)

    @property
    def all(self) -> list[T]:
        return [x for items in self.items.values() for x in items]


class AccountService:
    def __init__(self, clients: Mapping[str, PrivateClient], deadline_s: float = 20.0) -> None:
        self.clients = dict(clients)
        self.deadline_s = deadline_s

    @property
    def venues(self) -> list[str]:
        return list(self.clients)

    async def balances(self) -> AccountReport[Balance]:
        return await self._each(lambda c: c.balances())

    async def positions(self) -> AccountReport[Position]:
        return await self._each(lambda c: c.positions())

    async def funding(self, days: int, now_ms: int) -> AccountReport[FundingPayment]:
        """Funding over the last `days`; a venue whose request bound cut the period short
        says from when its figures are complete."""
        for client in self.clients.values():
            client.funding_complete_from = None
        report = await self._each(lambda c: c.funding(now_ms - days * DAY_MS, now_ms))
        for venue, client in self.clients.items():
            if venue in report.items and client.funding_complete_from is not None:
                report.partial[venue] = client.funding_complete_from
        return report

    async def key_access(self, deadline_s: float | None = None) -> dict[str, KeyAccess]:
        """What each venue's key may do, by venue; a venue that did not answer within
        `deadline_s` (default: the service's) gets an all-unknown answer saying why."""

        async def one(client: PrivateClient) -> list[KeyAccess]:
            return [await client.key_access()]

        report = await self._each(one, deadline_s)
        out: dict[str, KeyAccess] = {}
        for venue in self.clients:
            got = report.items.get(venue)
            if got:
                out[venue] = got[0]
            else:
                why = report.errors.get(venue, "no answer")
                out[venue] = KeyAccess(venue, None, None, f"not read: {why}")
        return out

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients.values()))

    async def _each(
        self,
        call: Callable[[PrivateClient], Awaitable[list[T]]],
        deadline_s: float | None = None,
    ) -> AccountReport[T]:
        deadline = self.deadline_s if deadline_s is None else deadline_s

        async def one(venue: str, client: PrivateClient) -> tuple[str, list[T] | None, str | None]:
            try:
                async with asyncio.timeout(deadline):
                    return venue, await call(client), None
            except VenueError as e:
                return venue, None, str(e)
            except TimeoutError:
                return venue, None, f"{venue}: no answer within {deadline:g} s"
            except Exception as e:  # a parser bug must not hide the other venues
                log.exception("%s account read failed", venue)
                return venue, None, f"{venue}: internal error ({type(e).__name__})"

        results = await asyncio.gather(*(one(v, c) for v, c in self.clients.items()))
        items = {v: got for v, got, _ in results if got is not None}
        errors = {v: err for v, _, err in results if err is not None}
        return AccountReport(items, errors)
