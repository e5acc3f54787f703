"""What every venue's live feed promises, run over the registry against each venue's fake
WebSocket server: its URL from a bare host or a full one, a heartbeat that keeps a quiet
connection open, a silent one replaced, a re-seed and resubscription after a drop, pushed
figures reaching the book, a junk row that costs only itself and a frame that is not JSON
that costs the connection, a refusal that costs only the refused symbol or, naming none,
the connection (retried with backoff), and the REST client's figures for the same market.
The per-venue data is in the tables below; each venue's own quirks stay in
tests/venues/<venue>/test_stream.py."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytest import approx

from arb.feeds.base import Dialect
from arb.http import RetryPolicy, VenueHttp
from arb.models import QuoteUpdate
from arb.venues.registry import SPECS
from tests.conftest import T0, desk_market, fixture_bytes
from tests.fakes.venues import FakeVenues
from tests.fakes.ws_base import FakeWs
from tests.feed_harness import WAIT_S, Running, running_feed
from tests.venues.binance.fake_stream import FakeBinanceWs, mark_price_row
from tests.venues.bitget import fake_stream as bitget
from tests.venues.bitget.fake_stream import FakeBitgetWs
from tests.venues.bybit import fake_stream as bybit
from tests.venues.bybit.fake_stream import FakeBybitWs
from tests.venues.gate.fake_stream import FakeGateWs, tickers_frame
from tests.venues.hyperliquid.fake_stream import FakeHyperliquidWs
from tests.venues.okx.fake_stream import FakeOkxWs, mark_price_frame

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
# Another symbol each venue lists.
OTHER = {
    "bybit": "ETHUSDT",
    "binance": "ETHUSDT",
    "okx": "ETH-USDT-SWAP",
    "hyperliquid": "ETH",
    "bitget": "ETHUSDT",
    "gate": "ETH_USDT",
}
NEXT_MS = 1789027200000  # the next 8 h settlement after T0
NEXT_HOUR_MS = 1789016400000  # the next 1 h settlement after T0
# Two symbols' figures as the venue's fake `push_quote` takes them, and what the update
# says besides them (what the recorded row fills in; Gate's stream has no interval or
# next settlement: the book keeps REST's).
QUOTED = {
    "bybit": (
        ("BTCUSDT", {"rate": 0.0001, "next_funding_ms": NEXT_MS, "mark": 77600.0}, {}),
        ("1000PEPEUSDT", {"rate": -0.00002, "interval_h": 4, "mark": 0.0036339}, {}),
    ),
    "bitget": (
        ("BTCUSDT", {"rate": 0.0001, "next_funding_ms": NEXT_MS, "mark": 77600.0}, {}),
        ("SOPHUSDT", {"rate": -0.000815, "turnover": 4706019.7335, "mark": 0.004149}, {}),
    ),
    "gate": (
        ("BTC_USDT", {"rate": 0.0001, "mark": 77600.0, "turnover": 2.9e8}, {}),
        ("PEPE_USDT", {"rate": -0.00002, "mark": 0.0000036339}, {"turnover_24h": 286489731.0}),
    ),
}
AS_READ = {"next_funding_ms": "next_funding_time", "mark": "mark_price", "turnover": "turnover_24h"}
NOT_STREAMED = {"gate": {"interval_h": None, "next_funding_time": None}}
# Each venue's recorded pushes (tests/fixtures/<venue>/) and the updates they give, in the
# order of QuoteUpdate's fields: symbol, rate, next funding (ms), mark, interval (h),
# turnover, open-interest value. None: the stream does not carry it (the book keeps REST's).
RECORDED: list[tuple[str, str, list[tuple[Any, ...]]]] = [
    (
        "bybit",
        "ws_tickers_snapshot.json",
        [("BTCUSDT", 0.0000412, NEXT_MS, 77607.40, 8.0, 4310241429.5760, 6003610256.80)],
    ),
    (
        "bitget",
        "ws_ticker_snapshot.json",
        # holdingAmount 7424.5586 BTC at the row's mark 77606.2
        [("BTCUSDT", 0.000034, NEXT_MS, 77606.2, None, 1440479188.1413, approx(576191779.62332))],
    ),
    (
        "bitget",
        # The demo page writes `last`, a numeric nextFundingTime and `quantity` instead of
        # holdingAmount: the row still parses, and open interest is left to REST.
        "ws_ticker_snapshot_last.json",
        [("APEUSDT", 0.000264, NEXT_HOUR_MS, 0.1378, None, 12689205.6647)],
    ),
    (
        "gate",
        "ws_tickers_update.json",
        [
            ("BTC_USDT", 0.000039, None, 77587.9, None, 286489731.0),
            ("PEPE_USDT", 0.000079, None, 0.0000036338, None, 12841386.0),
        ],
    ),
    (
        "okx",
        "ws_funding_rate_push.json",
        # The rate per its own interval, as published; fundingTime is the upcoming
        # settlement, not the last; the interval (1789056000000 - 1789027200000) / 3600000.
        [("BTC-USDT-SWAP", 0.0000285974522074, NEXT_MS, None, 8.0)],
    ),
    (
        "hyperliquid",
        "ws_activeAssetCtx.json",
        # Hourly as sent, the interval 1 h; open interest 27353.17682 BTC at 77562.0.
        [("BTC", -0.0000015186, NEXT_HOUR_MS, 77562.0, 1.0, 1516669192.1953897, 2121567100.51284)],
    ),
    (
        "binance",
        "ws_markPrice_single.json",
        [("BTCUSDT", 0.00003771, NEXT_MS, 77591.20442954)],
    ),
]
# A refusal naming no symbol, as the venue sends it, and the error the feed reports.
REFUSALS = {
    "bybit": (
        {"success": False, "ret_msg": "handler not found", "op": "subscribe"},
        "FeedError: subscribe refused: handler not found",
    ),
    "bitget": (
        {"event": "error", "code": 30002, "msg": "Unrecognized request:?"},
        "FeedError: request refused: 30002 Unrecognized request:?",
    ),
    "gate": (
        {
            "channel": "futures.tickers",
            "event": "subscribe",
            "payload": None,
            "error": {"code": 1, "message": "invalid argument struct"},
            "result": {"status": "fail"},
        },
        "FeedError: futures.tickers subscribe refused: 1 invalid argument struct",
    ),
    "okx": (
        {"id": "1", "event": "error", "code": "60012", "msg": "Invalid request: {}", "connId": "1"},
        "FeedError: okx refused: 60012 Invalid request: {} (id 1: BTC-USDT-SWAP)",
    ),
    "hyperliquid": (
        {"channel": "error", "data": "Cannot subscribe to more than 1000 channels."},
        "FeedError: hyperliquid refused: Cannot subscribe to more than 1000 channels.",
    ),
    "binance": (
        {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 1},
        "FeedError: binance refused: Invalid request: invalid stream (code 2)",
    ),
}
# What the fake's `refusal` is set to for it to refuse every subscribe (the venues that
# refuse at subscribe time with no symbol named), and the error the feed reports.
REFUSE_ALL = {
    "okx": (("60012", "Invalid request: {}"), REFUSALS["okx"][1]),
    "hyperliquid": (REFUSALS["hyperliquid"][0]["data"], REFUSALS["hyperliquid"][1]),
}
# A push of the venue's KNOWN symbol whose one row cannot be read.
JUNK = {
    "bybit": bybit.ticker_frame("BTCUSDT", {"fundingRate": "n/a"}),
    "bitget": bitget.ticker_frame("BTCUSDT", {"fundingRate": "n/a"}),
    "gate": tickers_frame({"contract": "BTC_USDT", "funding_rate": "n/a"}),
    "okx": {**mark_price_frame("BTC-USDT-SWAP", 1.0), "data": [{"instId": "BTC-USDT-SWAP"}]},
    "hyperliquid": {
        "channel": "activeAssetCtx",
        "data": {"coin": "BTC", "ctx": {"funding": "n/a", "markPx": "77562.0"}},
    },
    "binance": [{**mark_price_row("BTCUSDT", 0.0001, NEXT_MS, 1.0), "r": "n/a"}],
}
# How the feed reports a frame that is not JSON.
NOT_JSON = dict.fromkeys(STREAMED, "ValueError: not JSON") | {
    "okx": "DecodeError",
    "binance": "ValueError: binance frame is not JSON",
}
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


def test_every_streamed_venue_has_a_recorded_push():
    assert sorted({venue for venue, _, _ in RECORDED}) == sorted(STREAMED)


@pytest.mark.parametrize(
    ("venue", "name", "expected"), RECORDED, ids=[f"{v}-{n}" for v, n, _ in RECORDED]
)
def test_a_recorded_push_gives_its_figures(venue, name, expected):
    updates = dialect_of(venue).parse(fixture_bytes(f"{venue}/{name}"), T0)
    assert updates == [QuoteUpdate(venue, symbol, T0, *figures) for symbol, *figures in expected]


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
async def test_a_silent_connection_is_replaced(venue):
    """Nothing at all for `silence_s` (no push, no answer to a ping): the connection is
    dead, and the next one, after a re-seed, gets the pushes."""
    symbol, dialect = KNOWN[venue], dialect_of(venue, ping_every_s=0.02, silence_s=0.25)

    def talking_again() -> None:
        # At the re-seed, before the next connection: judged on a human clock from here,
        # a busy test machine cannot make the replacement look silent too.
        fake.silent = False
        dialect.silence_s = WAIT_S

    async with (
        FAKES[venue]() as fake,
        running_feed(dialect, fake.url, [symbol], on_call={2: talking_again}) as run,
    ):
        await fake.wait_subscribed(1, [symbol])
        assert await fake.push_rate(symbol, 0.0001) == 1
        assert (await run.next_update(symbol)).rate == 0.0001
        fake.silent = True
        await fake.wait_only(2, [symbol])
        assert run.reseed.errors_seen == [None, "TimeoutError: silent for 0.25 s"]
        if dialect.ping() is not None:
            assert fake.pings >= 1  # pinged, unanswered
        assert await fake.push_rate(symbol, 0.0003) == 1
        assert await rate_on_a_new_connection(run, symbol, 0.0001) == 0.0003


@pytest.mark.parametrize("venue", STREAMED)
async def test_a_drop_reseeds_and_resubscribes(venue):
    symbol, other = KNOWN[venue], OTHER[venue]
    async with (
        FAKES[venue]() as fake,
        running_feed(dialect_of(venue), fake.url, [symbol], [symbol, other]) as run,
    ):
        await fake.wait_subscribed(1, [symbol])
        await fake.drop()
        await fake.wait_subscribed(1, [symbol, other])  # what the re-seed lists, new ones too
        assert len(run.reseed.errors_seen) == 2  # symbols() ran again: the book re-seeded
        assert run.reseed.errors_seen[1].startswith("ConnectionClosedError")
        assert fake.accepted == 2 and run.feed.state.reconnects == 1
        assert await fake.push_rate(symbol, 0.00077) == 1
        assert (await run.next_update(symbol)).rate == 0.00077
        assert await fake.push_rate(other, 0.00078) == 1
        assert (await run.next_update(other)).rate == 0.00078
        assert run.feed.state.connected


@pytest.mark.parametrize("venue", sorted(QUOTED))
async def test_pushed_figures_reach_on_updates_and_a_new_rate_keeps_them(venue):
    (first, given, also), *_ = quoted = QUOTED[venue]
    symbols = [q[0] for q in quoted]
    async with FAKES[venue]() as fake, running_feed(dialect_of(venue), fake.url, symbols) as run:
        await fake.wait_subscribed(1, symbols)
        for symbol, figures, extra in quoted:
            assert await fake.push_quote(symbol, **figures) == 1
            assert says(await run.next_update(symbol), as_read(venue, figures, extra))
        # Bybit pushes a delta of the rate, Bitget and Gate the whole row again: either
        # way the update still says the rest.
        assert await fake.push_quote(first, rate=0.00025) == 1
        changed = as_read(venue, given, also) | {"rate": 0.00025}
        assert says(await run.next_update(first), changed)
        assert await fake.push_rate(OTHER[venue], 0.0003) == 0  # not subscribed
        assert run.feed.state.connected and run.feed.state.last_error is None
        assert fake.accepted == 1


@pytest.mark.parametrize("venue", STREAMED)
async def test_a_refusal_naming_no_symbol_reconnects_with_backoff(venue):
    """A refusal that names no symbol refuses nothing in particular: the connection goes,
    and each retry waits longer. (One that names a symbol costs only it: below.)"""
    symbol, (refusal, error) = KNOWN[venue], REFUSALS[venue]
    async with FAKES[venue]() as fake, running_feed(dialect_of(venue), fake.url, [symbol]) as run:
        await fake.wait_subscribed(1, [symbol])
        for n in (2, 3):
            assert await fake.push(json.dumps(refusal)) == 1
            await fake.wait_only(n, [symbol])
        assert run.reseed.errors_seen == [None, error, error]
        assert run.feed.backoff.failures == [1, 2]  # each retry waited longer
        assert run.feed.refused == set()


@pytest.mark.parametrize("venue", sorted(REFUSE_ALL))
async def test_a_refused_subscribe_is_reported_and_retried_with_backoff(venue):
    symbol, (refusal, error) = KNOWN[venue], REFUSE_ALL[venue]
    async with FAKES[venue]() as fake:
        fake.refusal = refusal
        lifted = {4: lambda: setattr(fake, "refusal", None)}  # the fourth try gets through
        async with running_feed(dialect_of(venue), fake.url, [symbol], on_call=lifted) as run:
            await fake.wait_only(4, [symbol])
            assert await fake.push_rate(symbol, 0.0001) == 1
            assert (await run.next_update(symbol)).rate == 0.0001
            # Each retry's re-seed saw the refusal in feed.state.last_error.
            assert run.reseed.errors_seen == [None, error, error, error]
            assert run.feed.backoff.failures == [1, 2, 3]  # each retry waited longer
            assert run.feed.state.last_error is None
            assert fake.refusals == 3


@pytest.mark.parametrize("venue", STREAMED)
async def test_a_junk_row_is_skipped_and_a_frame_not_json_reconnects(venue):
    symbol = KNOWN[venue]
    async with FAKES[venue]() as fake, running_feed(dialect_of(venue), fake.url, [symbol]) as run:
        await fake.wait_subscribed(1, [symbol])
        assert await fake.push(JUNK[venue]) == 1
        assert await fake.push_rate(symbol, 0.0002) == 1
        assert (await run.next_update(symbol)).rate == 0.0002  # the junk row gave nothing
        assert fake.accepted == 1 and run.feed.state.last_error is None

        assert await fake.push("<html>502 Bad Gateway</html>") == 1
        await fake.wait_only(2, [symbol])
        assert run.reseed.errors_seen[1].startswith(NOT_JSON[venue])
        assert await fake.push_rate(symbol, 0.0003) == 1
        assert await rate_on_a_new_connection(run, symbol, 0.0002) == 0.0003


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


def as_read(venue: str, figures: dict[str, float], extra: dict[str, float]) -> dict[str, Any]:
    """The figures a fake was given, under the names the update says them by."""
    named = {AS_READ.get(k, k): v for k, v in figures.items()}
    return named | extra | NOT_STREAMED.get(venue, {})


def says(update: QuoteUpdate, figures: dict[str, Any]) -> bool:
    return {f: getattr(update, f) for f in figures} == figures


async def rate_on_a_new_connection(run: Running, symbol: str, known: float) -> float | None:
    """The rate of `symbol`'s next update, past the ticker Bybit and Bitget send again on
    subscribing, which still carries the `known` rate."""
    update = await run.next_update(symbol)
    if update.rate == known:
        update = await run.next_update(symbol)
    return update.rate
