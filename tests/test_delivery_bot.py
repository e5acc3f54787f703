"""Alert delivery end to end, through the real PTB client and a fake Bot API with faults.

What the README promises: an alert goes out once per crossing, or, when its send outcome is
unknown, once more visibly marked; never as a silent copy. A slow API is waited for; a
failing write never sends again; a storage failure is told to the admins and holds the
crossings until it recovers; a hot market is one message; a flapping spread alerts once.

The desk market's best spreads per 8 h: APE 0.238 %, SOPH 0.157 %, LDO 0.051 %,
PEPE 0.046 %, BTC 0.011 % (tests/conftest.py).
"""

from __future__ import annotations

import asyncio

import pytest

from bot import alerts as alerts_module
from storage.db import Database
from storage.store import QueuedAlert, Store
from tests.bot_harness import running_bot
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues

ADMIN = 77
MARK = "↻"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(alerts_module, "NOT_SENT_BACKOFF_S", (0.05, 0.1, 0.2))


def alerts_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [m.text for m in tg.sent if m.chat_id == chat_id and "Funding carry alert" in m.text]


def unmarked(texts: list[str]) -> list[str]:
    return [t for t in texts if not t.startswith(MARK)]


async def query_only(bot, on: bool) -> None:
    """Make the bot's own database refuse every write, as a read-only file does."""
    await bot.desk.store.db.conn.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


# --- slow and lossy Telegram -------------------------------------------------------------


async def test_sends_wait_tens_of_seconds_for_an_answer_by_default(venues, tmp_path):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600") as bot:
        timeout = bot.app.bot.request._client.timeout  # what every send waits for
        assert timeout.read == 30 and timeout.write == 30


async def test_a_slow_api_is_waited_for_and_the_alert_lands_once(venues):
    env = dict(ARB_SCAN_INTERVAL_S="3600", TELEGRAM_TIMEOUT_S="5")
    async with running_bot(venues, **env) as bot:
        await bot.ask("/subscribe 0.1%", chat_id=2101)
        bot.tg.delay("sendMessage", 1.5)
        report = await bot.cycle()
        bot.tg.delay("sendMessage", 0)
        assert report.sent == 1 and report.unknown == 0
        assert len(alerts_to(bot.tg, 2101)) == 1
        assert (await bot.cycle()).crossings == 0


async def test_a_send_that_times_out_is_resent_once_and_marked(venues):
    env = dict(ARB_SCAN_INTERVAL_S="3600", TELEGRAM_TIMEOUT_S="1")
    async with running_bot(venues, **env) as bot:
        await bot.ask("/subscribe 0.1%", chat_id=2102)
        bot.tg.delay("sendMessage", 2.5, times=1)  # lands, but answers after the timeout
        report = await bot.cycle()
        texts = alerts_to(bot.tg, 2102)
        assert len(texts) == 2 and len(unmarked(texts)) == 1
        assert texts[1].startswith("↻ <i>Sent again: Telegram did not confirm the first try")
        assert report.sent == 1
        (row,) = await bot.desk.store.deliveries(2102)
        assert row["status"] == "sent" and row["attempts"] == 2
        for _ in range(3):
            assert (await bot.cycle()).crossings == 0
        assert len(alerts_to(bot.tg, 2102)) == 2


async def test_a_marked_resend_that_times_out_too_is_never_sent_a_third_time(venues):
    env = dict(ARB_SCAN_INTERVAL_S="3600", TELEGRAM_TIMEOUT_S="1")
    async with running_bot(venues, **env) as bot:
        await bot.ask("/subscribe 0.1%", chat_id=2106)
        bot.tg.delay("sendMessage", 2.5, times=2)
        report = await bot.cycle()
        assert report.unknown == 1
        texts = alerts_to(bot.tg, 2106)
        assert len(texts) == 2 and len(unmarked(texts)) == 1
        (row,) = await bot.desk.store.deliveries(2106)
        assert row["status"] == "unknown"
        assert (await bot.cycle()).crossings == 0  # counted as delivered: its state holds
        assert len(alerts_to(bot.tg, 2106)) == 2


async def test_a_connection_dropped_after_the_send_is_resent_marked(venues):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600") as bot:
        await bot.ask("/subscribe 0.1%", chat_id=2103)
        bot.tg.drop_after_send("sendMessage")
        await bot.cycle()
        texts = alerts_to(bot.tg, 2103)
        assert len(texts) == 2 and len(unmarked(texts)) == 1 and texts[1].startswith(MARK)


