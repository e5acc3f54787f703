"""Run the real bot in-process against the fake Bot API and the fake venues.

The bot paces its sends with the real DeskRateLimiter at Telegram's limits, except that one
chat's replies after a burst of three follow each other in CHAT_INTERVAL_S, not a second:
a test asking one chat ten things waits for no clock. Tests of the pacing itself (the fake's
flood control on) pass `telegram_pacing=True`.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

from telegram.ext import Application

from arb.settings import parse_settings
from bot.app import KEY_CHECK_TASK, serve
from bot.desk import DESK_KEY, Desk
from bot.ratelimit import DeskRateLimiter
from tests.conftest import CORE_VENUES
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.fakes.venues import FakeVenues

CHAT_INTERVAL_S = 0.02


@dataclass
class RunningBot:
    tg: FakeTelegram
    venues: FakeVenues
    app: Application
    stop: asyncio.Event
    task: asyncio.Task[int]

    @property
    def desk(self) -> Desk:
        return self.app.bot_data[DESK_KEY]

    async def ask(self, text: str, chat_id: int = 1001, timeout: float = 10.0, **kw) -> SentMessage:
        """A user sends `text`; returns the bot's next message to that chat."""
        mark = len(self.tg.sent)
        self.tg.user_message(text, chat_id=chat_id, **kw)
        return await self.tg.wait_for(lambda m: m.chat_id == chat_id, after=mark, timeout=timeout)

    async def cycle(self):
        """One alert cycle now, as the JobQueue would run it."""
        return await self.desk.alerts.cycle(self.app.bot)

    async def settled(self) -> None:
        """Wait for the start's one-off tasks (started before `ready`): the key check and
        the first run of each job."""
        tasks = [t for t in asyncio.all_tasks() if _start_task(t.get_name())]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)

    def to_chat(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.tg.sent if m.chat_id == chat_id]

    async def shutdown(self) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, timeout=15)


def _start_task(name: str) -> bool:
    return name == KEY_CHECK_TASK or name.startswith("first-")


def bot_env(tg: FakeTelegram, venues: FakeVenues, **extra: str) -> dict[str, str]:
    return {
        **venues.env(),
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_BASE_URL": tg.base_url,
        "ARB_HTTP_RETRIES": "0",
        "ARB_HTTP_TIMEOUT_S": "2",
        "ARB_FEEDS": "0",  # tests that want live feeds start fake WebSocket servers
        "ARB_VENUES": CORE_VENUES,
        **extra,
    }


@contextlib.asynccontextmanager
async def running_bot(
    venues: FakeVenues,
    tg: FakeTelegram | None = None,
    *,
    telegram_pacing: bool = False,
    **env: str,
) -> AsyncIterator[RunningBot]:
    async with contextlib.AsyncExitStack() as stack:
        if tg is None:
            tg = await stack.enter_async_context(FakeTelegram())
        if "ARB_DB" not in env:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            env = {**env, "ARB_DB": f"{tmp}/arb.sqlite3"}
        settings = parse_settings(bot_env(tg, venues, **env))
        stop = asyncio.Event()
        ready: asyncio.Future[Application] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            serve(
                settings,
                stop=stop,
                handle_signals=False,
                startup_backoff=(0.01, 0.1),
                ready=ready,
                rate_limiter=None
                if telegram_pacing
                else DeskRateLimiter(chat_interval=CHAT_INTERVAL_S),
            )
        )
        try:
            done, _ = await asyncio.wait({task, ready}, timeout=15, return_when="FIRST_COMPLETED")
            if ready not in done:
                raise RuntimeError(
                    f"bot did not start: {task.result() if task.done() else 'timeout'}"
                )
            bot = RunningBot(tg, venues, ready.result(), stop, task)
            # The start-up cycle (refresh and alerts) has run, so replies have data.
            await asyncio.wait_for(bot.desk.alerts.cycled.wait(), timeout=15)
            yield bot
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=15)
