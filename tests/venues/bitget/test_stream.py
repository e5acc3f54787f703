"""Bitget's live feed: the dialect on the recorded frames, its subscribe batching within the
venue's limits, the fake's recorded answers, and the pacing of what the feed sends. What
every venue's feed does (updates, heartbeat, silence, reconnects, refusals, junk) is
tests/venues/test_stream_contract.py."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from websockets.asyncio.client import connect

from arb.feeds.base import FeedError, SymbolsRefused
from arb.models import QuoteUpdate
from arb.venues.bitget.stream import BitgetDialect, asset_of, subscribe_requests
from tests.conftest import T0, T0_MS, fixture_bytes
from tests.feed_harness import running_feed
from tests.venues.bitget.fake_stream import FakeBitgetWs, ticker_arg

NEXT_FUNDING_MS = 1789027200000  # the next 8 h and 4 h settlement at T0
# The venue's documented limits (api-doc/common/websocket-intro).
DOC_REQUEST_BYTES = 4096  # "the total length of multiple channels" of one subscribe
DOC_MESSAGES_PER_SECOND = 10  # per connection, pings and subscribes alike
DOC_CHANNELS_PER_CONNECTION = 1000


def frame(name: str) -> bytes:
    return fixture_bytes(f"bitget/{name}")


def parse(dialect: BitgetDialect, raw: str | bytes) -> list[QuoteUpdate]:
    return dialect.parse(raw, T0)


def push_of(*rows: Any, arg: dict[str, str] | None = None) -> str:
    """A ticker push carrying `rows` as they are, junk included."""
    arg = arg or ticker_arg("BTCUSDT")
    return json.dumps({"action": "snapshot", "arg": arg, "data": list(rows), "ts": T0_MS})


def row(symbol: str, **fields: Any) -> dict[str, Any]:
    return {"instId": symbol, "symbol": symbol, **fields}


# --- parsing the recorded frames ----------------------------------------------------


def test_acks_and_pongs_give_nothing():
    dialect = BitgetDialect()
    assert parse(dialect, frame("ws_subscribe_ack.json")) == []
    assert parse(dialect, frame("ws_pong.txt").decode()) == []
    assert parse(dialect, frame("ws_pong.txt")) == []


def test_refused_subscription_raises_with_the_venue_message():
    expected = (
        r"subscribe refused: 30001 instType:USDT-FUTURES,channel:ticker,instId:NOPEUSDT "
        r"doesn't exist"
    )
    with pytest.raises(SymbolsRefused, match=expected) as e:
        parse(BitgetDialect(), frame("ws_subscribe_error.json"))
    assert e.value.symbols == {"NOPEUSDT"}  # the venue refuses arg by arg: nothing to resend
    assert e.value.resend == ()


def test_an_unrecognized_request_raises():
    refused = '{"event":"error","code":30002,"msg":"Unrecognized request:{\\"op\\":\\"ping\\"}"}'
    with pytest.raises(FeedError, match=r"request refused: 30002 Unrecognized request") as e:
        parse(BitgetDialect(), refused)
    assert not isinstance(e.value, SymbolsRefused)  # it names no symbol


def test_ping_and_subscribe_match_the_recorded_requests():
    dialect = BitgetDialect()
    assert dialect.ping() == frame("ws_ping.txt").decode()
    # USDC-margined, coin-margined, dated and blank names are out of scope; a repeat is
    # sent once.
    [request] = dialect.subscribe(["BTCUSDT", "BTCPERP", "BTCUSD", "BTC_USDT", "", "BTCUSDT"])
    assert json.loads(request) == json.loads(frame("ws_subscribe_request.json"))


def test_one_update_per_row_and_multiplier_marks_stay_per_contract():
    """1000BONKUSDT's mark is per 1000 BONK, as the REST Quote keeps it (its multiplier
    comes from the same split of the symbol)."""
    bonk = row("1000BONKUSDT", fundingRate="-0.00012", markPrice="0.01712", quoteVolume="0")
    btc = row("BTCUSDT", fundingRate="0.0001", nextFundingTime="1789027200000")
    updates = parse(BitgetDialect(), push_of(bonk, btc))
    assert updates == [
        QuoteUpdate(
            "bitget", "1000BONKUSDT", T0, rate=-0.00012, mark_price=0.01712, turnover_24h=0.0
        ),
        QuoteUpdate("bitget", "BTCUSDT", T0, rate=0.0001, next_funding_time=NEXT_FUNDING_MS),
    ]
    assert asset_of("1000BONKUSDT") == "BONK"


@pytest.mark.parametrize(
    "raw",
    [
        push_of(row("ETHUSDT", fundingRate="0.0001", symbolType=2)),
        push_of(row("ETHUSDT", fundingRate="0.0001", deliveryTime="1789113600000")),
        push_of(row("BTCPERP", fundingRate="0.0001")),
        push_of(row("BTCUSDT", fundingRate="", markPrice="0", nextFundingTime="0")),
        push_of(
            row("BTCUSDT", fundingRate="0.0001"), arg={**ticker_arg("BTCUSDT"), "channel": "books"}
        ),
        push_of(
            row("BTCUSD", fundingRate="0.0001"),
            arg={**ticker_arg("BTCUSD"), "instType": "COIN-FUTURES"},
        ),
    ],
    ids=["delivery", "delisting", "usdc-perp", "nothing-known", "other-channel", "coin-margined"],
)
def test_rows_out_of_scope_give_nothing(raw):
    assert parse(BitgetDialect(), raw) == []


def test_junk_rows_are_skipped_and_the_others_kept():
    good = row("SOPHUSDT", fundingRate="-0.000815", markPrice="0.004149")
    junk = [
        row("BTCUSDT", fundingRate="n/a"),
        5,
        {"fundingRate": [1]},
        row("BTCUSDT", symbolType="x"),
    ]
    [update] = parse(BitgetDialect(), push_of(*junk, good))
    assert (update.symbol, update.rate, update.mark_price) == ("SOPHUSDT", -0.000815, 0.004149)


@pytest.mark.parametrize(
    "junk",
    [
        "[1, 2]",
        '"pong"',
        '{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"ticker"},"data":{}}',
        '{"arg":"ticker","data":[]}',
    ],
)
def test_junk_frames_give_nothing(junk):
    assert parse(BitgetDialect(), junk) == []


@pytest.mark.parametrize("not_json", ["hello", b"\x00\x01", '{"action":"snap', "<html>502</html>"])
def test_a_frame_that_is_not_json_raises_value_error(not_json):
    with pytest.raises(ValueError, match="not JSON"):
        parse(BitgetDialect(), not_json)


# --- subscribe batching -----------------------------------------------------------


def instids_of(requests: Sequence[str]) -> list[list[str]]:
    decoded = [json.loads(r) for r in requests]
    assert all(r["op"] == "subscribe" for r in decoded)
    assert all(a == ticker_arg(a["instId"]) for r in decoded for a in r["args"])
    return [[a["instId"] for a in r["args"]] for r in decoded]


def assert_within_the_limits(requests: Sequence[str]) -> None:
    assert all(len(r.encode()) <= DOC_REQUEST_BYTES for r in requests)
    assert sum(map(len, instids_of(requests))) <= DOC_CHANNELS_PER_CONNECTION


def test_600_symbols_fit_one_connection_within_the_limits(caplog):
    symbols = [f"S{i:03d}USDT" for i in range(600)]  # 8 characters, like most of the venue's
    with caplog.at_level(logging.WARNING, logger="arb.venues.bitget.stream"):
        requests = subscribe_requests(symbols)
    assert_within_the_limits(requests)
    assert [len(batch) for batch in instids_of(requests)] == [60] * 10
    assert [s for batch in instids_of(requests) for s in batch] == symbols
    assert caplog.text == ""


def test_symbols_past_the_channel_limit_are_left_out_with_a_warning(caplog):
    """Requests fill up to the byte limit; the 1000 channels of a connection are the
    bound (the feed paces the requests under 10 messages a second)."""
    symbols = [f"S{i:04d}USDT" for i in range(1200)]
    with caplog.at_level(logging.WARNING, logger="arb.venues.bitget.stream"):
        requests = subscribe_requests(symbols)
    assert_within_the_limits(requests)
    subscribed = [s for batch in instids_of(requests) for s in batch]
    assert subscribed == symbols[:DOC_CHANNELS_PER_CONNECTION]
    assert "200 of 1200 symbols" in caplog.text


def test_non_ascii_ids_count_in_utf8_bytes():
    """The venue lists a few ids that are not ASCII: bytes, not characters, fill a request."""
    symbols = [f"牛来{i:04d}USDT" for i in range(300)]
    requests = subscribe_requests(symbols)
    assert_within_the_limits(requests)
    subscribed = [s for batch in instids_of(requests) for s in batch]
    assert subscribed == symbols
    # Every request is full: its next symbol would have passed the byte limit.
    for request, next_symbol in zip(requests, symbols[len(subscribed) :], strict=False):
        arg = json.dumps(ticker_arg(next_symbol), separators=(",", ":"), ensure_ascii=False)
        assert len(request.encode()) + 1 + len(arg.encode()) > DOC_REQUEST_BYTES


# --- the fake venue and the Feed loop ------------------------------------------------


@pytest.fixture
async def fake():
    async with FakeBitgetWs() as server:
        server.set_quote("BTCUSDT", rate=0.0001, next_funding_ms=NEXT_FUNDING_MS, mark=77600.0)
        yield server


async def test_fake_acks_refuses_and_pongs_as_recorded(fake):
    fake.refused = {"NOPEUSDT"}
    async with connect(fake.url) as ws:
        await ws.send(frame("ws_subscribe_request.json").decode())
        assert json.loads(await ws.recv()) == json.loads(frame("ws_subscribe_ack.json"))
        snapshot = json.loads(await ws.recv())
        assert snapshot["arg"] == ticker_arg("BTCUSDT") and snapshot["action"] == "snapshot"
        await ws.send(json.dumps({"op": "subscribe", "args": [ticker_arg("NOPEUSDT")]}))
        assert json.loads(await ws.recv()) == json.loads(frame("ws_subscribe_error.json"))
        await ws.send(frame("ws_ping.txt").decode())
        assert await ws.recv() == frame("ws_pong.txt").decode()
    assert fake.pings == 1 and len(fake.subscribes) == 2


async def test_subscribe_requests_are_paced_under_the_message_limit(fake):
    """The feed waits 1/8 s after each frame it sends: at most 8 of the venue's 10
    messages a second. The pauses are recorded, not slept, so the test takes no time."""
    symbols = [f"S{i:03d}USDT" for i in range(600)]
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)

    async with running_feed(BitgetDialect(), fake.url, symbols, pause=pause):
        await fake.wait_subscribed(1, symbols)
    assert len(fake.subscribes) == 10
    assert pauses[:10] == [1 / 8] * 10  # one after each frame, the next after the pause
    assert 1 / BitgetDialect.max_messages_per_s > 1 / DOC_MESSAGES_PER_SECOND
