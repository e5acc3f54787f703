"""Command and button handlers (/help, /funding, /scan, /size, /status, buttons): parse,
ask `arb.commands` for a report, render, reply.

Handlers stay thin: a command's logic is its plain function in `arb.commands` (the
terminal calls the same ones), the HTML is `bot.render_market`'s.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from arb import commands
from arb.symbols import normalize_asset
from bot import render, render_market, trading
from bot.access import admins_only
from bot.arguments import asset_named, only_asset
from bot.desk import Desk, desk_of
from bot.send import edit_html, reply_html, typing_in

log = logging.getLogger(__name__)

SCAN_DEFAULT_N = 10
SCAN_MAX_N = 30

COMMANDS = [
    ("funding", "One asset on every venue: /funding BTC"),
    ("scan", "Best carry now: /scan [N] [min APR %]"),
    ("size", "One asset's best carry at a size: /size BTC 50k"),
    ("signal", "A trade note on one asset's best carry: /signal BTC"),
    ("chart", "Funding per venue over time: /chart BTC 7d"),
    ("history", "Is a spread persistent? /history BTC"),
    ("subscribe", "Alert here when a spread crosses: /subscribe 0.05%"),
    ("unsubscribe", "Stop alerts: /unsubscribe [ASSETS|all]"),
    ("subscriptions", "This chat's alerts"),
    ("status", "Venue health and data age"),
    ("help", "What this bot does"),
]

HELP = "\n".join(
    [
        "<b>Funding carry desk</b>",
        render.COVERAGE,
        "",
        "/funding BTC: every venue's rate, interval, APR and next funding for one asset"
        " (BTC, BTCUSDT, BTC-USDT-SWAP, 1000PEPE, kPEPE, SHIB1000 all work).",
        "/scan [N] [min APR %]: the best carry per asset, long the low payer and short the"
        " high one, ranked by APR net of round-trip taker fees; e.g. /scan 5 20",
        "{size}",
        "/signal BTC: a take/watch/skip note on the asset's best carry, written by the desk's"
        " model from the computed figures (rule-based when no model answers).",
        "/chart BTC [24h|7d|30d]: each venue's funding as APR over time, best spread shaded.",
        "/history BTC: average spread per venue pair over 24h, 7d and 30d, time above your"
        " alert, and what the best pair earned.",
        "/subscribe 0.05% [ASSETS]: alert this chat when an asset's best spread per 8h (gross,"
        " before fees) reaches the threshold (also 5bps, 0.0005, 50% apr); once per crossing,"
        " never a flood. An asset's own threshold overrides the catch-all.",
        "/unsubscribe [ASSETS|all]: end this chat's alerts, or take assets out of them."
        " In a group only its administrators (and the desk's admins) may /subscribe or"
        " /unsubscribe.",
        "/subscriptions: this chat's alerts, and which threshold applies where they overlap.",
        "/status: each venue's data age, quote count and last error.",
        "Admins: /refresh fetches every venue now; /usage shows the model's calls and cost;"
        " /balance, /positions (legs matched into hedged pairs) and /pnl [7d|30d] (funding"
        " earned) read the desk's accounts, in a private chat or an allowed group;"
        " /risk shows each open book's distance to liquidation, drift and carry, worst first.",
        "Admins: trading, with ARB_TRADING=paper or live. /open BTC [USD] previews the"
        " asset's best carry at a size (each leg's venue, coins, expected price, slippage,"
        " fees, margin, net APR and the limits) under Confirm / Cancel, valid 30 s; Confirm"
        " puts on both legs or neither. /close BTC takes the book off the same way;"
        " /halt [reason] stops all trading until /resume; /trades [N] lists the last trades."
        " Paper mode fills on the live books and sends nothing.",
        "",
        "Rates are per funding interval, in percent; APR is simple, not compounded.",
    ]
)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help, /start: what the bot does."""
    size_line = render_market.size_help(desk_of(context).sizes)
    await reply_html(update, context, HELP.format(size=size_line))


# --- /funding ----------------------------------------------------------------


