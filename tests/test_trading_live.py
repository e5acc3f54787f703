"""Live trading end to end against the venues' fakes, which check every signature and
match every order on their books (`tests/fakes/trading_desk.py`): the trader the
settings build, the real order clients, a real journal. Every case ends hedged within
tolerance or flat, read from the exchanges' own books, not only from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from arb import commands
from arb.accounts.service import AccountService, private_clients
from arb.books import OrderBooks
from arb.market import Market, make_clients
from arb.models import JournalTrade
from arb.settings import Settings, parse_settings
from arb.trading.engine import Trader
from arb.trading.setup import build_trader
from bot.app import TRADING_TASK
from storage.db import Database
from storage.journal import Journal
from tests.bot_harness import RunningBot, bot_env, running_bot
from tests.conftest import clean_environ
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.fakes.trading_desk import ADMIN, TradingDesk
from tests.test_bot_process import start_bot

USD = 10_000.0  # per leg: 0.12 BTC on the short venue's 0.01-coin lots
TOLERANCE = 0.001  # ARB_HEDGE_TOLERANCE_PCT's default, a share of the coins


@dataclass
class Live:
    desk: TradingDesk
    settings: Settings
    market: Market
    books: OrderBooks
    journal: Journal
    trader: Trader
    told: list[JournalTrade]

    async def progress(self, trade: JournalTrade) -> None:
        self.told.append(trade)

    async def open(self, usd: float = USD) -> JournalTrade:
        preview = await commands.open_preview(
            self.market, self.books, self.trader, self.desk.asset,
            self.settings.scan_params(), self.settings.size_params(), usd,
        )  # fmt: skip
        assert preview.plan is not None, preview.reason
        plan = preview.plan
        assert plan.ok, plan.problems
        assert (plan.long.venue, plan.short.venue) == self.desk.names
        return await self.trader.execute(plan, self.progress)


@contextlib.asynccontextmanager
async def live_trader(desk: TradingDesk, db_path: Path, **env: str) -> AsyncIterator[Live]:
    """The live trader `desk.env()` builds, on a journal at `db_path`, recovered."""
    settings = parse_settings(desk.env(**env))
    clients = make_clients(settings)
    market = Market(clients, settings.venue_deadline_s)
    books = OrderBooks(clients)
    accounts = AccountService(private_clients(settings))
    db = await Database.open(str(db_path))

    async def positions():
        return (await accounts.positions()).all

    trader = build_trader(settings, books, Journal(db), positions)
    live = Live(desk, settings, market, books, Journal(db), trader, [])
    try:
        assert sorted(trader.venues) == sorted(desk.names), trader.unavailable
        await trader.recover(live.progress)
        yield live
    finally:
        desk.release()  # a request still hanging must not hold the clients' close
        for venue in trader.venues.values():
            await venue.close()
        await accounts.close()
        await market.close()
        await db.close()


@pytest.fixture
async def desk() -> AsyncIterator[TradingDesk]:
    async with TradingDesk() as desk:
        yield desk


def assert_hedged(desk: TradingDesk, coins: float) -> None:
    held = desk.held()
    assert held[desk.long.name] == pytest.approx(coins, abs=1e-9)
    assert held[desk.short.name] == pytest.approx(-coins, abs=1e-9)


def assert_flat(desk: TradingDesk) -> None:
    assert desk.held() == {desk.long.name: 0.0, desk.short.name: 0.0}


def assert_signed(desk: TradingDesk) -> None:
    """Every signed request, orders included, passed the fakes' signature checks."""
    assert desk.refusals() == {name: [] for name in desk.names}


async def test_both_legs_fill_and_the_exchanges_hold_them(desk, tmp_path):
    async with live_trader(desk, tmp_path / "j.sqlite3") as live:
        trade = await live.open()
        assert trade.state == "hedged", trade.note
        assert trade.coins == pytest.approx(0.12)
        assert_hedged(desk, 0.12)
        assert desk.long.exchange.leverage[desk.long.symbol] == pytest.approx(3.0)
        assert desk.short.exchange.leverage[desk.short.symbol] == pytest.approx(3.0)
        assert [o.step for o in trade.orders] == ["long", "short"]
        assert all(o.outcome and o.outcome.status == "filled" for o in trade.orders)
        # The account reads follow the books: /positions and the limits see the carry.
        held = {p.venue: p.signed_size for p in await live.trader.positions()}
        assert held == {desk.long.name: pytest.approx(0.12), desk.short.name: pytest.approx(-0.12)}
        assert live.told[-1].state == "hedged"
    assert_signed(desk)


