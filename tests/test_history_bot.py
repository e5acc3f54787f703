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

import re

import pytest

from arb.chart import png_size
from arb.history import Point
from tests.bot_harness import running_bot
from tests.fakes.telegram import Upload
from tests.fakes.venues import FakeVenues, Fault


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


def figures(line: str) -> list[float]:
    """'earned   0.71% 4.99% 21.41%' -> [0.0071, 0.0499, 0.2141]."""
    return [float(x) / 100 for x in re.findall(r"(-?\d+\.\d+)%", line)]


def minutes_past_the_hour(first_line: str) -> float:
    """From the reply's own clock ('APE history · 06:10 UTC'): how far the hourly
    intervals in progress have run, within a minute."""
    return int(re.search(r"\d\d:(\d\d) UTC", first_line).group(1)) / 60


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
    ]  # every window full: nothing marked partial, nothing the same as its neighbour
    assert lines[9] == (
        "Best now, long hl / short bybit: share of time at or above this chat's 0.2000% "
        "alert, and the carry it earned (paid funding only):"
    )
    assert lines[10:12] == ["           24h    7d    30d", "above     100%  100%   100%"]
    # Earned: only the hours both legs have been paid for, so not the hour in progress.
    running = minutes_past_the_hour(lines[0])
    paid = [hours - running for hours in (24, 168, 720)]
    assert lines[12].startswith("earned ")
    assert figures(lines[12]) == pytest.approx([0.0002975 * h for h in paid], abs=0.00006)
    assert lines[13].startswith("net fees ")
    assert figures(lines[13]) == pytest.approx([e - 0.002 for e in figures(lines[12])], abs=1e-9)
    assert lines[14] == "covers     24h  168h   720h"
    # The hour in progress is expected: 0.0002975 x 1 h, paid at the top of the hour.
    next_hour = (int(lines[0].split(" · ")[1][:2]) + 1) % 24
    assert lines[15] == (
        f"Not paid yet: 0.03% expected by {next_hour:02d}:00 UTC if the rates hold (the "
        "funding in progress)."
    )
    before = history_hits(venues)
    again = await bot.ask("/history APE")
    assert again.plain.split("\n")[1:12] == lines[1:12]
    assert history_hits(venues) == before  # stored: no second backfill


async def test_chart_sends_a_phone_sized_png_with_the_key_figures(bot):
    mark = len(bot.tg.calls)
    photo = await bot.ask("/chart ape 7d")
    assert photo.method == "sendPhoto"
    caption = photo.caption.split("\n")
    assert caption[:3] == [
        "<b>APE</b> funding per venue as APR · last 7d",
        "Now: long hl / short bybit 0.2380%/8h · net 250.2%",
        "7d: avg 0.2380%/8h · ≥ 0.0500% 100% of the time",
    ]
    assert re.fullmatch(
        r"Earned (4\.9\d|5\.00)% over 16[78]h paid · 0\.03% expected by \d\d:00 UTC", caption[3]
    )
    assert caption[4:] == ["Covers 168h of 7d."]
    (upload,) = [v for v in photo.params.values() if isinstance(v, Upload)]
    assert png_size(upload.data) == (1280, 800) and len(upload.data) > 20_000
    assert upload.filename == "APE-7d.png"
    actions = [c.params.get("action") for c in bot.tg.calls[mark:] if c.method == "sendChatAction"]
    assert actions and set(actions) == {"upload_photo"}


async def test_a_failing_history_endpoint_is_named_and_the_rest_still_shows(bot, venues):
    venues.fail("okx", "/api/v5/public/funding-rate-history", Fault.http(500))
    reply = await bot.ask("/history APE")
    lines = reply.plain.split("\n")
    assert "hl/bybit      0.2380%  0.2380%  0.2380%" in lines
    # okx has only what the bot stored since it started (its 4 h interval in progress):
    # one partial figure, and the longer windows say they hold nothing more.
    assert "okx/bybit     0.1440%*       =        =" in lines
    assert "* partial: both legs known for under 80% of the window" in lines
    assert "= same data as the column to its left: nothing older is known" in lines
    assert any(line.startswith("⚠ okx ") and "HTTP 500" in line for line in lines)


async def test_three_hours_of_data_are_not_three_confident_windows(bot, venues):
    """The issue's case: the venues' history fails, the bot holds a few hours of its own
    scans. Every window says so, and the longer ones say they add nothing."""
    for venue, path in HISTORY_PATHS:  # hyperliquid's still answers: 30 days of hl
        venues.fail(venue, path, Fault.http(500))
    now = bot.desk.service.clock()
    top = now - now % 3600
    rows = [("APE", "bybit", Point(top - h * 3600, 0.00031, 1.0)) for h in (1, 2, 3)]
    await bot.desk.history.save(rows)  # three stored hours before the one in progress
    await bot.ask("/subscribe 0.2% APE")
    reply = await bot.ask("/history APE")
    lines = reply.plain.split("\n")
    assert lines[2:4] == ["long/short         24h 7d 30d", "hl/bybit      0.2380%* =   ="]
    assert "* partial: both legs known for under 80% of the window" in lines
    table = lines[lines.index("             24h    7d   30d") :]
    assert table[1:4] == [
        "above      100%*    =     =",
        "earned    0.09%*    =     =",  # the 3 paid hours x 0.02975%
        "net fees -0.11%*    =     =",
    ]
    covers = re.fullmatch(r"covers +([34]\.\dh) +([34]\.\dh) +([34]\.\dh)", table[4])
    assert covers and len(set(covers.groups())) == 1  # the same hours in every window
    photo = await bot.ask("/chart APE 7d")
    caption = photo.caption.split("\n")
    assert caption[2] == "7d*: avg 0.2380%/8h · ≥ 0.2000% 100% of the time"
    assert re.fullmatch(r"Earned\* 0\.09% over 3\.0h paid · 0\.03% expected by \d\d:00 UTC",
                        caption[3])  # fmt: skip
    assert re.fullmatch(r"\* partial: covers [34]\.\dh of 7d", caption[4])


async def test_no_history_for_the_window_is_one_line_not_an_empty_chart(venues, tmp_path):
    for venue, path in HISTORY_PATHS:
        venues.fail(venue, path, Fault.http(500))
    async with running_bot(
        venues, ARB_SCAN_INTERVAL_S="3600", ARB_HISTORY_EVERY_S="0", ARB_DB=str(tmp_path / "h.db"),
        ARB_VENUES="bybit,binance,okx",
    ) as bot:  # fmt: skip
        reply = await bot.ask("/chart APE 24h")
    assert reply.method == "sendMessage"
    assert reply.text == (
        "No funding history for APE over the last 24h: nothing is stored yet and the venues' "
        "history did not answer, so no chart."
    )


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
