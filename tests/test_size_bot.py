"""`/size`, the capacity line under `/funding`'s best pair, `/signal`'s sizing facts and
ARB_MIN_CAPACITY_USD, end to end: the real PTB client against the fake Bot API and the fake
venues, whose books are `FakePerp.levels` (tests/fakes/venues.py) in each venue's units.

By hand: the desk market's BTC carry is long hl / short bybit (binance's leg is too thin to
trade, tests/conftest.py). Both legs' books are set to five levels a side, 2 bp wide, 1 bp
apart, $20,000 at the best level and k x $20,000 at the k-th: $30,000 takes the whole best
ask of hl (coins a1_size at a1) and the rest from its second level, rounded down to the lot.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from arb import commands
from arb.carry import carry_in
from arb.depth import Book, Level, size_carry
from arb.render import capacity_words, size_words
from arb.venues.binance.rest import DEPTH as BINANCE_DEPTH
from arb.venues.bybit.rest import ORDER_BOOK as BYBIT_BOOK
from bot.render import esc
from tests.bot_harness import running_bot
from tests.fakes.llm import FakeLlm
from tests.fakes.venues import BookShape, FakePerp, FakeVenues, Fault

SIMPLE = BookShape(spread_bps=2.0, step_bps=1.0, depth_usd=20_000.0, levels=5)
TOL = 1e-9


def perp(venues: FakeVenues, venue: str, asset: str) -> FakePerp:
    return next(p for p in venues.market.venues[venue] if p.asset == asset)


@pytest.fixture
async def bot(venues):
    for venue in ("hyperliquid", "bybit"):
        perp(venues, venue, "BTC").book = SIMPLE
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600") as b:
        yield b


def fake_book(venues: FakeVenues, venue: str, asset: str) -> Book:
    """The book the fake serves for `asset` on `venue`, in coins and USD per coin."""
    p = perp(venues, venue, asset)
    bids, asks = p.levels(venue)
    return Book(
        venue,
        venues.symbols[venue](p),
        tuple(Level(*x) for x in bids),
        tuple(Level(*x) for x in asks),
        0.0,
        lot=p.lot,
        min_qty=p.min_qty,
    )


def served_sizing(b, asset: str, notional: float):
    """`arb.depth.size_carry` on the books the fakes serve, for the asset's best pair."""
    snapshot = b.desk.service.snapshot
    assert snapshot is not None
    best = carry_in(snapshot, asset, b.desk.params).best
    assert best is not None
    long = fake_book(b.venues, best.long_venue, asset)
    short = fake_book(b.venues, best.short_venue, asset)
    return size_carry(best, long, short, notional, b.desk.sizes.max_slippage_bps)


def coins_by_hand(levels: list[tuple[float, float]], notional: float) -> float:
    """What `notional` takes walking `levels`: the first level whole, the rest from the
    second."""
    (p1, s1), (p2, s2) = levels[0], levels[1]
    assert p1 * s1 < notional < p1 * s1 + p2 * s2  # the walk ends in level two
    return s1 + (notional - p1 * s1) / p2


def hedge_by_hand(long_asks, short_bids, notional: float, lots: tuple[float, float]) -> float:
    """The coins both legs trade: the fewer of the long's buy and the short's sell, rounded
    down to the coarser lot (the fakes' lots divide one another)."""
    lot = max(lots)
    assert all(float(Decimal(repr(lot)) % Decimal(repr(x))) == 0 for x in lots)
    raw = min(coins_by_hand(long_asks, notional), coins_by_hand(short_bids, notional))
    return float(math.floor(raw / lot) * Decimal(repr(lot)))


def vwap_by_hand(levels: list[tuple[float, float]], coins: float) -> float:
    """The price of `coins` taken from the first level whole and the rest from the second."""
    (p1, s1), (p2, _) = levels[0], levels[1]
    return (p1 * s1 + p2 * (coins - s1)) / coins


