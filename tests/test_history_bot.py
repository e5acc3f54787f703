"""`/chart` and `/history` end to end: the real PTB client, the fake Bot API, the fake venues
(whose funding-history endpoints serve each perp's current rate back 30 days).

With constant rates every window's average spread is today's spread, which
tests/conftest.py works by hand. APE, oriented as it would be entered now:
hl 0.00125%/h, okx 0.052%/4h = 0.013%/h, binance 0.028%/h, bybit 0.031%/h.
Best: long hl / short bybit, 0.0002975/h = 0.2380%/8h; it earns
0.0002975 x 24 = 0.71% a day, x 168 = 5.00% a week, x 720 = 21.42% in 30 days;
net of the 0.2% round-trip fees 0.51%, 4.80%, 21.22%.
"""

from __future__ import annotations

import pytest

from arb.chart import png_size
from tests.bot_harness import running_bot
from tests.conftest import desk_market
from tests.fakes.telegram import Upload
from tests.fakes.venues import FakeVenues, Fault


@pytest.fixture
async def venues():
    async with FakeVenues(desk_market()) as fake:
        yield fake


@pytest.fixture
async def bot(venues, tmp_path):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600", ARB_DB=str(tmp_path / "h.db")) as b:
        yield b


def history_hits(venues: FakeVenues) -> int:
    return sum(venues.hits(v, p) for v, p in HISTORY_PATHS)


HISTORY_PATHS = [
    ("bybit", "/v5/market/funding/history"),
    ("binance", "/fapi/v1/fundingRate"),
    ("okx", "/api/v5/public/funding-rate-history"),
]


async def test_history_backfills_once_and_adds_up(bot, venues):
    await bot.ask("/subscribe 0.2% APE")
    reply = await bot.ask("/history APE")
    assert history_hits(venues) >= 3
    lines = reply.plain.split("\n")
    assert lines[0].startswith("APE history · ")
    assert lines[1:9] == [
        "Average spread per 8h, each pair the way it would be entered now:",
        "long/short        24h      7d     30d",
        "hl/bybit      0.2380% 0.2380% 0.2380%",
        "hl/binance    0.2140% 0.2140% 0.2140%",
        "okx/bybit     0.1440% 0.1440% 0.1440%",
        "okx/binance   0.1200% 0.1200% 0.1200%",
        "hl/okx        0.0940% 0.0940% 0.0940%",
        "binance/bybit 0.0240% 0.0240% 0.0240%",
    ]
    assert lines[9] == (
        "Best now, long hl / short bybit: share of time at or above this chat's 0.2000% "
        "alert, and the carry it earned:"
    )
    assert lines[10:15] == [
        "           24h    7d    30d",
        "above     100%  100%   100%",
        "earned   0.71% 5.00% 21.42%",
        "net fees 0.51% 4.80% 21.22%",
        "data       24h  168h   720h",
    ]
    before = history_hits(venues)
    again = await bot.ask("/history APE")
    assert again.plain == reply.plain.replace(lines[0], again.plain.split("\n")[0])
    assert history_hits(venues) == before  # stored: no second backfill


async def test_chart_sends_a_phone_sized_png_with_the_key_figures(bot):
    mark = len(bot.tg.calls)
    photo = await bot.ask("/chart ape 7d")
    assert photo.method == "sendPhoto"
    assert photo.caption.split("\n") == [
        "<b>APE</b> funding per venue as APR · last 7d",
        "Now: long hl / short bybit 0.2380%/8h · net 250.2%",
        "7d: avg 0.2380%/8h · ≥ 0.0500% 100% of the time · earned 5.00%",
    ]
    (upload,) = [v for v in photo.params.values() if isinstance(v, Upload)]
    assert png_size(upload.data) == (1280, 800) and len(upload.data) > 20_000
    assert upload.filename == "APE-7d.png"
    actions = [c.params.get("action") for c in bot.tg.calls[mark:] if c.method == "sendChatAction"]
    assert actions and set(actions) == {"upload_photo"}


async def test_a_failing_history_endpoint_is_named_and_the_rest_still_shows(bot, venues):
    venues.fail("okx", "/api/v5/public/funding-rate-history", Fault.http(500))
    reply = await bot.ask("/history APE")
    assert "hl/bybit      0.2380% 0.2380% 0.2380%" in reply.plain
    assert any(line.startswith("⚠ okx ") and "HTTP 500" in line for line in reply.plain.split("\n"))


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/chart", "Usage: /chart ASSET [24h|7d|30d], e.g. /chart BTC 7d"),
        ("/chart APE 2y", "Usage: /chart ASSET [24h|7d|30d], e.g. /chart BTC 7d"),
        ("/chart <i>", "“&lt;i&gt;” is not an asset name. Try /chart BTC"),
        ("/chart DOGE", "No venue lists DOGE right now."),
        ("/history", "Usage: /history ASSET, e.g. /history BTC"),
        ("/history DOGE", "DOGE is not listed on two venues right now: no pair to look back on."),
    ],
)
async def test_bad_chart_and_history_requests_get_a_short_answer(bot, text, answer):
    reply = await bot.ask(text)
    assert reply.text == answer


async def test_the_cycle_keeps_a_snapshot_for_history(bot):
    # The start-up cycle stored every quote once; a cycle within 15 min stores nothing, and
    # one that is due replaces the row of the interval in progress with the newer rate.
    stored = await bot.desk.history.count()
    assert stored == sum(len(v) for v in bot.venues.market.venues.values())
    ape = next(p for p in bot.venues.market.venues["bybit"] if p.asset == "APE")
    ape.rate = 0.0004
    await bot.cycle()
    now = bot.desk.service.clock()
    assert (await bot.desk.history.series("APE", now - 3600, now))["bybit"][-1].hourly == 0.00031
    bot.desk.recorder.last_saved = float("-inf")
    await bot.cycle()
    assert await bot.desk.history.count() == stored
    assert (await bot.desk.history.series("APE", now - 3600, now))["bybit"][-1].hourly == 0.0004
