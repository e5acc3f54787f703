"""/subscribe, /unsubscribe, /subscriptions.

Changing a chat's alerts is for ARB_ADMINS, the user of a private chat, or a
group's own administrators. The confirmation is sent only after the change is
committed, so a confirmed subscription survives any crash.

A threshold is on an asset's best spread per 8 h, gross: before fees (/scan ranks by
APR net of round-trip fees). Where subscriptions of one chat topic overlap, the
replies say which applies (arb.alerts.ThresholdIndex, the rule alerting uses): the
asset's own subscription, the newest naming it, over the topic's catch-all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from telegram import Update
from telegram.ext import ContextTypes

from arb.alerts import (
    Subscription,
    ThresholdError,
    ThresholdIndex,
    parse_subscribe,
    threshold_to_apr,
)
from arb.formats import apr_pct, pct
from arb.symbols import normalize_asset
from bot.access import can_change_chat
from bot.desk import Desk, desk_of
from bot.render import esc
from bot.send import reply_html, thread_of

log = logging.getLogger(__name__)

NOT_ADMIN = "Only this group's administrators can change its alerts."
GROSS = "gross spread, before fees; /scan ranks by APR net of round-trip fees"


def describe(threshold_8h: float, assets: frozenset[str]) -> str:
    which = ", ".join(sorted(assets)) if assets else "every asset"
    return (
        f"{pct(threshold_8h)} per 8h (APR {apr_pct(threshold_to_apr(threshold_8h))}) "
        f"on {esc(which)}"
    )


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscribe THRESHOLD [ASSETS]: alert this chat topic when a best spread crosses."""
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
    index = await desk.alerts.threshold_index()
    target = (chat.id, thread_of(update.effective_message))
    lines = [
        f"Subscribed: alert when an asset's best spread reaches {describe(threshold, assets)}"
        f" ({GROSS})."
    ]
    if replaced is not None:
        lines[0] += f" Replaces {pct(replaced.threshold_8h)} per 8h."
    overlaps = index.overlaps(*target)
    if any(not assets or ov.asset in assets for ov in overlaps):
        lines += [f"{line}." for line in which_applies(index, *target)]
    lines += [
        f"{esc(a)}: no venue lists {esc(a)} right now; it will alert once one does."
        for a in await unlisted(desk, assets)
    ]
    await reply_html(update, context, "\n".join(lines))


async def unlisted(desk: Desk, assets: Iterable[str]) -> list[str]:
    """The assets no venue lists in the current snapshot (none when it cannot be had)."""
    assets = sorted(assets)
    if not assets:
        return []
    try:
        snapshot = await desk.snapshot()
    except Exception as e:  # the subscription is committed: confirm it anyway
        log.warning("/subscribe: no snapshot to check listings against: %s", e)
        return []
    return [a for a in assets if not snapshot.for_asset(a)]


def which_applies(index: ThresholdIndex, chat_id: int, thread_id: int | None) -> list[str]:
    """Where this chat topic's subscriptions overlap, which threshold applies, e.g.
    `BTC: 0.1000% (its own; the catch-all 0.0500% applies to every other asset)`."""
    overlaps = index.overlaps(chat_id, thread_id)
    catch_all = index.catch_all.get((chat_id, thread_id))
    lines = []
    if catch_all is not None and overlaps:
        rest = f"the catch-all {pct(catch_all.threshold_8h)} applies to every other asset"
        if len(overlaps) == 1:
            (ov,) = overlaps
            lines.append(f"{esc(ov.asset)}: {pct(ov.applies.threshold_8h)} (its own; {rest})")
        else:
            own = ", ".join(f"{esc(ov.asset)} {pct(ov.applies.threshold_8h)}" for ov in overlaps)
            lines.append(f"{own}: their own; {rest}")
    for ov in overlaps:
        if ov.older:
            older = "; ".join(f"{pct(o.threshold_8h)} on {asset_list(o.assets)}" for o in ov.older)
            lines.append(
                f"{esc(ov.asset)}: {pct(ov.applies.threshold_8h)}, the newest subscription "
                f"naming it ({older} no longer applies to {esc(ov.asset)})"
            )
    return lines


def asset_list(assets: frozenset[str]) -> str:
    return esc(", ".join(sorted(assets)))


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unsubscribe [ASSETS|all]: end this chat topic's alerts, or some assets of them."""
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
    """/subscriptions: this chat's alerts, and which threshold applies where they overlap."""
    chat = update.effective_chat
    assert chat is not None
    thread = thread_of(update.effective_message)
    subs = await desk_of(context).store.subscriptions(chat.id)
    if not subs:
        await reply_html(update, context, "No alerts here yet. e.g. /subscribe 0.05%")
        return
    lines = [
        "<b>Alerts in this chat</b>",
        f"Each threshold is on an asset's best spread per 8h ({GROSS}).",
    ]
    for s in subs:
        since = time.strftime("%Y-%m-%d", time.gmtime(s.created_at))
        by = f" by {s.created_by}" if s.created_by else ""
        lines.append(f"• {describe(s.threshold_8h, s.assets)}{where(s, thread)}, since {since}{by}")
    index = ThresholdIndex(subs)
    topics: dict[tuple[int, int | None], Subscription] = {}
    for s in subs:
        topics.setdefault((s.chat_id, s.thread_id), s)
    applies = [
        f"• {line}{where(s, thread)}"
        for s in topics.values()
        for line in which_applies(index, s.chat_id, s.thread_id)
    ]
    if applies:
        lines += ["Which applies:", *applies]
    await reply_html(update, context, "\n".join(lines))


def where(s: Subscription, thread: int | None) -> str:
    return "" if s.thread_id == thread or s.thread_id is None else f" (topic {s.thread_id})"