async def test_a_gateway_error_page_never_reached_telegram_so_it_is_retried_unmarked(venues):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600") as bot:
        await bot.ask("/subscribe 0.1%", chat_id=2104)
        calls = len(bot.tg.calls)
        bot.tg.down = "502"
        cycle = asyncio.create_task(bot.cycle())
        await bot.tg.wait_for_call("sendMessage", after_calls=calls, count=2, timeout=10)
        bot.tg.down = False  # after two tries that an nginx error page answered
        report = await asyncio.wait_for(cycle, 10)
        assert report.sent == 1
        texts = alerts_to(bot.tg, 2104)
        assert len(texts) == 1 and not texts[0].startswith(MARK)


async def test_an_alert_telegram_refuses_is_tried_again_next_run(venues):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600") as bot:
        await bot.ask("/subscribe 0.1%", chat_id=2105)
        bot.tg.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
        assert (await bot.cycle()).failed == 1
        assert alerts_to(bot.tg, 2105) == []
        assert (await bot.cycle()).sent == 1  # nothing went out: the crossing stands
        assert len(alerts_to(bot.tg, 2105)) == 1


# --- storage failing ---------------------------------------------------------------------


async def test_a_failing_write_after_a_send_never_sends_it_again(venues):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600", ARB_ADMINS=str(ADMIN)) as bot:
        await bot.ask("/subscribe 0.1%", chat_id=2201)
        builtin = bot.tg._routes["sendmessage"][1]

        async def send_then_break_storage(params):
            result = builtin(params)
            if params.get("chat_id") == 2201:
                await query_only(bot, True)
            return result

        bot.tg.route("sendMessage", send_then_break_storage)
        assert (await bot.cycle()).sent == 1
        bot.tg.route("sendMessage", builtin)
        for _ in range(5):
            await bot.cycle()
        assert len(alerts_to(bot.tg, 2201)) == 1
        assert bot.desk.store.db.health.failing
        await query_only(bot, False)
        await bot.cycle()
        (row,) = await bot.desk.store.deliveries(2201)
        assert row["status"] == "sent"  # the outcome kept in memory is written now
        assert len(alerts_to(bot.tg, 2201)) == 1
        told = [m.text for m in bot.to_chat(ADMIN)]
        assert len(told) == 2
        assert told[0].startswith("⚠️ <b>Storage is failing</b>")
        assert "read-only: cannot write" in told[0]
        assert told[1].startswith("✅ <b>Storage is back</b>")


async def test_storage_failing_holds_crossings_tells_admins_once_then_delivers(venues):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600", ARB_ADMINS=str(ADMIN)) as bot:
        await bot.ask("/subscribe 0.1%", chat_id=2202)
        await query_only(bot, True)
        first = await bot.cycle()
        assert first.crossings == 2 and first.sent == 0 and first.held == 2
        await bot.cycle()
        assert alerts_to(bot.tg, 2202) == []
        (told,) = bot.to_chat(ADMIN)  # one message, however many runs fail
        assert "ARB_DB=" in told.text and "Alerts are held" in told.text
        status = await bot.ask("/status")
        assert "⚠ Storage failing for" in status.text and "2 alert(s) held" in status.text
        refused = await bot.ask("/subscribe 0.2%", chat_id=2203)
        assert refused.text.startswith("Sorry, the bot's storage is failing right now")
        await query_only(bot, False)
        recovered = await bot.cycle()
        assert recovered.sent == 1
        (alert,) = alerts_to(bot.tg, 2202)
        assert "Held while the bot's storage was failing" in alert
        assert "<b>APE</b>" in alert and "<b>SOPH</b>" in alert
        assert bot.to_chat(ADMIN)[-1].text.startswith("✅ <b>Storage is back</b>")
        assert (await bot.cycle()).crossings == 0
        assert "Storage ok" in (await bot.ask("/status")).text


# --- restarts ------------------------------------------------------------------------------