async def funding(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/funding ASSET: every venue's rate for one asset, and its best carry."""
    if (asset := await only_asset(update, context, "funding")) is None:
        return
    await reply_html(update, context, await funding_html(desk_of(context), asset))


async def funding_html(desk: Desk, asset: str) -> str:
    """/funding's reply (also behind the 🔎 buttons under /scan and an alert): the best
    pair with its capacity and net APR at the desk's notional, as /size sizes it."""
    report = await commands.funding(desk, asset, desk.params)
    sizing = None
    if report.best is not None:
        sizing = await commands.size_opportunity(desk.books, report.best, desk.sizes)
    return render_market.funding_html(report, desk.service.health(), desk.max_age_s, sizing)


# --- /size -------------------------------------------------------------------

SIZE_USAGE = "Usage: /size ASSET [USD], e.g. /size BTC 50000 or /size btc 50k"


async def size_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/size ASSET [USD]: the asset's best carry at a notional per leg, on the books."""
    args = context.args or []
    if not 1 <= len(args) <= 2:
        await reply_html(update, context, SIZE_USAGE)
        return
    if (asset := await asset_named(update, context, args[0], "size")) is None:
        return
    desk = desk_of(context)
    notional = None
    if len(args) == 2:
        try:
            notional = commands.parse_notional(args[1])
        except ValueError:
            await reply_html(
                update, context, f"“{render.shown(args[1])}” is not a notional. {SIZE_USAGE}"
            )
            return
    async with typing_in(update, context):
        report = await commands.size(desk, desk.books, asset, desk.params, desk.sizes, notional)
    await reply_html(update, context, render_market.size_html(report))


# --- /scan -------------------------------------------------------------------


class ScanArgsError(ValueError):
    pass


def parse_scan_args(args: list[str]) -> tuple[int, float | None]:
    """`[N] [min APR %]` -> (N, min APR as a fraction). '20%' is always the APR."""
    n: int | None = None
    min_apr: float | None = None
    if len(args) > 2:
        raise ScanArgsError("too many arguments")
    for arg in args:
        is_pct = arg.endswith("%")
        try:
            value = float(arg.removesuffix("%"))
        except ValueError:
            raise ScanArgsError(f"“{render.shown(arg)}” is not a number") from None
        if not math.isfinite(value):
            raise ScanArgsError(f"“{render.shown(arg)}” is not a number")
        if n is None and min_apr is None and not is_pct and value.is_integer():
            if not 1 <= value <= SCAN_MAX_N:
                raise ScanArgsError(f"N must be from 1 to {SCAN_MAX_N}")
            n = int(value)
        elif min_apr is None:
            if not -1000 <= value <= 100_000:
                raise ScanArgsError("min APR must be a percentage from -1000 to 100000")
            min_apr = value / 100
        else:
            raise ScanArgsError("too many arguments")
    return (n or SCAN_DEFAULT_N), min_apr


def scan_keyboard(assets: list[str], n: int, min_apr: float | None) -> InlineKeyboardMarkup:
    details = [InlineKeyboardButton(f"🔎 {a}", callback_data=f"f:{a}"[:64]) for a in assets]
    rows = [details[i : i + 3] for i in range(0, len(details), 3)]
    apr = "" if min_apr is None else f"{min_apr * 100:.6g}"
    rows.append([InlineKeyboardButton("🔄 Refresh", callback_data=f"s:{n}:{apr}")])
    return InlineKeyboardMarkup(rows)


async def scan_view(desk: Desk, n: int, min_apr: float | None) -> tuple[str, InlineKeyboardMarkup]:
    """/scan's reply and its buttons (also the 🔄 Refresh button's)."""
    report = await commands.scan(desk, replace(desk.params, min_apr=min_apr), n)
    text = render_market.scan_html(report, desk.service.health(), desk.max_age_s)
    return text, scan_keyboard([o.asset for o in report.opportunities], n, min_apr)


async def scan(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/scan [N] [min APR %]: the best carry per asset, ranked by net APR."""
    try:
        n, min_apr = parse_scan_args(context.args or [])
    except ScanArgsError as e:
        await reply_html(update, context, f"{e}. Usage: /scan [N] [min APR %], e.g. /scan 5 20")
        return
    text, keyboard = await scan_view(desk_of(context), n, min_apr)
    await reply_html(update, context, text, keyboard)


# --- /status -----------------------------------------------------------------


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/status: each venue's data age, the live feeds, storage and held alerts."""
    desk = desk_of(context)
    report = await commands.status(
        desk.service,
        started_at=desk.started_at,
        version=desk.version,
        interval_s=desk.settings.scan_interval_s,
        storage=desk.store.db.health,
        held_alerts=desk.alerts.held_crossings,
        keys=commands.key_states(desk.accounts.venues, desk.keys),
    )
    text = render_market.status_html(report)
    if (line := await trading.status_line(desk)) is not None:
        text += "\n" + line
    await reply_html(update, context, text)


@admins_only("Only the desk's admins (ARB_ADMINS) can do that.")
async def refresh_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/refresh, admins only: fetch every venue now instead of waiting for the cycle."""
    desk = desk_of(context)
    async with typing_in(update, context):
        snapshot = await desk.service.refresh()
    ok = sum(h.ok for h in snapshot.health)
    await reply_html(
        update,
        context,
        f"Refreshed: {ok} of {len(snapshot.health)} venues answered, "
        f"{len(snapshot.quotes)} quotes. /status for details.",
    )


# --- buttons and the rest ----------------------------------------------------


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The buttons under /scan: 🔎 an asset's /funding, 🔄 the same /scan again."""
    query = update.callback_query
    if query is None:
        return
    data = query.data or ""
    kind, _, rest = data.partition(":")
    if kind == "f" and _is_asset(rest):
        await query.answer()
        desk = desk_of(context)
        keyboard = trading.open_keyboard(desk, rest)  # ▶ Open, when trading is on
        await reply_html(update, context, await funding_html(desk, rest), keyboard)
    elif kind == "s" and query.message is not None:
        await query.answer("Refreshing…")
        n_text, _, apr_text = rest.partition(":")
        try:
            n, min_apr = parse_scan_args([n_text, f"{apr_text}%"] if apr_text else [n_text])
        except ScanArgsError:
            n, min_apr = SCAN_DEFAULT_N, None
        text, keyboard = await scan_view(desk_of(context), n, min_apr)
        await edit_html(query.message, text, keyboard)  # type: ignore[arg-type]
    else:
        await query.answer("This button has expired.")


def _is_asset(text: str) -> bool:
    try:
        normalize_asset(text)
    except ValueError:
        return False
    return True


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not know: pointed to /help, in private chats only."""
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE:
        await reply_html(update, context, "Unknown command. /help lists what I can do.")


async def plain_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text that is not a command, in a private chat: a hint."""
    await reply_html(update, context, "I answer commands: try /funding BTC or /scan. /help")
