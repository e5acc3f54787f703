"""Gate's live feed: the dialect on the docs' frames, its subscribe batching, and what the
`Feed` loop does with the venue's own ways (a whole market in batches, a refusal of a
whole request, upgrade notices). What every venue's feed does (updates, heartbeat,
silence, reconnects, refusals, junk) is tests/venues/test_stream_contract.py."""

from __future__ import annotations

import json
import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from arb.feeds.base import FeedError, SymbolsRefused
from arb.venues.gate.stream import CONTRACTS_PER_REQUEST, GateDialect
from tests import feed_harness
from tests.conftest import T0, fixture_bytes
from tests.feed_harness import Running
from tests.venues.gate.fake_stream import FakeGateWs, upgrade_notice

BTC, PEPE, NOPE = "BTC_USDT", "PEPE_USDT", "NOPE_USDT"


def frame(name: str) -> bytes:
    return fixture_bytes(f"gate/{name}.json")


def fixture_json(name: str) -> Any:
    return json.loads(frame(name))


def push_of(*rows: Any) -> str:
    return json.dumps({"channel": "futures.tickers", "event": "update", "result": list(rows)})


# --- parsing the docs' frames -------------------------------------------------------


def test_updates_are_in_the_units_of_rest_contracts():
    """At T0 REST `contracts` has the same rates (per each contract's own interval) and
    per-coin marks: PEPE_USDT is priced per PEPE though a contract is 10,000,000 of them."""
    contracts = {c["name"]: c for c in fixture_json("api_v4_futures_usdt_contracts")}
    updates = GateDialect().parse(frame("ws_tickers_update"), T0)
    assert contracts[PEPE]["quanto_multiplier"] == "10000000"
    for u in updates:
        rest = contracts[u.symbol]
        assert (u.rate, u.mark_price) == (float(rest["funding_rate"]), float(rest["mark_price"]))


def test_acks_and_pongs_give_nothing():
    dialect = GateDialect()
    assert [dialect.parse(frame(n), T0) for n in ("ws_subscribe_ack", "ws_pong")] == [[], []]


def test_a_refusal_names_the_refused_contract_and_resends_the_rest():
    with pytest.raises(
        SymbolsRefused, match=r"^futures.tickers subscribe refused: 2 unknown contract: NOPE_USDT$"
    ) as e:
        GateDialect().parse(frame("ws_subscribe_error"), T0)
    assert (e.value.symbols, e.value.resend) == ({NOPE}, ())
    # The venue refuses the whole request: what it did not name is asked for again.
    refusal = {**fixture_json("ws_subscribe_error"), "payload": [BTC, NOPE, PEPE]}
    with pytest.raises(SymbolsRefused) as e:
        GateDialect().parse(json.dumps(refusal), T0)
    assert (e.value.symbols, e.value.resend) == ({NOPE}, (BTC, PEPE))


@pytest.mark.parametrize(
    "changes",
    [
        {"payload": [BTC, PEPE], "error": {"code": 2, "message": "invalid argument"}},
        {"payload": None, "error": {"code": 1, "message": "invalid argument struct"}},
        {"event": "unsubscribe"},
    ],
    ids=["unnamed", "no-payload", "not-a-subscribe"],
)
def test_a_refusal_of_no_known_contract_is_a_feed_error(changes):
    refusal = {**fixture_json("ws_subscribe_error"), **changes}
    with pytest.raises(FeedError) as e:
        GateDialect().parse(json.dumps(refusal), T0)
    assert not isinstance(e.value, SymbolsRefused)


@pytest.mark.parametrize(
    "notice",
    [
        frame("ws_system_upgrade"),
        json.dumps(fixture_json("ws_system_upgrade")["result"]),
    ],
    ids=["futures.system", "bare"],
)
def test_upgrade_notice_raises_so_the_loop_reconnects(notice):
    with pytest.raises(FeedError, match="upgrade notice: The connection will soon be closed"):
        GateDialect().parse(notice, T0)


def test_other_system_notices_give_nothing():
    notice = {
        "channel": "futures.system",
        "event": "update",
        "result": {"type": "outdated_sbe_schema_id", "msg": "Your sbe_schema_id '0' is outdated"},
    }
    assert GateDialect().parse(json.dumps(notice), T0) == []


def test_ping_and_subscribe_match_the_docs_requests():
    dialect = GateDialect(clock=lambda: T0)
    assert json.loads(dialect.ping()) == fixture_json("ws_ping_request")
    # The repeat is sent once; a name that is not a USDT contract is left out.
    [request] = dialect.subscribe([BTC, PEPE, BTC, "BTC_USD"])
    assert json.loads(request) == fixture_json("ws_subscribe_request")


ROW = {
    "contract": "LDO_USDT",
    "funding_rate": "-0.000088",
    "mark_price": "0.3499",
    "volume_24h_quote": "5210442",
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, (-0.000088, 0.3499, 5210442.0)),
        # Blank, NaN, a zero price or a negative turnover is unknown, never 0.
        ({"funding_rate": ""}, (None, 0.3499, 5210442.0)),
        ({"funding_rate": "NaN", "mark_price": "0"}, (None, None, 5210442.0)),
        ({"mark_price": "", "volume_24h_quote": "-5"}, (-0.000088, None, None)),
        # A zero rate is a rate; JSON numbers read like the venue's strings.
        ({"funding_rate": "0", "mark_price": 0.35}, (0.0, 0.35, 5210442.0)),
    ],
)
def test_blank_fields_are_unknown(changes, expected):
    [update] = GateDialect().parse(push_of({**ROW, **changes}), T0)
    assert (update.rate, update.mark_price, update.turnover_24h) == expected


