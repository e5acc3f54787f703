"""Trading from the chat, paper mode end to end: `/open`, Confirm, `/trades`, `/close`,
`/halt`, `/resume`, the ▶ Open button and the start-up reconciliation, through the real
PTB client against the fake Bot API and the fake venues' books.

By hand: the desk market's BTC carry is long hl / short bybit (tests/conftest.py); both
books are test_size_bot's SIMPLE shape ($20,000 at the best level, 1 bp apart). A paper
order fills as an IOC order would on the book the fake serves: walked from the best level
to the price cap (best ± ARB_MAX_SLIPPAGE_BPS), in whole lots.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from arb import commands
from arb.formats import coins, price
from arb.trading.orders import price_cap
from arb.trading.paper import walk
from bot import trading
from bot.app import TRADING_TASK
from bot.throttle import Throttle
from storage.db import Database
from storage.journal import Journal
from tests.bot_harness import running_bot
from tests.test_size_bot import SIMPLE, fake_book, perp, served_sizing

ADMIN, OTHER_ADMIN, MEMBER = 5, 6, 7
FINAL = ("✅ Hedged", "Flat: nothing is left on", "⚠️ UNHEDGED", "Not sent")


@contextlib.asynccontextmanager
async def desk(venues, tmp_path: Path, **env: str):
    for venue in ("hyperliquid", "bybit"):
        perp(venues, venue, "BTC").book = SIMPLE
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings = {
        "ARB_SCAN_INTERVAL_S": "3600",
        "ARB_ADMINS": f"{ADMIN},{OTHER_ADMIN}",
        "ARB_TRADING": "paper",
        "ARB_DB": str(tmp_path / "a.db"),
        **env,
    }
    async with running_bot(venues, **settings) as b:
        # The start-up reconciliation has run: trading is open.
        await asyncio.gather(*(t for t in asyncio.all_tasks() if t.get_name() == TRADING_TASK))
        # One admin asks and presses many times here: more than the spam throttle lets a
        # person do in 5 s.
        b.desk.throttle = Throttle(limit=1000)
        yield b


async def press(b, message, data: str, user_id: int = ADMIN) -> str:
    """Press a button; the callback's answer text."""
    calls = len(b.tg.calls)
    update = b.tg.user_callback(message, data, user_id=user_id)
    query_id = update["callback_query"]["id"]
    call = await b.tg.wait_for_call(
        "answerCallbackQuery",
        after_calls=calls,
        predicate=lambda p: p.get("callback_query_id") == query_id,
    )
    return call.params.get("text") or ""


async def confirm(b, preview) -> str:
    """Press Confirm; the preview's message as the trade ended."""
    mark = len(b.tg.edits)
    await press(b, preview, button(preview, "t:y:"))
    ended = await b.tg.wait_for_edit(
        lambda m: m.message_id == preview.message_id and any(w in (m.plain or "") for w in FINAL),
        after=mark,
    )
    return ended.plain or ""


async def edited(b, message, words: str, mark: int) -> None:
    await b.tg.wait_for_edit(
        lambda m: m.message_id == message.message_id and words in (m.plain or ""), after=mark
    )


def button(message, prefix: str) -> str:
    return next(
        x["callback_data"] for x in message.buttons if x["callback_data"].startswith(prefix)
    )


