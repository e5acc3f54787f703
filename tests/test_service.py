"""The shared market view: one fetch for concurrent callers, last good data kept."""

from __future__ import annotations

import asyncio

from arb.market import Market, make_clients
from arb.models import QuoteUpdate
from arb.service import MarketService
from tests.conftest import settings_for
from tests.fakes.venues import BYBIT_TICKERS, OKX_FUNDING, Fault


def service_for(fake, max_age_s=300.0, clock=None, **env):
    settings = settings_for(fake, **env)
    market = Market(
        make_clients(settings), settings.venue_deadline_s, **({"clock": clock} if clock else {})
    )
    if clock is None:
        return MarketService(market, max_age_s)
    return MarketService(market, max_age_s, clock=clock)


async def test_concurrent_callers_share_one_fetch(fake_venues):
    service = service_for(fake_venues)
    try:
        a, b, c = await asyncio.gather(service.current(), service.current(), service.refresh())
        assert a is b is c
        assert fake_venues.hits("bybit", BYBIT_TICKERS) == 1
        assert service.refreshes == 1
    finally:
        await service.close()


async def test_a_fresh_snapshot_is_served_without_fetching(fake_venues):
    service = service_for(fake_venues)
    try:
        first = await service.current()
        assert await service.current() is first
        assert fake_venues.hits("bybit") == 1
    finally:
        await service.close()


async def test_a_stale_snapshot_is_refetched(fake_venues):
    t = [1_000.0]
    service = service_for(fake_venues, max_age_s=60, clock=lambda: t[0])
    try:
        await service.current()
        t[0] += 61
        await service.current()
        assert fake_venues.hits("bybit", BYBIT_TICKERS) == 2
    finally:
        await service.close()


async def test_a_failing_venue_keeps_its_last_good_quotes_and_reports_the_error(fake_venues):
    service = service_for(fake_venues)
    try:
        await service.refresh()
        good = {h.venue: h for h in service.health()}["okx"]
        assert good.quote_count == 20 and good.last_error is None
        fake_venues.fail("okx", OKX_FUNDING, Fault.http(500))
        snapshot = await service.refresh()
        okx = {h.venue: h for h in service.health()}["okx"]
        assert okx.last_ok_at == good.last_ok_at
        assert okx.quote_count == 20 and "HTTP 500" in (okx.last_error or "")
        assert sum(q.venue == "okx" for q in snapshot.quotes) == 20  # kept, aging out
        assert not next(s for s in snapshot.statuses if s.venue == "okx").ok
        fake_venues.clear_faults()
        await service.refresh()
        assert {h.venue: h for h in service.health()}["okx"].last_error is None
    finally:
        await service.close()


async def test_an_empty_answer_keeps_the_last_data_and_says_how_old(fake_venues):
    t = [1_000.0]
    service = service_for(fake_venues, clock=lambda: t[0])
    try:
        await service.refresh()
        good = {h.venue: h for h in service.health()}["okx"]
        t[0] += 180
        fake_venues.fail("okx", OKX_FUNDING, Fault("empty"))
        snapshot = await service.refresh()
        okx = {h.venue: h for h in service.health()}["okx"]
        expected = "okx: answered an empty list; keeping the data from 3m ago"
        assert (okx.last_error, okx.last_error_at) == (expected, t[0])
        assert okx.last_ok_at == good.last_ok_at and okx.quote_count == 20
        assert sum(q.venue == "okx" for q in snapshot.quotes) == 20  # kept, aging out
        status = next(s for s in snapshot.statuses if s.venue == "okx")
        assert not status.ok and status.empty and status.error == expected
        fake_venues.clear_faults()
        await service.refresh()
        okx = {h.venue: h for h in service.health()}["okx"]
        assert okx.last_error is None and okx.last_ok_at == t[0]
    finally:
        await service.close()


async def test_an_empty_answer_with_no_earlier_data_is_an_error(fake_venues):
    fake_venues.fail("okx", OKX_FUNDING, Fault("empty"))
    service = service_for(fake_venues)
    try:
        snapshot = await service.refresh()
        okx = {h.venue: h for h in service.health()}["okx"]
        assert okx.last_error == "okx: answered an empty list"
        assert okx.last_ok_at is None and okx.quote_count == 0
        assert [s.venue for s in snapshot.failures] == ["okx"]
    finally:
        await service.close()


async def test_a_venue_that_never_answered_has_no_age(fake_venues):
    fake_venues.fail("okx", OKX_FUNDING, Fault.http(500))
    service = service_for(fake_venues)
    try:
        await service.refresh()
        okx = {h.venue: h for h in service.health()}["okx"]
        assert okx.last_ok_at is None and okx.age_s(0) is None and okx.quote_count == 0
    finally:
        await service.close()


# --- the live book ------------------------------------------------------------------------


async def test_live_updates_merge_into_the_rest_book_and_notify(fake_venues):

    t = [1_000.0]
    service = service_for(fake_venues, clock=lambda: t[0])
    seen: list[set[str]] = []
    service.listeners.append(seen.append)
    try:
        await service.refresh()
        (btc,) = [q for q in service.snapshot.quotes if (q.venue, q.symbol) == ("bybit", "BTCUSDT")]
        t[0] += 5
        changed = service.apply([
            QuoteUpdate("bybit", btc.symbol, t[0], rate=0.0005, mark_price=None),
            QuoteUpdate("bybit", "NOTLISTEDUSDT", t[0], rate=0.1),  # unknown until a REST seed
        ])  # fmt: skip
        assert changed == {"BTC"} and seen == [{"BTC"}]
        (live,) = [
            q for q in service.snapshot.quotes if (q.venue, q.symbol) == ("bybit", "BTCUSDT")
        ]
        assert (live.rate, live.received_at) == (0.0005, t[0])
        assert (live.mark_price, live.turnover_24h) == (btc.mark_price, btc.turnover_24h)
        assert service.age_s() == 0.0
        assert service.apply([]) == set() and len(seen) == 1
    finally:
        await service.close()


async def test_only_venues_without_a_live_feed_are_polled(fake_venues):
    t = [1_000.0]
    service = service_for(fake_venues, max_age_s=300, clock=lambda: t[0])
    service.feed_live = lambda venue: venue in ("bybit", "okx")
    try:
        await service.refresh()
        assert service.polled_venues() == ["binance", "hyperliquid"]
        before = fake_venues.hits("bybit", BYBIT_TICKERS)
        await service.refresh_polled()
        assert fake_venues.hits("bybit", BYBIT_TICKERS) == before
        t[0] += 151  # half the max quote age: quiet symbols are re-seeded by REST
        assert service.polled_venues() == ["bybit", "binance", "okx", "hyperliquid"]
    finally:
        await service.close()