async def test_restart_sends_queued_alerts_as_they_are_and_in_flight_ones_marked(venues, tmp_path):
    db_path = str(tmp_path / "open.db")
    db = await Database.open(db_path)
    store = Store(db)
    for chat in (2301, 2302):
        await store.subscribe(chat, "private", None, None, 0.001, frozenset(), chat)
    texts = {chat: f"🔔 <b>Funding carry alert</b> · 10:00 UTC\n\nleft by chat {chat}"
             for chat in (2301, 2302)}  # fmt: skip
    queued, sending = await store.queue_alerts(
        [QueuedAlert(chat, None, texts[chat], ("APE",), (), 1000.0) for chat in (2301, 2302)]
    )
    await store.delivery_sending(sending, 2302)  # its request may have left before the stop
    await db.close()
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600", ARB_DB=db_path) as bot:
        first = bot.desk.alerts.last
        assert first is not None and first.resent == 2
        (q,) = [t for t in alerts_to(bot.tg, 2301) if "left by" in t]
        assert q == texts[2301]
        (s,) = [t for t in alerts_to(bot.tg, 2302) if "left by" in t]
        assert s.startswith("↻ <i>Resent after a restart: this alert from 00:16 UTC")
        assert s.endswith(texts[2302])
        rows = {r["id"]: r["status"] for r in await bot.desk.store.deliveries()}
        assert rows[queued] == rows[sending] == "sent"
        assert await bot.desk.store.open_deliveries() == []


# --- no floods -----------------------------------------------------------------------------


async def test_a_flapping_spread_alerts_once(venues):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600") as bot:
        await bot.ask("/subscribe 0.22% APE", chat_id=2401)
        ape = next(p for p in venues.market.venues["bybit"] if p.asset == "APE")
        for i in range(20):  # above (0.238 %), below re-arm (0.07 %), above, ...
            ape.rate = 0.00031 if i % 2 == 0 else 0.0001
            await bot.cycle()
        assert len(alerts_to(bot.tg, 2401)) == 1


def hot_market(assets: int) -> FakeMarket:
    """`assets` coins, each paying 0.3 % more per 8 h on okx than on bybit."""
    perps = {"bybit": [], "okx": []}
    for i in range(assets):
        name = f"HOT{i:02d}"
        perps["bybit"].append(FakePerp(name, 0.0001, 8, price=1.0 + i))
        perps["okx"].append(FakePerp(name, 0.0031 + i / 1e5, 8, price=1.0 + i))
    return FakeMarket(venues=perps)


async def test_a_catch_all_on_a_hot_market_is_one_readable_message():
    async with FakeVenues(hot_market(40)) as venues:
        env = dict(ARB_SCAN_INTERVAL_S="3600", ARB_VENUES="bybit,okx")
        async with running_bot(venues, **env) as bot:
            await bot.ask("/subscribe 0.05%", chat_id=2402)
            report = await bot.cycle()
            assert (report.crossings, report.sent) == (40, 1)
            (text,) = alerts_to(bot.tg, 2402)
            (message,) = [m for m in bot.to_chat(2402) if m.text == text]
            assert len(message.plain) <= 4096
            blocks = [line for line in text.split("\n") if line.startswith("<b>HOT")]
            assert blocks[0].startswith("<b>HOT39</b>")  # widest first
            for b in blocks:  # each block whole: its three lines
                _, spread, costs = text.split(b, 1)[1].split("\n")[:3]
                assert "/8h" in spread and costs.startswith("Break-even")
            assert f"… and {40 - len(blocks)} more (" in text
            assert len(message.buttons) == len(blocks)
            assert (await bot.cycle()).crossings == 0  # the rest were told too


# --- rate limits -----------------------------------------------------------------------------


async def test_a_fan_out_stays_under_telegrams_limits_and_replies_go_first(venues, tmp_path):
    chats = range(9001, 9071)
    async with running_bot(venues, telegram_pacing=True, ARB_SCAN_INTERVAL_S="3600") as bot:
        bot.tg.flood_control = True
        store = bot.desk.store
        for chat in chats:
            await store.subscribe(chat, "private", None, None, 0.001, frozenset(), chat)
        await bot.desk.alerts.reload_subscriptions()
        loop = asyncio.get_running_loop()
        started = loop.time()
        fan_out = asyncio.create_task(bot.cycle())
        await bot.tg.wait_for(lambda m: m.chat_id == 9035, timeout=10)
        asked = loop.time()
        reply = await bot.ask("/funding BTC", chat_id=1001)
        waited = loop.time() - asked
        report = await asyncio.wait_for(fan_out, 20)
        elapsed = loop.time() - started
        assert reply.text.startswith("<b>BTC funding</b>")
        assert waited < 1.5, waited  # ahead of the 35 alerts still queued
        assert report.sent == 70
        assert bot.tg.peak_per_second() <= 30
        assert not [f for f in bot.tg.failures if f.status == 429]
        assert elapsed >= 1.3  # 70 messages at 30 a second cannot take less


