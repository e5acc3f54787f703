"""Hyperliquid's live feed: the dialect on the recorded frames, its subscription limits,
then the real `Feed` loop against the fake WebSocket server carrying k-coins and hourly
settlements. What every venue's feed does (heartbeat, silence, reconnects, refusals,
junk) is tests/venues/test_stream_contract.py."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.feeds.base import FeedError
from arb.models import QuoteUpdate
from arb.venues.hyperliquid.rest import parse_meta_and_ctxs
from arb.venues.hyperliquid.stream import (
    IDLE_CLOSE_S,
    MAX_SUBSCRIPTIONS,
    MESSAGES_PER_MINUTE,
    SUBSCRIBE_BUDGET,
    HyperliquidDialect,
)
from tests.conftest import T0, fixture_bytes
from tests.fakes.venues import fixture
from tests.feed_harness import running_feed
from tests.venues.hyperliquid.fake_stream import FakeHyperliquidWs

HOUR_MS = 3_600_000
NEXT_HOUR_AFTER_T0 = 1789016400000  # 2026-09-10 05:00 UTC; T0 is 04:52:22.967
COINS = ["BTC", "ETH", "kPEPE"]


def parse(frame: object, received_at: float = T0) -> list[QuoteUpdate]:
    """Parse a frame as sent: text or bytes as they are, anything else as its JSON."""
    text = frame if isinstance(frame, str | bytes) else json.dumps(frame)
    return HyperliquidDialect().parse(text, received_at)


def ctx_frame(coin: object, **ctx: object) -> dict:
    return {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx}}


# --- parsing the recorded frames ------------------------------------------------


def test_a_k_coin_keeps_its_name_and_its_price_per_thousand():
    frame = ctx_frame(
        "kPEPE",
        funding="0.0000125",
        markPx="0.003632",
        dayNtlVlm="1762126.3931760003",
        openInterest="5235352696.0",
    )
    (update,) = parse(frame)
    assert update.symbol == "kPEPE"
    assert update.mark_price == 0.003632  # 1000 PEPE, as REST's Quote.mark_price
    assert update.interval_h == 1.0
    assert update.rate == 0.0000125
    assert update.rate * 8 == pytest.approx(0.0001)  # 0.01 % per 8 h, not divided again
    assert update.turnover_24h == 1762126.3931760003
    assert update.open_interest_value == pytest.approx(19_014_800.991872, rel=1e-12)


def test_every_field_means_what_the_rest_quote_says():
    """Each asset context of the REST snapshot, pushed over the stream, gives the same
    rate, interval, next funding, mark, turnover and open interest as REST's Quote."""
    quotes = parse_meta_and_ctxs(fixture_bytes("hyperliquid/info_metaAndAssetCtxs.json"), T0)
    meta, ctxs = fixture("hyperliquid/info_metaAndAssetCtxs.json")
    pushed = {a["name"]: ctx for a, ctx in zip(meta["universe"], ctxs, strict=True)}
    assert len(quotes) == 21
    for quote in quotes:
        push = {"channel": "activeAssetCtx", "data": {"coin": quote.symbol}}
        push["data"]["ctx"] = pushed[quote.symbol]
        (update,) = parse(push)
        assert (update.venue, update.symbol) == (quote.venue, quote.symbol)
        assert update.rate == quote.rate
        assert update.interval_h == quote.interval_h
        assert update.next_funding_time == quote.next_funding_time
        assert update.mark_price == quote.mark_price
        assert update.turnover_24h == quote.turnover_24h
        assert update.open_interest_value == quote.open_interest_value


@pytest.mark.parametrize(
    "path",
    ["hyperliquid/ws_subscription_response.json", "hyperliquid/ws_pong.json"],
)
def test_acks_and_pongs_give_nothing(path):
    assert parse(fixture_bytes(path)) == []


def test_the_greeting_on_connect_is_not_an_error():
    # Plain text, sent first on every connection (the official SDK skips it too).
    assert parse("Websocket connection established.") == []


def test_a_refused_subscription_raises_with_the_venues_message():
    message = 'Already subscribed: {"type":"activeAssetCtx","coin":"BTC"}'
    with pytest.raises(FeedError, match="Already subscribed") as e:
        parse({"channel": "error", "data": message})
    assert message in str(e.value)


