"""The bot end to end: a user's message in through the fake Bot API, the real PTB
client and the real venue clients, and the reply out, checked for its numbers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time

import pytest

from arb.report import funding_report
from tests.bot_harness import running_bot
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venues import FakeVenues, Fault, synthetic_market
from tests.venues.okx.fake_rest import OKX_FUNDING

FEE = {"bybit": 0.00055, "binance": 0.0005, "okx": 0.0005, "hyperliquid": 0.00045}


@pytest.fixture
async def bot(venues):
    async with running_bot(venues) as running:
        yield running


def pre_rows(text: str) -> list[list[str]]:
    block = re.search(r"<pre>(.*?)</pre>", text, re.S)
    assert block, text
    return [line.split() for line in block.group(1).splitlines()]


def minutes_to_next_hour() -> set[str]:
    """The countdown a 1 h leg may have shown in the last 5 s (either side of a minute
    boundary), as the HTML reply writes it."""
    out = set()
    for t in (time.time() - 5, time.time()):
        left = 3600 - t % 3600
        out.add(f"{int(left // 60)}m" if left >= 60 else "&lt;1m")
    return out


def net_apr(short_h: float, long_h: float, long_venue: str, short_venue: str) -> float:
    fees = 2 * (FEE[long_venue] + FEE[short_venue])
    return ((short_h - long_h) * 168 - fees) / 168 * 8760


async def test_start_help_and_command_menu(bot):
    reply = await bot.ask("/start")
    assert "/funding BTC" in reply.text and reply.parse_mode == "HTML"
    await bot.tg.wait_for_call("setMyCommands")  # set beside the start, not before it
    commands = [c["command"] for c in bot.tg.commands]
    assert commands == [
        "funding", "scan", "size", "signal", "chart", "history", "subscribe", "unsubscribe",
        "subscriptions", "status", "help",
    ]  # fmt: skip
    assert "/size BTC [USD]: the asset's best carry at a notional per leg (default $10,000;" in (
        reply.text
    )


async def test_funding_reply_carries_each_venues_numbers(bot):
    reply = await bot.ask("/funding ape")
    assert reply.text.startswith("<b>APE funding</b>")
    rows = {r[0]: r for r in pre_rows(reply.text)[1:]}
    assert rows["bybit"][1:4] == ["0.0310%", "1h", "271.6%"]  # 0.00031 * 8760
    assert rows["binance"][1:4] == ["0.0280%", "1h", "245.3%"]
    assert rows["okx"][1:4] == ["0.0520%", "4h", "113.9%"]  # 0.00052 / 4 * 8760
    assert rows["hl"][1:4] == ["0.0013%", "1h", "10.9%"]
    assert [r[0] for r in pre_rows(reply.text)[1:]] == ["bybit", "binance", "okx", "hl"]
    assert rows["bybit"][4] in minutes_to_next_hour()
    net = net_apr(0.00031, 0.0000125, "hyperliquid", "bybit")
    assert "Best: long <b>hl</b>, short <b>bybit</b>" in reply.text
    assert f"0.2380%/8h · APR 260.6% · net {net * 100:.1f}% (168h)" in reply.text


async def test_funding_bad_and_unknown_assets(bot):
    reply = await bot.ask("/funding <script>")
    assert reply.text == "“&lt;script&gt;” is not an asset name. Try /funding BTC"
    reply = await bot.ask("/funding NOPE")
    assert "No venue lists NOPE right now." in reply.text
    reply = await bot.ask("/funding")
    assert reply.text.startswith("Usage: /funding ASSET")


async def test_scan_rows_buttons_details_and_refresh(bot):
    reply = await bot.ask("/scan 3")
    text = reply.text
    assert text.startswith("<b>Top 3 of 5 carry</b>")
    lines = [" ".join(r) for r in pre_rows(text)]
    assert lines[0] == "1. APE long hl / short bybit"
    net = net_apr(0.00031, 0.0000125, "hyperliquid", "bybit")
    assert lines[1] == f"0.2380%/8h APR 260.6% net {net * 100:.1f}%"
    keyboard = reply.reply_markup["inline_keyboard"]
    assert keyboard[0][0] == {"text": "🔎 APE", "callback_data": "f:APE"}
    assert keyboard[-1] == [{"text": "🔄 Refresh", "callback_data": "s:3:"}]

    mark = len(bot.tg.sent)
    bot.tg.user_callback(reply, "f:APE")
    details = await bot.tg.wait_for(lambda m: m.chat_id == reply.chat_id, after=mark)
    assert details.text.startswith("<b>APE funding</b>")

    # The market moves: Bybit's APE funding goes from 0.031% to 0.040% an hour.
    bot.venues.market.venues["bybit"][0].rate = 0.0004
    await bot.desk.service.refresh()
    bot.tg.user_callback(reply, "s:3:")
    await bot.tg.wait_for_call("editMessageText")
    (edit,) = bot.tg.edits
    assert (edit.chat_id, edit.message_id) == (reply.chat_id, reply.message_id)
    assert " ".join(pre_rows(edit.text)[1]).startswith("0.3100%/8h APR 339.5%")
    assert edit.reply_markup == reply.reply_markup


async def test_scan_arguments(bot):
    reply = await bot.ask("/scan 2 150%")
    assert "net ≥ 150.0%" in reply.text
    rows = [" ".join(r) for r in pre_rows(reply.text)]
    assert rows[0].startswith("1. APE") and rows[3].startswith("2. SOPH")
    reply = await bot.ask("/scan lots")
    assert reply.text.startswith("“lots” is not a number. Usage: /scan [N] [min APR %]")


async def test_status_names_a_failing_venue(bot):
    bot.venues.fail("okx", OKX_FUNDING, Fault.http(500))
    await bot.desk.service.refresh()
    reply = await bot.ask("/status")
    rows = {r[0]: r for r in pre_rows(reply.text)[1:]}
    assert rows["okx"][2:] == ["4", "error"]  # last good quotes kept
    assert rows["bybit"][2:] == ["4", "ok"]
    assert "okx: okx /api/v5/public/funding-rate: HTTP 500" in reply.text
    assert reply.text.startswith("<b>Status</b> · up ")


async def test_status_says_a_venue_answered_an_empty_list_and_keeps_its_data(bot):
    bot.venues.fail("okx", OKX_FUNDING, Fault("empty"))
    await bot.desk.service.refresh()
    reply = await bot.ask("/status")
    rows = {r[0]: r for r in pre_rows(reply.text)[1:]}
    assert rows["okx"][2:] == ["4", "error"]  # not "ok, 0 quotes": the last good ones kept
    assert re.search(
        r"okx: okx: answered an empty list; keeping the data from \d+s ago", reply.text
    )


async def test_old_data_is_flagged_and_left_out(bot):
    bot.venues.fail("okx", OKX_FUNDING, Fault.http(500))
    service = bot.desk.service
    await service.refresh()
    okx = next(h for h in service.health() if h.venue == "okx")
    service.book._health["okx"] = dataclasses.replace(okx, last_ok_at=okx.last_ok_at - 600)
    reply = await bot.ask("/scan")
    assert "⚠ okx: data 10m old, left out (okx /api/v5/public/funding-rate: HTTP 500" in reply.text


async def test_groups_topics_and_privacy_mode(bot):
    group = dict(chat_id=-100777, chat_type="supergroup", is_forum=True)
    reply = await bot.ask("/funding@arb_test_bot BTC", thread_id=42, **group)
    assert reply.message_thread_id == 42
    assert reply.text.startswith("<b>BTC funding</b>")
    bot.tg.user_message("/funding@some_other_bot BTC", **group)
    bot.tg.user_message("hello everyone", chat_id=-100777, chat_type="supergroup")
    reply = await bot.ask("/status", chat_id=-100777, chat_type="supergroup")
    assert await bot.shutdown() == 0
    to_group = [m for m in bot.tg.sent if m.chat_id == -100777]
    assert len(to_group) == 2  # the /funding and /status replies only


async def test_allowed_chats_refuse_others_once(venues):
    async with running_bot(venues, ARB_ALLOWED_CHATS="1001") as bot:
        refusal = await bot.ask("/scan", chat_id=2002)
        assert "private desk" in refusal.text
        bot.tg.user_message("/funding BTC", chat_id=2002)
        bot.tg.user_message("/status", chat_id=2002)
        ok = await bot.ask("/funding BTC", chat_id=1001)
        assert ok.text.startswith("<b>BTC funding</b>")
        assert await bot.shutdown() == 0
        assert [m.chat_id for m in bot.tg.sent].count(2002) == 1


async def test_admin_only_refresh(venues):
    async with running_bot(venues, ARB_ADMINS="7") as bot:
        refused = await bot.ask("/refresh", user_id=8)
        assert refused.text.startswith("Only the desk's admins")
        done = await bot.ask("/refresh", user_id=7, chat_id=1001)
        assert done.text.startswith("Refreshed: 4 of 4 venues answered, 16 quotes")


async def test_group_admin_check_uses_get_chat_member(bot):
    from telegram import Chat

    from bot.access import is_group_admin

    class Ctx:
        def __init__(self, app):
            self.bot = app.bot

    chat = Chat(-100555, "supergroup")
    bot.tg.chat_members[(-100555, 5)] = "administrator"
    bot.tg.chat_members[(-100555, 6)] = "member"
    assert await is_group_admin(Ctx(bot.app), bot.desk, chat, 5)
    assert not await is_group_admin(Ctx(bot.app), bot.desk, chat, 6)


async def test_a_crash_gets_an_apology_with_the_logged_error_id(bot, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("internal detail: do not show")

    monkeypatch.setattr("arb.commands.funding_report", broken)
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        reply = await bot.ask("/funding BTC")
    found = re.search(r"error ([0-9a-f]{8})", reply.text)
    assert found and "internal detail" not in reply.text and "RuntimeError" not in reply.text
    assert any(found.group(1) in r.getMessage() for r in caplog.records)
    monkeypatch.setattr("arb.commands.funding_report", funding_report)
    assert (await bot.ask("/funding BTC")).text.startswith("<b>BTC funding</b>")


async def test_rate_limit_and_network_errors_are_retried(bot):
    bot.tg.fail_next("sendMessage", status=429, description="Too Many Requests", retry_after=1)
    started = time.monotonic()
    reply = await bot.ask("/help")
    assert reply.text.startswith("<b>Funding carry desk</b>")
    assert time.monotonic() - started >= 1.0  # RetryAfter was honoured
    bot.tg.fail_next("sendMessage", status=502, description="Bad Gateway")
    reply = await bot.ask("/help")
    assert reply.text.startswith("<b>Funding carry desk</b>")


async def test_refreshing_an_unchanged_scan_is_quiet(bot):
    reply = await bot.ask("/scan 2")
    for _ in range(2):
        bot.tg.user_callback(reply, "s:2:")
    await bot.ask("/status")
    assert await bot.shutdown() == 0
    assert not any("Sorry" in m.text for m in bot.tg.sent if m.text)


async def test_a_big_market_stays_within_telegrams_limits():
    async with FakeVenues(synthetic_market(300)) as venues, running_bot(venues) as bot:
        reply = await bot.ask("/scan 30")
        assert reply.text.count("long ") == 30
        assert len(reply.text) <= 4096


async def test_start_up_waits_for_telegram(venues):
    async with FakeTelegram() as tg:
        tg.down = "502"
        starting = asyncio.create_task(_start_and_ask(venues, tg))
        await tg.wait_for_call("getMe", count=3)
        tg.down = False
        assert (await asyncio.wait_for(starting, 20)).startswith("<b>Funding carry desk</b>")


async def _start_and_ask(venues, tg) -> str:
    async with running_bot(venues, tg) as bot:
        return (await bot.ask("/help")).text
