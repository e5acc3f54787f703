"""The market book: REST results replace a venue's quotes, failures keep the last good
ones and say so, live updates merge into what REST listed, the snapshot is cached."""

from __future__ import annotations

from arb.book import MarketBook
from arb.feeds.base import FeedState
from arb.market import VenueHealth
from arb.models import Quote, QuoteUpdate

T0 = 1_000.0
OKX = [f"{a}-USDT-SWAP" for a in ("BTC", "ETH", "SOL")]


def quote(venue: str, symbol: str, rate: float = 0.0001, at: float = T0) -> Quote:
    asset = symbol.split("-")[0].removesuffix("USDT")
    return Quote(venue, asset, symbol, rate, 8.0, None, 100.0, 1e6, 1e7, at)


def ok(venue: str, symbols: list[str], at: float) -> tuple[list[Quote], VenueHealth]:
    """A fetch that gave these symbols' quotes at `at`."""
    quotes = [quote(venue, s, at=at) for s in symbols]
    return quotes, VenueHealth(venue, at, len(quotes), warnings=("slow",), elapsed_s=0.2)


def failed(venue: str, error: str, at: float, *, empty: bool = False):
    return [], VenueHealth(venue, None, 0, error, at, warnings=("slow",), empty=empty)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def book_of(clock: Clock) -> MarketBook:
    book = MarketBook(["bybit", "okx"], clock)
    book.replace(*ok("bybit", ["BTCUSDT", "ETHUSDT"], clock.now))
    book.replace(*ok("okx", OKX, clock.now))
    return book


def test_a_failing_venue_keeps_its_last_good_quotes_and_reports_the_error():
    clock = Clock()
    book = book_of(clock)
    good = book.health_of("okx")
    assert good.quote_count == 3 and good.last_error is None and good.ok
    clock.now += 60
    book.replace(*failed("okx", "okx /api/v5/public/funding-rate: HTTP 500", clock.now))
    okx = book.health_of("okx")
    assert okx.last_ok_at == good.last_ok_at == T0
    assert okx.quote_count == 3 and "HTTP 500" in (okx.last_error or "")
    assert (okx.last_error_at, okx.warnings) == (clock.now, ())  # no "ok, but degraded"
    snapshot = book.snapshot()
    assert snapshot is not None
    assert sum(q.venue == "okx" for q in snapshot.quotes) == 3  # kept, aging out
    assert [h.venue for h in snapshot.failures] == ["okx"]
    assert book.quotes_for("BTC") and all(q.received_at == T0 for q in book.quotes_for("BTC"))
    book.replace(*ok("okx", OKX, clock.now))
    assert book.health_of("okx").last_error is None and book.health_of("okx").ok


def test_an_empty_answer_keeps_the_last_data_and_says_how_old():
    clock = Clock()
    book = book_of(clock)
    clock.now += 180
    book.replace(*failed("okx", "okx: answered an empty list", clock.now, empty=True))
    okx = book.health_of("okx")
    expected = "okx: answered an empty list; keeping the data from 3m ago"
    assert (okx.last_error, okx.last_error_at) == (expected, clock.now)
    assert okx.last_ok_at == T0 and okx.quote_count == 3
    snapshot = book.snapshot()
    assert snapshot is not None
    assert sum(q.venue == "okx" for q in snapshot.quotes) == 3  # kept, aging out
    status = next(h for h in snapshot.health if h.venue == "okx")
    assert not status.ok and status.empty and status.last_error == expected
    book.replace(*ok("okx", OKX, clock.now))
    okx = book.health_of("okx")
    assert okx.last_error is None and okx.last_ok_at == clock.now


def test_an_empty_answer_with_no_earlier_data_is_an_error():
    book = MarketBook(["okx"], Clock())
    book.replace(*failed("okx", "okx: answered an empty list", T0, empty=True))
    okx = book.health_of("okx")
    assert okx.last_error == "okx: answered an empty list"
    assert okx.last_ok_at is None and okx.quote_count == 0
    snapshot = book.snapshot()
    assert snapshot is not None and [h.venue for h in snapshot.failures] == ["okx"]