async def test_paper_open_is_the_plan_fills_the_books_and_close_flattens(venues, tmp_path):
    async with desk(venues, tmp_path) as b:
        preview = await b.ask("/open BTC 10000", chat_id=ADMIN)
        got = await commands.open_preview(
            b.desk, b.desk.books, b.desk.trader, "BTC", b.desk.params, b.desk.sizes, 10_000.0
        )
        plan = got.plan
        assert plan is not None and plan.ok
        # The same sizing /size shows: coins on both legs' lots, prices from the books.
        assert plan.long.coins == plan.short.coins == served_sizing(b, "BTC", 10_000.0).coins
        assert (plan.long.venue, plan.short.venue) == ("hyperliquid", "bybit")
        text = preview.plain
        assert "Open BTC · PAPER" in text
        assert f"Buy {coins(plan.long.coins)} BTC on hl BTC (long, lot 0.001) at " in text
        assert f"at ~{price(plan.long.price)} (slippage {plan.long.slippage_bps:.1f} bp)" in text
        assert f"Sell {coins(plan.short.coins)} BTC on bybit BTCUSDT (short" in text
        assert f"at ~{price(plan.short.price)} (slippage {plan.short.slippage_bps:.1f} bp)" in text
        assert f"margin ${plan.long.margin_usd + plan.short.margin_usd:,.0f} at 3x" in text
        assert f"Net APR at this size {plan.apr_net * 100:.1f}%" in text
        assert "Limits: none per trade and none per asset" in text
        assert [x["text"] for x in preview.buttons] == ["✅ Confirm", "Cancel"]

        ended = await confirm(b, preview)
        (trade,) = await b.desk.journal.trades()
        assert "✅ Hedged" in ended and f"trade #{trade.id}" in ended
        assert trade.state == "hedged" and trade.mode == "paper"
        assert [o.step for o in trade.orders] == ["long", "short"]
        for order, venue, side in zip(
            trade.orders, ("hyperliquid", "bybit"), ("buy", "sell"), strict=True
        ):
            book = fake_book(b.venues, venue, "BTC")
            levels = book.asks if side == "buy" else book.bids
            cap = price_cap(levels[0].price, side, 10.0)
            filled, cost = walk(levels, plan.long.coins, cap, side, book.lot)
            assert order.intent.side == side and order.intent.price_cap == cap
            assert order.outcome.status == "filled"
            assert order.outcome.filled_coins == filled == plan.long.coins
            assert order.outcome.avg_price == pytest.approx(cost / filled, rel=1e-12)
            # By hand: ~$9,930 of coins fits in the best level's $20,000, so each leg
            # fills whole at its best price, the cap (10 bp past it) never reached.
            assert levels[0].size * levels[0].price > 2 * 9_930
            assert order.outcome.avg_price == pytest.approx(levels[0].price, rel=1e-12)
            assert f"{coins(filled)} filled  {coins(filled)} {price(cost / filled)}" in ended
        held = await b.desk.journal.held("paper")
        assert held == {
            ("BTC", "hyperliquid", "BTC"): plan.long.coins,
            ("BTC", "bybit", "BTCUSDT"): -plan.short.coins,
        }

        listed = (await b.ask("/trades", chat_id=ADMIN)).plain
        assert f"#{trade.id} " in listed and "open BTC · PAPER · hedged" in listed
        assert f"long: buy {coins(plan.long.coins)} on hl BTC, filled" in listed
        status = (await b.ask("/status", chat_id=ADMIN)).plain
        assert "Trading: PAPER on " in status and "halted" not in status

        close = await b.ask("/close BTC", chat_id=ADMIN)
        assert "Close BTC · PAPER" in close.plain
        assert f"Sell {coins(plan.long.coins)} BTC on hl BTC (closes the long" in close.plain
        ended = await confirm(b, close)
        assert "Flat: nothing is left on" in ended
        assert await b.desk.journal.held("paper") == {}
        again = await b.ask("/close BTC", chat_id=ADMIN)
        assert again.plain.startswith("Nothing of BTC is held on the venues traded")


async def test_cancel_expiry_and_someone_elses_press_send_nothing(venues, tmp_path):
    async with desk(venues, tmp_path) as b:
        preview = await b.ask("/open BTC 10000", chat_id=ADMIN)
        sent = len(b.tg.sent)
        answer = await press(b, preview, button(preview, "t:y:"), user_id=OTHER_ADMIN)
        assert answer == trading.NOT_YOURS
        mark = len(b.tg.edits)
        assert await press(b, preview, button(preview, "t:n:")) == "Cancelled."
        await edited(b, preview, "Cancelled: nothing was sent.", mark)
        assert preview.buttons == []
        assert len(b.tg.sent) == sent
        # The same Confirm again (a stale button): a short answer, still nothing.
        update = b.tg.user_callback(preview, "t:y:stale", user_id=ADMIN, check_button=False)
        call = await b.tg.wait_for_call(
            "answerCallbackQuery",
            predicate=lambda p: p["callback_query_id"] == update["callback_query"]["id"],
        )
        assert call.params["text"] == trading.EXPIRED

        late = await b.ask("/open BTC 10000", chat_id=ADMIN)
        sent = len(b.tg.sent)
        real = b.desk.trader.clock
        b.desk.trader.clock = lambda: real() + 31.0  # past the preview's 30 s
        mark = len(b.tg.edits)
        assert await press(b, late, button(late, "t:y:")) == trading.EXPIRED
        await edited(b, late, "Expired: nothing was sent.", mark)
        assert len(b.tg.sent) == sent
        assert await b.desk.journal.trades() == []


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/open", trading.OPEN_USAGE),
        ("/open BTC 5 6", trading.OPEN_USAGE),
        ("/open BTC abc", f"“abc” is not a notional. {trading.OPEN_USAGE}"),
        ("/open BTC -5", f"“-5” is not a notional. {trading.OPEN_USAGE}"),
        ("/open <b> 5", f"“&lt;b&gt;” is not an asset name. {trading.OPEN_USAGE}"),
        ("/close", trading.CLOSE_USAGE),
        ("/trades abc", trading.TRADES_USAGE),
    ],
)
async def test_bad_input_gets_one_short_line(venues, tmp_path, text, answer):
    async with desk(venues, tmp_path) as b:
        reply = await b.ask(text, chat_id=ADMIN)
    assert reply.text == answer and "\n" not in reply.text


