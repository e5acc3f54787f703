"""Subscriptions and alerts end to end through the fake Bot API and the real PTB client.

The desk market's best spreads per 8 h: APE 0.238 %, SOPH 0.157 %, LDO 0.051 %,
PEPE 0.046 %, BTC 0.011 % (see tests/conftest.py and test_cli.py's hand figures).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.bot_harness import running_bot
from tests.fakes.telegram import FakeTelegram

GROUP = -100900
GROUP_CHAT = dict(chat_id=GROUP, chat_type="supergroup")
ADMIN, MEMBER = 5, 6


@pytest.fixture
async def bot(venues, tmp_path):
    # These tests re-arm and cross again within seconds: no minimum gap between alerts here
    # (tests/test_delivery_bot.py shows the gap holding a flapping spread to one alert).
    env = dict(ARB_SCAN_INTERVAL_S="3600", ARB_DB=str(tmp_path / "a.db"), ARB_ALERT_MIN_GAP_S="0")
    async with running_bot(venues, **env) as b:
        b.tg.chat_members[(GROUP, ADMIN)] = "administrator"
        yield b


def bybit_ape(venues) -> object:
    return next(p for p in venues.market.venues["bybit"] if p.asset == "APE")


async def test_admin_subscribes_a_group_and_a_crossing_alerts_once(bot):
    refused = await bot.ask("/subscribe 0.05%", user_id=MEMBER, **GROUP_CHAT)
    assert refused.text == "Only this group's administrators can change its alerts."
    ok = await bot.ask("/subscribe 0.05%", user_id=ADMIN, **GROUP_CHAT)
    assert ok.text == (
        "Subscribed: alert when an asset's best spread reaches 0.0500% per 8h (APR 54.8%) on "
        "every asset (gross spread, before fees; /scan ranks by APR net of round-trip fees)."
    )
    before = len(bot.to_chat(GROUP))
    report = await bot.cycle()
    assert (report.crossings, report.sent) == (3, 1)
    (alert,) = bot.to_chat(GROUP)[before:]
    assert alert.text.startswith("🔔 <b>Funding carry alert</b>")
    assert [line.split(":")[0] for line in alert.text.split("\n") if line.startswith("<b>")] == [
        "<b>APE</b>", "<b>SOPH</b>", "<b>LDO</b>",
    ]  # fmt: skip
    assert "<b>APE</b>: long hl / short bybit" in alert.text
    assert "0.2380%/8h (≥ 0.0500%) · APR 260.6% · net 250.2%" in alert.text
    assert [b["callback_data"] for b in alert.buttons] == ["f:APE", "f:SOPH", "f:LDO"]
    for _ in range(5):
        assert (await bot.cycle()).sent == 0
    assert len(bot.to_chat(GROUP)) == before + 1


async def test_asset_filters_topics_and_unsubscribe(bot):
    chat = dict(chat_id=-100901, chat_type="supergroup", is_forum=True, thread_id=9)
    bot.tg.chat_members[(-100901, ADMIN)] = "creator"
    await bot.ask("/subscribe 5bps sol ldo", user_id=ADMIN, **chat)
    listing = await bot.ask("/subscriptions", user_id=MEMBER, **chat)
    assert "0.0500% per 8h (APR 54.8%) on LDO, SOL" in listing.text
    await bot.cycle()
    (alert,) = [m for m in bot.to_chat(-100901) if m.text.startswith("🔔")]
    assert alert.message_thread_id == 9
    assert "<b>LDO</b>" in alert.text and "APE" not in alert.text
    done = await bot.ask("/unsubscribe all", user_id=ADMIN, **chat)
    assert done.text == "Unsubscribed: 1 subscription(s) ended."
    assert await bot.desk.store.subscriptions(-100901) == []


async def test_bad_thresholds_get_a_reason_and_an_example(bot):
    reply = await bot.ask("/subscribe 0.05")
    assert reply.text.startswith("Threshold 5% per 8h is out of range")
    assert "e.g. /subscribe 0.05%" in reply.text
    reply = await bot.ask("/subscribe <b>x</b>")
    assert reply.text.startswith("“&lt;b&gt;x&lt;/b&gt;” is not a threshold")


async def test_rearm_below_80_percent_then_cross_again(bot, venues):
    await bot.ask("/subscribe 0.2% APE")
    assert (await bot.cycle()).sent == 1
    binance_ape = next(p for p in venues.market.venues["binance"] if p.asset == "APE")
    # Best now (0.0002 - 0.0000125) * 8 = 0.15 % per 8 h: under 0.8 x 0.2 %, the key re-arms.
    bybit_ape(venues).rate, binance_ape.rate = 0.0002, 0.0001
    assert (await bot.cycle()).sent == 0
    (state,) = (await bot.desk.store.alert_states()).values()
    assert not state.above and state.last_spread == pytest.approx(0.0015)
    bybit_ape(venues).rate, binance_ape.rate = 0.00031, 0.00028
    assert (await bot.cycle()).sent == 1
    assert len([m for m in bot.to_chat(1001) if m.text.startswith("🔔")]) == 2


async def test_blocked_chat_loses_its_subscriptions(bot):
    await bot.ask("/subscribe 0.05%", chat_id=2001)
    bot.tg.fail_chat(2001, 403, "Forbidden: bot was blocked by the user")
    report = await bot.cycle()
    assert report.results == {(2001, None): "deactivated"}
    assert await bot.desk.store.subscriptions() == []
    (row,) = await bot.desk.store.deliveries(2001)
    assert row["status"] == "failed" and "blocked" in row["error"]
    calls = len(bot.tg.calls)
    assert (await bot.cycle()).crossings == 0
    assert not [c for c in bot.tg.calls[calls:] if c.method == "sendMessage"]


async def test_group_upgraded_to_supergroup_moves_and_resends(bot):
    old, new = -500, -100500
    bot.tg.chat_members[(old, ADMIN)] = "administrator"
    await bot.ask("/subscribe 0.1%", chat_id=old, chat_type="group", user_id=ADMIN)
    bot.tg.fail_next(
        "sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=new,
    )  # fmt: skip
    report = await bot.cycle()
    assert report.results == {(old, None): "migrated"}
    (alert,) = bot.to_chat(new)
    assert "<b>APE</b>" in alert.text and "<b>SOPH</b>" in alert.text
    assert [s.chat_id for s in await bot.desk.store.subscriptions()] == [new]
    assert (await bot.cycle()).sent == 0  # the state moved with the chat


async def test_rate_limited_alert_is_retried_once_delivered(bot):
    await bot.ask("/subscribe 0.1%", chat_id=3001)
    bot.tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    report = await bot.cycle()
    assert report.sent == 1
    assert len([m for m in bot.to_chat(3001) if m.text.startswith("🔔")]) == 1


async def test_restart_sends_nothing_again_and_alerts_what_crossed_while_down(venues, tmp_path):
    db = str(tmp_path / "restart.db")
    async with FakeTelegram() as tg:
        async with running_bot(venues, tg, ARB_SCAN_INTERVAL_S="3600", ARB_DB=db) as bot:
            await bot.ask("/subscribe 0.1%", chat_id=4001)
            await bot.ask("/subscribe 0.3% APE", chat_id=4002)
            assert (await bot.cycle()).sent == 1  # 4001: APE and SOPH; 4002: nothing yet
            assert await bot.shutdown() == 0
        alerts_before = [m for m in tg.sent if m.text and m.text.startswith("🔔")]
        bybit_ape(venues).rate = 0.0005  # APE now 0.39 % per 8 h, while the bot is down
        async with running_bot(venues, tg, ARB_SCAN_INTERVAL_S="3600", ARB_DB=db) as bot:
            await bot.cycle()
            await bot.cycle()
            assert await bot.shutdown() == 0
        alerts = [m for m in tg.sent if m.text and m.text.startswith("🔔")]
    new = alerts[len(alerts_before) :]
    assert [m.chat_id for m in new] == [4002]  # 4001 was told already; 4002 crossed while down
    assert "<b>APE</b>" in new[0].text


async def test_a_hanging_venue_does_not_hold_the_others_alerts(venues, tmp_path):
    from tests.fakes.venues import Fault
    from tests.venues.hyperliquid.fake_rest import HL_INFO

    env = dict(ARB_SCAN_INTERVAL_S="5", ARB_HTTP_TIMEOUT_S="30", ARB_DB=str(tmp_path / "h.db"))
    async with running_bot(venues, **env) as bot:
        await bot.ask("/subscribe 0.1% SOPH", chat_id=6001)
        venues.fail("hyperliquid", HL_INFO, Fault("timeout", delay_s=30))
        async with bot.desk.alerts.lock:
            pass  # a scheduled cycle already running finishes first
        started = asyncio.get_running_loop().time()
        report = await bot.cycle()
        elapsed = asyncio.get_running_loop().time() - started
        assert elapsed < 4  # Hyperliquid is cut at half the 5 s interval, not at 30 s
        hl = next(h for h in bot.desk.service.snapshot.health if h.venue == "hyperliquid")
        assert hl.last_error == "hyperliquid: no complete answer within 2.5 s"
        assert report.sent == 1
        (alert,) = [m for m in bot.to_chat(6001) if m.text.startswith("🔔")]
        assert "<b>SOPH</b>: long bybit / short okx" in alert.text


async def test_a_pair_whose_legs_swapped_is_rearmed(bot, venues):
    """hl/bybit alerts; bybit then pays less than hl, so the pair's direction flips (its
    carry is negative, far below the threshold); when it comes back it alerts again."""
    await bot.ask("/subscribe 0.2% APE")
    ape = bybit_ape(venues)
    first = await bot.cycle()
    assert first.sent == 1
    ape.rate = -0.0005  # bybit now the low payer: long bybit / short okx is the best pair
    await bot.cycle()
    ape.rate = 0.00031  # back: long hl / short bybit 0.2380% again
    again = await bot.cycle()
    assert again.crossings == 1 and again.sent == 1
    texts = [m.text for m in bot.to_chat(1001) if "Funding carry alert" in m.text]
    assert sum("<b>APE</b>: long hl / short bybit" in t for t in texts) == 2


async def test_a_demoted_admin_loses_the_right_within_a_minute(bot, monkeypatch):
    from bot import access

    chat = dict(chat_id=-100902, chat_type="supergroup")
    bot.tg.chat_members[(-100902, ADMIN)] = "administrator"
    assert (await bot.ask("/subscribe 0.1%", user_id=ADMIN, **chat)).text.startswith("Subscribed")
    bot.tg.chat_members[(-100902, ADMIN)] = "member"  # demoted
    now = access.clock()
    monkeypatch.setattr(access, "clock", lambda: now + access.ADMIN_CACHE_S + 1)
    refused = await bot.ask("/subscribe 0.2%", user_id=ADMIN, **chat)
    assert refused.text == "Only this group's administrators can change its alerts."
    assert access.ADMIN_CACHE_S <= 60


# --- what /subscribe and /subscriptions say --------------------------------------------


async def test_subscribing_to_an_asset_no_venue_lists_warns_but_subscribes(bot):
    reply = await bot.ask("/subscribe 0.05% FOO APE")
    assert reply.text.split("\n") == [
        "Subscribed: alert when an asset's best spread reaches 0.0500% per 8h (APR 54.8%) on "
        "APE, FOO (gross spread, before fees; /scan ranks by APR net of round-trip fees).",
        "FOO: no venue lists FOO right now; it will alert once one does.",
    ]
    (sub,) = await bot.desk.store.subscriptions(1001)
    assert sub.assets == {"FOO", "APE"}  # accepted: a listing may come
    # Any spelling names the coin: Bybit's SHIB1000USDT is SHIB.
    shib = await bot.ask("/subscribe 0.05% shib1000usdt ape")
    assert "on APE, SHIB (gross" in shib.text
    assert shib.text.endswith("SHIB: no venue lists SHIB right now; it will alert once one does.")


async def test_overlapping_thresholds_say_which_applies(bot):
    await bot.ask("/subscribe 0.05%")
    reply = await bot.ask("/subscribe 0.3% APE")
    assert reply.text.split("\n")[1:] == [
        "APE: 0.3000% (its own; the catch-all 0.0500% applies to every other asset)."
    ]
    listing = await bot.ask("/subscriptions")
    lines = listing.text.split("\n")
    assert lines[1] == (
        "Each threshold is on an asset's best spread per 8h (gross spread, before fees; /scan "
        "ranks by APR net of round-trip fees)."
    )
    assert lines[-2:] == [
        "Which applies:",
        "• APE: 0.3000% (its own; the catch-all 0.0500% applies to every other asset)",
    ]
    # APE (0.238 %) is under its own 0.3 %: the catch-all alerts SOPH and LDO only.
    report = await bot.cycle()
    assert report.sent == 1
    (alert,) = [m for m in bot.to_chat(1001) if m.text.startswith("🔔")]
    assert "<b>SOPH</b>" in alert.text and "<b>LDO</b>" in alert.text
    assert "<b>APE</b>" not in alert.text
    # A newer subscription naming APE again applies over the older one.
    again = await bot.ask("/subscribe 0.2% APE SOPH")
    assert again.text.split("\n")[1:] == [
        "APE 0.2000%, SOPH 0.2000%: their own; the catch-all 0.0500% applies to every other asset.",
        "APE: 0.2000%, the newest subscription naming it (0.3000% on APE no longer applies to "
        "APE).",
    ]
    assert bot.desk.alerts.index.threshold(1001, None, "APE") == 0.002
    assert bot.desk.alerts.index.threshold(1001, None, "BTC") == 0.0005


async def test_history_measures_against_the_threshold_alerting_uses(bot):
    """/history reads the same index as the alerts: APE's own 0.2 % over the catch-all,
    the newest of two subscriptions naming it."""
    await bot.ask("/subscribe 0.05%")
    await bot.ask("/subscribe 0.1% APE")
    await bot.ask("/subscribe 0.2% APE SOPH")
    reply = await bot.ask("/history APE")
    assert "this chat's 0.2000% alert" in reply.plain
    reply = await bot.ask("/history LDO")
    assert "this chat's 0.0500% alert" in reply.plain
