"""`/open`, `/close`, `/halt`, `/resume`, `/trades` and the ▶ Open button: trading from the
chat, for ARB_ADMINS only, in a private chat or a group listed in ARB_ALLOWED_CHATS.

`/open ASSET [USD]` and `/close ASSET` answer with a preview (`arb.commands.open_preview`,
`close_preview`) under Confirm / Cancel buttons. A preview is good for the trader's
`confirm_s` and only for the admin who asked; Confirm runs the plan
(`arb.trading.engine.Trader.execute`) and edits that same message at every journal step
until the trade ends hedged, flat, unhedged or refused.

At start the trader is built (`build`: the paper account is what the journal holds),
then `start` leaves read-only keys out of live trading and reconciles the trades a
crash left working, telling each one's own message (or a new one in its chat) how it
ended; until then every plan says so and nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from arb import commands
from arb.accounts.models import Position
from arb.books import BookError
from arb.models import JournalTrade
from arb.symbols import normalize_asset
from arb.trading.engine import Plan, TradeBusy, Trader, TradeStopped
from arb.trading.setup import build_trader, exclude_read_only
from bot import render, render_trading
from bot.access import in_vetted_chat, is_admin
from bot.desk import Desk, desk_of
from bot.render import split_message
from bot.send import NO_PREVIEW, reply_html, send_html, typing_in, with_retries

log = logging.getLogger(__name__)

NOT_ADMIN = "Only the desk's admins (ARB_ADMINS) can trade."
NOT_HERE = (
    "Trading is done in a private chat with the bot, or in a group listed in ARB_ALLOWED_CHATS."
)
OFF = (
    "Trading is off. Set ARB_TRADING=paper (orders recorded against the live books, never "
    "sent) or live in .env and restart."
)
OPEN_USAGE = "Usage: /open ASSET [USD], e.g. /open BTC 10000 or /open eth 25k"
CLOSE_USAGE = "Usage: /close ASSET, e.g. /close BTC"
TRADES_USAGE = "Usage: /trades [N], N from 1 to 50"
TRADES_MAX = 50
EXPIRED = "This preview has expired or was already used: ask again."
NOT_YOURS = "Only the admin who asked for this preview can confirm it."
HALT_REASON_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Pending:
    """A preview waiting for its Confirm: the plan, whose it is, and its text."""

    plan: Plan
    user_id: int
    text: str


# --- start and stop --------------------------------------------------------------------


class PositionsUnread(Exception):
    """A traded venue's positions could not be read: nothing is planned or sent blind."""


def live_positions(desk: Desk) -> Callable:
    """The live account's positions, read from the venues the desk trades on."""

    async def read() -> list[Position]:
        report = await desk.accounts.positions()
        traded = desk.trader.venues if desk.trader is not None else {}
        failed = {v: e for v, e in report.errors.items() if v in traded}
        if failed:
            raise PositionsUnread("; ".join(f"{v}: {e}" for v, e in failed.items()))
        return report.all

    return read


async def build(desk: Desk) -> Trader:
    """The trader ARB_TRADING asks for; on paper its account is what the journal holds."""
    held: dict[tuple[str, str], float] = {}
    if desk.settings.trading == "paper":
        held = {(v, s): c for (_, v, s), c in (await desk.journal.held("paper")).items()}
    trader = build_trader(
        desk.settings, desk.books, desk.journal, positions=live_positions(desk), held=held
    )
    desk.trader = trader
    desk.order_clients = list(trader.venues.values())
    return trader


async def start(bot: Bot, desk: Desk, key_check: asyncio.Task | None = None) -> None:
    """Once the keys are read: leave read-only keys out, reconcile the trades a crash left
    working (each told in its own message), then accept trades."""
    trader = desk.trader
    if trader is None or not trader.enabled:
        return
    if trader.mode == "live" and key_check is not None:
        await asyncio.wait([key_check])
        exclude_read_only(trader, desk.keys)
    messages: dict[int, TradeMessage] = {}

    async def progress(trade: JournalTrade) -> None:
        if trade.chat_id is None or trade.message_id is None:
            log.warning("trade %d (%s): %s", trade.id, trade.state, trade.note or "")
            return
        if trade.id not in messages:
            messages[trade.id] = TradeMessage(bot, desk, trade.chat_id, trade.message_id)
        await messages[trade.id].show(trade)

    try:
        ended = await trader.recover(progress)
    except Exception:
        log.exception("reconciling unfinished trades failed: trading stays closed")
        return
    for trade in ended:
        log.warning("trade %d reconciled after a restart: %s", trade.id, trade.state)