async def test_who_may_trade_and_trading_off(venues, tmp_path):
    async with desk(venues, tmp_path) as b:
        assert (await b.ask("/open BTC", chat_id=MEMBER)).text == trading.NOT_ADMIN
        assert (await b.ask("/halt", chat_id=MEMBER)).text == trading.NOT_ADMIN
        group = await b.ask("/open BTC", chat_id=-4001, user_id=ADMIN, chat_type="group")
        assert group.text == trading.NOT_HERE
    async with desk(venues, tmp_path / "off", ARB_TRADING="off") as b:
        reply = await b.ask("/open BTC 10000", chat_id=ADMIN)
        assert reply.text == trading.OFF
        status = (await b.ask("/status", chat_id=ADMIN)).plain
        assert "Trading:" not in status


async def test_halt_refuses_confirm_survives_a_restart_and_resume_lets_it_go(venues, tmp_path):
    async with desk(venues, tmp_path) as b:
        preview = await b.ask("/open BTC 10000", chat_id=ADMIN)
        halted = await b.ask("/halt venue maintenance", chat_id=ADMIN)
        assert halted.plain.startswith("⛔ Trading halted (venue maintenance, by @alice)")
        ended = await confirm(b, preview)
        assert "Not sent · trading is halted (venue maintenance, by @alice)" in ended
        (trade,) = await b.desk.journal.trades()
        assert trade.state == "refused" and trade.orders == ()
    async with desk(venues, tmp_path) as b:  # the same database: the halt stands
        status = (await b.ask("/status", chat_id=ADMIN)).plain
        assert "halted (venue maintenance, by @alice)" in status
        preview = await b.ask("/open BTC 10000", chat_id=ADMIN)
        assert "⚠️ trading is halted (venue maintenance, by @alice)" in preview.plain
        assert [x["text"] for x in preview.buttons] == ["Cancel"]
        resumed = await b.ask("/resume", chat_id=ADMIN)
        assert resumed.plain.startswith("Trading resumed")
        assert (await b.ask("/resume", chat_id=ADMIN)).plain == "Trading was not halted."
        preview = await b.ask("/open BTC 10000", chat_id=ADMIN)
        assert "✅ Hedged" in await confirm(b, preview)


async def test_a_journal_that_fails_mid_trade_is_told_and_stops_trading(venues, tmp_path):
    async with desk(venues, tmp_path) as b:
        preview = await b.ask("/open BTC 10000", chat_id=ADMIN)
        journal = b.desk.journal

        async def disk_full(outcome):
            raise OSError(28, "No space left on device")

        journal.answered = disk_full  # the orders go out; their answers cannot be written
        calls = len(b.tg.calls)
        await press(b, preview, button(preview, "t:y:"))
        told = await b.tg.wait_for_call(
            "sendMessage", after_calls=calls, predicate=lambda p: "broke off" in p.get("text", "")
        )
        assert "No space left on device" in told.params["text"]
        assert "stopped until a restart reconciles it" in told.params["text"]
        again = await b.ask("/open BTC 10000", chat_id=ADMIN)
        assert "⚠️ trade 1 broke off" in again.plain
        assert [x["text"] for x in again.buttons] == ["Cancel"]


