"""`/chart ASSET [24h|7d|30d]` and `/history ASSET`: how funding moved, and whether a spread lasts.

Both look up the alert threshold that applies in the chat topic, ask `arb.commands`
(which reads the stored history and first backfills the asset from the venues'
settled-funding endpoints where the record does not reach back over the window) and
reply: the chart as a photo with its key figures, the history as tables.
"""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from arb import commands
from bot import render
from bot.arguments import asset_named, only_asset
from bot.desk import Desk, desk_of
from bot.send import reply_html, send_photo, thread_of, typing_in

DEFAULT_WINDOW = "7d"
WINDOW_ALIASES = {"1d": "24h", "24h": "24h", "7d": "7d", "1w": "7d", "30d": "30d", "1m": "30d"}


def parse_window(text: str) -> str | None:
    return WINDOW_ALIASES.get(text.strip().lower())


async def chart_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/chart ASSET [24h|7d|30d]: each venue's funding over the window, as a photo."""
    args = context.args or []
    window = parse_window(args[1]) if len(args) == 2 else DEFAULT_WINDOW
    if len(args) not in (1, 2) or window is None:
        await reply_html(update, context, "Usage: /chart ASSET [24h|7d|30d], e.g. /chart BTC 7d")
        return
    if (asset := await asset_named(update, context, args[0], "chart")) is None:
        return
    desk = desk_of(context)
    chat, thread = _where(update)
    async with typing_in(update, context, ChatAction.UPLOAD_PHOTO):
        threshold = await chat_threshold(desk, chat, thread, asset)
        r = await commands.chart(desk, desk.loader, asset, window, desk.params, threshold)
    from bot import render_history  # here: the bot starts without the history's rendering

    if r is None:
        await reply_html(update, context, f"No venue lists {render.esc(asset)} right now.")
    elif r.png is None:
        await reply_html(update, context, render_history.no_history(r.asset, r.window, r.errors))
    else:
        caption = render_history.chart_caption(
            r.asset, r.window, r.best, r.stats, r.threshold_8h, r.errors, r.pending
        )
        photo = InputFile(r.png, filename=f"{r.asset}-{r.window}.png")
        await send_photo(context.bot, chat, photo, caption, thread)


async def history_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/history ASSET: every venue pair's average spread over 24h, 7d and 30d."""
    if (asset := await only_asset(update, context, "history")) is None:
        return
    desk = desk_of(context)
    async with typing_in(update, context):
        threshold = await chat_threshold(desk, *_where(update), asset)
        r = await commands.history(desk, desk.loader, asset, desk.params, threshold)
    if r is None:
        await reply_html(
            update,
            context,
            f"{render.esc(asset)} is not listed on two venues right now: no pair to look back on.",
        )
        return
    from bot import render_history  # here: the bot starts without the history's rendering

    text = render_history.history_html(r, threshold is not None, r.errors)
    await reply_html(update, context, text)


def _where(update: Update) -> tuple[int, int | None]:
    """The chat and forum topic a command came from."""
    chat = update.effective_chat
    assert chat is not None
    return chat.id, thread_of(update.effective_message)


async def chat_threshold(
    desk: Desk, chat_id: int, thread_id: int | None, asset: str
) -> float | None:
    """The alert threshold that applies to `asset` in this chat topic: the one alerting
    uses (arb.alerts.ThresholdIndex over the subscriptions the alerts hold in memory)."""
    return (await desk.alerts.threshold_index()).threshold(chat_id, thread_id, asset)
