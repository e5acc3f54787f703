"""`/balance`, `/positions`, `/pnl [7d|30d]`: the desk's accounts, for ARB_ADMINS only.

They answer admins in a private chat, or in a group listed in
ARB_ALLOWED_CHATS: a desk's figures never go to a group nobody vetted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from arb.accounts.service import AccountReport, AccountService
from arb.venues.registry import account_venues, key_variables
from bot import render_accounts
from bot.access import is_admin
from bot.desk import Desk, desk_of
from bot.send import reply_html, typing_in

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
    chat = update.effective_chat
    if not is_admin(update, desk):
        return NOT_ADMIN
    if chat is None or (
        chat.type != ChatType.PRIVATE and chat.id not in desk.settings.allowed_chats
    ):
        return NOT_HERE
    if not desk.accounts.venues:
        return NO_KEYS
    return None


async def _refused(update: Update, context: ContextTypes.DEFAULT_TYPE, desk: Desk) -> bool:
    """Whether the accounts are not shown here (and the user was told why)."""
    if (why := _refusal(update, desk)) is None:
        return False
    await reply_html(update, context, why)
    return True


async def balance(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/balance, admins only: each venue account's equity, available margin and uPnL."""
    await _show(update, context, lambda a: a.balances(), render_accounts.balances_html)


async def positions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/positions, admins only: open legs, matched into hedged pairs."""
    await _show(update, context, lambda a: a.positions(), render_accounts.positions_html)


async def _show(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    fetch: Callable[[AccountService], Awaitable[AccountReport[Any]]],
    render: Callable[[Any, Mapping[str, str], float], str],
) -> None:
    """Fetch a report from the accounts while typing, and reply with it rendered as of now."""
    desk = desk_of(context)
    if await _refused(update, context, desk):
        return
    async with typing_in(update, context):
        report = await fetch(desk.accounts)
    await reply_html(update, context, render(report.items, report.errors, desk.service.clock()))


async def pnl(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/pnl [7d|30d], admins only: the funding the desk's accounts earned."""
    desk = desk_of(context)
    args = context.args or []
    days = PNL_DAYS.get(args[0].lower()) if len(args) == 1 else 7 if not args else None
    if days is None:
        await reply_html(update, context, "Usage: /pnl [7d|30d], e.g. /pnl 30d")
        return
    if await _refused(update, context, desk):
        return
    now = desk.service.clock()
    async with typing_in(update, context):
        report = await desk.accounts.funding(days, int(now * 1000))
    text = render_accounts.pnl_html(report.items, report.errors, days, now, report.partial)
    await reply_html(update, context, text)
