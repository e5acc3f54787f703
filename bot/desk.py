"""What every handler needs, kept in `application.bot_data["desk"]`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from telegram.ext import ContextTypes

from arb.accounts.models import KeyAccess
from arb.accounts.service import AccountService
from arb.backfill import HistoryLoader
from arb.books import BOOK_DEADLINE_S, OrderBooks, SizeParams
from arb.market import MarketSnapshot
from arb.service import MarketService
from arb.settings import Settings
from arb.signaler import Signaler
from arb.spread import ScanParams
from arb.trading.engine import Trader
from arb.trading.orders import OrderVenue
from bot.alerts import Alerts
from bot.risk import RiskWatch
from bot.throttle import Throttle
from storage.history import HistoryRecorder, HistoryStore
from storage.journal import Journal
from storage.store import Store

if TYPE_CHECKING:
    from arb.feeds.manager import Feeds  # imported with feeds on only (websockets)

DESK_KEY = "desk"


def version() -> str:
    try:
        return metadata.version("arb-bot")
    except metadata.PackageNotFoundError:
        return "dev"


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
    risk: RiskWatch = field(init=False)  # the risk watch on the accounts, with keys set
    books: OrderBooks = field(init=False)  # the legs' order books, fetched when asked
    sizes: SizeParams = field(init=False)  # what /size and the capacity lines size at
    loader: HistoryLoader = field(init=False)  # the history, backfilled from the venues
    journal: Journal = field(init=False)  # every trade and order (storage.journal)
    trader: Trader | None = None  # built at start (bot.trading.build)
    order_clients: list[OrderVenue] = field(default_factory=list)  # closed at shutdown
    previews: dict[str, Any] = field(default_factory=dict)  # /open, /close awaiting Confirm
    feeds: Feeds | None = None  # None: REST polling only (ARB_FEEDS=0)
    first_fetch: asyncio.Task[object] | None = None  # the start's fetch, the first cycle's
    keys: dict[str, KeyAccess] = field(default_factory=dict)  # what each key may do, at start
    version: str = field(default_factory=version)
    started_at: float = field(default_factory=time.time)
    refused_chats: set[int] = field(default_factory=set)
    admin_cache: dict[tuple[int, int], tuple[bool, float]] = field(default_factory=dict)
    throttle: Throttle = field(default_factory=Throttle)  # command spam, per chat and user

    def __post_init__(self) -> None:
        settings = self.settings
        self.sizes = settings.size_params()
        self.books = OrderBooks(
            self.service.market.clients.values(),
            clock=self.service.clock,
            deadline_s=min(BOOK_DEADLINE_S, settings.venue_deadline_s),
        )
        self.alerts = Alerts(
            settings, self.service, self.params, self.store, self.recorder, self.signaler,
            snapshot=self.snapshot, books=self.books, sizes=self.sizes,
        )  # fmt: skip
        self.loader = HistoryLoader(self.history, self.service.market.clients)
        self.journal = Journal(self.store.db)
        self.risk = RiskWatch(
            settings, self.accounts, self, self.store, self.alerts, clock=self.service.clock
        )

    @property
    def max_age_s(self) -> float:
        return self.settings.max_quote_age_s

    @property
    def clock(self) -> Callable[[], float]:
        return self.service.clock

    async def snapshot(self) -> MarketSnapshot:
        """The shared snapshot; waits for a fetch only when there is no fresh one."""
        deadline = self.settings.venue_deadline_s + 5
        return await asyncio.wait_for(self.service.current(), timeout=deadline)


def desk_of(context: ContextTypes.DEFAULT_TYPE) -> Desk:
    return context.application.bot_data[DESK_KEY]
