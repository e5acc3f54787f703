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
from typing import TYPE_CHECKING

from telegram import Bot

from arb.alerts import crosses
from arb.carry import best_carry

if TYPE_CHECKING:
    from bot.alerts import Alerts

log = logging.getLogger(__name__)

LIVE_GAP_S = 0.1  # live runs at most ten a second, whatever the update rate
PER_ASSET_S = 1.0  # a change that crosses no level runs at most once a second per asset
NEVER = float("-inf")


class LiveTrigger:
    def __init__(self, alerts: Alerts) -> None:
        self.alerts = alerts
        self.urgent: set[str] = set()  # crossed a level: run now
        self.pending: set[str] = set()  # changed: run within the second
        self.last_run: dict[str, float] = {}  # asset -> when a live run last covered it
        self.runs = 0
        self._wake = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self._bot: Bot | None = None

    def poke(self, bot: Bot, assets: set[str]) -> None:
        """The book changed these assets (called for every live update)."""
        alerts, desk = self.alerts, self.alerts.desk
        now = time.time()
        for asset in assets:
            levels = alerts.levels.for_asset(asset)
            if not levels:
                continue  # nobody is subscribed to it
            best = best_carry(asset, desk.service.quotes_for(asset), desk.params, now).best
            spread = best.spread_8h if best is not None else None
            if crosses(alerts.seen_spread.get(asset), spread, levels):
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
                await self.alerts.cycle(self._bot, refresh=False, assets=due)
            except Exception:
                log.exception("live alert run failed")

    async def close(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
