"""What every venue's live feed promises, run over the registry against each venue's fake
WebSocket server: its URL from a bare host or a full one, a heartbeat that keeps a quiet
connection open, a re-seed and resubscription after a drop, a refused symbol that costs
only itself, and the REST client's figures for the same market. Each venue's own quirks
stay in tests/venues/<venue>/test_stream.py."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import pytest

from arb.feeds.base import Dialect
from arb.http import RetryPolicy, VenueHttp
from arb.models import QuoteUpdate
from arb.venues.registry import SPECS
from tests.conftest import desk_market
from tests.fakes.venues import FakeVenues
from tests.fakes.ws_base import FakeWs
from tests.feed_harness import running_feed
from tests.venues.binance.fake_stream import FakeBinanceWs
from tests.venues.bitget.fake_stream import FakeBitgetWs
from tests.venues.bybit.fake_stream import FakeBybitWs
from tests.venues.gate.fake_stream import FakeGateWs
from tests.venues.hyperliquid.fake_stream import FakeHyperliquidWs
from tests.venues.okx.fake_stream import FakeOkxWs

FAKES: dict[str, type[FakeWs]] = {
    f.venue: f
    for f in (
        FakeBybitWs,
        FakeBinanceWs,
        FakeOkxWs,
        FakeHyperliquidWs,
        FakeBitgetWs,
        FakeGateWs,
    )
}
STREAMED = [name for name, spec in SPECS.items() if spec.dialect is not None]
# A symbol each venue lists, and one it does not know.
KNOWN = {
    "bybit": "BTCUSDT",
    "binance": "BTCUSDT",
    "okx": "BTC-USDT-SWAP",
    "hyperliquid": "BTC",
    "bitget": "BTCUSDT",
    "gate": "BTC_USDT",
}
UNKNOWN = {"bybit": "NOPEUSDT", "okx": "NOPE-USDT-SWAP", "bitget": "NOPEUSDT", "gate": "NOPE_USDT"}
FIGURES = (
    "rate",
    "next_funding_time",
    "mark_price",
    "interval_h",
    "turnover_24h",
    "open_interest_value",
)


def dialect_of(venue: str, **fast: float) -> Dialect:
    """The venue's dialect; with `fast`, a subclass on a test-speed heartbeat."""
    cls = SPECS[venue].dialect_class()
    assert cls is not None
    return type(f"Fast{cls.__name__}", (cls,), fast)() if fast else cls()


def test_every_streamed_venue_has_a_fake():
    assert sorted(FAKES) == sorted(STREAMED)


@pytest.mark.parametrize("venue", STREAMED)
def test_the_url_from_a_bare_host_or_a_full_one(venue):
    dialect, default = dialect_of(venue), SPECS[venue].ws_url
    parts = urlsplit(default)
    host = f"{parts.scheme}://{parts.netloc}"
    url = dialect.url(default)
    assert urlsplit(url).path.startswith(parts.path)  # the configured stream itself
    assert dialect.url(host) == dialect.url(host + "/") == url  # a bare host: the same one
    assert dialect.url(default + "/") == url
    elsewhere = "ws://127.0.0.1:9/some/other/path"
    assert urlsplit(dialect.url(elsewhere)).path.startswith("/some/other/path")


@pytest.mark.parametrize("venue", STREAMED)
async def test_the_fake_serves_the_dialects_url(venue):
    async with FAKES[venue]() as fake:
        assert dialect_of(venue).url(fake.url) == dialect_of(venue).url(fake.host)
        async with running_feed(dialect_of(venue), fake.host, [KNOWN[venue]]):
            await fake.wait_subscribed(1, [KNOWN[venue]])


@pytest.mark.parametrize("venue", STREAMED)
async def test_the_heartbeat_keeps_a_quiet_connection_open(venue):
    if dialect_of(venue).ping() is None:
        pytest.skip("the venue pings and pushes every second: tests/venues/binance")
    dialect = dialect_of(venue, ping_every_s=0.02, silence_s=0.25)
    async with FAKES[venue]() as fake, running_feed(dialect, fake.url, [KNOWN[venue]]) as run:
        await fake.wait_subscribed(1)
        # 20 pings take at least 0.4 s, longer than the silence limit, and nothing was
        # pushed: only the answers to the pings kept the connection open that long.
        await fake.wait_pings(20)
        assert fake.accepted == 1 and run.feed.state.reconnects == 0
        assert run.feed.state.last_error is None


