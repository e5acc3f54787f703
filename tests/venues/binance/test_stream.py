"""Binance's live feed: the dialect on the recorded frames, then the real `Feed` loop against
the fake market WebSocket where Binance has its own ways (streams named in the URL, the
server's pings, a refusal only a runtime subscribe can meet). What every venue's feed does
(silence, reconnects, refusals, junk) is tests/venues/test_stream_contract.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from arb.feeds.base import FeedError
from arb.models import QuoteUpdate
from arb.venues.binance.stream import MARK_PRICE_STREAM, BinanceDialect
from tests.conftest import T0, T0_MS, fixture_bytes
from tests.feed_harness import CountingBackoff, Running, running_feed
from tests.venues.binance.fake_stream import FakeBinanceWs, mark_price_row

NEXT_MS = 1789027200000  # the fixtures' next settlement, 08:00 UTC


def parse(frame: str | bytes) -> list[QuoteUpdate]:
    return BinanceDialect().parse(frame, T0)


def by_symbol(updates: list[QuoteUpdate]) -> dict[str, QuoteUpdate]:
    return {u.symbol: u for u in updates}


def frame_of(*rows: object) -> str:
    return json.dumps(list(rows))


# --- the recorded frames ----------------------------------------------------------


def test_the_all_market_array():
    updates = parse(fixture_bytes("binance/ws_markPrice_arr_1s.json"))
    # 21 rows; the delivery contract BTCUSDT_260925 ("r": "", "T": 0) is dropped as REST drops it.
    assert len(updates) == 20
    got = by_symbol(updates)
    assert "BTCUSDT_260925" not in got
    # The row of the single-symbol frame (its figures: tests/venues/test_stream_contract.py).
    assert got["BTCUSDT"] == parse(fixture_bytes("binance/ws_markPrice_single.json"))[0]
    # Per contract unit, as REST's markPrice: the price of 1000 PEPE.
    assert got["1000PEPEUSDT"].mark_price == 0.00363421
    assert got["1000PEPEUSDT"].rate == 0.0000812
    # APE settles hourly: its next funding is the top of the hour after T0.
    assert got["APEUSDT"].next_funding_time == 1789016400000
    assert got["APEUSDT"].rate == 0.00028
    assert got["SOPHUSDT"].rate == -0.00071544
    # A USDC perp is emitted too: the book keeps what the REST client keeps.
    assert got["BTCUSDC"].mark_price == 77584.22122114
    # The stream carries no interval, turnover or open interest: the book keeps REST's.
    assert {(u.interval_h, u.turnover_24h, u.open_interest_value) for u in updates} == {
        (None, None, None)
    }


def test_the_combined_form_carries_the_same_rows():
    combined = parse(fixture_bytes("binance/ws_markPrice_arr_1s_combined.json"))
    assert [u.symbol for u in combined] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert combined == parse(fixture_bytes("binance/ws_markPrice_arr_1s.json"))[:3]
    assert combined[2].rate == -0.00002933 and combined[2].mark_price == 86.20294735


def test_the_subscribe_ack_gives_nothing():
    assert parse(fixture_bytes("binance/ws_subscribe_ack.json")) == []


@pytest.mark.parametrize(
    "frame",
    [
        {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 1},  # as sent
        {"code": 2, "msg": "Invalid request: invalid stream"},  # as documented
    ],
)
def test_a_refusal_raises_with_the_venues_words(frame):
    with pytest.raises(FeedError, match=r"Invalid request: invalid stream \(code 2\)"):
        parse(json.dumps(frame))


@pytest.mark.parametrize("frame", [b"not json", "<html>502 Bad Gateway</html>", b'[{"s": "X"'])
def test_a_frame_that_is_not_json_raises(frame):
    with pytest.raises(ValueError, match="not JSON"):
        parse(frame)


@pytest.mark.parametrize("frame", ["42", '"pong"', "null", '{"result": ["x"], "id": 7}', "{}"])
def test_json_of_no_known_shape_carries_nothing(frame):
    assert parse(frame) == []


GOOD = mark_price_row("ETHUSDT", -0.0001, NEXT_MS, 2124.67983985, event_ms=T0_MS)


def test_junk_rows_are_skipped_not_fatal():
    junk = [
        42,
        "ETHUSDT",
        None,
        [],
        {**GOOD, "s": ""},
        {k: v for k, v in GOOD.items() if k != "s"},
        {**GOOD, "r": "abc"},
        {**GOOD, "r": ""},
        {**GOOD, "r": None},
        {**GOOD, "r": "NaN"},
        {**GOOD, "p": "abc"},
        {**GOOD, "p": "Infinity"},
        {**GOOD, "p": "0"},
        {**GOOD, "p": "-1.5"},
        {**GOOD, "T": -1},
        {**GOOD, "T": "soon"},
        {**GOOD, "T": 1.5},
    ]
    assert parse(frame_of(*junk, GOOD)) == [
        QuoteUpdate("binance", "ETHUSDT", T0, -0.0001, NEXT_MS, 2124.67983985)
    ]


def test_blank_fields_are_unknown_and_numbers_may_come_as_strings():
    rows = [
        {**GOOD, "s": "A", "p": ""},
        {**GOOD, "s": "B", "p": None, "T": 0},
        {k: v for k, v in GOOD.items() if k not in ("p", "T")} | {"s": "C"},
        {**GOOD, "s": "D", "T": str(NEXT_MS), "E": str(T0_MS), "r": "0"},
        {**GOOD, "s": "E", "p": 2124.5, "r": 0.0002},
    ]
    got = by_symbol(parse(frame_of(*rows)))
    assert (got["A"].mark_price, got["A"].next_funding_time) == (None, NEXT_MS)
    assert (got["B"].mark_price, got["B"].next_funding_time) == (None, None)
    assert (got["C"].mark_price, got["C"].next_funding_time, got["C"].rate) == (None, None, -0.0001)
    assert (got["D"].next_funding_time, got["D"].rate) == (NEXT_MS, 0.0)
    assert (got["E"].mark_price, got["E"].rate) == (2124.5, 0.0002)


def test_one_stream_in_the_url_covers_any_number_of_symbols():
    dialect = BinanceDialect()
    symbols = [f"C{i:04d}USDT" for i in range(600)]
    # Binance: at most 200 streams and 10 incoming messages a second per connection.
    assert dialect.subscribe(symbols) == []
    url = dialect.url("wss://fstream.binance.com/market/")
    assert url == f"wss://fstream.binance.com/market/stream?streams={MARK_PRICE_STREAM}"
    assert len(url.partition("streams=")[2].split("/")) == 1
    assert dialect.ping() is None and not dialect.protocol_pings


# --- the feed loop against the fake ------------------------------------------------


def running(
    dialect: BinanceDialect, url: str, **options: Any
) -> AbstractAsyncContextManager[Running]:
    """The real loop on `dialect` at `url`, its clock stopped at T0."""
    return running_feed(dialect, url, ["BTCUSDT", "ETHUSDT"], clock=lambda: T0, **options)


class RawForm(BinanceDialect):
    """The stream in the raw form, `/market/ws/<stream>`: bare arrays, no wrapper."""

    def url(self, base_url: str) -> str:
        return f"{base_url}/ws/{MARK_PRICE_STREAM}"


@pytest.mark.parametrize(("dialect", "combined"), [(BinanceDialect(), True), (RawForm(), False)])
async def test_pushed_rows_reach_on_updates(dialect, combined):
    async with FakeBinanceWs() as fake, running(dialect, fake.url) as run:
        await fake.wait_subscribed(1)
        (connection,) = fake.connections
        assert (connection.routed, connection.combined) == (True, combined)
        assert connection.streams == [MARK_PRICE_STREAM]
        assert fake.subscribe_messages == []  # the URL subscribes
        btc = mark_price_row("BTCUSDT", 0.0001, NEXT_MS, 77591.2)
        assert await fake.push([btc, mark_price_row("1000PEPEUSDT", -0.00002, NEXT_MS, 0.0036)])
        first = await run.updates.wait_count(2)
        assert [(u.symbol, u.rate, u.mark_price) for u in first] == [
            ("BTCUSDT", 0.0001, 77591.2),
            ("1000PEPEUSDT", -0.00002, 0.0036),
        ]
        assert all(u.received_at == T0 and u.next_funding_time == NEXT_MS for u in first)
        await fake.push([{**btc, "r": "0.00012"}])
        assert (await run.updates.wait_count(3))[-1].rate == 0.00012
        state = run.feed.state
        assert state.connected and state.messages == 2
        assert state.last_message_at == T0 and state.last_error is None


async def test_an_unrouted_url_hears_no_mark_prices():
    """Binance's pitfall since April 2026: the legacy URL connects, then nothing comes.
    (A bare host gets the routed `/market`: tests/venues/test_stream_contract.py.)"""
    async with FakeBinanceWs() as fake:
        unrouted = fake.host + "/public"  # routed, but to streams without mark prices
        async with running(BinanceDialect(), unrouted):
            await fake.wait_connections(1)
            assert not fake.connections[0].routed
            assert await fake.push([mark_price_row("BTCUSDT", 0.0001, NEXT_MS, 1.0)]) == 0


async def test_the_servers_pings_are_answered():
    async with FakeBinanceWs(ping_every_s=0.01) as fake, running(BinanceDialect(), fake.url) as run:
        await fake.wait_pongs(3)
        assert fake.pongs >= 3
        assert run.feed.state.connected and run.feed.state.reconnects == 0


class QuickSilence(BinanceDialect):
    silence_s = 0.2


async def test_pongs_to_the_servers_pings_do_not_keep_a_connection_alive():
    """Only frames do: a server that pings but pushes nothing is silent."""
    async with FakeBinanceWs(ping_every_s=0.01) as fake, running(QuickSilence(), fake.url) as run:
        await fake.wait_subscribed(1)
        await fake.wait_pongs(1)
        fake.silent = True
        assert await fake.push([mark_price_row("BTCUSDT", 0.0001, NEXT_MS, 1.0)]) == 0
        await fake.wait_connections(2)
        assert run.reseed.errors_seen[1] == "TimeoutError: silent for 0.2 s"
        assert run.feed.state.reconnects >= 1


class RuntimeSubscribe(BinanceDialect):
    """Connects to the bare combined endpoint and subscribes with the recorded request,
    which is how a refusal can reach the dialect (the URL form cannot be refused)."""

    def url(self, base_url: str) -> str:
        return f"{base_url}/stream"

    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        return [fixture_bytes("binance/ws_subscribe_request.json").decode()]


async def test_a_refused_subscription_is_reported_and_retried_with_backoff():
    backoff = CountingBackoff(initial_s=0.01, max_s=0.05, jitter=0.0)
    async with FakeBinanceWs() as fake:
        fake.refusal = "Invalid request: invalid stream"
        lifted = {4: lambda: setattr(fake, "refusal", None)}  # the fourth attempt gets through
        async with running(RuntimeSubscribe(), fake.url, backoff=backoff, on_call=lifted) as run:
            await fake.wait_subscribed(1)
            assert await fake.push([mark_price_row("BTCUSDT", 0.0001, NEXT_MS, 1.0)]) == 1
            await run.updates.wait_count(1)
            refused = "FeedError: binance refused: Invalid request: invalid stream (code 2)"
            assert run.reseed.errors_seen == [None, refused, refused, refused]
            assert backoff.failures == [1, 2, 3]  # 0.01, 0.02 then 0.04 s
            assert run.feed.state.last_error is None
        request = json.loads(fixture_bytes("binance/ws_subscribe_request.json"))
        assert fake.subscribe_messages == [request] * 4 and fake.refusals == 3
        assert fake.connections[3].streams == [MARK_PRICE_STREAM]
