"""Alerts driven by live updates: fast when it matters, paced when it does not.

Every update that changes an asset's quotes is looked at at once: the asset's
best spread is recomputed from the book (a handful of quotes) and compared
with the spread its last alert run saw. If it passed a level where an alert
decision flips (a subscribed threshold or its re-arm level), the asset runs
now. Any other change runs at most once a second per asset, which still
catches slower effects such as a spread that grew by half. Assets no
subscription covers are not run at all. Runs are at least LIVE_GAP_S apart,
so a burst of updates costs a few runs, not thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from telegram import Bot

from arb.alerts import WatchLevels, crosses
from arb.carry import best_carry
from arb.models import Quote
from arb.spread import ScanParams

log = logging.getLogger(__name__)

LIVE_GAP_S = 0.1  # live runs at most ten a second, whatever the update rate
PER_ASSET_S = 1.0  # a change that crosses no level runs at most once a second per asset
NEVER = float("-inf")


@dataclass(eq=False)
class LiveTrigger:
    """Decides which assets a live update should run the alerts for, and when.

    `quotes_for(asset)` reads the live book, `levels()` gives the subscribed levels,
    `seen_spread` each asset's best spread at its last alert run, and `run(bot, assets)`
    runs the alert path for those assets.
    """

    quotes_for: Callable[[str], list[Quote]]
    params: ScanParams
    levels: Callable[[], WatchLevels]
    seen_spread: Mapping[str, float]
    run: Callable[[Bot, set[str]], Awaitable[object]]
    clock: Callable[[], float] = time.time
    urgent: set[str] = field(init=False, default_factory=set)  # crossed a level: run now
    pending: set[str] = field(init=False, default_factory=set)  # changed: run within the second
    # asset -> when a live run last covered it
    last_run: dict[str, float] = field(init=False, default_factory=dict)
    runs: int = field(init=False, default=0)
    _wake: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _drainer: asyncio.Task[None] | None = field(init=False, default=None)
    _bot: Bot | None = field(init=False, default=None)

    def poke(self, bot: Bot, assets: set[str]) -> None:
        """The book changed these assets (called for every live update)."""
        now, watched = self.clock(), self.levels()
        for asset in assets:
            levels = watched.for_asset(asset)
            if not levels:
                continue  # nobody is subscribed to it
            best = best_carry(asset, self.quotes_for(asset), self.params, now).best
            spread = best.spread_8h if best is not None else None
            if crosses(self.seen_spread.get(asset), spread, levels):
                self.urgent.add(asset)
            else:
                self.pending.add(asset)
        if not (self.urgent or self.pending):
            return
        self._bot = bot
        if self.urgent:
            self._wake.set()
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="live-alerts")

    async def _drain(self) -> None:
        previous = NEVER
        while self.urgent or self.pending:
            now = time.monotonic()
            due = self.urgent | {
                a for a in self.pending if now - self.last_run.get(a, NEVER) >= PER_ASSET_S
            }
            next_at = previous + LIVE_GAP_S
            if not due:  # only recent assets are pending: wait for the first to be due
                next_at = max(next_at, min(self.last_run[a] for a in self.pending) + PER_ASSET_S)
            if next_at > now:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):  # pacing; an urgent change wakes it
                    await asyncio.wait_for(self._wake.wait(), next_at - now)
                continue
            self.urgent.clear()
            self.pending -= due
            previous = now
            for a in due:
                self.last_run[a] = now
            self.runs += 1
            try:
                assert self._bot is not None
                await self.run(self._bot, due)
            except Exception:
                log.exception("live alert run failed")

    async def close(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
