"""`/balance`, `/positions`, `/pnl [7d|30d]`, `/risk`: the desk's accounts, for ARB_ADMINS
only.

They answer admins in a private chat, or in a group listed in
ARB_ALLOWED_CHATS: a desk's figures never go to a group nobody vetted.

Keys are for reading: at start, `check_keys` asks each keyed venue what its key may do
(where the venue lets a key see its own permissions), keeps the answers for /status,
and tells every admin loudly about a key that can withdraw.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from arb import commands
from arb.accounts.service import AccountReport, AccountService
from arb.venues.registry import account_venues, key_variables
from bot import render_accounts, render_risk
from bot.access import in_vetted_chat, is_admin
from bot.desk import Desk, desk_of
from bot.send import reply_html, send_html, typing_in

log = logging.getLogger(__name__)

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
KEY_CHECK_S = 5.0  # the start-up read of the keys' permissions waits no longer


def _refusal(update: Update, desk: Desk) -> str | None:
    if not is_admin(update, desk):
        return NOT_ADMIN
    if not in_vetted_chat(update, desk):
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


async def risk(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/risk, admins only: each book's distance to liquidation, drift and carry, worst
    first, then each account's margin ratio."""
    desk = desk_of(context)
    if await _refused(update, context, desk):
        return
    params = desk.settings.risk_params()
    async with typing_in(update, context):
        report = await commands.risk(desk.accounts, desk, params)
    await reply_html(update, context, render_risk.risk_html(report, params))


async def check_keys(bot: Bot, desk: Desk) -> None:
    """Read what each keyed venue's key may do (bounded: never a slow start), keep it for
    /status, and warn every admin, loudly, of a key that can withdraw."""
    if not desk.accounts.venues:
        return
    desk.keys = await commands.key_access(desk.accounts, KEY_CHECK_S)
    for k in render_risk.withdrawing(desk.keys.values()):
        log.warning("the %s key can withdraw funds: replace it with a read-only key", k.venue)
        text = render_risk.withdraw_warning(k)
        for admin in sorted(desk.settings.admins):
            try:
                await send_html(bot, admin, text)
            except TelegramError as e:  # e.g. an admin who never opened a chat with the bot
                log.warning("could not warn admin %d about the %s key: %s", admin, k.venue, e)
