"""`/chart ASSET [24h|7d|30d]` and `/history ASSET`: how funding moved, and whether a spread lasts.

Both read the stored history (a scan snapshot every ARB_HISTORY_EVERY_S) and,
where it does not reach back over the window, first backfill the asset from
the venues' settled-funding endpoints. The chart is drawn in a worker thread
so the bot keeps answering while matplotlib works.
"""

from __future__ import annotations

import asyncio
import logging
import math

from telegram import InputFile, Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from arb.chart import render_chart
from arb.history import (
    HOUR_S,
    WINDOWS_H,
    History,
    fetch_settled,
    history_report,
    pair_stats,
    pending_carry,
    recorded_points,
    with_live,
)
from arb.models import Quote
from arb.symbols import normalize_asset
from bot import render, render_history
from bot.desk import Desk, desk_of
from bot.send import keep_typing, reply_html, send_photo, thread_of
from storage.history import SETTLED

log = logging.getLogger(__name__)

DEFAULT_WINDOW = "7d"
WINDOW_ALIASES = {"1d": "24h", "24h": "24h", "7d": "7d", "1w": "7d", "30d": "30d", "1m": "30d"}
DEFAULT_THRESHOLD_8H = 0.0005  # what /history measures against when the chat has no alert
BACKFILL_DEADLINE_S = 15.0


async def load_history(
    desk: Desk, asset: str, quotes: list[Quote], start: float, now: float
) -> tuple[History, list[str]]:
    """The asset's history over [start, now], backfilled where needed, ending with the live
    quotes. Returns it with the venues' backfill errors."""
    earliest = await desk.history.earliest(asset)
    need = [
        q
        for q in quotes
        if earliest.get(q.venue, math.inf) > start + max(q.interval_h, 1.0) * HOUR_S
        and desk.backfills.due(asset, q.venue, start, now)
    ]
    errors: dict[str, str] = {}
    if need:
        clients = desk.service.market.clients
        rows, errors = await fetch_settled(clients, need, start, now, BACKFILL_DEADLINE_S)
        await desk.history.save(rows, SETTLED)
        for q in need:
            if q.venue not in errors:
                desk.backfills.done(asset, q.venue, start, now)
    history = with_live(await desk.history.series(asset, start, now), quotes)
    return history, list(errors.values())


def parse_window(text: str) -> str | None:
    return WINDOW_ALIASES.get(text.strip().lower())


async def chart_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    window = parse_window(args[1]) if len(args) == 2 else DEFAULT_WINDOW
    if len(args) not in (1, 2) or window is None:
        await reply_html(update, context, "Usage: /chart ASSET [24h|7d|30d], e.g. /chart BTC 7d")
        return
    try:
        asset = normalize_asset(args[0])
    except ValueError:
        await reply_html(
            update, context, f"“{render.shown(args[0])}” is not an asset name. Try /chart BTC"
        )
        return
    desk = desk_of(context)
    chat = update.effective_chat
    assert chat is not None
    thread = thread_of(update.effective_message)
    async with keep_typing(context.bot, chat.id, thread, ChatAction.UPLOAD_PHOTO):
        snapshot = await desk.snapshot()
        quotes = snapshot.for_asset(asset)
        if not quotes:
            await reply_html(update, context, f"No venue lists {render.esc(asset)} right now.")
            return
        now = desk.service.clock()
        start = now - WINDOWS_H[window] * HOUR_S
        history, errors = await load_history(desk, asset, quotes, start, now)
        if not any(recorded_points(history, start, now).values()):
            await reply_html(update, context, render_history.no_history(asset, window, errors))
            return
        best = await desk.best_carry(asset)
        pair = (best.long_venue, best.short_venue) if best else None
        png = await asyncio.to_thread(render_chart, asset, history, start, now, window, pair)
        threshold = await chat_threshold(desk, chat.id, thread, asset) or DEFAULT_THRESHOLD_8H
        stats = pending = None
        if best is not None:
            hours = WINDOWS_H[window]
            stats = pair_stats(history, best.long_venue, best.short_venue, now, hours, threshold)
            pending = pending_carry(history, best.long_venue, best.short_venue, now)
        caption = render_history.chart_caption(
            asset, window, best, stats, threshold, errors, pending
        )
    await send_photo(
        context.bot, chat.id, InputFile(png, filename=f"{asset}-{window}.png"), caption, thread
    )


async def history_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    if len(args) != 1:
        await reply_html(update, context, "Usage: /history ASSET, e.g. /history BTC")
        return
    try:
        asset = normalize_asset(args[0])
    except ValueError:
        await reply_html(
            update, context, f"“{render.shown(args[0])}” is not an asset name. Try /history BTC"
        )
        return
    desk = desk_of(context)
    chat = update.effective_chat
    assert chat is not None
    thread = thread_of(update.effective_message)
    async with keep_typing(context.bot, chat.id, thread):
        snapshot = await desk.snapshot()
        quotes = snapshot.for_asset(asset)
        if len({q.venue for q in quotes}) < 2:
            await reply_html(
                update,
                context,
                f"{render.esc(asset)} is not listed on two venues right now: no pair to look "
                "back on.",
            )
            return
        now = desk.service.clock()
        start = now - max(WINDOWS_H.values()) * HOUR_S
        history, errors = await load_history(desk, asset, quotes, start, now)
        threshold = await chat_threshold(desk, chat.id, thread, asset)
        report = history_report(asset, history, quotes, await desk.best_carry(asset), now,
                                threshold or DEFAULT_THRESHOLD_8H)  # fmt: skip
    await reply_html(
        update, context, render_history.history_html(report, threshold is not None, errors)
    )


async def chat_threshold(
    desk: Desk, chat_id: int, thread_id: int | None, asset: str
) -> float | None:
    """The alert threshold that applies to `asset` in this chat topic: the one alerting
    uses (arb.alerts.ThresholdIndex over the subscriptions the alerts hold in memory)."""
    return (await desk.alerts.threshold_index()).threshold(chat_id, thread_id, asset)
