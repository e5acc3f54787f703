"""OKX's live feed: the dialect on the recorded frames, its subscribe batching, and the
`Feed` loop against the fake venue where OKX has its own ways (two channels a swap,
request ids, its refusals). What every venue's feed does (heartbeat, silence, reconnects,
refusals, junk) is tests/venues/test_stream_contract.py."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from arb.feeds.base import FeedError
from arb.models import QuoteUpdate
from arb.venues.okx import rest as okx
from arb.venues.okx.rest import Swap
from arb.venues.okx.stream import MAX_SUBSCRIBE_BYTES, SUBSCRIBES_PER_HOUR, OkxDialect
from tests.conftest import T0, fixture_bytes
from tests.feed_harness import Running, running_feed
from tests.venues.okx.fake_stream import FakeOkxWs, funding_rate_frame, mark_price_frame

BTC, ETH, PEPE = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "PEPE-USDT-SWAP"
NEXT_MS = 1789027200000  # the fixture's upcoming settlement


def fixture_json(path: str) -> dict:
    return json.loads(fixture_bytes(path))


def frame(**doc: object) -> str:
    return json.dumps(doc)


# --- parsing the recorded frames -------------------------------------------------


def test_funding_push_reads_as_the_rest_client_reads_the_same_row():
    """Same row, same rate, settlement and interval as the REST quote the book holds."""
    row = fixture_json("okx/ws_funding_rate_push.json")["data"][0]
    rest = json.dumps({"code": "0", "msg": "", "data": [row]}).encode()
    (quote,) = okx.join_quotes(okx.decode_funding(rest), {BTC: Swap("BTC", "USDT")}, {}, {}, T0)
    push = json.dumps({"arg": {"channel": "funding-rate", "instId": BTC}, "data": [row]})
    (update,) = OkxDialect().parse(push, T0)
    assert (update.rate, update.next_funding_time, update.interval_h) == (
        quote.rate,
        quote.next_funding_time,
        quote.interval_h,
    )


def test_mark_price_frame_is_per_coin_like_rest():
    # OKX prices are per coin (no 1000PEPE contract): the REST Quote has multiplier 1.
    (update,) = OkxDialect().parse(json.dumps(mark_price_frame(PEPE, 0.0000036337)), T0)
    assert update == QuoteUpdate("okx", PEPE, T0, mark_price=0.0000036337)


def test_fake_funding_frame_round_trips():
    pushed = funding_rate_frame(ETH, -0.00048, NEXT_MS, interval_h=4)
    (update,) = OkxDialect().parse(json.dumps(pushed), T0)
    assert update == QuoteUpdate(
        "okx", ETH, T0, rate=-0.00048, next_funding_time=NEXT_MS, interval_h=4.0
    )


@pytest.mark.parametrize(
    "text",
    [
        fixture_bytes("okx/ws_subscribe_ack.json"),
        fixture_bytes("okx/ws_pong.txt"),
        "pong",
        frame(event="unsubscribe", arg={"channel": "mark-price", "instId": BTC}, connId="1"),
        frame(event="channel-conn-count", channel="funding-rate", connCount="2", connId="1"),
        frame(arg={"channel": "tickers", "instId": BTC}, data=[{"instId": BTC, "last": "1"}]),
    ],
)
def test_acks_pongs_and_other_channels_give_nothing(text):
    assert OkxDialect().parse(text, T0) == []


def test_refusal_fixture_raises_with_the_venues_message():
    with pytest.raises(FeedError, match=r"60012 Invalid request: .*argss"):
        OkxDialect().parse(fixture_bytes("okx/ws_subscribe_error_60012.json"), T0)


def test_refusal_names_the_swaps_of_its_request():
    dialect = OkxDialect()
    dialect.subscribe([BTC, ETH])
    error = frame(id="1", event="error", code="60018", msg="Wrong URL or channel", connId="1")
    with pytest.raises(FeedError, match=r"60018 Wrong URL.* \(id 1: BTC-USDT-SWAP and 1 more\)"):
        dialect.parse(error, T0)


def test_upgrade_notice_ends_the_connection():
    notice = frame(event="notice", code="64008", msg="service upgrade", connId="1")
    with pytest.raises(FeedError, match="64008"):
        OkxDialect().parse(notice, T0)


def test_junk_rows_are_skipped_and_good_rows_kept():
    good = funding_rate_frame(BTC, 0.0001, NEXT_MS)["data"][0]
    rows = [
        None,
        5,
        {**good, "fundingRate": "abc"},
        {**good, "fundingRate": ""},
        {**good, "fundingTime": ""},
        {**good, "nextFundingTime": str(NEXT_MS)},  # a zero interval
        {**good, "instId": "BTC-USD-SWAP"},  # inverse: the REST client drops it too
        {**good, "instId": ""},
        {**good, "fundingTime": {"nested": 1}},
        {**good, "instId": ETH, "fundingRate": "0"},  # a zero rate is a rate
        {**good, "instId": PEPE, "nextFundingTime": ""},  # no interval: the book keeps REST's
        good,
    ]
    updates = OkxDialect().parse(frame(arg={"channel": "funding-rate"}, data=rows), T0)
    assert [(u.symbol, u.rate, u.interval_h) for u in updates] == [
        (ETH, 0.0, 8.0),
        (PEPE, 0.0001, None),
        (BTC, 0.0001, 8.0),
    ]


def test_junk_mark_rows_are_skipped():
    rows = [{"instId": BTC, "markPx": px} for px in ("", "0", "NaN", "x", None, "-1")]
    rows.append({"instId": ETH, "markPx": "2500.5"})
    updates = OkxDialect().parse(frame(arg={"channel": "mark-price"}, data=rows), T0)
    assert updates == [QuoteUpdate("okx", ETH, T0, mark_price=2500.5)]


@pytest.mark.parametrize("text", ["[1, 2]", '"hello"', frame(arg=5), frame(data="x")])
def test_json_of_an_unknown_shape_is_skipped(text):
    assert OkxDialect().parse(text, T0) == []


@pytest.mark.parametrize("text", ["<html>502 Bad Gateway</html>", b"\x00\x01", '{"arg":'])
def test_a_frame_that_is_not_json_raises_for_a_reconnect(text):
    with pytest.raises(ValueError):
        OkxDialect().parse(text, T0)


# --- subscribe batching ---------------------------------------------------------------


def subscribed(messages: list[str]) -> list[tuple[str, str, str]]:
    """(request id, channel, instId) of every arg, checking each message's shape."""
    args = []
    for message in messages:
        assert len(message.encode()) <= MAX_SUBSCRIBE_BYTES
        doc = json.loads(message)
        assert doc["op"] == "subscribe"
        args += [(doc["id"], a["channel"], a["instId"]) for a in doc["args"]]
    return args