def test_a_venue_that_never_answered_has_no_age():
    book = MarketBook(["bybit", "okx"], Clock())
    assert book.snapshot() is None and book.age_s() is None  # nothing fetched yet
    book.replace(*failed("okx", "okx /api/v5/public/funding-rate: HTTP 500", T0))
    okx = book.health_of("okx")
    assert okx.last_ok_at is None and okx.age_s(0) is None and okx.quote_count == 0
    snapshot = book.snapshot()
    assert snapshot is not None and [h.venue for h in snapshot.health] == ["okx"]  # fetched
    assert [h.venue for h in book.health()] == ["bybit", "okx"]  # bybit: still waiting


def test_a_rest_result_replaces_the_venues_symbols():
    clock = Clock()
    book = book_of(clock)
    assert {q.venue for q in book.quotes_for("ETH")} == {"bybit", "okx"}
    book.replace(*ok("okx", ["BTC-USDT-SWAP"], clock.now))  # ETH and SOL delisted
    assert [q.venue for q in book.quotes_for("ETH")] == ["bybit"]
    assert book.quotes_for("SOL") == [] and book.symbols("okx") == ["BTC-USDT-SWAP"]
    assert book.apply([QuoteUpdate("okx", "ETH-USDT-SWAP", clock.now, rate=0.1)]) == set()


def test_live_updates_merge_into_the_rest_book_and_notify():
    clock = Clock()
    book = book_of(clock)
    seen: list[set[str]] = []
    book.subscribe(seen.append)
    snapshot = book.snapshot()
    assert snapshot is not None
    (btc,) = [q for q in snapshot.quotes if (q.venue, q.symbol) == ("bybit", "BTCUSDT")]
    clock.now += 5
    changed = book.apply([
        QuoteUpdate("bybit", btc.symbol, clock.now, rate=0.0005, mark_price=None),
        QuoteUpdate("bybit", "NOTLISTEDUSDT", clock.now, rate=0.1),  # unknown until a REST seed
    ])  # fmt: skip
    assert changed == {"BTC"} and seen == [{"BTC"}] and book.live_updates == 1
    live_snapshot = book.snapshot()
    assert live_snapshot is not None and live_snapshot.taken_at == clock.now
    (live,) = [q for q in live_snapshot.quotes if (q.venue, q.symbol) == ("bybit", "BTCUSDT")]
    assert (live.rate, live.received_at) == (0.0005, clock.now)
    assert (live.mark_price, live.turnover_24h) == (btc.mark_price, btc.turnover_24h)
    assert book.age_s() == 0.0
    assert book.apply([]) == set() and len(seen) == 1 and book.live_updates == 1


def test_the_snapshot_is_rebuilt_only_after_a_change():
    clock = Clock()
    book = book_of(clock)
    first = book.snapshot()
    assert first is not None and book.snapshot() is first
    assert [h.venue for h in first.health] == ["bybit", "okx"]
    book.apply([QuoteUpdate("bybit", "NOTLISTEDUSDT", clock.now, rate=0.1)])
    assert book.snapshot() is first  # nothing changed
    book.apply([QuoteUpdate("bybit", "BTCUSDT", clock.now, rate=0.1)])
    second = book.snapshot()
    assert second is not first and book.snapshot() is second
    book.replace(*ok("okx", OKX, clock.now))
    assert book.snapshot() is not second


def test_a_live_feed_shows_in_the_venues_health_across_fetches():
    clock = Clock()
    book = book_of(clock)
    state = FeedState("okx", connected=True, last_message_at=T0)
    book.attach_feed("okx", state)
    book.replace(*failed("okx", "okx: HTTP 500", clock.now))
    book.replace(*ok("okx", OKX, clock.now))
    assert book.health_of("okx").feed is state and book.health_of("bybit").feed is None
