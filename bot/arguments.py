"""The asset argument of the per-asset commands (/funding, /signal, /chart, /history).

Each reads it the same way: one asset name, normalized (BTCUSDT, 1000PEPE and kPEPE all
work); anything else gets the command's usage or "not an asset name" and no further work.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from arb.symbols import normalize_asset
from bot import render
from bot.send import reply_html


async def asset_named(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, command: str
) -> str | None:
    """`text` as an asset name; None once the user was told it is not one."""
    try:
        return normalize_asset(text)
    except ValueError:
        shown = render.shown(text)
        await reply_html(update, context, f"“{shown}” is not an asset name. Try /{command} BTC")
        return None


async def only_asset(
    update: Update, context: ContextTypes.DEFAULT_TYPE, command: str
) -> str | None:
    """The one asset `/command ASSET` names; None once the user was told the usage."""
    args = context.args or []
    if len(args) != 1:
        await reply_html(update, context, f"Usage: /{command} ASSET, e.g. /{command} BTC")
        return None
    return await asset_named(update, context, args[0], command)
