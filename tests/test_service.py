"""The shared market view's REST schedule: one fetch for concurrent callers, a fresh
snapshot served as is, venues with a live feed polled less often."""

from __future__ import annotations

import asyncio

from arb.feeds.base import FeedState
from arb.market import Market, make_clients
from arb.service import MarketService
from tests.conftest import settings_for
from tests.fakes.venues import Fault
from tests.venues.bybit.fake_rest import BYBIT_TICKERS
from tests.venues.okx.fake_rest import OKX_FUNDING


def service_for(fake, max_age_s=300.0, clock=None, **env):
    settings = settings_for(fake, **env)
    market = Market(
        make_clients(settings), settings.venue_deadline_s, **({"clock": clock} if clock else {})
    )
    return MarketService(market, max_age_s)


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
    """End to end: the market's fetch result reaches the book (`tests/test_book.py` for
    what the book keeps and says)."""
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
        assert not next(h for h in snapshot.health if h.venue == "okx").ok
        fake_venues.clear_faults()
        await service.refresh()
        assert {h.venue: h for h in service.health()}["okx"].last_error is None
    finally:
        await service.close()


async def test_a_seed_fetches_one_venue_and_lists_its_symbols(fake_venues):
    service = service_for(fake_venues)
    try:
        symbols = await service.seed("okx")
        assert len(symbols) == 20 and "BTC-USDT-SWAP" in symbols
        assert fake_venues.hits("bybit") == 0 and fake_venues.hits("okx", OKX_FUNDING) == 1
        snapshot = service.snapshot
        assert snapshot is not None and [h.venue for h in snapshot.health] == ["okx"]
    finally:
        await service.close()


async def test_only_venues_without_a_live_feed_are_polled(fake_venues):
    t = [1_000.0]
    service = service_for(fake_venues, max_age_s=300, clock=lambda: t[0])
    feeds = {v: FeedState(v, connected=True, last_message_at=t[0]) for v in ("bybit", "okx")}
    for venue, feed in feeds.items():
        service.attach_feed(venue, feed, silence_s=30.0)
    try:
        await service.refresh()
        assert service.polled_venues() == ["binance", "hyperliquid"]
        before = fake_venues.hits("bybit", BYBIT_TICKERS)
        await service.refresh_polled()
        assert fake_venues.hits("bybit", BYBIT_TICKERS) == before
        t[0] += 151  # half the max quote age: quiet symbols are re-seeded by REST
        for feed in feeds.values():
            feed.last_message_at = t[0]
        assert service.polled_venues() == ["bybit", "binance", "okx", "hyperliquid"]
        await service.refresh()
        t[0] += 31  # okx's feed silent past its allowance: polled again, bybit's talks
        feeds["bybit"].last_message_at = t[0]
        assert service.polled_venues() == ["binance", "okx", "hyperliquid"]
    finally:
        await service.close()
