"""/subscribe, /unsubscribe, /subscriptions.

Changing a chat's alerts is for ARB_ADMINS, the user of a private chat, or a
group's own administrators. The confirmation is sent only after the change is
committed, so a confirmed subscription survives any crash.
"""

from __future__ import annotations

import time

from telegram import Update
from telegram.ext import ContextTypes

from arb.alerts import ThresholdError, parse_subscribe, threshold_to_apr
from arb.render import apr_pct, pct
from arb.symbols import normalize_asset
from bot.access import can_change_chat
from bot.desk import desk_of
from bot.render import esc
from bot.send import reply_html, thread_of

NOT_ADMIN = "Only this group's administrators can change its alerts."


def describe(threshold_8h: float, assets: frozenset[str]) -> str:
    which = ", ".join(sorted(assets)) if assets else "every asset"
    return (
        f"{pct(threshold_8h)} per 8h (APR {apr_pct(threshold_to_apr(threshold_8h))}) "
        f"on {esc(which)}"
    )


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await can_change_chat(update, context):
        await reply_html(update, context, NOT_ADMIN)
        return
    try:
        threshold, assets = parse_subscribe(context.args or [])
    except ThresholdError as e:
        await reply_html(update, context, esc(str(e)))
        return
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None
    desk = desk_of(context)
    _, replaced = await desk.store.subscribe(
        chat.id,
        chat.type,
        chat.title,
        thread_of(update.effective_message),
        threshold,
        assets,
        user.id if user else None,
    )
    await desk.alerts.reload_subscriptions()
    text = f"Subscribed: alert when the best spread reaches {describe(threshold, assets)}."
    if replaced is not None:
        text += f" Replaces {pct(replaced.threshold_8h)} per 8h."
    await reply_html(update, context, text)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not await can_change_chat(update, context):
        await reply_html(update, context, NOT_ADMIN)
        return
    args = context.args or []
    assets: frozenset[str] | None = None
    if args and not (len(args) == 1 and args[0].lower() == "all"):
        try:
            assets = frozenset(normalize_asset(a) for a in args)
        except ValueError:
            await reply_html(
                update, context, "Usage: /unsubscribe, /unsubscribe all or /unsubscribe BTC ETH"
            )
            return
    chat = update.effective_chat
    assert chat is not None
    desk = desk_of(context)
    changed = await desk.store.unsubscribe(chat.id, thread_of(update.effective_message), assets)
    await desk.alerts.reload_subscriptions()
    if not changed:
        await reply_html(update, context, "Nothing to remove here. /subscriptions lists them.")
    elif assets is None:
        await reply_html(update, context, f"Unsubscribed: {changed} subscription(s) ended.")
    else:
        names = esc(", ".join(sorted(assets)))
        await reply_html(update, context, f"Unsubscribed {names} from {changed} subscription(s).")


async def subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = update.effective_chat
    assert chat is not None
    thread = thread_of(update.effective_message)
    subs = await desk_of(context).store.subscriptions(chat.id)
    if not subs:
        await reply_html(update, context, "No alerts here yet. e.g. /subscribe 0.05%")
        return
    lines = ["<b>Alerts in this chat</b>"]
    for s in subs:
        where = "" if s.thread_id == thread or s.thread_id is None else f" (topic {s.thread_id})"
        since = time.strftime("%Y-%m-%d", time.gmtime(s.created_at))
        by = f" by {s.created_by}" if s.created_by else ""
        lines.append(f"• {describe(s.threshold_8h, s.assets)}{where}, since {since}{by}")
    await reply_html(update, context, "\n".join(lines))
