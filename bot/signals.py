"""`/signal ASSET`, `/usage`, and the model's notes under alerts.

`/signal` shows "typing" while it waits, takes the asset's best fresh carry
(the pair /scan would show), and replies with the signaler's verdict: the
model's when it answered well, else the rules' with the reason. Alert notes
are edited into an alert after it went out, so a slow model never delays one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from arb.history import HOUR_S, pair_stats
from arb.models import Opportunity
from arb.signaler import Facts
from arb.symbols import normalize_asset
from bot import render
from bot.access import is_global_admin
from bot.desk import Desk, desk_of
from bot.handlers import shown
from bot.send import edit_html, keep_typing, reply_html, thread_of

log = logging.getLogger(__name__)

DAY_S = 86_400.0
MAX_NOTES = 5  # assets per alert that get a model note


async def signal_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    if len(args) != 1:
        await reply_html(update, context, "Usage: /signal ASSET, e.g. /signal BTC")
        return
    try:
        asset = normalize_asset(args[0])
    except ValueError:
        await reply_html(
            update, context, f"“{shown(args[0])}” is not an asset name. Try /signal BTC"
        )
        return
    desk = desk_of(context)
    chat = update.effective_chat
    assert chat is not None
    async with keep_typing(context.bot, chat.id, thread_of(update.effective_message)):
        best = await desk.best_carry(asset)
        if best is None:
            await reply_html(
                update,
                context,
                f"No fresh cross-venue carry for {render.esc(asset)} passes the filters right "
                f"now, so there is nothing to judge. /funding {render.esc(asset)} shows its rates.",
            )
            return
        now = desk.service.clock()
        history = await desk.history.series(asset, now - 168 * HOUR_S, now)
        record = tuple(
            pair_stats(history, best.long_venue, best.short_venue, now, hours, best.spread_8h)
            for hours in (24.0, 168.0)
        )
        signal = await desk.signaler.signal(Facts(best, now, record), chat_id=chat.id)
    await reply_html(update, context, render.signal_html(signal))


async def usage_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    desk = desk_of(context)
    user = update.effective_user
    if not is_global_admin(desk, user.id if user else None):
        await reply_html(update, context, "Only the desk's admins (ARB_ADMINS) can see this.")
        return
    now = desk.service.clock()
    midnight = now - now % DAY_S
    windows = [
        ("today UTC", await desk.store.llm_usage(since=midnight)),
        ("30 days", await desk.store.llm_usage(since=now - 30 * DAY_S)),
    ]
    text = render.usage_html(
        windows, desk.signaler.model, desk.signaler.prices, desk.signaler.cache_hits
    )
    await reply_html(update, context, text)


async def annotate_alert(
    desk: Desk,
    message: Message,
    text: str,
    keyboard: InlineKeyboardMarkup | None,
    opportunities: list[Opportunity],
    now: float,
) -> None:
    """Edit the model's one-line notes into an alert that has already been sent."""
    try:
        signals = await asyncio.gather(
            *(desk.signaler.signal(Facts(o, now)) for o in opportunities[:MAX_NOTES])
        )
        notes = [render.alert_note(s) for s in signals if s.source == "model"]
        if not notes:
            return
        annotated = text + "\n\n" + "\n".join(notes)
        if len(render.split_message(annotated)) > 1:
            return  # an alert is one message; the notes are not worth a second one
        await edit_html(message, annotated, keyboard)
    except TelegramError as e:
        log.warning("could not add notes to alert %s: %s", message.message_id, e)
    except Exception:
        log.exception("alert notes failed")


class NoteTasks:
    """Background note tasks, cancelled at shutdown."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro) -> None:
        task = asyncio.create_task(coro, name="alert-notes")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
