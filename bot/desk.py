"""What every handler needs, kept in `application.bot_data["desk"]`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from importlib import metadata

from telegram.ext import ContextTypes

from arb.accounts.service import AccountService
from arb.carry import carry_in
from arb.feeds.manager import Feeds
from arb.market import MarketSnapshot
from arb.models import Opportunity
from arb.service import MarketService
from arb.settings import Settings
from arb.signaler import Signaler
from arb.spread import ScanParams
from bot.alerts import Alerts
from bot.throttle import Throttle
from storage.history import HistoryRecorder, HistoryStore
from storage.store import Store

DESK_KEY = "desk"
BACKFILL_RETRY_S = 3600.0  # a venue with no older data is not asked again for an hour


def version() -> str:
    try:
        return metadata.version("arb-bot")
    except metadata.PackageNotFoundError:
        return "dev"


@dataclass
class Backfills:
    """When each (asset, venue) was last backfilled, and from how far back."""

    tried: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def due(self, asset: str, venue: str, start: float, now: float) -> bool:
        last = self.tried.get((asset, venue))
        return last is None or last[0] > start or now - last[1] > BACKFILL_RETRY_S

    def done(self, asset: str, venue: str, start: float, now: float) -> None:
        self.tried[(asset, venue)] = (start, now)


@dataclass
class Desk:
    settings: Settings
    service: MarketService
    params: ScanParams
    store: Store
    signaler: Signaler
    history: HistoryStore
    recorder: HistoryRecorder
    accounts: AccountService
    alerts: Alerts = field(init=False)  # built from the fields above, in __post_init__
    backfills: Backfills = field(default_factory=Backfills)
    feeds: Feeds | None = None  # None: REST polling only (ARB_FEEDS=0)
    version: str = field(default_factory=version)
    started_at: float = field(default_factory=time.time)
    refused_chats: set[int] = field(default_factory=set)
    admin_cache: dict[tuple[int, int], tuple[bool, float]] = field(default_factory=dict)
    throttle: Throttle = field(default_factory=Throttle)  # command spam, per chat and user

    def __post_init__(self) -> None:
        self.alerts = Alerts(
            self.settings, self.service, self.params, self.store, self.recorder, self.signaler,
            snapshot=self.snapshot,
        )  # fmt: skip

    @property
    def max_age_s(self) -> float:
        return self.settings.max_quote_age_s

    async def snapshot(self) -> MarketSnapshot:
        """The shared snapshot; waits for a fetch only when there is no fresh one."""
        deadline = self.settings.venue_deadline_s + 5
        return await asyncio.wait_for(self.service.current(), timeout=deadline)

    async def best_carry(self, asset: str) -> Opportunity | None:
        """The asset's best pair (`arb.carry`) in the snapshot /funding and /scan answer
        from, at the snapshot's time: the pair they name, whatever /scan's APR floor."""
        return carry_in(await self.snapshot(), asset, self.params).best


def desk_of(context: ContextTypes.DEFAULT_TYPE) -> Desk:
    return context.application.bot_data[DESK_KEY]
