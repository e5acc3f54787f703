"""The warm ranking: after any run of REST fetches, live updates and time passing, the
book's ranking is `spread.scan` of the same quotes at the same time; an update ranks
again only the assets it touched; one book version is ranked once however many ask."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from arb import commands
from arb.book import MarketBook
from arb.market import MarketSnapshot, VenueHealth
from arb.models import Quote, QuoteUpdate
from arb.ranking import ranked
from arb.spread import ScanParams, scan

T0 = 1_000_000.0
VENUES = ("bybit", "binance", "okx", "gate")
ASSETS = tuple(f"A{i}" for i in range(6))
PARAMS = ScanParams(
    taker_fees={"bybit": 0.00055, "binance": 0.0005, "okx": 0.0005, "gate": 0.0005},
    min_turnover_24h=1e5,
    max_quote_age_s=300.0,
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def quote(venue: str, asset: str, rate: float, at: float, turnover: float | None = 1e6) -> Quote:
    return Quote(venue, asset, f"{asset}USDT", rate, 8.0, None, 10.0, turnover, 1e7, at)


def fetched(venue: str, quotes: list[Quote], at: float) -> tuple[list[Quote], VenueHealth]:
    return quotes, VenueHealth(venue, at, len(quotes))


rates = st.floats(-0.003, 0.003, allow_nan=False)
turnovers = st.one_of(st.none(), st.sampled_from([5e4, 1e6]))
rest = st.tuples(
    st.just("rest"),
    st.sampled_from(VENUES),
    st.lists(st.tuples(st.sampled_from(ASSETS), rates, turnovers), max_size=6),
)
live = st.tuples(
    st.just("live"),
    st.sampled_from(VENUES),
    st.lists(st.tuples(st.sampled_from(ASSETS), rates, turnovers), min_size=1, max_size=4),
)
wait = st.tuples(st.just("wait"), st.sampled_from([1.0, 100.0, 250.0, 301.0]), st.just([]))


def step(book: MarketBook, clock: Clock, action: tuple) -> None:
    kind, arg, rows = action
    if kind == "wait":
        clock.now += arg  # the book's snapshot stays: only time moves on
        return
    clock.now += 0.5
    if kind == "rest":
        quotes = {a: quote(arg, a, r, clock.now, t) for a, r, t in rows}
        book.replace(*fetched(arg, list(quotes.values()), clock.now))
    else:
        book.apply(
            QuoteUpdate(arg, f"{a}USDT", clock.now, rate=r, turnover_24h=t) for a, r, t in rows
        )


def whole(snapshot: MarketSnapshot, params: ScanParams, now: float):
    return scan(snapshot.quotes, params, now)


@given(st.lists(st.one_of(rest, live, wait), min_size=1, max_size=25))
def test_the_warm_ranking_is_a_whole_scan_of_the_same_quotes_after_any_updates(actions):
    clock = Clock()
    book = MarketBook(VENUES, clock)
    for action in actions:
        step(book, clock, action)
        snapshot = book.snapshot()
        if snapshot is None:
            continue
        for params in (
            PARAMS,
            replace(PARAMS, min_apr=0.05),
            replace(PARAMS, best_per_asset=False),
            replace(PARAMS, best_per_asset=False, min_apr=-0.5),
        ):
            assert ranked(snapshot, params) == whole(snapshot, params, snapshot.taken_at)
            # At a later time (the alerts rank at the clock's): legs age out exactly as a
            # whole scan ages them.
            later = clock.now + 200.0
            assert ranked(snapshot, params, now=later) == whole(snapshot, params, later)
            assets = ["A1", "A3"]
            subset = [q for a in assets for q in snapshot.for_asset(a)]
            assert ranked(snapshot, params, assets) == scan(subset, params, snapshot.taken_at)


def market_book(clock: Clock, assets: int = 50) -> MarketBook:
    book = MarketBook(VENUES[:3], clock)
    for i, venue in enumerate(VENUES[:3]):
        quotes = [quote(venue, f"X{n}", 0.0001 * ((n + i) % 7), clock.now) for n in range(assets)]
        book.replace(*fetched(venue, quotes, clock.now))
    return book


def test_a_live_update_ranks_again_only_the_assets_it_touched():
    clock = Clock()
    book = market_book(clock)
    snapshot = book.snapshot()
    assert snapshot is not None
    first = ranked(snapshot, PARAMS)
    assert book.ranking.recomputed == 50
    clock.now += 1.0
    book.apply(
        [
            QuoteUpdate("okx", "X3USDT", clock.now, rate=0.002),
            QuoteUpdate("okx", "X7USDT", clock.now, rate=-0.002),
        ]
    )
    snapshot = book.snapshot()
    assert snapshot is not None
    found = ranked(snapshot, PARAMS)
    assert book.ranking.recomputed == 52  # X3 and X7, nothing else
    assert found == scan(snapshot.quotes, PARAMS, snapshot.taken_at) != first
    # A REST fetch of one venue replaces its every quote: every asset it lists, again.
    clock.now += 1.0
    quotes = [quote("bybit", f"X{n}", 0.0003, clock.now) for n in range(10)]
    book.replace(*fetched("bybit", quotes, clock.now))
    snapshot = book.snapshot()
    assert snapshot is not None
    assert ranked(snapshot, PARAMS) == scan(snapshot.quotes, PARAMS, snapshot.taken_at)
    assert book.ranking.recomputed == 52 + 50  # bybit listed all 50 before, 10 now


def test_time_alone_ranks_again_only_the_assets_whose_legs_aged_out():
    clock = Clock()
    book = market_book(clock, assets=20)
    ranked(book.snapshot(), PARAMS)
    clock.now += 200.0
    book.apply([QuoteUpdate(v, "X5USDT", clock.now, rate=0.001) for v in VENUES[:3]])
    snapshot = book.snapshot()
    assert ranked(snapshot, PARAMS) == scan(snapshot.quotes, PARAMS, snapshot.taken_at)
    assert book.ranking.recomputed == 21
    clock.now += 150.0  # every leg but X5's is now over the 300 s max age
    book.apply([QuoteUpdate("okx", "X5USDT", clock.now, rate=0.002)])
    snapshot = book.snapshot()
    found = ranked(snapshot, PARAMS)
    assert (
        [o.asset for o in found]
        == ["X5"]
        == [o.asset for o in scan(snapshot.quotes, PARAMS, snapshot.taken_at)]
    )
    assert book.ranking.recomputed == 21 + 20


class BookView:
    """A MarketView over a book, yielding to the loop as the bot's Desk does."""

    def __init__(self, book: MarketBook) -> None:
        self.book = book
        self.clock = book.clock

    async def snapshot(self) -> MarketSnapshot:
        await asyncio.sleep(0)
        snapshot = self.book.snapshot()
        assert snapshot is not None
        return snapshot


