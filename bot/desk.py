"""What every handler needs, kept in `application.bot_data["desk"]`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING

from telegram.ext import ContextTypes

from arb.market import MarketSnapshot
from arb.service import MarketService
from arb.settings import Settings
from arb.signaler import Signaler
from arb.spread import ScanParams
from storage.store import Store

if TYPE_CHECKING:
    from bot.alerts import Alerts

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
    alerts: Alerts = field(init=False)
    version: str = field(default_factory=version)
    started_at: float = field(default_factory=time.time)
    refused_chats: set[int] = field(default_factory=set)
    admin_cache: dict[tuple[int, int], tuple[bool, float]] = field(default_factory=dict)

    @property
    def max_age_s(self) -> float:
        return self.settings.max_quote_age_s

    async def snapshot(self) -> MarketSnapshot:
        """The shared snapshot; waits for a fetch only when there is no fresh one."""
        deadline = self.settings.venue_deadline_s + 5
        return await asyncio.wait_for(self.service.current(), timeout=deadline)


def desk_of(context: ContextTypes.DEFAULT_TYPE) -> Desk:
    return context.application.bot_data[DESK_KEY]
