"""The bot on live feeds: fake Bybit and OKX WebSocket servers beside the fake REST venues.

APE in the desk market: bybit 0.031%/1h, okx 0.052%/4h = 0.013%/h; long okx / short
bybit is 0.00018/h = 0.1440%/8h, under a 0.2% alert. A pushed bybit rate of 0.05%/1h
makes it 0.00037/h = 0.2960%/8h: a crossing.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from arb.commands import StatusReport
from arb.feeds.base import FeedState
from arb.market import VenueHealth
from arb.models import QuoteUpdate
from bot.render_market import status_html
from tests.bot_harness import running_bot
from tests.conftest import desk_market
from tests.fakes.venues import FakeVenues
from tests.venues.bybit.fake_rest import BYBIT_TICKERS
from tests.venues.bybit.fake_stream import FakeBybitWs
from tests.venues.okx.fake_stream import FakeOkxWs

HOUR_MS = 3_600_000


def next_hour_ms() -> int:
    return (int(time.time() * 1000) // HOUR_MS + 1) * HOUR_MS


@pytest.fixture
async def live(tmp_path):
    async with FakeVenues(desk_market()) as venues, FakeBybitWs() as bybit, FakeOkxWs() as okx:
        bybit.set_quote("APEUSDT", rate=0.00031, next_funding_ms=next_hour_ms(), mark=0.13791,
                        interval_h=1)  # fmt: skip
        env = {
            "ARB_FEEDS": "1",
            "ARB_VENUES": "bybit,okx",
            "BYBIT_WS_URL": bybit.url,
            "OKX_WS_URL": okx.url,
            "ARB_SCAN_INTERVAL_S": "3600",
            "ARB_DB": str(tmp_path / "live.db"),
        }
        async with running_bot(venues, **env) as b:
            await bybit.wait_subscribed(1, ["APEUSDT"])
            await okx.wait_subscribed(1, ["APE-USDT-SWAP"])
            yield b, bybit, okx


async def test_a_crossing_on_the_stream_alerts_without_waiting_for_the_cycle(live):
    b, bybit, _okx = live
    await b.ask("/subscribe 0.2% APE")
    mark = len(b.tg.sent)
    assert await bybit.push_quote("APEUSDT", rate=0.0005) == 1
    alert = await b.tg.wait_for(lambda m: "Funding carry alert" in (m.text or ""), after=mark)
    assert "<b>APE</b>: long okx / short bybit" in alert.text
    assert "0.2960%/8h (≥ 0.2000%)" in alert.text
    assert b.desk.service.book.live_updates >= 1  # the stream, not the hourly cycle, drove it
    # The next update within the same second does not alert again: one crossing, one alert.
    await bybit.push_quote("APEUSDT", rate=0.00051)
    await b.cycle()
    assert sum("Funding carry alert" in (m.text or "") for m in b.tg.sent[mark:]) == 1


async def push_landed(b, feed, symbol: str, **quote: float) -> None:
    """Push APE's quote on `feed` and wait until the live update changed APE in the book."""
    event = asyncio.Event()
    b.desk.service.book.subscribe(lambda assets: "APE" in assets and event.set())
    await feed.push_quote(symbol, **quote)
    await asyncio.wait_for(event.wait(), 5)


async def test_funding_answers_from_the_live_book(live):
    b, bybit, okx = live
    await push_landed(b, bybit, "APEUSDT", rate=0.0004)
    await push_landed(b, okx, "APE-USDT-SWAP", rate=0.0006, next_funding_ms=next_hour_ms(),
                      mark=0.1378, interval_h=4)  # fmt: skip
    reply = await b.ask("/funding APE")
    assert re.search(r"^bybit\s+0\.0400%\s+1h", reply.plain, re.MULTILINE), reply.plain
    assert re.search(r"^okx\s+0\.0600%\s+4h", reply.plain, re.MULTILINE), reply.plain


async def test_a_dropped_feed_reconnects_reseeds_and_resubscribes(live):
    b, bybit, _okx = live
    seeds = b.venues.hits("bybit", BYBIT_TICKERS)
    await bybit.drop()
    await bybit.wait_subscribed(1, ["APEUSDT"])
    assert b.venues.hits("bybit", BYBIT_TICKERS) > seeds  # the book was re-seeded by REST
    assert len(bybit.subscribes) >= 2
    status = await b.ask("/status")
    assert "feed" in status.plain and "bybit" in status.plain