async def test_fifty_concurrent_scans_of_one_book_version_rank_it_once():
    clock = Clock()
    book = market_book(clock)
    view = BookView(book)
    floors = [None, 0.0, 0.05, 0.5, -1.0]

    async def one(i: int):
        return await commands.scan(view, replace(PARAMS, min_apr=floors[i % 5]), 1 + i % 10)

    reports = await asyncio.gather(*(one(i) for i in range(50)))
    assert book.ranking.computed == 1 and book.ranking.recomputed == 50
    snapshot = book.snapshot()
    assert snapshot is not None
    for i, report in enumerate(reports):
        whole_scan = scan(snapshot.quotes, replace(PARAMS, min_apr=floors[i % 5]), T0)
        assert report.opportunities == whole_scan[: 1 + i % 10]
        assert report.total == len(whole_scan)
    # The next version is ranked once more, again for all fifty.
    clock.now += 1.0
    book.apply([QuoteUpdate("okx", "X1USDT", clock.now, rate=0.003)])
    await asyncio.gather(*(one(i) for i in range(50)))
    assert book.ranking.computed == 2 and book.ranking.recomputed == 51


def test_the_alerts_ranking_of_a_live_updates_assets_ranks_only_those():
    clock = Clock()
    book = market_book(clock)
    every_pair = replace(PARAMS, best_per_asset=False)
    clock.now += 1.0
    book.apply([QuoteUpdate("okx", "X3USDT", clock.now, rate=0.002)])
    snapshot = book.snapshot()
    assert snapshot is not None
    found = ranked(snapshot, every_pair, {"X3", "X4"}, clock.now + 5)
    assert book.ranking.recomputed == 2 and book.ranking.computed == 0
    subset = snapshot.for_asset("X3") + snapshot.for_asset("X4")
    assert found == scan(subset, every_pair, clock.now + 5) and len(found) == 6
    ranked(snapshot, every_pair)  # the whole market: X3 and X4 are kept, 48 to rank
    assert book.ranking.recomputed == 50