async def test_size_reply_is_size_carry_on_the_served_books_and_the_vwap_is_by_hand(bot):
    reply = await bot.ask("/size btc 30k")
    s = served_sizing(bot, "BTC", 30_000.0)
    assert s.complete
    lines = reply.text.split("\n")
    assert lines[0].startswith("<b>BTC</b> at $30,000 per leg · ")
    assert lines[1] == esc(size_words(s))
    assert lines[1].startswith("long hl / short bybit, $30,000 per leg: entry slippage ")
    report = await commands.size(
        bot.desk, bot.desk.books, "BTC", bot.desk.params, bot.desk.sizes, 30_000.0
    )
    got = report.sized
    assert got is not None
    # By hand: buy hl's asks, sell bybit's bids, the same coins, each against its own mid.
    hl, bybit = perp(bot.venues, "hyperliquid", "BTC"), perp(bot.venues, "bybit", "BTC")
    (_, hl_asks), (bybit_bids, _) = hl.levels("hyperliquid"), bybit.levels("bybit")
    coins = hedge_by_hand(hl_asks, bybit_bids, 30_000.0, (hl.lot, bybit.lot))
    assert [f.coins for f in got.fills] == [coins] * 4
    for fill, venue, side in ((got.long_entry, "hyperliquid", 1), (got.short_entry, "bybit", 0)):
        bids, asks = perp(bot.venues, venue, "BTC").levels(venue)
        mid = (bids[0][0] + asks[0][0]) / 2
        vwap = vwap_by_hand(asks if side else bids, coins)
        assert abs(fill.vwap - vwap) <= TOL * vwap
        slippage = (vwap - mid) / mid * 1e4 if side else (mid - vwap) / mid * 1e4
        assert abs(fill.slippage_bps - slippage) <= TOL
    assert got == s  # the books fetched are the books served


async def test_a_book_too_thin_says_what_it_can_fill_and_no_figure_at_the_size(bot):
    reply = await bot.ask("/size BTC 1m")
    s = served_sizing(bot, "BTC", 1_000_000.0)
    assert not s.complete
    assert f"the books can fill only ${s.fillable_usd:,.0f} per leg" in reply.text
    assert esc(size_words(s)) in reply.text
    for figure in ("net APR", "break-even", "slippage 1", "Entry VWAP", "Cost"):
        assert figure not in reply.text


async def test_a_failing_book_endpoint_names_the_leg_and_why(bot):
    bot.venues.fail("bybit", BYBIT_BOOK, Fault.http(500))
    reply = await bot.ask("/size BTC")
    assert "cannot size it, a leg's book is missing" in reply.text
    assert "short bybit BTCUSDT: no order book (bybit /v5/market/orderbook" in reply.text
    assert "net APR" not in reply.text


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/size", "Usage: /size ASSET [USD], e.g. /size BTC 50000 or /size btc 50k"),
        ("/size BTC 5 6", "Usage: /size ASSET [USD], e.g. /size BTC 50000 or /size btc 50k"),
        ("/size BTC lots", "“lots” is not a notional. Usage: /size ASSET [USD]"),
        ("/size BTC -5", "“-5” is not a notional. Usage: /size ASSET [USD]"),
        ("/size <b> 5", "“&lt;b&gt;” is not an asset name. Try /size BTC"),
    ],
)
async def test_bad_input_gets_one_short_line(bot, text, answer):
    reply = await bot.ask(text)
    assert reply.text.startswith(answer) and "\n" not in reply.text
    assert len(reply.text) < 120


async def test_funding_shows_the_same_capacity_and_net_apr_as_size(bot):
    funding = await bot.ask("/funding BTC", chat_id=1002)
    size = await bot.ask("/size BTC", chat_id=1003)
    s = served_sizing(bot, "BTC", 10_000.0)  # ARB_NOTIONAL_USD's default
    assert esc(f"up to {capacity_words(s)}") in size.text
    line = next(x for x in funding.text.split("\n") if x.startswith("At $10,000 per leg"))
    assert line == esc(
        f"At $10,000 per leg: net APR {s.apr_net * 100:.1f}%, entry slippage "
        f"{s.long_entry.slippage_bps:.1f} bp + {s.short_entry.slippage_bps:.1f} bp; "
        f"capacity {capacity_words(s)}"
    )
    assert f"net APR at this size {s.apr_net * 100:.1f}%" in size.text