async def close(desk: Desk) -> None:
    """Close the order clients' sessions (live); paper venues hold nothing."""
    for client in desk.order_clients:
        try:
            await client.close()
        except Exception:
            log.exception("closing an order client failed")


async def status_line(desk: Desk) -> str | None:
    """/status's line on trading; None when trading is off."""
    trader = desk.trader
    if trader is None or not trader.enabled:
        return None
    halt = await desk.journal.halt()
    return render_trading.status_line(trader.mode, trader.ready, list(trader.venues), halt)


# --- the message a trade is told in --------------------------------------------------


class TradeMessage:
    """One trade's message, edited at every step. Should an edit fail (the message was
    deleted, the chat moved), the trade goes on in a new message in the same chat."""

    def __init__(self, bot: Bot, desk: Desk, chat_id: int, message_id: int) -> None:
        self.bot = bot
        self.desk = desk
        self.chat_id = chat_id
        self.message_id = message_id
        self.moved = False

    async def show(self, trade: JournalTrade) -> None:
        """Never raises: a chat failing must not stop a trade."""
        text = render_trading.trade_html(trade)
        try:
            await self._edit(text)
        except TelegramError as e:
            if self.moved:
                log.warning("trade %d: its message could not be edited: %s", trade.id, e)
                return
            log.warning("trade %d: editing its message failed (%s): a new one", trade.id, e)
            await self._move(trade, text)
        except Exception:
            log.exception("trade %d: telling the chat failed", trade.id)

    async def _edit(self, text: str) -> None:
        try:
            await with_retries(
                lambda: self.bot.edit_message_text(
                    split_message(text)[0],
                    chat_id=self.chat_id,
                    message_id=self.message_id,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                ),
                "editMessageText",
            )
        except BadRequest as e:
            if "not modified" not in e.message.lower():
                raise

    async def _move(self, trade: JournalTrade, text: str) -> None:
        self.moved = True
        try:
            sent = await send_html(self.bot, self.chat_id, text)
        except TelegramError as e:
            log.warning("trade %d: its chat cannot be told: %s", trade.id, e)
            return
        self.message_id = sent.message_id
        await self.desk.journal.set_message(trade.id, self.chat_id, sent.message_id)


# --- who may trade -------------------------------------------------------------------


def _refusal(update: Update, desk: Desk) -> str | None:
    if not is_admin(update, desk):
        return NOT_ADMIN
    if not in_vetted_chat(update, desk):
        return NOT_HERE
    if desk.trader is None or not desk.trader.enabled:
        return OFF
    return None


async def _refused(update: Update, context: ContextTypes.DEFAULT_TYPE, desk: Desk) -> bool:
    if (why := _refusal(update, desk)) is None:
        return False
    await reply_html(update, context, why)
    return True


# --- /open and /close --------------------------------------------------------------------


async def open_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/open ASSET [USD], admins: preview the asset's best carry at a size, to Confirm."""
    desk = desk_of(context)
    if await _refused(update, context, desk):
        return
    args = context.args or []
    if not 1 <= len(args) <= 2:
        await reply_html(update, context, OPEN_USAGE)
        return
    if (asset := await _asset(update, context, args[0], OPEN_USAGE)) is None:
        return
    notional = None
    if len(args) == 2:
        try:
            notional = commands.parse_notional(args[1])
        except ValueError:
            shown = render.shown(args[1])
            await reply_html(update, context, f"“{shown}” is not a notional. {OPEN_USAGE}")
            return
    await send_open_preview(update, context, desk, asset, notional)


