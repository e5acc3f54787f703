"""`/signal ASSET`, `/usage`, and the model's notes under alerts.

`/signal` shows "typing" while it waits, takes the asset's best fresh carry
(the pair /scan would show), and replies with the signaler's verdict: the
model's when it answered well, else the rules' with the reason. Alert notes
are edited into an alert after it went out, so a slow model never delays one.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from arb.history import HOUR_S, pair_stats
from arb.signaler import Facts
from arb.symbols import normalize_asset
from bot import render, render_signals
from bot.access import is_global_admin
from bot.desk import desk_of
from bot.send import keep_typing, reply_html, thread_of

log = logging.getLogger(__name__)

DAY_S = 86_400.0


async def signal_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
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
    await reply_html(update, context, render_signals.signal_html(signal))


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
    text = render_signals.usage_html(
        windows, desk.signaler.model, desk.signaler.prices, desk.signaler.cache_hits
    )
    await reply_html(update, context, text)