async def test_signal_gives_the_model_the_capacity_size_shows(venues):
    for venue in ("hyperliquid", "bybit"):
        perp(venues, venue, "BTC").book = SIMPLE
    async with (
        FakeLlm() as llm,
        running_bot(
            venues, LLM_BASE_URL=llm.base_url, LLM_MODEL="m", ARB_SCAN_INTERVAL_S="3600"
        ) as b,
    ):
        await b.ask("/signal BTC")
        facts = llm.requests[-1].facts
        s = served_sizing(b, "BTC", 10_000.0)
        assert facts["notional_usd"] == 10_000.0 and facts["book_fills_notional"] is True
        assert facts["capacity_usd"] == round(s.capacity_usd)
        assert facts["apr_net_at_size_pct"] == float(f"{s.apr_net * 100:.4g}")
        assert facts["entry_slippage_bps"] == float(f"{s.entry_slippage_bps:.4g}")
        size = await b.ask("/size BTC", chat_id=1004)
        assert f"up to ${facts['capacity_usd']:,} per leg within 10 bp" in size.text


# --- ARB_MIN_CAPACITY_USD ------------------------------------------------------------------
#
# Crossings at 0.05 %/8h: APE (long hl / short bybit), SOPH (long bybit / short okx), LDO
# (long binance / short okx). Default books hold about $5.6M per leg within 10 bp.


def book_hits(venues: FakeVenues) -> list[tuple[str, str]]:
    paths = {("bybit", BYBIT_BOOK), ("binance", BINANCE_DEPTH)}
    return [(r.venue, r.query.get("symbol", "")) for r in venues.requests
            if (r.venue, r.path) in paths]  # fmt: skip


async def test_alerts_skip_a_carry_under_the_capacity_floor_and_keep_an_unsized_one(venues):
    perp(venues, "bybit", "SOPH").book = BookShape(depth_usd=1_000.0)  # ~$110K within 10 bp
    venues.fail("binance", BINANCE_DEPTH, Fault.http(500))  # LDO's long leg
    async with running_bot(
        venues, ARB_SCAN_INTERVAL_S="3600", ARB_MIN_CAPACITY_USD="1000000",
        ARB_ALERT_MIN_GAP_S="0",
    ) as b:  # fmt: skip
        await b.ask("/subscribe 0.05%")
        report = await b.cycle()
        assert (report.crossings, report.thin, report.sent) == (2, 1, 1)
        alert = b.to_chat(1001)[-1].text
        blocks = alert.split("\n\n")[1:]
        assert [x.split(":")[0] for x in blocks] == ["<b>APE</b>", "<b>LDO</b>"]
        assert "At $10,000 per leg: net APR " in blocks[0]
        assert "capacity $" in blocks[0] and "within 10 bp" in blocks[0]
        # LDO's binance book failed: its alert goes out without the capacity line.
        assert "At $10,000" not in blocks[1] and "capacity" not in blocks[1]
        # Books only for the crossings' legs: never BTC's or PEPE's.
        assert {s for _, s in book_hits(venues)} <= {"APEUSDT", "SOPHUSDT", "LDOUSDT"}
        # SOPH kept its state: once its book is deep, the next run alerts it as a crossing.
        perp(venues, "bybit", "SOPH").book = BookShape()
        b.desk.books.ttl_s = 0.0
        again = await b.cycle()
        assert (again.thin, again.sent) == (0, 1)
        assert "<b>SOPH</b>" in b.to_chat(1001)[-1].text
        assert "(≥ 0.0500%)" in b.to_chat(1001)[-1].text  # "crossed", not "grew"


async def test_without_a_capacity_floor_alerts_fetch_no_book(venues):
    async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600") as b:
        await b.ask("/subscribe 0.05%")
        report = await b.cycle()
        assert report.sent == 1 and report.thin == 0
        assert book_hits(venues) == []
        assert "At $10,000" not in b.to_chat(1001)[-1].text
