"""The command functions (`arb.commands`) without Telegram or a terminal: a fake market,
venues whose settled-funding endpoint serves a constant rate every hour, and the history
in memory (as `arb-bot chart` keeps it) or in SQLite (as the bot does).

By hand: ETH pays 0.01%/h on okx and 0.04%/h on bybit (both 1 h intervals), so the best
carry is long okx / short bybit, 0.0003/h = 0.2400%/8h; binance's leg is 10 minutes old
and left out. Fees 2 x (0.0005 + 0.00055) = 0.0021, so break-even 7 h and net APR over
168 h (0.0003 x 168 - 0.0021) / 168 x 8760 = 251.85%. NOW is half past the hour T: the
venues have settled every hour up to T, and the hour in progress pays at T + 1 h.
"""

from __future__ import annotations

import asyncio

import pytest

from arb import commands
from arb.backfill import BACKFILL_RETRY_S, HistoryLoader, VenueHistory
from arb.books import BookError, OrderBooks, SizeParams
from arb.chart import png_size
from arb.depth import Book, Level
from arb.feeds.base import FeedState
from arb.history import Point
from arb.http import VenueError
from arb.market import MarketSnapshot, VenueHealth
from arb.models import HOUR_S, Quote
from arb.signaler import Signaler
from arb.spread import ScanParams
from arb.venues.base import FundingPoint
from storage.db import Database
from storage.health import StorageHealth
from storage.history import HistoryStore

T = 1_789_012_800.0  # a whole hour
NOW = T + 1800.0
MS_H = 3_600_000
PARAMS = ScanParams(max_quote_age_s=300.0)
SPREAD_H = 0.0003


def quote(venue: str, asset: str, rate: float, received_at: float = NOW) -> Quote:
    return Quote(venue, asset, f"{asset}-{venue}", rate, 1.0, int((T + HOUR_S) * 1000), 2000.0,
                 1e9, None, received_at)  # fmt: skip


ETH = [
    quote("okx", "ETH", 0.0001),
    quote("bybit", "ETH", 0.0004),
    quote("binance", "ETH", 0.0009, received_at=NOW - 600),  # stale: left out
]
BTC = [quote("okx", "BTC", 0.00005), quote("bybit", "BTC", 0.0001)]
SOL = [quote("okx", "SOL", 0.0001)]  # one venue: no pair


class FakeMarket:
    """What a command reads of the market: a snapshot and a clock."""

    def __init__(self, quotes: list[Quote], now: float = NOW) -> None:
        self.quotes, self.now = quotes, now

    def clock(self) -> float:
        return self.now

    async def snapshot(self) -> MarketSnapshot:
        health = tuple(
            VenueHealth(v, NOW, sum(q.venue == v for q in self.quotes), elapsed_s=0.1)
            for v in dict.fromkeys(q.venue for q in self.quotes)
        )
        return MarketSnapshot(tuple(self.quotes), health, NOW)


