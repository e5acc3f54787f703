"""The first moments of `arb-bot run`: what must hold before anything else, then the
first venue poll, with Telegram's side imported while that poll is on its way.

In order: the token must be there and look like a token (exit 2), ARB_DB must open
(exit 3, one ERROR line `ARB_DB=<path>: <cause>`), then the market's first fetch starts.
Only then is `bot.app` (python-telegram-bot, the handlers, the Desk) imported, in a
worker thread so that the event loop keeps the fetch going, and `bot.app.serve` takes
over. Telegram rejecting the token still exits 2: the fetch in flight is cancelled.

This module imports no Telegram code: `arb-bot run` reaches its first poll after
importing only the market's side (aiohttp, the venue clients) and the storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import re
from dataclasses import dataclass

# The bot's wire (aiohttp), loaded here rather than at the first request: that request
# goes out while `bot.app` imports in a thread, and the two would contend for the same
# modules' import locks.
import arb.wire.aio  # noqa: F401
from arb.market import Market, make_clients
from arb.service import MarketService
from arb.settings import Settings
from bot import heartbeat
from storage.db import Database, StorageError, close_all

log = logging.getLogger("bot.app")  # the start's lines name the app, as they always have

FIRST_FETCH_TASK = "first-fetch"
NO_TOKEN = (
    "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather, then put "
    "TELEGRAM_BOT_TOKEN=<token> in .env (see .env.example) or the environment."
)
TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")  # <bot id>:<secret>, as @BotFather gives it
MALFORMED_TOKEN = (
    "TELEGRAM_BOT_TOKEN is not a bot token: @BotFather gives one as <bot id>:<secret>, "
    "e.g. 123456789:AAH... Copy it again from @BotFather."
)


@dataclass
class Started:
    """What the start opened before Telegram: the database, the market and its first fetch."""

    db: Database
    service: MarketService
    first_fetch: asyncio.Task[object]

    async def close(self) -> None:
        """Close what `begin` opened, for a start that stops before `bot.app.serve` does."""
        await stop_first_fetch(self.first_fetch)
        await self.service.close()
        await self.db.close()


async def begin(settings: Settings) -> Started | int:
    """The start's checks, then the first venue poll. An exit status when a check fails."""
    if not settings.telegram_bot_token:
        log.error(NO_TOKEN)
        return 2
    if not TOKEN_SHAPE.fullmatch(settings.telegram_bot_token):
        log.error(MALFORMED_TOKEN)  # never retried: no Telegram would take it
        return 2
    try:
        db = await Database.open(settings.db_path)
    except StorageError as e:
        log.error("ARB_DB=%s: %s", e.path, e.cause)
        return 3
    try:
        # A beat left by a killed run must not vouch for this one.
        heartbeat.clear(heartbeat.heartbeat_path(settings.db_path))
        market = Market(make_clients(settings), settings.venue_deadline_s)
        service = MarketService(market, settings.max_quote_age_s)
    except BaseException:
        await db.close()
        raise
    # The first market cycle's fetch, started now rather than after Telegram's getMe and
    # setMyCommands: the cycle, once the bot is connected, uses this fetch's snapshot.
    deadline = min(settings.venue_deadline_s, settings.scan_interval_s / 2)
    first_fetch = asyncio.create_task(service.refresh(deadline_s=deadline), name=FIRST_FETCH_TASK)
    return Started(db, service, first_fetch)


async def stop_first_fetch(task: asyncio.Task[object]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task  # its failure, if any, was the first cycle's to report


def run(settings: Settings) -> int:
    """`arb-bot run`: the exit status (see bot.app)."""

    async def main() -> int:
        try:
            started = await begin(settings)
            if isinstance(started, int):
                return started
            try:
                # Telegram's side loads while the first fetch is on its way.
                app = await asyncio.to_thread(importlib.import_module, "bot.app")
            except BaseException:
                await started.close()
                raise
            ready: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            ready.add_done_callback(freeze_start_up)
            return await app.serve(settings, started=started, ready=ready)
        finally:
            # Whatever failure skipped a db.close(): aiosqlite's worker thread is not a
            # daemon, and left running it would keep the process from ever exiting.
            await close_all()

    return asyncio.run(main())


def freeze_start_up(_: object) -> None:
    """Once updates flow: what start-up loaded lives as long as the process, so it leaves
    the collector's reach, and a full collection walks only what replies create instead of
    stalling a burst of replies for 60-150 ms (issue 19's concurrent /scan)."""
    gc.collect()
    gc.freeze()
