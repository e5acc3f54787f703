"""`/signal ASSET`, `/usage`, and the model's notes under alerts.

`/signal` shows "typing" while `arb.commands.signal` takes the asset's best fresh
carry (the pair /scan would show) and asks the signaler, then replies with the
verdict: the model's when it answered well, else the rules' with the reason.
Alert notes are edited into an alert after it went out, so a slow model never
delays one.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from arb import commands
from arb.symbols import normalize_asset
from bot import render, render_signals
from bot.access import is_global_admin
from bot.desk import desk_of
from bot.send import keep_typing, reply_html, thread_of

log = logging.getLogger(__name__)

DAY_S = 86_400.0


async def signal_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/signal ASSET: the signaler's take/watch/skip note on the asset's best carry."""
    args = context.args or []
    if len(args) != 1:
        await reply_html(update, context, "Usage: /signal ASSET, e.g. /signal BTC")
        return
    try:
        asset = normalize_asset(args[0])
    except ValueError:
        await reply_html(
            update, context, f"“{render.shown(args[0])}” is not an asset name. Try /signal BTC"
        )
        return
    desk = desk_of(context)
    chat = update.effective_chat
    assert chat is not None
    async with keep_typing(context.bot, chat.id, thread_of(update.effective_message)):
        signal = await commands.signal(
            desk, desk.history, desk.signaler, asset, desk.params, chat_id=chat.id
        )
    if signal is None:
        await reply_html(
            update,
            context,
            f"No fresh cross-venue carry for {render.esc(asset)} passes the filters right "
            f"now, so there is nothing to judge. /funding {render.esc(asset)} shows its rates.",
        )
        return
    await reply_html(update, context, render_signals.signal_html(signal))


async def usage_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/usage, admins only: the model's calls, tokens and cost today and over 30 days."""
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
    text = render_signals.usage_html(
        windows, desk.signaler.model, desk.signaler.prices, desk.signaler.cache_hits
    )
    await reply_html(update, context, text)