async def send_open_preview(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    desk: Desk,
    asset: str,
    notional: float | None,
) -> None:
    trader = desk.trader
    assert trader is not None
    try:
        async with typing_in(update, context):
            preview = await commands.open_preview(
                desk, desk.books, trader, asset, desk.params, desk.sizes, notional
            )
    except PositionsUnread as e:
        await reply_html(update, context, f"Cannot read the positions: {render.esc(e)}")
        return
    if preview.plan is None:
        await reply_html(update, context, render.esc(f"Nothing to open: {preview.reason}."))
        return
    await _offer(update, context, desk, preview.plan)


async def close_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/close ASSET, admins: preview taking the asset's book off, to Confirm."""
    desk = desk_of(context)
    if await _refused(update, context, desk):
        return
    args = context.args or []
    if len(args) != 1:
        await reply_html(update, context, CLOSE_USAGE)
        return
    if (asset := await _asset(update, context, args[0], CLOSE_USAGE)) is None:
        return
    assert desk.trader is not None
    try:
        async with typing_in(update, context):
            plan = await commands.close_preview(desk.trader, asset)
    except PositionsUnread as e:
        await reply_html(update, context, f"Cannot read the positions: {render.esc(e)}")
        return
    if plan is None:
        where = ", ".join(render.venue(v) for v in desk.trader.venues) or "no venue"
        held = f"Nothing of {asset} is held on the venues traded ({where})."
        await reply_html(update, context, render.esc(held))
        return
    await _offer(update, context, desk, plan)


async def _asset(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, usage: str
) -> str | None:
    try:
        return normalize_asset(text)
    except ValueError:
        await reply_html(update, context, f"“{render.shown(text)}” is not an asset name. {usage}")
        return None


async def _offer(
    update: Update, context: ContextTypes.DEFAULT_TYPE, desk: Desk, plan: Plan
) -> None:
    """Send the preview with its buttons and keep it for the admin who asked."""
    trader = desk.trader
    assert trader is not None and update.effective_user is not None
    lots = await _lots(desk, plan)
    text = render_trading.preview_html(plan, trader.params, lots, trader.params.confirm_s)
    _prune(desk, trader)
    token = secrets.token_urlsafe(9)
    buttons = [InlineKeyboardButton("Cancel", callback_data=f"t:n:{token}")]
    if plan.ok:
        buttons.insert(0, InlineKeyboardButton("✅ Confirm", callback_data=f"t:y:{token}"))
    desk.previews[token] = Pending(plan, update.effective_user.id, text)
    await reply_html(update, context, text, InlineKeyboardMarkup([buttons]))


async def _lots(desk: Desk, plan: Plan) -> dict[str, float]:
    lots = {}
    for leg in plan.legs:
        if leg.coins:
            try:
                lots[leg.venue] = (await desk.books.get(leg.venue, leg.symbol)).lot
            except BookError:
                continue
    return lots


def _prune(desk: Desk, trader: Trader) -> None:
    """Forget previews past their time."""
    now = trader.clock()
    for token, p in list(desk.previews.items()):
        if now - p.plan.made_at > trader.params.confirm_s:
            del desk.previews[token]


# --- the buttons ---------------------------------------------------------------------


