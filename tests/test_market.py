"""Snapshots across venues: partial failure, deadlines, degraded venues, metadata caching."""

from __future__ import annotations

import pytest

from arb.market import Market, make_clients
from arb.render import venue_problems
from arb.venues.binance.rest import BinanceClient
from tests.conftest import settings_for
from tests.fakes.venues import Fault
from tests.venues.binance.fake_rest import (
    BINANCE_EXCHANGE_INFO,
    BINANCE_FUNDING_INFO,
    BINANCE_PREMIUM,
    BINANCE_TICKER,
)
from tests.venues.bitget.fake_rest import BITGET_TICKERS
from tests.venues.bybit.fake_rest import BYBIT_TICKERS
from tests.venues.gate.fake_rest import GATE_CONTRACTS
from tests.venues.hyperliquid.fake_rest import HL_INFO
from tests.venues.okx.fake_rest import OKX_FUNDING, OKX_MARK


async def snapshot(fake, **env):
    settings = settings_for(fake, **env)
    market = Market(make_clients(settings), settings.venue_deadline_s)
    try:
        return await market.snapshot()
    finally:
        await market.close()


async def test_all_four_venues_from_the_fixtures(fake_venues):
    snap = await snapshot(fake_venues)
    counts = {s.venue: s.quote_count for s in snap.health}
    assert counts == {"bybit": 21, "binance": 8, "okx": 20, "hyperliquid": 21}
    assert all(s.ok and s.last_error is None for s in snap.health)
    assert venue_problems(snap.health) == []
    assert {q.venue for q in snap.for_asset("btc-usdt-swap")} == {
        "bybit",
        "binance",
        "okx",
        "hyperliquid",
    }


async def test_one_venue_down_leaves_the_others_and_names_it(fake_venues):
    fake_venues.fail("okx", OKX_FUNDING, Fault.http(500))
    snap = await snapshot(fake_venues)
    okx = next(s for s in snap.health if s.venue == "okx")
    assert not okx.ok and okx.quote_count == 0
    assert {q.venue for q in snap.quotes} == {"bybit", "binance", "hyperliquid"}
    (line,) = venue_problems(snap.health)
    assert line.startswith("Failed venues: okx (/api/v5/public/funding-rate: HTTP 500")
    assert "\n" not in line


@pytest.mark.parametrize(
    ("venue", "path"),
    [
        ("bybit", BYBIT_TICKERS),
        ("binance", BINANCE_PREMIUM),
        ("okx", OKX_FUNDING),
        ("hyperliquid", HL_INFO),
        ("bitget", BITGET_TICKERS),
        ("gate", GATE_CONTRACTS),
    ],
)
async def test_a_venue_answering_an_empty_list_has_failed_not_answered_zero_quotes(
    fake_venues, venue, path
):
    fake_venues.fail(venue, path, Fault("empty"))
    snap = await snapshot(fake_venues, ARB_VENUES=venue)
    (status,) = snap.health
    assert (status.ok, status.empty, status.quote_count) == (False, True, 0)
    assert status.last_error == f"{venue}: answered an empty list"
    assert venue_problems(snap.health) == [f"Failed venues: {venue} (answered an empty list)"]


async def test_a_hanging_venue_is_cut_at_the_deadline(fake_venues):
    fake_venues.fail("hyperliquid", HL_INFO, Fault("timeout", delay_s=5))
    snap = await snapshot(fake_venues, ARB_VENUE_DEADLINE_S="0.5", ARB_HTTP_TIMEOUT_S="30")
    hl = next(s for s in snap.health if s.venue == "hyperliquid")
    assert hl.last_error == "hyperliquid: no complete answer within 0.5 s"
    assert sum(s.ok for s in snap.health) == 3


async def test_an_unexpected_bug_in_one_client_is_contained(fake_venues, monkeypatch):
    async def broken(self):
        raise KeyError("surprise")

    monkeypatch.setattr(BinanceClient, "fetch_quotes", broken)
    snap = await snapshot(fake_venues)
    binance = next(s for s in snap.health if s.venue == "binance")
    assert binance.last_error == "binance: internal error (KeyError)"
    assert sum(s.ok for s in snap.health) == 3


async def test_optional_endpoints_degrade_instead_of_failing(fake_venues):
    fake_venues.fail("okx", OKX_MARK, Fault.http(500))
    fake_venues.fail("binance", BINANCE_TICKER, Fault("html"))
    snap = await snapshot(fake_venues)
    by_venue = {s.venue: s for s in snap.health}
    assert by_venue["okx"].ok and by_venue["okx"].quote_count == 20
    assert "no mark prices" in by_venue["okx"].warnings[0]
    assert all(q.mark_price is None for q in snap.quotes if q.venue == "okx")
    assert all(q.turnover_24h is None for q in snap.quotes if q.venue == "binance")
    assert venue_problems(snap.health)[0].startswith("Degraded: binance (no 24h turnover")


async def test_binance_metadata_is_cached_and_served_stale_on_failure(fake_venues):
    settings = settings_for(fake_venues)
    market = Market(make_clients(settings, ("binance",)))
    try:
        await market.snapshot()
        client = market.clients["binance"]
        client.perps.invalidate()  # as if the TTL had passed
        fake_venues.fail("binance", BINANCE_EXCHANGE_INFO, Fault.http(500))
        snap = await market.snapshot()
        assert snap.health[0].ok and snap.health[0].quote_count == 8
        assert fake_venues.hits("binance", BINANCE_FUNDING_INFO) == 1  # still fresh: not asked
    finally:
        await market.close()


async def test_unknown_venue_name_is_refused(fake_venues):
    settings = settings_for(fake_venues, ARB_VENUES="bybit")
    market = Market(make_clients(settings))
    with pytest.raises(ValueError, match="venue not enabled: okx"):
        await market.snapshot(["okx"])
    await market.close()


async def test_ttl_cache_reloads_after_ttl_and_gives_up_after_stale_window():
    from arb.http import VenueHTTPError
    from arb.venues.cache import TtlCache

    t = [0.0]
    answers: list[object] = ["v1", VenueHTTPError("x", "/m", 500, "HTTP 500"), "v2"]
    calls = []

    async def load():
        calls.append(t[0])
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = TtlCache(load, ttl_s=10, stale_s=100, clock=lambda: t[0])
    assert await cache.get() == "v1"
    t[0] = 9
    assert await cache.get() == "v1" and calls == [0.0]
    t[0] = 11
    assert await cache.get() == "v1"  # reload failed: stale value served
    assert await cache.get() == "v2"  # the next call tries again
    answers.append(VenueHTTPError("x", "/m", 500, "HTTP 500"))
    t[0] = 11 + 101
    with pytest.raises(VenueHTTPError):
        await cache.get()  # too old to serve
