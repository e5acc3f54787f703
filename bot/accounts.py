"""`/balance`, `/positions`, `/pnl [7d|30d]`: the desk's accounts, for ARB_ADMINS only.

They answer admins in a private chat, or in a group listed in
ARB_ALLOWED_CHATS: a desk's figures never go to a group nobody vetted.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from arb.venues.registry import account_venues, key_variables
from bot import render_accounts
from bot.access import is_global_admin
from bot.desk import Desk, desk_of
from bot.send import keep_typing, reply_html, thread_of

NOT_ADMIN = "Only the desk's admins (ARB_ADMINS) can see the accounts."
NOT_HERE = (
    "Account figures are shown in a private chat with the bot, or in a group listed in "
    "ARB_ALLOWED_CHATS."
)
NO_KEYS = (
    "No venue keys are set. Put read-only keys in .env: "
    + ", ".join("/".join(key_variables(name)) for name in account_venues())
    + "."
)
PNL_DAYS = {"7d": 7, "30d": 30}


def _refusal(update: Update, desk: Desk) -> str | None:
    user, chat = update.effective_user, update.effective_chat
    if not is_global_admin(desk, user.id if user else None):
        return NOT_ADMIN
    if chat is None or (
        chat.type != ChatType.PRIVATE and chat.id not in desk.settings.allowed_chats
    ):
        return NOT_HERE
    if not desk.accounts.venues:
        return NO_KEYS
    return None


async def balance(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/balance, admins only: each venue account's equity, available margin and uPnL."""
    desk = desk_of(context)
    if (why := _refusal(update, desk)) is not None:
        await reply_html(update, context, why)
        return
    async with _typing(update, context):
        report = await desk.accounts.balances()
    text = render_accounts.balances_html(report.items, report.errors, desk.service.clock())
    await reply_html(update, context, text)


async def positions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/positions, admins only: open legs, matched into hedged pairs."""
    desk = desk_of(context)
    if (why := _refusal(update, desk)) is not None:
        await reply_html(update, context, why)
        return
    async with _typing(update, context):
        report = await desk.accounts.positions()
    text = render_accounts.positions_html(report.items, report.errors, desk.service.clock())
    await reply_html(update, context, text)


async def pnl(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/pnl [7d|30d], admins only: the funding the desk's accounts earned."""
    desk = desk_of(context)
    args = context.args or []
    days = PNL_DAYS.get(args[0].lower()) if len(args) == 1 else 7 if not args else None
    if days is None:
        await reply_html(update, context, "Usage: /pnl [7d|30d], e.g. /pnl 30d")
        return
    if (why := _refusal(update, desk)) is not None:
        await reply_html(update, context, why)
        return
    now = desk.service.clock()
    async with _typing(update, context):
        report = await desk.accounts.funding(days, int(now * 1000))
    text = render_accounts.pnl_html(report.items, report.errors, days, now, report.partial)
    await reply_html(update, context, text)


def _typing(update: Update, context: ContextTypes.DEFAULT_TYPE):  # type: ignore[no-untyped-def]
    chat = update.effective_chat
    assert chat is not None
    return keep_typing(context.bot, chat.id, thread_of(update.effective_message))