async def test_a_partial_short_is_matched_by_reducing_the_long(desk, tmp_path):
    desk.short.exchange.liquidity[desk.short.symbol] = 0.05
    async with live_trader(desk, tmp_path / "j.sqlite3") as live:
        trade = await live.open()
    assert trade.state == "hedged", trade.note
    assert_hedged(desk, 0.05)
    repair = trade.orders[-1]
    assert repair.step == "repair 1" and repair.intent.reduce_only
    assert repair.intent.venue == desk.long.name and repair.intent.side == "sell"
    assert abs(desk.long.held + desk.short.held) <= TOLERANCE * trade.coins
    assert_signed(desk)


async def test_a_rejected_short_unwinds_the_long(desk, tmp_path):
    code, message = desk.short.orders.REASONS["margin"]
    desk.short.exchange.reject_next(code, message)
    async with live_trader(desk, tmp_path / "j.sqlite3") as live:
        trade = await live.open()
    assert trade.state == "flat", trade.note
    assert message in trade.note
    assert_flat(desk)
    assert desk.long.exchange.placed == 2  # the long, then its unwind
    assert desk.short.exchange.placed == 0
    assert_signed(desk)


async def test_a_lost_answer_is_looked_up_and_the_trade_is_hedged(desk, tmp_path):
    desk.short.exchange.lose_answer_next()
    async with live_trader(desk, tmp_path / "j.sqlite3") as live:
        trade = await live.open()
        assert any(o.outcome and o.outcome.status == "unknown" for t in live.told for o in t.orders)
    assert trade.state == "hedged", trade.note
    assert_hedged(desk, 0.12)
    assert desk.short.exchange.received == 1  # looked up, never sent again
    assert_signed(desk)


async def test_an_order_that_never_arrived_leaves_the_other_leg_unwound(desk, tmp_path):
    desk.short.exchange.drop_next()
    async with live_trader(desk, tmp_path / "j.sqlite3") as live:
        trade = await live.open()
        assert await live.trader.journal.halt() is None
    assert trade.state == "flat", trade.note
    short = next(o for o in trade.orders if o.step == "short")
    assert short.outcome is not None and short.outcome.status == "none"
    assert "never reached the venue" in (short.outcome.reason or "")
    assert_flat(desk)
    assert desk.short.exchange.placed == 0
    assert_signed(desk)


# --- through the bot ----------------------------------------------------------------


async def trading_open(bot: RunningBot) -> None:
    """Wait for the start's reconciliation, after which trading opens."""
    tasks = [t for t in asyncio.all_tasks() if t.get_name() == TRADING_TASK]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert bot.desk.trader is not None and bot.desk.trader.ready


async def confirm_open(bot: RunningBot, text: str) -> SentMessage:
    """/open as the admin, then Confirm: the trade's message, as its last edit left it."""
    preview = await bot.ask(text, chat_id=ADMIN)
    confirm = confirm_data(preview)
    assert confirm, preview.text
    mark = len(bot.tg.edits)
    bot.tg.user_callback(preview, confirm[0], user_id=ADMIN)
    return await bot.tg.wait_for_edit(
        lambda m: m.message_id == preview.message_id and ENDED.search(m.text or "") is not None,
        after=mark,
        timeout=10,
    )


def confirm_data(preview: SentMessage) -> list[str]:
    return [b["callback_data"] for b in preview.buttons if b["callback_data"].startswith("t:y:")]


ENDED = re.compile(r"Hedged|Flat: nothing is left on|UNHEDGED|Not sent")


async def test_open_from_the_chat_ends_hedged_on_both_exchanges(desk, tmp_path):
    async with running_bot(desk.fake, **desk.env(ARB_DB=str(tmp_path / "bot.sqlite3"))) as bot:
        await trading_open(bot)
        ended = await confirm_open(bot, "/open BTC 10000")
    assert "✅ Hedged" in ended.text, ended.text
    assert_hedged(desk, 0.12)
    assert_signed(desk)


async def test_a_rejected_leg_from_the_chat_ends_flat_and_says_why(desk, tmp_path):
    code, message = desk.short.orders.REASONS["margin"]
    desk.short.exchange.reject_next(code, message)
    async with running_bot(desk.fake, **desk.env(ARB_DB=str(tmp_path / "bot.sqlite3"))) as bot:
        await trading_open(bot)
        ended = await confirm_open(bot, "/open BTC 10000")
    assert "Flat: nothing is left on" in ended.text, ended.text
    assert message in ended.text
    assert_flat(desk)
    assert_signed(desk)