async def test_a_trade_over_the_limit_shows_the_problem_and_no_confirm(venues, tmp_path):
    async with desk(venues, tmp_path, ARB_MAX_NOTIONAL_USD="5000") as b:
        preview = await b.ask("/open BTC 10000", chat_id=ADMIN)
        small = await b.ask("/open BTC 4000", chat_id=ADMIN)
    assert "is over ARB_MAX_NOTIONAL_USD ($5,000)" in preview.plain
    assert "⚠️ $9,9" in preview.plain
    assert "Limits: $5,000 per trade" in preview.plain
    assert [x["text"] for x in preview.buttons] == ["Cancel"]
    assert [x["text"] for x in small.buttons] == ["✅ Confirm", "Cancel"]


async def test_open_button_under_an_assets_details(venues, tmp_path):
    async with desk(venues, tmp_path) as b:
        scan = await b.ask("/scan 30", chat_id=ADMIN)
        mark = len(b.tg.sent)
        await press(b, scan, "f:BTC")
        details = await b.tg.wait_for(lambda m: m.chat_id == ADMIN, after=mark)
        assert details.plain.startswith("BTC funding")
        assert [x["callback_data"] for x in details.buttons] == ["o:BTC"]
        assert await press(b, details, "o:BTC", user_id=MEMBER) == trading.NOT_ADMIN
        mark = len(b.tg.sent)
        await press(b, details, "o:BTC")
        preview = await b.tg.wait_for(lambda m: m.chat_id == ADMIN, after=mark)
        # At the desk's notional (ARB_NOTIONAL_USD, $10,000 by default).
        want = served_sizing(b, "BTC", 10_000.0).coins
        assert f"Buy {coins(want)} BTC on hl BTC" in preview.plain
        assert "✅ Hedged" in await confirm(b, preview)
    async with desk(venues, tmp_path / "off", ARB_TRADING="off") as b:
        scan = await b.ask("/scan 30", chat_id=ADMIN)
        mark = len(b.tg.sent)
        await press(b, scan, "f:BTC")
        details = await b.tg.wait_for(lambda m: m.chat_id == ADMIN, after=mark)
        assert details.buttons == []


async def test_a_trade_left_working_is_reconciled_at_start_and_its_chat_told(venues, tmp_path):
    db = await Database.open(str(tmp_path / "a.db"))
    try:
        journal = Journal(db)
        left = await journal.begin(
            "open", "paper", "BTC", ("hyperliquid", "BTC"), ("bybit", "BTCUSDT"), 0.1, 7700.0,
            chat_id=ADMIN, message_id=999,  # a message the chat no longer has
        )  # fmt: skip
        await journal.intend(left.id, "long", "hyperliquid", "BTC", "buy", 0.1, 80_000.0)
    finally:
        await db.close()
    async with desk(venues, tmp_path) as b:
        told = await b.tg.wait_for(lambda m: m.chat_id == ADMIN and "after a restart" in m.plain)
        trade = await b.desk.journal.trade(left.id)
        assert trade is not None and trade.state == "flat"
        assert (trade.chat_id, trade.message_id) == (ADMIN, told.message_id)
        assert f"trade #{left.id}" in told.plain and "never reached the venue" in told.plain
        assert b.desk.trader.ready


async def test_a_live_trade_left_working_waits_for_live_mode_and_trades_says_so(venues, tmp_path):
    db = await Database.open(str(tmp_path / "a.db"))
    try:
        journal = Journal(db)
        left = await journal.begin(
            "open", "live", "BTC", ("bybit", "BTCUSDT"), ("okx", "BTC-USDT-SWAP"), 0.1, 7700.0
        )
        await journal.intend(left.id, "long", "bybit", "BTCUSDT", "buy", 0.1, 80_000.0)
    finally:
        await db.close()
    async with desk(venues, tmp_path) as b:  # on paper
        listed = (await b.ask("/trades", chat_id=ADMIN)).plain
        trade = await b.desk.journal.trade(left.id)
    # Paper venues cannot know a live order: it is left for a live start to reconcile.
    assert trade is not None and trade.state == "working" and trade.orders[0].outcome is None
    assert f"#{left.id} " in listed
    assert "LIVE · working (reconciled when the desk runs ARB_TRADING=live again)" in listed
