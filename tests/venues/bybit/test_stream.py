"""Bybit's live feed: the dialect on the recorded frames, its subscribe batching within the
venue's limits, and its deltas merging into a new snapshot after a reconnect. What every
venue's feed does (updates, heartbeat, silence, reconnects, refusals, junk) is
tests/venues/test_stream_contract.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from arb.feeds.base import FeedError, SymbolsRefused
from arb.models import QuoteUpdate
from arb.venues.bybit import rest as bybit
from arb.venues.bybit.stream import (
    ARGS_PER_REQUEST,
    MAX_ARGS_CHARS,
    BybitDialect,
    subscribe_requests,
)
from tests.conftest import T0, fixture_bytes
from tests.feed_harness import running_feed
from tests.venues.bybit.fake_stream import FakeBybitWs

NEXT_FUNDING_MS = 1789027200000


def frame(name: str) -> bytes:
    return fixture_bytes(f"bybit/{name}.json")


def parse_all(dialect: BybitDialect, *names: str) -> list[list[QuoteUpdate]]:
    return [dialect.parse(frame(name), T0) for name in names]


def snapshot_of(row: dict[str, Any]) -> str:
    return json.dumps({"topic": f"tickers.{row['symbol']}", "type": "snapshot", "data": row})


# --- parsing the recorded frames ----------------------------------------------------


def test_delta_merges_into_the_snapshot():
    *_, [update] = parse_all(BybitDialect(), "ws_tickers_snapshot", "ws_tickers_delta")
    # The delta's funding rate and mark; the rest is the snapshot's.
    assert (update.rate, update.mark_price) == (0.00004167, 77610.5)
    assert (update.interval_h, update.next_funding_time) == (8.0, NEXT_FUNDING_MS)
    assert (update.turnover_24h, update.open_interest_value) == (4310241429.5760, 6003610256.80)


def test_delta_without_funding_keeps_the_snapshot_rate():
    dialect = BybitDialect()
    *_, [update] = parse_all(dialect, "ws_tickers_snapshot", "ws_tickers_delta_no_funding")
    assert (update.rate, update.interval_h, update.mark_price) == (0.0000412, 8.0, 77607.40)
    assert (update.turnover_24h, update.open_interest_value) == (4310422664.1281, 6003950142.65)
    # Each delta lands on the one before: the first delta's rate survives the second.
    [[update]] = parse_all(dialect, "ws_tickers_delta")
    [[update]] = parse_all(dialect, "ws_tickers_delta_no_funding")
    assert (update.rate, update.mark_price) == (0.00004167, 77610.5)


def test_reset_forgets_the_snapshot():
    dialect = BybitDialect()
    parse_all(dialect, "ws_tickers_snapshot")
    dialect.reset()
    # A delta with no base says only what it carries: the rest is unknown, not stale.
    [[update]] = parse_all(dialect, "ws_tickers_delta_no_funding")
    assert update.turnover_24h == 4310422664.1281
    assert (update.rate, update.mark_price, update.interval_h) == (None, None, None)
    assert update.next_funding_time is None


def test_acks_and_pongs_give_nothing():
    assert parse_all(BybitDialect(), "ws_subscribe_ack", "ws_pong") == [[], []]


def test_a_refusal_names_the_refused_symbols():
    with pytest.raises(SymbolsRefused, match=r"subscribe refused: Invalid topic :\[tickers.N") as e:
        BybitDialect().parse(frame("ws_subscribe_fail"), T0)
    assert e.value.symbols == {"NOPEUSDT"} and e.value.resend == ()
    several = {
        **json.loads(frame("ws_subscribe_fail")),
        "ret_msg": "Invalid topic :[tickers.A,tickers.B]",
    }
    with pytest.raises(SymbolsRefused) as e:
        BybitDialect().parse(json.dumps(several), T0)
    assert e.value.symbols == {"A", "B"}


@pytest.mark.parametrize(
    "ret_msg", ["error:already subscribed,topic:tickers.BTCUSDT", "handler not found", ""]
)
def test_a_refusal_of_no_symbol_is_a_feed_error(ret_msg):
    """A repeat names a symbol, but refuses nothing: the connection is the one to drop."""
    refusal = {**json.loads(frame("ws_subscribe_fail")), "ret_msg": ret_msg}
    with pytest.raises(FeedError) as e:
        BybitDialect().parse(json.dumps(refusal), T0)
    assert not isinstance(e.value, SymbolsRefused)


def test_ping_and_subscribe_match_the_recorded_requests():
    dialect = BybitDialect()
    assert json.loads(dialect.ping()) == {"op": "ping"}
    [request] = dialect.subscribe(["BTCUSDT", "APEUSDT", "BTCUSDT-11SEP26", "BTCUSDT"])
    recorded = json.loads(frame("ws_subscribe_request"))
    # The dated future is out of scope (as in the REST client), the repeat sent once.
    assert json.loads(request) == {**recorded, "args": ["tickers.BTCUSDT", "tickers.APEUSDT"]}


def test_every_rest_row_parses_to_the_rest_quote():
    """The stream's ticker has the REST fields: a snapshot of each REST row must give the
    REST client's quote, in its units (1000PEPEUSDT's mark per 1000 PEPE), or nothing
    where the REST client skips the row."""
    body = frame("v5_market_tickers_linear")
    quotes = {q.symbol: q for q in bybit.parse_tickers(body, T0)}
    rows = json.loads(body)["result"]["list"]
    assert "1000PEPEUSDT" in quotes and len(quotes) < len(rows)
    for row in rows:
        updates = BybitDialect().parse(snapshot_of(row), T0)
        quote = quotes.get(row["symbol"])
        if quote is None:
            assert updates == [], row["symbol"]
            continue
        [u] = updates
        assert (u.rate, u.interval_h, u.next_funding_time, u.mark_price) == (
            quote.rate,
            quote.interval_h,
            quote.next_funding_time,
            quote.mark_price,
        ), row["symbol"]
        assert (u.turnover_24h, u.open_interest_value) == (
            quote.turnover_24h,
            quote.open_interest_value,
        )
    [pepe] = [r for r in rows if r["symbol"] == "1000PEPEUSDT"]
    assert [u.mark_price for u in BybitDialect().parse(snapshot_of(pepe), T0)] == [0.0036339]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # Blanks and "0" times are unknown, never zero.
        ({"fundingRate": "", "nextFundingTime": "0", "fundingIntervalHour": ""}, (None,) * 3),
        ({"fundingRate": "NaN", "nextFundingTime": "", "fundingIntervalHour": "0"}, (None,) * 3),
        ({"fundingRate": "-0.00102581", "fundingIntervalHour": "4"}, (-0.00102581, None, 4.0)),
    ],
)
def test_blank_fields_are_unknown(changes, expected):
    row = {"symbol": "SOPHUSDT", "nextFundingTime": "", **changes}
    [update] = BybitDialect().parse(snapshot_of(row), T0)
    assert (update.rate, update.next_funding_time, update.interval_h) == expected


@pytest.mark.parametrize(
    "row",
    [
        {"symbol": "BTCUSDT-11SEP26", "fundingRate": "", "deliveryTime": "1789113600000"},
        {"symbol": "APEUSDT", "fundingRate": "0.0001", "deliveryTime": "1789113600000"},
        {"symbol": "NEWUSDT", "fundingRate": "0.0001", "curPreListingPhase": "ContinuousTrading"},
    ],
    ids=["dated-future", "delisting", "pre-market"],
)
def test_rows_the_rest_client_skips_give_nothing(row):
    assert BybitDialect().parse(snapshot_of(row), T0) == []


@pytest.mark.parametrize(
    "junk",
    [
        '{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","fundingRate":"x"}}',
        '{"topic":"tickers.BTCUSDT","type":"delta","data":{"fundingRate":"0.0001"}}',
        '{"topic":"tickers.BTCUSDT","type":"delta","data":[]}',
        '{"topic":"orderbook.1.BTCUSDT","type":"snapshot","data":{"s":"BTCUSDT"}}',
        "[1, 2]",
        '"pong"',
    ],
)
def test_junk_is_skipped_and_keeps_the_state(junk):
    dialect = BybitDialect()
    parse_all(dialect, "ws_tickers_snapshot")
    assert dialect.parse(junk, T0) == []
    [[update]] = parse_all(dialect, "ws_tickers_delta_no_funding")
    assert update.rate == 0.0000412


@pytest.mark.parametrize("not_json", ["pong", b"\x00\x01", '{"topic":"tickers.BTC'])
def test_a_frame_that_is_not_json_raises_value_error(not_json):
    with pytest.raises(ValueError, match="not JSON"):
        BybitDialect().parse(not_json, T0)


# --- subscribe batching -----------------------------------------------------------


def args_of(requests: Sequence[str]) -> list[list[str]]:
    decoded = [json.loads(r) for r in requests]
    assert all(r["op"] == "subscribe" for r in decoded)
    assert len({r["req_id"] for r in decoded}) == len(decoded)
    return [r["args"] for r in decoded]


def args_chars(batches: Sequence[Sequence[str]]) -> int:
    """The venue's per-connection count, read as the args arrays' JSON text."""
    return sum(len(json.dumps(b, separators=(",", ":"))) for b in batches)


def test_600_symbols_fit_one_connection_in_batches():
    symbols = [f"{'1000' if i % 3 else ''}C{i:04d}USDT" for i in range(600)]
    batches = args_of(subscribe_requests(symbols))
    assert [len(b) for b in batches] == [ARGS_PER_REQUEST] * 6
    assert [a for b in batches for a in b] == [f"tickers.{s}" for s in symbols]
    assert args_chars(batches) <= MAX_ARGS_CHARS


def test_symbols_past_the_args_limit_are_left_out_with_a_warning(caplog):
    symbols = [f"LONGNAME{i:05d}USDT" for i in range(1500)]  # 25-character topics
    with caplog.at_level(logging.WARNING, logger="arb.venues.bybit.stream"):
        batches = args_of(subscribe_requests(symbols))
    subscribed = [a for b in batches for a in b]
    assert subscribed == [f"tickers.{s}" for s in symbols[: len(subscribed)]]
    # Within the limit, and one more topic would not have fitted.
    assert args_chars(batches) <= MAX_ARGS_CHARS < args_chars(batches) + len(subscribed[0]) + 3
    assert all(len(b) <= ARGS_PER_REQUEST for b in batches)
    assert f"{1500 - len(subscribed)} of 1500 symbols" in caplog.text


# --- the Feed loop against the fake venue -----------------------------------------


async def test_after_a_drop_deltas_merge_into_the_new_snapshot():
    async with FakeBybitWs() as fake:
        fake.set_quote("BTCUSDT", rate=0.0001, next_funding_ms=NEXT_FUNDING_MS, mark=77600.0)
        async with running_feed(BybitDialect(), fake.url, ["BTCUSDT"]) as run:
            await fake.wait_subscribed(1, ["BTCUSDT"])
            assert (await run.next_update("BTCUSDT")).rate == 0.0001  # the snapshot, unasked
            await fake.drop()
            await fake.wait_subscribed(1, ["BTCUSDT"])
            assert [r["args"] for r in fake.subscribes] == [["tickers.BTCUSDT"]] * 2
            # The new connection starts over from a snapshot, and deltas merge into it.
            await run.next_update("BTCUSDT")
            await fake.push_quote("BTCUSDT", mark=77650.5)
            btc = await run.next_update("BTCUSDT")
            assert (btc.rate, btc.mark_price) == (0.0001, 77650.5)