async def test_sigterm_mid_fan_out_lands_what_is_on_its_way_and_keeps_the_rest(
    venues, tmp_path, monkeypatch
):
    from bot import app as app_module

    monkeypatch.setattr(app_module, "SHUTDOWN_GRACE_S", 0.3)
    db = str(tmp_path / "term.db")
    chats = range(9201, 9281)  # 80 chats: almost 3 s at 30 a second
    async with FakeTelegram() as tg:
        tg.flood_control = True
        async with running_bot(
            venues, tg, telegram_pacing=True, ARB_SCAN_INTERVAL_S="3600", ARB_DB=db
        ) as bot:
            for chat in chats:
                await bot.desk.store.subscribe(chat, "private", None, None, 0.001, frozenset(), 1)
            await bot.desk.alerts.reload_subscriptions()
            fan_out = asyncio.create_task(bot.cycle())
            await tg.wait_for(lambda m: m.chat_id == 9220, timeout=10)
            assert await bot.shutdown() == 0
            await fan_out
        first = {m.chat_id for m in tg.sent if m.chat_id in chats}
        assert 20 <= len(first) < len(chats)  # stopped mid-way
        async with running_bot(venues, tg, ARB_SCAN_INTERVAL_S="3600", ARB_DB=db) as bot:
            assert bot.desk.alerts.last is not None and bot.desk.alerts.last.resent > 0
            assert await bot.desk.store.open_deliveries() == []
    for chat in chats:
        texts = alerts_to(tg, chat)
        assert len(texts) == 1, (chat, texts)  # each exactly once
    marked = [chat for chat in chats if alerts_to(tg, chat)[0].startswith(MARK)]
    assert not marked  # a clean stop leaves nothing in an unknown state


async def test_a_stop_never_cuts_off_saving_an_alert_already_sent(venues, tmp_path, monkeypatch):
    """The grace ends while a sent alert's outcome is being written: the stop waits for
    the write instead of cancelling it, so the next start has nothing to repeat."""
    from bot import app as app_module

    monkeypatch.setattr(app_module, "SHUTDOWN_GRACE_S", 0.05)
    db = str(tmp_path / "landing.db")
    async with FakeTelegram() as tg:
        async with running_bot(venues, tg, ARB_SCAN_INTERVAL_S="3600", ARB_DB=db) as bot:
            await bot.desk.store.subscribe(9301, "private", None, None, 0.001, frozenset(), 1)
            await bot.desk.alerts.reload_subscriptions()
            store, saving, release = bot.desk.store, asyncio.Event(), asyncio.Event()
            save = store.delivery_sent

            async def slow_save(*args, **kwargs):
                saving.set()
                await release.wait()
                return await save(*args, **kwargs)

            monkeypatch.setattr(store, "delivery_sent", slow_save)
            fan_out = asyncio.create_task(bot.cycle())
            await asyncio.wait_for(saving.wait(), 10)
            assert len(alerts_to(tg, 9301)) == 1  # on the chat, its outcome not yet saved
            stopping = asyncio.create_task(bot.shutdown())
            async with asyncio.timeout(5):
                while not bot.desk.alerts._stopping:  # the drain has begun
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # let the 0.05 s grace run out: the scenario itself
            assert not stopping.done()  # still waiting for the write, not cancelling it
            release.set()
            assert await stopping == 0
            await fan_out
        async with running_bot(venues, tg, ARB_SCAN_INTERVAL_S="3600", ARB_DB=db) as bot:
            assert bot.desk.alerts.last is not None and bot.desk.alerts.last.resent == 0
    assert alerts_to(tg, 9301) == unmarked(alerts_to(tg, 9301))
    assert len(alerts_to(tg, 9301)) == 1


async def test_old_delivery_records_are_pruned_by_the_alert_job(venues, tmp_path):
    db_path = str(tmp_path / "old.db")
    db = await Database.open(db_path)
    store = Store(db, clock=lambda: 1000.0)  # long ago
    (old,) = await store.queue_alerts([QueuedAlert(1, None, "x", (), (), 1000.0)])
    await store.delivery_failed(old, "Forbidden: bot was blocked by the user")
    await db.close()
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600", ARB_DB=db_path) as bot:
        assert await bot.desk.store.deliveries() == []