@pytest.mark.parametrize("venue", STREAMED)
async def test_a_drop_reseeds_and_resubscribes(venue):
    symbol = KNOWN[venue]
    async with FAKES[venue]() as fake, running_feed(dialect_of(venue), fake.url, [symbol]) as run:
        await fake.wait_subscribed(1, [symbol])
        await fake.drop()
        await fake.wait_subscribed(1, [symbol])
        assert len(run.reseed.errors_seen) == 2  # symbols() ran again: the book re-seeded
        assert run.reseed.errors_seen[1].startswith("ConnectionClosedError")
        assert fake.accepted == 2 and run.feed.state.reconnects == 1
        assert await fake.push_rate(symbol, 0.00077) == 1
        assert (await run.next_update(symbol)).rate == 0.00077
        assert run.feed.state.connected


@pytest.mark.parametrize("venue", sorted(UNKNOWN))
async def test_a_refused_symbol_is_dropped_and_the_others_stream_on(venue, caplog):
    """The venue refuses one symbol by name: the feed keeps its connection, never asks
    for that symbol again (not after a reconnect either) and says so once."""
    fake_cls, good, nope = FAKES[venue], KNOWN[venue], UNKNOWN[venue]
    async with fake_cls() as fake:
        fake.refused = {nope}
        with caplog.at_level(logging.WARNING, logger="arb.feeds.base"):
            async with running_feed(dialect_of(venue), fake.url, [nope, good]) as run:
                await fake.wait_subscribed(1, [good])
                assert await fake.push_rate(good, 0.00031) == 1
                assert (await run.next_update(good)).rate == 0.00031
                await fake.wait_until(lambda: nope in run.feed.refused, "the refusal read")
                assert fake.accepted == 1 and run.feed.state.reconnects == 0
                before = len(fake.subscribes)
                await fake.drop()
                await fake.wait_subscribed(1, [good])
                again = json.dumps(fake.subscribes[before:])
                assert good in again and nope not in again
                assert run.feed.refused == {nope}
    warnings = [r for r in caplog.records if nope in r.getMessage()]
    assert len(warnings) == 1, caplog.text


@pytest.mark.parametrize("venue", STREAMED)
async def test_the_stream_gives_the_rest_clients_figures(venue):
    """The same market, read by the REST client from the fake REST venue and by the
    dialect from the pushes carrying it, gives the same figures in the same units
    (1000PEPE-style marks per contract where the venue prices them so)."""
    market = desk_market()  # the real clock: REST rolls past settlements on by it
    market.venues.setdefault(venue, list(market.venues["bybit"]))  # 1000PEPE included
    async with FakeVenues(market) as rest:
        http = VenueHttp(venue, rest.url(venue), timeout_s=2, retry=RetryPolicy(1))
        client = SPECS[venue].client_class()(http)
        try:
            quotes = (await client.fetch_quotes()).quotes
        finally:
            await client.close()
    live: dict[str, QuoteUpdate] = {}
    dialect, received_at = dialect_of(venue), quotes[0].received_at  # the same hour
    for frame in FAKES[venue].market_pushes(market):
        for u in dialect.parse(json.dumps(frame), received_at):
            known = live.get(u.symbol)
            live[u.symbol] = u if known is None else merged(known, u)
    assert quotes and {q.symbol for q in quotes} <= set(live)
    for q in quotes:
        u = live[q.symbol]
        shown = {f: getattr(u, f) for f in FIGURES if getattr(u, f) is not None}
        assert shown.keys() & {"rate", "mark_price"}, q.symbol
        assert shown == pytest.approx({f: getattr(q, f) for f in shown}, rel=1e-9), q.symbol


def merged(old: QuoteUpdate, new: QuoteUpdate) -> QuoteUpdate:
    """Two channels' updates of one symbol (OKX: funding and mark) as one."""
    fields = {
        f: getattr(new, f) if getattr(new, f) is not None else getattr(old, f) for f in FIGURES
    }
    return QuoteUpdate(new.venue, new.symbol, new.received_at, **fields)