def open_keyboard(desk: Desk, asset: str) -> InlineKeyboardMarkup | None:
    """The ▶ Open button under an asset's details, when trading is on."""
    if desk.trader is None or not desk.trader.enabled:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("▶ Open", callback_data=f"o:{normalize_asset(asset)}"[:64])]]
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "t:y:TOKEN" Confirm, "t:n:TOKEN" Cancel, "o:ASSET" ▶ Open."""
    query = update.callback_query
    if query is None:
        return
    kind, _, rest = (query.data or "").partition(":")
    if kind == "o":
        await _open_button(update, context, rest)
        return
    action, _, token = rest.partition(":")
    desk = desk_of(context)
    pending = desk.previews.get(token)
    if pending is None or action not in ("y", "n"):
        await query.answer(EXPIRED)
        return
    user = update.effective_user
    if user is None or user.id != pending.user_id:
        await query.answer(NOT_YOURS)
        return
    del desk.previews[token]
    trader = desk.trader
    assert trader is not None
    if action == "n":
        await query.answer("Cancelled.")
        await _end_preview(query, pending, "Cancelled: nothing was sent.")
        return
    if trader.clock() - pending.plan.made_at > trader.params.confirm_s:
        await query.answer(EXPIRED)
        await _end_preview(query, pending, "Expired: nothing was sent. Ask again.")
        return
    await query.answer("Sending…" if trader.mode == "live" else "Running on paper…")
    await _confirm(update, context, desk, token, pending)


async def _confirm(
    update: Update, context: ContextTypes.DEFAULT_TYPE, desk: Desk, token: str, pending: Pending
) -> None:
    query = update.callback_query
    trader = desk.trader
    assert query is not None and query.message is not None and trader is not None
    chat_id, message_id = query.message.chat.id, query.message.message_id
    message = TradeMessage(context.bot, desk, chat_id, message_id)
    try:
        await trader.execute(pending.plan, message.show, chat=(chat_id, message_id))
    except TradeBusy as e:
        desk.previews[token] = pending  # still good for its time: press again
        await reply_html(update, context, render.esc(f"Not sent: {e}."))
    except PositionsUnread as e:
        await _end_preview(query, pending, f"Not sent: cannot read the positions ({e}).")
    except TradeStopped as e:
        await reply_html(
            update, context, f"⚠️ <b>{render.esc(e)}.</b> Check the venues (/positions)."
        )


async def _end_preview(query, pending: Pending, words: str) -> None:
    """The preview stays, its buttons go, with why it ended."""
    try:
        await query.edit_message_text(
            split_message(render_trading.preview_ended(pending.text, words))[0],
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
        )
    except TelegramError as e:
        log.warning("could not end a preview: %s", e)


async def _open_button(update: Update, context: ContextTypes.DEFAULT_TYPE, asset: str) -> None:
    query = update.callback_query
    assert query is not None
    desk = desk_of(context)
    if (why := _refusal(update, desk)) is not None:
        await query.answer(why)
        return
    try:
        name = normalize_asset(asset)
    except ValueError:
        await query.answer("This button has expired.")
        return
    await query.answer()
    await send_open_preview(update, context, desk, name, None)


# --- /halt, /resume, /trades -----------------------------------------------------------


def _who(update: Update) -> str:
    user = update.effective_user
    if user is None:
        return "an admin"
    return f"@{user.username}" if user.username else user.full_name or str(user.id)


async def _admin_here(update: Update, context: ContextTypes.DEFAULT_TYPE, desk: Desk) -> bool:
    """Admins in a private chat or an allowed group; trading on or off (a halt set while
    trading is off still stands when it is turned on)."""
    why = _refusal(update, desk)
    if why is None or why == OFF:
        return True
    await reply_html(update, context, why)
    return False


async def halt_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/halt [reason], admins: stop all trading until /resume (kept across restarts)."""
    desk = desk_of(context)
    if not await _admin_here(update, context, desk):
        return
    reason = " ".join(context.args or []).strip()[:HALT_REASON_LIMIT] or "no reason given"
    assert desk.trader is not None
    halt = await desk.trader.halt(reason, _who(update))
    await reply_html(update, context, render_trading.halted_html(halt))


async def resume_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/resume, admins: lift the halt."""
    desk = desk_of(context)
    if not await _admin_here(update, context, desk):
        return
    assert desk.trader is not None
    lifted = await desk.trader.resume()
    await reply_html(update, context, render_trading.resumed_html(lifted))


async def trades_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/trades [N], admins: the journal's last N trades, newest first."""
    desk = desk_of(context)
    if not await _admin_here(update, context, desk):
        return
    args = context.args or []
    n = 10
    if args:
        if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= TRADES_MAX:
            await reply_html(update, context, TRADES_USAGE)
            return
        n = int(args[0])
    trades = await desk.journal.trades(n)
    mode = desk.trader.mode if desk.trader is not None else "off"
    await reply_html(update, context, render_trading.trades_html(trades, mode))
