"""`/signal ASSET`, `/usage`, and the model's notes under alerts.

`/signal` shows "typing" while `arb.commands.signal` takes the asset's best fresh
carry (the pair /scan would show), sizes it on its legs' books at the desk's notional
(as /size does) and asks the signaler, then replies with the
verdict: the model's when it answered well, else the rules' with the reason.
Alert notes are edited into an alert after it went out, so a slow model never
delays one.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from arb import commands
from bot import render, render_signals
from bot.access import admins_only
from bot.arguments import only_asset
from bot.desk import desk_of
from bot.send import reply_html, typing_in

log = logging.getLogger(__name__)

DAY_S = 86_400.0


async def signal_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/signal ASSET: the signaler's take/watch/skip note on the asset's best carry."""
    if (asset := await only_asset(update, context, "signal")) is None:
        return
    desk = desk_of(context)
    chat = update.effective_chat
    assert chat is not None
    async with typing_in(update, context):
        signal = await commands.signal(
            desk, desk.history, desk.signaler, asset, desk.params,
            chat_id=chat.id, books=desk.books, size_params=desk.sizes,
        )  # fmt: skip
    if signal is None:
        await reply_html(
            update,
            context,
            f"No fresh cross-venue carry for {render.esc(asset)} passes the filters right "
            f"now, so there is nothing to judge. /funding {render.esc(asset)} shows its rates.",
        )
        return
    await reply_html(update, context, render_signals.signal_html(signal))


@admins_only("Only the desk's admins (ARB_ADMINS) can see this.")
async def usage_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/usage, admins only: the model's calls, tokens and cost today and over 30 days."""
    desk = desk_of(context)
    now = desk.service.clock()
    midnight = now - now % DAY_S
    windows = [
        ("today UTC", await desk.store.llm_usage(since=midnight)),
        ("30 days", await desk.store.llm_usage(since=now - 30 * DAY_S)),
    ]
    text = render_signals.usage_html(
        windows, desk.signaler.model, desk.signaler.prices, desk.signaler.cache_hits
    )
    await reply_html(update, context, text)