async def test_a_read_only_key_is_left_out_of_live_trading_and_the_preview_says_so(desk, tmp_path):
    desk.long.account.can_trade = False  # bybit says: readOnly=1
    async with running_bot(desk.fake, **desk.env(ARB_DB=str(tmp_path / "bot.sqlite3"))) as bot:
        await trading_open(bot)
        assert "bybit" not in bot.desk.trader.venues
        preview = await bot.ask("/open BTC 10000", chat_id=ADMIN)
        status = await bot.ask("/status", chat_id=ADMIN)
    # The carry needs bybit: no pair is left between the venues traded.
    assert (
        "Nothing to open: no BTC carry between the venues traded (okx); bybit takes no "
        "orders here: its key is read-only."
    ) in preview.text
    assert confirm_data(preview) == []
    assert desk.long.exchange.received == desk.short.exchange.received == 0
    assert "LIVE" in status.text and "okx" in status.text


# --- a crash between the legs -------------------------------------------------------


async def until(probe: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a fake's counters until `probe` holds (the bot is another process)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the fakes never got there")
        await asyncio.sleep(0.01)


async def preview_to_confirm(tg: FakeTelegram, text: str) -> tuple[SentMessage, str]:
    """Ask /open until the preview can be confirmed (the start reconciles first)."""
    for _ in range(50):
        mark = len(tg.sent)
        tg.user_message(text, chat_id=ADMIN)
        preview = await tg.wait_for(lambda m: m.chat_id == ADMIN, after=mark, timeout=20)
        confirm = confirm_data(preview)
        if confirm:
            return preview, confirm[0]
        assert "reconciled first" in (preview.text or ""), preview.text
    raise AssertionError("trading never opened")


async def killed_mid_trade(
    desk: TradingDesk, tmp_path: Path, second_leg_sent: Callable[[], bool]
) -> SentMessage:
    """Open from the chat of `arb-bot run`, SIGKILL it once both legs were sent
    (`second_leg_sent`), let the short venue go, restart on the same database: the
    trade's message as recovery's last edit left it."""
    db = str(tmp_path / "crash.sqlite3")
    async with FakeTelegram() as tg:
        env = clean_environ(**{**bot_env(tg, desk.fake), **desk.env(ARB_DB=db)})
        # The first run waits long on the hung leg: it is killed long before it looks up.
        proc = await start_bot({**env, "ARB_ORDER_TIMEOUT_S": "30"}, tmp_path, **QUIET)
        try:
            preview, confirm = await preview_to_confirm(tg, "/open BTC 10000")
            tg.user_callback(preview, confirm, user_id=ADMIN)
            await until(lambda: desk.long.exchange.placed == 1 and second_leg_sent())
        finally:
            proc.kill()  # SIGKILL: no shutdown code runs
            await asyncio.wait_for(proc.wait(), 10)
        desk.release()  # the venue answers again; the hung request died with the process
        mark = len(tg.edits)
        proc = await start_bot(env, tmp_path, **QUIET)
        try:
            told = lambda m: m.message_id == preview.message_id and "after a restart" in m.text  # noqa: E731
            return await tg.wait_for_edit(told, after=mark, timeout=20)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0


QUIET = {"stdout": asyncio.subprocess.DEVNULL, "stderr": asyncio.subprocess.DEVNULL}


async def test_killed_while_the_second_leg_hangs_unwinds_the_first_after_a_restart(desk, tmp_path):
    short = desk.short.exchange
    short.hang_all()  # the short's request hangs before it reaches the book
    ended = await killed_mid_trade(desk, tmp_path, lambda: short.received == 1)
    assert short.placed == 0
    assert "Flat: nothing is left on" in ended.text, ended.text
    assert_flat(desk)
    assert desk.long.exchange.placed == 2  # the long, and its unwind after the restart
    assert_signed(desk)


async def test_killed_after_the_second_leg_filled_is_hedged_after_a_restart(desk, tmp_path):
    short = desk.short.exchange
    short.lose_answer_next()  # the short fills on the book; its answer never comes
    ended = await killed_mid_trade(desk, tmp_path, lambda: short.placed == 1)
    assert "✅ Hedged" in ended.text, ended.text
    assert_hedged(desk, 0.12)
    assert short.received == 1 and desk.long.exchange.placed == 1  # looked up, not re-sent
    assert_signed(desk)