@pytest.mark.parametrize(
    "frame",
    [
        ctx_frame("BTC", funding="", markPx="77562.0"),
        ctx_frame("BTC", funding="abc", markPx="77562.0"),
        ctx_frame("BTC", funding=None, markPx="77562.0"),  # delisted
        ctx_frame("BTC", funding="NaN"),
        ctx_frame("BTC", markPx="77562.0"),
        ctx_frame("", funding="0.0001"),
        ctx_frame(None, funding="0.0001"),
        ctx_frame("xyz:TSLA", funding="0.0001"),  # a HIP-3 builder dex, skipped by REST too
        ctx_frame("BTC", funding=["0.0001"]),
        {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": []}},
        {"channel": "activeAssetCtx", "data": "BTC"},
        {"channel": "activeAssetCtx"},
        {"channel": "allMids", "data": {"mids": {"BTC": "77562.0"}}},
        {"channel": 7},
        {"no": "channel"},
        [{"channel": "pong"}],
        "null",
    ],
)
def test_junk_rows_are_skipped(frame):
    assert parse(frame) == []


def test_one_unreadable_field_loses_only_itself():
    (update,) = parse(
        ctx_frame("BTC", funding="0.0000125", markPx="", dayNtlVlm="abc", openInterest="27353.1")
    )
    assert update.rate == 0.0000125 and update.next_funding_time == NEXT_HOUR_AFTER_T0
    assert update.mark_price is None and update.open_interest_value is None
    assert update.turnover_24h is None
    (zero_mark,) = parse(ctx_frame("BTC", funding="0.0000125", markPx="0", openInterest="1"))
    assert zero_mark.mark_price is None and zero_mark.open_interest_value is None


@pytest.mark.parametrize(
    "frame",
    [
        "<html>502 Bad Gateway</html>",
        b"\x00\xffnot json{{",
        '{"channel":"activeAssetCtx","da',
        "[1,",
    ],
)
def test_a_frame_that_is_not_json_raises_value_error(frame):
    with pytest.raises(ValueError, match="not JSON"):
        parse(frame)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_field = st.none() | st.sampled_from(["", "abc", "NaN", "-0.0001", "1e400", "0"]) | _json


@given(
    channel=st.sampled_from(["activeAssetCtx", "subscriptionResponse", "pong", "other"]),
    coin=st.sampled_from(["BTC", "kPEPE", "", "xyz:TSLA"]) | _json,
    funding=_field,
    mark=_field,
    extra=_json,
)
def test_any_json_frame_gives_updates_or_nothing(channel, coin, funding, mark, extra):
    ctx = {"funding": funding, "markPx": mark}
    frame = {"channel": channel, "data": {"coin": coin, "ctx": ctx, "extra": extra}}
    for update in parse(frame):
        assert update.symbol == coin and math.isfinite(update.rate)
        assert update.mark_price is None or update.mark_price > 0


# --- subscribing within the venue's limits --------------------------------------


def test_one_coin_subscribes_like_the_recorded_request():
    (message,) = HyperliquidDialect().subscribe(["BTC"])
    assert json.loads(message) == fixture("hyperliquid/ws_subscribe_request.json")


def test_six_hundred_coins_fit_one_connection_one_message_each():
    coins = [f"C{i:03d}" for i in range(600)]
    messages = HyperliquidDialect().subscribe(coins)
    subscriptions = [json.loads(m)["subscription"] for m in messages]
    assert [s["coin"] for s in subscriptions] == coins
    assert {s["type"] for s in subscriptions} == {"activeAssetCtx"}
    assert len(messages) <= MAX_SUBSCRIPTIONS and len(messages) <= SUBSCRIBE_BUDGET


def test_repeats_are_sent_once_and_past_the_limit_are_left_out():
    coins = [f"C{i:04d}" for i in range(1200)]
    messages = HyperliquidDialect().subscribe(["C0000", *coins, "C0001"])
    sent = [json.loads(m)["subscription"]["coin"] for m in messages]
    assert sent == coins[:MAX_SUBSCRIPTIONS]


def test_resubscribing_stays_within_the_message_budget():
    now = [0.0]
    dialect = HyperliquidDialect(clock=lambda: now[0])
    coins = [f"C{i:03d}" for i in range(600)]
    for _ in range(3):  # 1800 messages: three reconnects in one minute are fine
        assert len(dialect.subscribe(coins)) == 600
        now[0] += 10
    with pytest.raises(FeedError, match=f"{MESSAGES_PER_MINUTE} messages a minute"):
        dialect.subscribe(coins)
    now[0] = 60.0  # the first burst has left the window
    assert len(dialect.subscribe(coins)) == 600


def test_heartbeat_follows_the_venue():
    dialect = HyperliquidDialect()
    assert json.loads(dialect.ping()) == fixture("hyperliquid/ws_ping_request.json")
    assert not dialect.protocol_pings
    # Two pings inside the server's idle cut, and a pong due before we call it dead.
    assert 2 * dialect.ping_every_s <= IDLE_CLOSE_S
    assert dialect.ping_every_s < dialect.silence_s < IDLE_CLOSE_S


# --- the Feed loop against the fake server --------------------------------------


def coins_subscribed(fake: FakeHyperliquidWs) -> list[str]:
    return [m["subscription"]["coin"] for m in fake.subscribes]


async def test_pushes_reach_on_updates():
    async with (
        FakeHyperliquidWs() as fake,
        running_feed(HyperliquidDialect(), fake.url, COINS) as run,
    ):
        await fake.wait_subscribed(1, COINS)
        assert fake.subscribes[0] == fixture("hyperliquid/ws_subscribe_request.json")
        assert coins_subscribed(fake) == COINS
        pepe = {"mark": 0.003632, "turnover": 1_762_126.0, "open_interest": 5_235_352_696.0}
        assert await fake.push_quote("kPEPE", 0.0000125, **pepe) == 1
        assert await fake.push_quote("SOL", 0.0001) == 0  # not subscribed: never sent
        assert await fake.push_quote("BTC", -0.0000015186, mark=77562.0) == 1
        kpepe, btc = await run.updates.wait_count(2)
        assert run.reseed.errors_seen == [None] and run.feed.state.reconnects == 0
    assert (kpepe.symbol, kpepe.rate, kpepe.interval_h) == ("kPEPE", 0.0000125, 1.0)
    assert kpepe.mark_price == 0.003632 and kpepe.turnover_24h == 1_762_126.0
    assert kpepe.open_interest_value == pytest.approx(19_014_800.991872)
    assert kpepe.next_funding_time % HOUR_MS == 0
    assert 0 < kpepe.next_funding_time - kpepe.received_at * 1000 <= HOUR_MS
    assert (btc.symbol, btc.rate, btc.mark_price) == ("BTC", -0.0000015186, 77562.0)
