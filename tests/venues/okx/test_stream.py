"""OKX's live feed: the dialect on the recorded frames, its subscribe batching, and the
shared `Feed` loop against the fake venue (updates, heartbeat, reconnects, refusals)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from arb.feeds.base import Backoff, Feed, FeedError
from arb.models import QuoteUpdate
from arb.venues.okx import rest as okx
from arb.venues.okx.rest import Swap
from arb.venues.okx.stream import MAX_SUBSCRIBE_BYTES, SUBSCRIBES_PER_HOUR, OkxDialect
from tests.conftest import T0, fixture_bytes
from tests.venues.okx.fake_stream import FakeOkxWs, funding_rate_frame, mark_price_frame

BTC, ETH, PEPE = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "PEPE-USDT-SWAP"
NEXT_MS = 1789027200000  # the fixture's upcoming settlement
WAIT_S = 5.0  # a bound for failures only: passing waits take milliseconds
FAST = Backoff(initial_s=0.01, max_s=0.05)


def fixture_json(path: str) -> dict:
    return json.loads(fixture_bytes(path))


def frame(**doc: object) -> str:
    return json.dumps(doc)


# --- parsing the recorded frames -------------------------------------------------


def test_funding_rate_push_fixture():
    (update,) = OkxDialect().parse(fixture_bytes("okx/ws_funding_rate_push.json"), T0)
    assert update == QuoteUpdate(
        venue="okx",
        symbol=BTC,
        received_at=T0,
        rate=0.0000285974522074,  # per its own interval, as published
        next_funding_time=NEXT_MS,  # fundingTime: the upcoming settlement, not the last
        interval_h=8.0,  # (1789056000000 - 1789027200000) / 3600000
    )


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


class QuickOkx(OkxDialect):
    """The real dialect on a millisecond clock."""

    ping_every_s = 0.02
    silence_s = 0.25


@dataclass(frozen=True)
class CountingBackoff(Backoff):
    """Backoff that notes the failure count of every delay it gives."""

    failures: list[int] = field(default_factory=list)

    def delay(self, failures: int, rng: random.Random) -> float:
        self.failures.append(failures)
        return super().delay(failures, rng)


class Desk:
    """The feed's hooks as the live book wires them. `symbols()` is the REST re-seed: it
    notes the error that ended the previous session (the loop clears it once
    resubscribed) and hands out `seeds` in turn, the last one again and again."""

    def __init__(self, *seeds: list[str]) -> None:
        self.seeds = seeds
        self.errors: list[str | None] = []
        self.updates: asyncio.Queue[list[QuoteUpdate]] = asyncio.Queue()
        self.feed: Feed | None = None
        self.hold = asyncio.Event()  # cleared: the next seed waits, as a slow REST call would
        self.hold.set()
        self._seeded = asyncio.Condition()

    async def symbols(self) -> list[str]:
        assert self.feed is not None
        self.errors.append(self.feed.state.last_error)
        async with self._seeded:
            self._seeded.notify_all()
        await self.hold.wait()
        return self.seeds[min(len(self.errors), len(self.seeds)) - 1]

    def on_updates(self, updates: list[QuoteUpdate]) -> None:
        self.updates.put_nowait(updates)

    async def next_updates(self) -> list[QuoteUpdate]:
        return await asyncio.wait_for(self.updates.get(), WAIT_S)

    async def wait_seeds(self, n: int) -> None:
        async with asyncio.timeout(WAIT_S), self._seeded:
            await self._seeded.wait_for(lambda: len(self.errors) >= n)


@contextlib.asynccontextmanager
async def running(
    fake: FakeOkxWs, desk: Desk, dialect: OkxDialect | None = None, backoff: Backoff = FAST
) -> AsyncIterator[Feed]:
    feed = Feed(
        dialect or OkxDialect(),
        fake.url,
        desk.symbols,
        desk.on_updates,
        backoff=backoff,
        rng=random.Random(7),
    )
    desk.feed = feed
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_pushes_reach_on_updates():
    desk = Desk([BTC, ETH])
    async with FakeOkxWs() as fake, running(fake, desk) as feed:
        await fake.wait_subscribed(1, [BTC, ETH])
        assert subscribed(fake.subscribes) == [
            ("1", "funding-rate", BTC),
            ("1", "mark-price", BTC),
            ("1", "funding-rate", ETH),
            ("1", "mark-price", ETH),
        ]
        assert await fake.push_quote(BTC, 0.0003, NEXT_MS, 77607.4, interval_h=2) == 2
        funding, mark = await desk.next_updates(), await desk.next_updates()
        assert funding == [
            QuoteUpdate(
                "okx",
                BTC,
                funding[0].received_at,
                rate=0.0003,
                next_funding_time=NEXT_MS,
                interval_h=2.0,
            )
        ]
        assert mark == [QuoteUpdate("okx", BTC, mark[0].received_at, mark_price=77607.4)]
        assert await fake.push(mark_price_frame(PEPE, 0.0000036)) == 0  # not subscribed
        assert feed.state.connected and feed.state.last_error is None


async def test_reconnects_after_a_drop_reseeding_and_resubscribing():
    desk = Desk([BTC], [BTC, ETH])  # the re-seed lists a new swap
    async with FakeOkxWs() as fake, running(fake, desk) as feed:
        await fake.wait_subscribed(1, [BTC])
        await fake.drop()
        await fake.wait_connections(2)
        await fake.wait_subscribed(1, [BTC, ETH])
        assert len(desk.errors) == 2
        assert desk.errors[1] is not None and desk.errors[1].startswith("ConnectionClosedError")
        # Request ids restart on the new connection; the new swap is subscribed too.
        assert subscribed(fake.subscribes[1:]) == [
            ("1", "funding-rate", BTC),
            ("1", "mark-price", BTC),
            ("1", "funding-rate", ETH),
            ("1", "mark-price", ETH),
        ]
        assert await fake.push(mark_price_frame(ETH, 2500.5)) == 1
        assert (await desk.next_updates())[0].mark_price == 2500.5
        assert feed.state.reconnects >= 1


async def test_a_silent_connection_is_replaced():
    desk, dialect = Desk([BTC]), QuickOkx()
    async with FakeOkxWs() as fake, running(fake, desk, dialect):
        await fake.wait_subscribed(1, [BTC])
        desk.hold.clear()
        fake.silent = True
        await desk.wait_seeds(2)
        assert desk.errors[1] == "TimeoutError: silent for 0.25 s"
        assert fake.pings >= 1  # pinged, unanswered
        # The replacement subscribes once the venue talks again; judged on a human clock
        # from here, a busy test machine cannot make it look silent too.
        dialect.silence_s = WAIT_S
        fake.silent = False
        desk.hold.set()
        await fake.wait_until(lambda: len(fake.open) == 1, "the silent connection closed")
        await fake.wait_subscribed(1, [BTC])
        assert await fake.push(mark_price_frame(BTC, 77600.0)) == 1
        assert (await desk.next_updates())[0].mark_price == 77600.0


async def test_a_refused_subscription_is_reported_and_retried_with_backoff():
    desk = Desk([BTC])
    backoff = CountingBackoff(initial_s=0.01, max_s=0.05)
    async with FakeOkxWs() as fake:
        fake.refusal = ("60012", "Invalid request: {}")
        async with running(fake, desk, backoff=backoff) as feed:
            await desk.wait_seeds(4)
            assert desk.errors[0] is None
            for error in desk.errors[1:4]:
                assert error == (
                    "FeedError: okx refused: 60012 Invalid request: {} (id 1: BTC-USDT-SWAP)"
                )
            assert backoff.failures[:3] == [1, 2, 3]  # each retry waits longer
            assert fake.refusals >= 3
            fake.refusal = None
            await fake.wait_subscribed(1, [BTC])
            assert await fake.push(mark_price_frame(BTC, 77601.0)) >= 1
            assert (await desk.next_updates())[0].mark_price == 77601.0
            assert feed.state.last_error is None


async def test_a_junk_row_costs_only_itself_but_a_non_json_frame_reconnects():
    desk = Desk([BTC])
    async with FakeOkxWs() as fake, running(fake, desk):
        await fake.wait_subscribed(1, [BTC])
        pushed = mark_price_frame(BTC, 77602.0)
        pushed["data"].insert(0, {"instId": BTC, "markPx": "junk"})
        assert await fake.push(pushed) == 1
        (update,) = await desk.next_updates()
        assert (update.symbol, update.mark_price) == (BTC, 77602.0)
        assert len(desk.errors) == 1
        await fake.push("<html>502</html>")
        await desk.wait_seeds(2)
        assert desk.errors[1] is not None and desk.errors[1].startswith("DecodeError")


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