def test_a_row_with_nothing_known_gives_no_update():
    row = {**ROW, "funding_rate": "", "mark_price": "0", "volume_24h_quote": ""}
    assert GateDialect().parse(push_of(row), T0) == []


def test_junk_rows_are_skipped_and_the_rest_read():
    junk = [
        {"funding_rate": "0.0001"},  # no contract
        {"contract": "ETH_USDT", "funding_rate": "n/a"},
        {"contract": 7, "funding_rate": "0.0001"},
        {"contract": "BTC_USD", "funding_rate": "0.0001"},  # not a USDT contract
        ["ETH_USDT", "0.0001"],
        None,
    ]
    updates = GateDialect().parse(push_of(*junk, ROW, *junk), T0)
    assert [(u.symbol, u.rate) for u in updates] == [("LDO_USDT", -0.000088)]


@pytest.mark.parametrize(
    "junk",
    [
        '{"channel":"futures.tickers","event":"update","result":{"contract":"BTC_USDT"}}',
        '{"channel":"futures.tickers","event":"update"}',
        '{"channel":"futures.trades","event":"update","result":[{"contract":"BTC_USDT"}]}',
        '{"channel":"futures.tickers","event":"update","error":"?","result":[]}',
        "[1, 2]",
        '"pong"',
        "null",
    ],
)
def test_junk_frames_give_nothing(junk):
    assert GateDialect().parse(junk, T0) == []


@pytest.mark.parametrize(
    "not_json", ["pong", b"\x00\x01", '{"channel":"futures.tick', "<html>502 Bad Gateway</html>"]
)
def test_a_frame_that_is_not_json_raises_value_error(not_json):
    with pytest.raises(ValueError, match="not JSON"):
        GateDialect().parse(not_json, T0)


# --- subscribe batching -----------------------------------------------------------


def requests_of(contracts: list[str]) -> list[dict[str, Any]]:
    requests = [json.loads(r) for r in GateDialect(clock=lambda: T0).subscribe(contracts)]
    for r in requests:
        assert r.keys() == {"time", "channel", "event", "payload"}
        assert (r["time"], r["channel"], r["event"]) == (int(T0), "futures.tickers", "subscribe")
    return requests


def test_600_contracts_go_in_six_requests_of_100():
    contracts = [f"C{i:04d}_USDT" for i in range(600)]
    requests = requests_of(contracts)
    assert [len(r["payload"]) for r in requests] == [CONTRACTS_PER_REQUEST] * 6
    assert [c for r in requests for c in r["payload"]] == contracts


def test_a_short_last_request_and_names_left_out_with_a_warning(caplog):
    contracts = [f"C{i}_USDT" for i in range(150)]
    with caplog.at_level(logging.WARNING, logger="arb.venues.gate.stream"):
        requests = requests_of([*contracts, "BTC_USD", "_USDT", "", contracts[0]])
    assert [len(r["payload"]) for r in requests] == [100, 50]
    assert [c for r in requests for c in r["payload"]] == contracts
    assert "3 of 153 symbols are not USDT contracts" in caplog.text
    assert requests_of([]) == []


# --- the Feed loop against the fake venue -----------------------------------------


def running_feed(fake: FakeGateWs, *lists: list[str]) -> AbstractAsyncContextManager[Running]:
    return feed_harness.running_feed(GateDialect(), fake.url, *lists)


@pytest.fixture
async def fake():
    async with FakeGateWs() as server:
        yield server


async def test_a_whole_market_is_subscribed_in_batches_on_one_connection(fake):
    contracts = [f"C{i:03d}_USDT" for i in range(250)]
    async with running_feed(fake, contracts):
        await fake.wait_subscribed(1, contracts)
        assert [len(r["payload"]) for r in fake.subscribes] == [100, 100, 50]
        assert fake.accepted == 1


async def test_a_refused_contract_costs_its_request_only_itself(fake):
    """Gate turns the whole request away: the feed asks again for the rest of it."""
    fake.refused = {NOPE}
    async with running_feed(fake, [BTC, NOPE, PEPE]) as run:
        await fake.wait_subscribed(1, [BTC, PEPE])
        assert [r["payload"] for r in fake.subscribes] == [[BTC, NOPE, PEPE], [BTC, PEPE]]
        assert fake.accepted == 1 and run.feed.refused == {NOPE}


async def test_upgrade_notice_reconnects_at_once(fake):
    async with running_feed(fake, [BTC]) as run:
        await fake.wait_subscribed(1, [BTC])
        assert await fake.push(upgrade_notice()) == 1
        await fake.wait_until(lambda: len(fake.subscribes) == 2, "the next connection")
        assert run.reseed.errors_seen[1].startswith("FeedError: gate service upgrade notice")
        assert fake.accepted == 2