class SettledVenue:
    """A venue's settled-funding endpoint: `rate` at every whole hour, or a failure."""

    hourly_history = False

    def __init__(self, name: str, rate: float, *, fail: bool = False) -> None:
        self.name, self.rate, self.fail, self.asked = name, rate, fail, 0

    async def funding_history(self, symbol: str, start_ms: int, end_ms: int):
        self.asked += 1
        if self.fail:
            raise VenueError(self.name, "/funding/history", "HTTP 500")
        first = -(-start_ms // MS_H) * MS_H
        return [FundingPoint(t, self.rate) for t in range(first, end_ms + 1, MS_H)]


def venues(**kw: bool) -> dict[str, SettledVenue]:
    return {
        "okx": SettledVenue("okx", 0.0001, **kw),
        "bybit": SettledVenue("bybit", 0.0004, **kw),
        "binance": SettledVenue("binance", 0.0009, **kw),
    }


def loader(clients: dict[str, SettledVenue], source=None) -> HistoryLoader:
    return HistoryLoader(source or VenueHistory(), clients)  # type: ignore[arg-type]


# --- funding and scan ------------------------------------------------------------------


async def test_funding_names_the_best_carry_and_the_leg_left_out():
    r = await commands.funding(FakeMarket(ETH + BTC), "eth", PARAMS)
    assert (r.asset, r.taken_at) == ("ETH", NOW)
    assert [q.venue for q in r.quotes] == ["binance", "bybit", "okx"]  # highest hourly first
    b = r.best
    assert b is not None and (b.long_venue, b.short_venue) == ("okx", "bybit")
    assert b.spread_8h == pytest.approx(0.0024)
    assert b.fees_round_trip == pytest.approx(0.0021)
    assert b.breakeven_h == pytest.approx(7.0)
    assert b.apr_net == pytest.approx((SPREAD_H * 168 - 0.0021) / 168 * 8760)
    assert [(x.quote.venue, x.reason) for x in r.left_out] == [("binance", "data 10m old")]


async def test_funding_refuses_a_name_that_cannot_be_an_asset():
    with pytest.raises(ValueError):
        await commands.funding(FakeMarket(ETH), "<i>", PARAMS)


async def test_scan_ranks_each_assets_best_and_keeps_the_total():
    r = await commands.scan(FakeMarket(ETH + BTC + SOL), PARAMS, top=1)
    assert r.total == 2
    assert [(o.asset, o.long_venue, o.short_venue) for o in r.opportunities] == [
        ("ETH", "okx", "bybit")
    ]
    assert [h.venue for h in r.health] == ["okx", "bybit", "binance"]


# --- history: backfilled once, exact figures -----------------------------------------


async def test_history_backfills_once_and_adds_up():
    clients = venues()
    source = loader(clients)
    r = await commands.history(FakeMarket(ETH[:2]), source, "ETH", PARAMS, 0.002)
    assert r is not None and r.errors == () and r.threshold_8h == 0.002
    assert [(p.long, p.short) for p in r.pairs] == [("okx", "bybit")]
    pair = r.pairs[0]
    # Stored up to T, live from NOW: the half hour between is not known.
    for name, covered in (("24h", 23.5), ("7d", 167.5), ("30d", 719.5)):
        s = pair.windows[name]
        assert s.covered_h == pytest.approx(covered) and not s.partial
        assert s.avg_spread_8h == pytest.approx(0.0024)
        assert s.share_above == 1.0
        assert s.earned == pytest.approx(SPREAD_H * covered)  # all of it paid by T
        assert s.settled_h == pytest.approx(covered)
    assert pair.pending is not None
    assert (pair.pending.start, pair.pending.end) == (T, T + HOUR_S)
    assert pair.pending.carry == pytest.approx(SPREAD_H)
    asked = {name: c.asked for name, c in clients.items()}
    assert asked == {"okx": 1, "bybit": 1, "binance": 0}
    again = await commands.history(FakeMarket(ETH[:2]), source, "ETH", PARAMS, 0.002)
    assert again == r
    assert {name: c.asked for name, c in clients.items()} == asked  # kept: not asked again


async def test_history_without_an_alert_measures_against_the_default_threshold():
    r = await commands.history(FakeMarket(ETH[:2]), loader(venues()), "ETH", PARAMS)
    assert r is not None and r.threshold_8h == commands.DEFAULT_THRESHOLD_8H


async def test_history_of_an_asset_on_one_venue_is_none_and_asks_nothing():
    clients = venues()
    assert await commands.history(FakeMarket(SOL), loader(clients), "SOL", PARAMS) is None
    assert all(c.asked == 0 for c in clients.values())


async def test_history_names_the_venues_whose_history_failed():
    r = await commands.history(FakeMarket(ETH[:2]), loader(venues(fail=True)), "ETH", PARAMS)
    assert r is not None
    assert sorted(r.errors) == [
        "bybit /funding/history: HTTP 500",
        "okx /funding/history: HTTP 500",
    ]
    assert r.pairs[0].windows["24h"].covered_h == 0.0  # only the live rates, from NOW


async def test_the_same_figures_from_the_database_and_from_memory(tmp_path):
    """The bot's history (SQLite) and the terminal's (memory) give the same report."""
    db = await Database.open(str(tmp_path / "h.db"))
    try:
        stored = loader(venues(), HistoryStore(db))
        in_db = await commands.history(FakeMarket(ETH), stored, "ETH", PARAMS, 0.002)
    finally:
        await db.close()
    in_memory = await commands.history(FakeMarket(ETH), loader(venues()), "ETH", PARAMS, 0.002)
    assert in_db is not None and len(in_db.pairs) == 3
    assert in_db == in_memory


async def test_a_venue_without_older_history_is_not_asked_again_within_the_hour():
    empty = {"okx": SettledVenue("okx", 0.0001), "bybit": SettledVenue("bybit", 0.0004)}
    empty["okx"].funding_history = _nothing(empty["okx"])  # type: ignore[method-assign]
    history = loader(empty)
    await commands.history(FakeMarket(ETH[:2]), history, "ETH", PARAMS)
    await commands.history(FakeMarket(ETH[:2], NOW + BACKFILL_RETRY_S), history, "ETH", PARAMS)
    assert (empty["okx"].asked, empty["bybit"].asked) == (1, 1)
    await commands.history(FakeMarket(ETH[:2], NOW + BACKFILL_RETRY_S + 1), history, "ETH", PARAMS)
    assert (empty["okx"].asked, empty["bybit"].asked) == (2, 1)  # bybit's record reaches back


def _nothing(venue: SettledVenue):
    async def funding_history(symbol: str, start_ms: int, end_ms: int):
        venue.asked += 1
        return []

    return funding_history


# --- chart -------------------------------------------------------------------------------


async def test_chart_draws_the_window_and_its_figures_match_history():
    clients = venues()
    r = await commands.chart(FakeMarket(ETH[:2]), loader(clients), "eth", "24h", PARAMS)
    assert r is not None and r.png is not None
    assert png_size(r.png) == (1280, 800)
    assert (r.asset, r.window, r.start, r.now) == ("ETH", "24h", NOW - 24 * HOUR_S, NOW)
    assert r.points == {"okx": 24, "bybit": 24}  # settled at T-23h ... T
    assert r.best is not None and (r.best.long_venue, r.best.short_venue) == ("okx", "bybit")
    assert r.threshold_8h == commands.DEFAULT_THRESHOLD_8H and r.errors == ()
    assert r.stats is not None and r.stats.avg_spread_8h == pytest.approx(0.0024)
    assert r.stats.earned == pytest.approx(SPREAD_H * 23.5)
    assert r.pending is not None and r.pending.carry == pytest.approx(SPREAD_H)
    history = await commands.history(FakeMarket(ETH[:2]), loader(venues()), "ETH", PARAMS)
    assert history is not None
    assert r.stats == history.pairs[0].windows["24h"]  # one truth: /chart and /history
    assert r.pending == history.pairs[0].pending


async def test_chart_without_history_has_no_png_and_says_why():
    r = await commands.chart(FakeMarket(ETH[:2]), loader(venues(fail=True)), "ETH", "7d", PARAMS)
    assert r is not None and r.png is None and r.stats is None
    assert r.points == {"okx": 0, "bybit": 0} and len(r.errors) == 2


async def test_chart_of_an_unlisted_asset_is_none_and_asks_nothing():
    clients = venues()
    assert await commands.chart(FakeMarket(ETH), loader(clients), "DOGE", "7d", PARAMS) is None
    assert all(c.asked == 0 for c in clients.values())


# --- signal ------------------------------------------------------------------------------


async def test_signal_judges_the_best_carry_with_the_pairs_stored_record():
    stored = VenueHistory()
    await stored.save_settled(
        ("ETH", v, Point(T - h * HOUR_S, hourly, 1.0))
        for v, hourly in (("okx", 0.0001), ("bybit", 0.0004))
        for h in range(1, 169)
    )
    best = (await commands.funding(FakeMarket(ETH), "ETH", PARAMS)).best
    s = await commands.signal(FakeMarket(ETH), stored, Signaler(None), "ETH", PARAMS)
    assert s is not None and s.source == "rules"
    assert s.facts.opportunity == best and s.facts.now == NOW
    day, week = s.facts.history
    assert (day.window_h, week.window_h) == (24.0, 168.0)
    assert (day.covered_h, week.covered_h) == (23.5, 167.5)  # the stored record, not live
    assert day.avg_spread_8h == pytest.approx(0.0024) and day.share_above == 1.0


async def test_no_signal_without_a_fresh_pair():
    stale = [quote("okx", "ETH", 0.0001), quote("bybit", "ETH", 0.0004, NOW - 900)]
    market = FakeMarket(stale)
    assert await commands.signal(market, VenueHistory(), Signaler(None), "ETH", PARAMS) is None


# --- status ------------------------------------------------------------------------------


class FakeService:
    """The market's health; okx's live feed, when given."""

    def __init__(self, feed: FeedState | None = None) -> None:
        self.feed = feed

    def clock(self) -> float:
        return NOW

    def health(self) -> list[VenueHealth]:
        return [VenueHealth("okx", NOW - 5, 10, None, None, feed=self.feed)]

    def age_s(self) -> float:
        return 5.0


async def test_status_reports_what_it_reads_now():
    storage = StorageHealth(clock=lambda: NOW)
    storage.failed("disk full")
    feed = FeedState("okx", connected=True, last_message_at=NOW - 1)
    r = await commands.status(
        FakeService(feed), started_at=NOW - 3600, version="1.2", interval_s=60.0,
        storage=storage, held_alerts=2,
    )  # fmt: skip
    assert (r.now, r.uptime_s, r.version) == (NOW, 3600.0, "1.2")
    assert (r.snapshot_age_s, r.interval_s) == (5.0, 60.0)
    assert [h.venue for h in r.health] == ["okx"]
    assert r.health[0].feed is not None and r.health[0].feed.connected
    assert r.storage is storage and r.storage.failing and r.held_alerts == 2
    quiet = await commands.status(FakeService(), started_at=NOW, version="1", interval_s=60.0)
    assert (quiet.health[0].feed, quiet.storage, quiet.held_alerts, quiet.uptime_s) == (
        None, None, 0, 0.0,
    )  # fmt: skip


# --- size: the best carry on its legs' books ----------------------------------------------
#
# By hand, at $10,000 per leg on ETH's best pair (long okx, short bybit):
# okx asks 2 @ 2000.2 then 10 @ 2000.4, bids 2 @ 1999.8 then 10 @ 1999.6: mid 2000.
#   $10,000 buys 2 + 5999.60 / 2000.4 = 4.99930... coins: $4,000.40 at 2000.2, the rest at 2000.4.
# bybit bids 1 @ 2000 then 100 @ 1999, asks 100 @ 2001: mid 2000.5.
#   $10,000 sells 1 + 8000 / 1999 = 5.0020... coins: more than okx's, so both legs trade the
#   4.99930... coins the long buys (no lots here): 1 at 2000, the rest at 1999.
# Exits, the same coins: okx sells 2 at 1999.8 and the rest at 1999.6, bybit buys all at 2001.
# The short's mid is above the long's: no adverse basis.

OKX_BOOK = ([(1999.8, 2.0), (1999.6, 10.0)], [(2000.2, 2.0), (2000.4, 10.0)])
BYBIT_BOOK = ([(2000.0, 1.0), (1999.0, 100.0)], [(2001.0, 100.0)])
SIZES = SizeParams(10_000.0, 10.0)


def by_hand() -> dict[str, float]:
    coins = 2 + 5999.6 / 2000.4
    long_vwap = 10_000 / coins
    short_vwap = (2000 + 1999 * (coins - 1)) / coins
    long_exit_vwap = (2 * 1999.8 + 1999.6 * (coins - 2)) / coins
    long_slip = (long_vwap - 2000) / 2000 * 1e4
    short_slip = (2000.5 - short_vwap) / 2000.5 * 1e4
    exit_slip = (2000 - long_exit_vwap) / 2000 * 1e4 + (2001 - 2000.5) / 2000.5 * 1e4
    cost = 0.0021 + (long_slip + short_slip + exit_slip) / 1e4
    return {
        "coins": coins,
        "long_vwap": long_vwap,
        "short_vwap": short_vwap,
        "long_slip": long_slip,
        "short_slip": short_slip,
        "cost": cost,
        "apr_net": (SPREAD_H * 168 - cost) / 168 * 8760,
        "breakeven_h": cost / SPREAD_H,
    }


class BookVenue:
    """A venue's order-book endpoint: one book for any symbol, a failure, or a wait."""

    def __init__(self, name: str, book: tuple[list, list], fail: str | None = None) -> None:
        self.name, self.book, self.fail, self.asked = name, book, fail, 0
        self.gate: asyncio.Event | None = None

    async def order_book(self, symbol: str) -> Book:
        self.asked += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise VenueError(self.name, "/depth", self.fail)
        bids, asks = self.book
        return Book(self.name, symbol, tuple(Level(*x) for x in bids),
                    tuple(Level(*x) for x in asks), NOW)  # fmt: skip


def book_venues(**fail: str) -> dict[str, BookVenue]:
    return {
        "okx": BookVenue("okx", OKX_BOOK, fail.get("okx")),
        "bybit": BookVenue("bybit", BYBIT_BOOK, fail.get("bybit")),
        "binance": BookVenue("binance", BYBIT_BOOK, fail.get("binance")),
    }


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


async def test_size_matches_the_hand_computed_fills():
    venues = book_venues()
    r = await commands.size(FakeMarket(ETH), OrderBooks(venues.values()), "eth", PARAMS, SIZES)
    want = by_hand()
    s = r.sized
    assert r.asset == "ETH" and r.notional_usd == 10_000.0 and s is not None and s.complete
    assert (r.best.long_venue, r.best.short_venue) == ("okx", "bybit")
    assert r.best == (await commands.funding(FakeMarket(ETH), "ETH", PARAMS)).best  # one truth
    assert [x.quote.venue for x in r.left_out] == ["binance"]
    assert [f.coins for f in s.fills] == [s.coins] * 4
    assert abs(s.coins - want["coins"]) <= 1e-12
    assert abs(s.long_entry.vwap - want["long_vwap"]) <= 1e-9
    assert abs(s.short_entry.vwap - want["short_vwap"]) <= 1e-9
    assert abs(s.long_entry.slippage_bps - want["long_slip"]) <= 1e-9
    assert abs(s.short_entry.slippage_bps - want["short_slip"]) <= 1e-9
    for key in ("cost", "apr_net", "breakeven_h"):
        assert abs(getattr(s, key) - want[key]) <= 1e-9, key
    assert s.adverse_basis_bps == 0.0 and s.fees == pytest.approx(0.0021)
    # Only the two legs asked, once each; binance's book is never fetched.
    assert [v.asked for v in venues.values()] == [1, 1, 0]


async def test_size_at_a_notional_the_books_cannot_fill_says_what_they_can():
    r = await commands.size(
        FakeMarket(ETH), OrderBooks(book_venues().values()), "ETH", PARAMS, SIZES, 30_000.0
    )
    s = r.sized
    assert s is not None and not s.complete and r.notional_usd == 30_000.0
    # okx's asks hold 12 coins ($24,006.40), so each leg trades 12: bybit sells them for
    # 2000 + 11 x 1999 = $23,989, the smallest of the four fills.
    assert s.coins == 12.0 and not s.long_entry.complete and s.short_entry.complete
    assert s.long_entry.book_usd == pytest.approx(2 * 2000.2 + 10 * 2000.4)
    assert s.fillable_usd == pytest.approx(2000 + 11 * 1999)
    assert (s.cost, s.apr_net, s.breakeven_h) == (None, None, None)


async def test_size_names_the_leg_whose_book_failed_and_still_fetches_the_other():
    venues = book_venues(bybit="HTTP 500")
    r = await commands.size(FakeMarket(ETH), OrderBooks(venues.values()), "ETH", PARAMS, SIZES)
    assert r.best is not None and r.sized is None
    (leg,) = r.failed
    assert (leg.side, leg.venue, leg.symbol) == ("short", "bybit", "ETH-bybit")
    assert leg.error == "bybit /depth: HTTP 500"
    assert venues["okx"].asked == 1


async def test_size_without_a_pair_names_the_legs_left_out_and_fetches_no_book():
    venues = book_venues()
    stale = [quote("okx", "ETH", 0.0001), quote("bybit", "ETH", 0.0004, NOW - 900)]
    r = await commands.size(FakeMarket(stale), OrderBooks(venues.values()), "ETH", PARAMS, SIZES)
    assert (r.best, r.sizing, r.failed) == (None, None, ())
    assert [x.quote.venue for x in r.left_out] == ["bybit"]
    assert sum(v.asked for v in venues.values()) == 0


async def test_order_books_share_a_fetch_keep_it_seconds_and_never_keep_a_failure():
    clock = Clock()
    okx = BookVenue("okx", OKX_BOOK)
    books = OrderBooks([okx], ttl_s=3.0, clock=clock)
    okx.gate = asyncio.Event()
    waiting = [asyncio.create_task(books.get("okx", "ETH-okx")) for _ in range(5)]
    await asyncio.sleep(0)
    okx.gate.set()
    got = await asyncio.gather(*waiting)
    assert okx.asked == 1 and all(b is got[0] for b in got)
    clock.now += 3.0
    assert await books.get("okx", "ETH-okx") is got[0] and okx.asked == 1
    assert (await books.get("okx", "BTC-okx")).symbol == "BTC-okx" and okx.asked == 2
    clock.now += 0.5  # ETH's book is 3.5 s old now
    assert await books.get("okx", "ETH-okx") is not got[0] and okx.asked == 3
    okx.fail = "HTTP 503"
    clock.now += 10
    for _ in range(2):
        with pytest.raises(BookError, match="okx /depth: HTTP 503"):
            await books.get("okx", "ETH-okx")
    assert okx.asked == 5
    with pytest.raises(BookError, match="gate is not enabled here"):
        await books.get("gate", "ETH_USDT")


async def test_a_caller_giving_up_does_not_cancel_the_fetch_others_wait_for():
    okx = BookVenue("okx", OKX_BOOK)
    okx.gate = asyncio.Event()
    books = OrderBooks([okx])
    impatient = asyncio.create_task(books.get("okx", "ETH-okx"))
    patient = asyncio.create_task(books.get("okx", "ETH-okx"))
    await asyncio.sleep(0)
    impatient.cancel()
    okx.gate.set()
    assert (await patient).venue == "okx" and okx.asked == 1


async def test_a_slow_book_is_that_legs_reason():
    okx = BookVenue("okx", OKX_BOOK)
    okx.gate = asyncio.Event()  # never set
    books = OrderBooks([okx, BookVenue("bybit", BYBIT_BOOK)], deadline_s=0.01)
    r = await commands.size(FakeMarket(ETH), books, "ETH", PARAMS, SIZES)
    (leg,) = r.failed
    assert (leg.venue, leg.error) == ("okx", "okx: no book within 0.01 s")


@pytest.mark.parametrize(
    ("text", "usd"),
    [("50000", 50_000.0), ("50k", 50_000.0), ("50K", 50_000.0), ("$50,000", 50_000.0),
     ("1.5m", 1_500_000.0), ("1e5", 100_000.0), ("1", 1.0)],
)  # fmt: skip
def test_a_notional_is_typed_as_a_desk_says_it(text, usd):
    assert commands.parse_notional(text) == usd


@pytest.mark.parametrize("text", ["0", "-5", "abc", "nan", "inf", "2e9", "k", "", "50kk"])
def test_a_notional_out_of_range_or_not_a_number_is_one_line(text):
    with pytest.raises(ValueError, match=r"^a notional is a USD amount per leg from \$1 to"):
        commands.parse_notional(text)


async def test_signal_is_given_the_carry_at_the_desks_notional():
    books = OrderBooks(book_venues().values())
    s = await commands.signal(
        FakeMarket(ETH), VenueHistory(), Signaler(None), "ETH", PARAMS,
        books=books, size_params=SIZES,
    )  # fmt: skip
    assert s is not None and s.facts.sized is not None
    assert abs(s.facts.sized.apr_net - by_hand()["apr_net"]) <= 1e-9
    r = await commands.size(FakeMarket(ETH), books, "ETH", PARAMS, SIZES)
    assert s.facts.sized == r.sized  # the same books, the same figures