async def test_status_calls_a_connected_feed_that_stopped_talking_silent(live):
    b, bybit, okx = live
    # Frames come in order on one connection: once this push is in the book, so is all
    # bybit sent before it. Then the fake goes quiet with the connection still open.
    await push_landed(b, bybit, "APEUSDT", rate=0.0004)
    bybit.silent = True

    def later() -> float:  # 45 s on, without waiting for them
        return time.time() + 45

    b.desk.service.clock = b.desk.feeds.clock = later
    for feed in b.desk.feeds.feeds.values():
        feed.clock = later
    await push_landed(b, okx, "APE-USDT-SWAP", rate=0.0006, next_funding_ms=next_hour_ms(),
                      mark=0.1378, interval_h=4)  # fmt: skip
    status = await b.ask("/status")
    assert re.search(r"^bybit +silent 4[5-9]s +4[5-9]s +\d+$", status.plain, re.M), status.plain
    assert re.search(r"^okx +live +[0-2]s +\d+$", status.plain, re.M), status.plain


def test_status_shows_a_feed_live_only_while_its_messages_arrive():
    now = 10_000.0

    def state(venue: str, **kw: float) -> FeedState:
        return FeedState(venue, quiet_s=25.0, connected="disconnected_at" not in kw, **kw)

    feeds = {
        "bybit": state("bybit", connected_at=now - 600, last_message_at=now - 3),
        "okx": state("okx", connected_at=now - 600, last_message_at=now - 26),
        "gate": state("gate", connected_at=now - 2, last_message_at=now - 90),  # not yet
        "bitget": state("bitget", connected_at=now - 40, last_message_at=now - 90),
        "hyperliquid": state("hyperliquid", disconnected_at=now - 8, last_message_at=now - 9),
    }
    empty = "okx: answered an empty list; keeping the data from 3m ago"
    okx = VenueHealth("okx", now - 180, 20, empty, now - 5, feed=feeds["okx"])
    health = [okx, *(VenueHealth(v, feed=f) for v, f in feeds.items() if v != "okx")]
    health.append(VenueHealth("binance"))  # no feed: no row under the feeds
    text = status_html(StatusReport(tuple(health), now, 60, "1", 5, 60))
    venues, feed_rows = (
        [line.split() for line in block.split("</pre>")[0].splitlines()[1:]]
        for block in text.split("<pre>")[1:]
    )
    assert venues[0] == ["okx", "3m", "20", "error"]  # the line under the table says why
    assert [row[0] for row in venues] == ["okx", "bybit", "gate", "bitget", "hl", "binance"]
    assert f"okx: {empty} (5s ago)" in text
    assert {r[0]: r[1:3] for r in feed_rows} == {
        "bybit": ["live", "3s"],
        "okx": ["silent", "26s"],
        "gate": ["connected", "1m"],
        "bitget": ["silent", "40s"],  # nothing since it opened
        "hl": ["down", "8s"],
    }


async def test_stale_quotes_never_alert_and_are_marked(tmp_path):
    """A live update that is already old (a feed that stalled, then caught up) is kept
    out of alerts and shown as stale."""
    async with FakeVenues(desk_market()) as venues:
        env = {"ARB_SCAN_INTERVAL_S": "3600", "ARB_VENUES": "bybit,okx"}
        async with running_bot(venues, ARB_DB=str(tmp_path / "s.db"), **env) as b:
            await b.ask("/subscribe 0.2% APE")
            old = time.time() - 400
            assert b.desk.service.book.apply(
                [QuoteUpdate("bybit", "APEUSDT", old, rate=0.0005)]
            ) == {"APE"}
            report = await b.desk.alerts.cycle(b.app.bot, refresh=False, assets={"APE"})
            reply = await b.ask("/funding APE")
            b.desk.service.book.apply([QuoteUpdate("bybit", "APEUSDT", time.time(), rate=0.0005)])
            fresh = await b.desk.alerts.cycle(b.app.bot, refresh=False, assets={"APE"})
    assert report.crossings == 0
    assert "† bybit APEUSDT left out of the best pair: data 6m old" in reply.plain
    assert "\nbybit† 0.0500%" in reply.plain  # still shown, marked
    assert "No best pair" in reply.plain  # okx alone is no pair, as no alert went out
    assert fresh.crossings == 1  # the same rate, fresh, does alert