def test_600_swaps_subscribe_in_few_messages_under_4kb():
    symbols = [f"C{i:04d}-USDT-SWAP" for i in range(599)] + ["1000000BABYDOGE-USDT-SWAP"] * 3
    messages = OkxDialect().subscribe(symbols)
    args = subscribed(messages)
    assert sorted((c, s) for _, c, s in args) == sorted(
        (c, s) for s in set(symbols) for c in ("funding-rate", "mark-price")
    )
    assert [json.loads(m)["id"] for m in messages] == [str(i) for i in range(1, 17)]
    # 1200 args of ~53 bytes, ~76 per message: far below the hourly allowance.
    assert len(messages) == 16 < SUBSCRIBES_PER_HOUR
    # Both channels of a swap share a message, so a refusal names whole swaps.
    for request_id in {i for i, _, _ in args}:
        pairs = {(c, s) for i, c, s in args if i == request_id}
        assert pairs == {(c, s) for _, s in pairs for c in ("funding-rate", "mark-price")}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.from_regex(r"[A-Z0-9]{1,40}-USD[TC]-SWAP", fullmatch=True), max_size=300))
def test_any_symbols_batch_within_the_limit(symbols):
    args = subscribed(OkxDialect().subscribe(symbols))
    assert len(args) == 2 * len(set(symbols))
    assert {s for _, _, s in args} == set(symbols)


def test_subscribe_and_ping_match_the_recorded_requests():
    recorded = fixture_json("okx/ws_subscribe_request.json")
    (message,) = OkxDialect().subscribe([BTC, "APE-USDT-SWAP"])
    ours = json.loads(message)
    assert list(ours) == list(recorded) == ["id", "op", "args"]
    assert [a for a in ours["args"] if a["channel"] == "funding-rate"] == recorded["args"]
    assert OkxDialect().ping() == fixture_bytes("okx/ws_ping.txt").decode()


def test_request_ids_restart_with_each_connection():
    dialect = OkxDialect()
    first = dialect.subscribe([BTC])
    dialect.reset()
    assert dialect.subscribe([BTC]) == first
    assert json.loads(dialect.subscribe([ETH])[0])["id"] == "2"


# --- against the fake venue, through the real Feed loop ----------------------------------


def running(fake: FakeOkxWs, *seeds: list[str]) -> AbstractAsyncContextManager[Running]:
    return running_feed(OkxDialect(), fake.url, *seeds)


async def test_both_channels_reach_on_updates():
    async with FakeOkxWs() as fake, running(fake, [BTC, ETH]) as run:
        await fake.wait_subscribed(1, [BTC, ETH])
        assert subscribed(fake.subscribes) == [
            ("1", "funding-rate", BTC),
            ("1", "mark-price", BTC),
            ("1", "funding-rate", ETH),
            ("1", "mark-price", ETH),
        ]
        assert await fake.push_quote(BTC, 0.0003, NEXT_MS, 77607.4, interval_h=2) == 2
        funding, mark = await run.next_update(BTC), await run.next_update(BTC)
        assert funding == QuoteUpdate(
            "okx", BTC, funding.received_at, rate=0.0003, next_funding_time=NEXT_MS, interval_h=2.0
        )
        assert mark == QuoteUpdate("okx", BTC, mark.received_at, mark_price=77607.4)
        assert len(run.updates.received) == 2  # one update a push
        assert await fake.push(mark_price_frame(PEPE, 0.0000036)) == 0  # not subscribed
        assert run.feed.state.connected and run.feed.state.last_error is None


async def test_request_ids_restart_on_a_new_connection():
    async with FakeOkxWs() as fake, running(fake, [BTC], [BTC, ETH]) as run:
        await fake.wait_subscribed(1, [BTC])
        await fake.drop()
        await fake.wait_only(2, [BTC, ETH])
        assert run.reseed.errors_seen[1].startswith("ConnectionClosedError")
        # The new swap the re-seed lists shares the first request, id 1 again.
        assert subscribed(fake.subscribes[1:]) == [
            ("1", "funding-rate", BTC),
            ("1", "mark-price", BTC),
            ("1", "funding-rate", ETH),
            ("1", "mark-price", ETH),
        ]


async def test_the_fake_refuses_what_okx_refuses():
    """A misspelt channel, a request that is not JSON, a wrong path: the feed would see
    the venue's own refusals."""
    async with FakeOkxWs() as fake:
        async with connect(fake.url) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": "7",
                        "op": "subscribe",
                        "args": [{"channel": "funding_rate", "instId": BTC}],
                    }
                )
            )
            with pytest.raises(FeedError, match=r"60018 Wrong URL or channel:funding_rate"):
                OkxDialect().parse(await ws.recv(), T0)
            await ws.send("hello")
            assert json.loads(await ws.recv()) == {
                "event": "error",
                "code": "60012",
                "msg": "Invalid request: hello",
                "connId": fake.connections[0].conn_id,
            }
        assert len(fake.subscribes) == 1  # the refused one is recorded too
        with pytest.raises(InvalidStatus, match="404"):
            async with connect(fake.url.replace("/public", "/private")):
                pass
