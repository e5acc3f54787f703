"""Gate: the parsers on the recorded shapes (values read off the files), the client
against the fake's rendering of a market, settled-funding paging within the request
bound, order books in contracts of `quanto_multiplier` read as coins, and every fault on
every endpoint coming back typed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest

from arb.depth import Level
from arb.http import (
    ReplyError,
    RetryPolicy,
    VenueAPIError,
    VenueError,
    VenueHttp,
    VenueHTTPError,
    VenueRateLimited,
)
from arb.venues.base import FundingPoint, Sizing
from arb.venues.gate import common
from arb.venues.gate import rest as gate
from arb.venues.gate.rest import GateClient
from tests.conftest import T0, T0_MS, fixture_bytes
from tests.fakes.private_base import Sleeps
from tests.fakes.venues import Clock, FakeMarket, FakePerp, FakeVenues, Fault, by_symbol
from tests.venues.gate.fake_rest import (
    GATE_CONTRACTS,
    GATE_FUNDING_RATE,
    GATE_ORDER_BOOK,
    GATE_TICKERS,
    gate_symbol,
    install,
)
from tests.venues.hand_fills import HandFill, RecordedBook

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
CONTRACTS_FILE = "gate/api_v4_futures_usdt_contracts.json"
TICKERS_FILE = "gate/api_v4_futures_usdt_tickers.json"
HISTORY_FILE = "gate/api_v4_futures_usdt_funding_rate_BTC_USDT.json"
BOOK_FILE = "gate/api_v4_futures_usdt_order_book_BTC_USDT.json"


def fixture_quotes():
    rows = gate.decode_contracts(fixture_bytes(CONTRACTS_FILE))
    turnover = gate.parse_turnover(fixture_bytes(TICKERS_FILE))
    return by_symbol(gate.join_quotes(rows, turnover, T0))


def contract_row(name: str, **fields: Any) -> dict[str, Any]:
    """The recorded BTC_USDT row renamed, with `fields` replaced (None: the field removed)."""
    (row,) = (r for r in json.loads(fixture_bytes(CONTRACTS_FILE)) if r["name"] == "BTC_USDT")
    row = {**row, "name": name, **fields}
    return {k: v for k, v in row.items() if v is not None}


def quotes_of(*rows: dict[str, Any]):
    return gate.join_quotes(gate.decode_contracts(json.dumps(rows).encode()), {}, T0)


# --- parsing the recorded replies ------------------------------------------------


def test_contracts_keep_trading_perpetuals_with_their_own_interval():
    quotes = fixture_quotes()
    assert "MKR_USDT" not in quotes  # in_delisting
    assert len(quotes) == 6
    ape = quotes["APE_USDT"]
    assert (ape.asset, ape.rate, ape.interval_h) == ("APE", 0.00029, 1.0)  # 3600 s
    assert ape.hourly == pytest.approx(0.00029)
    assert ape.next_funding_time == 1789016400000  # 1789016400 s: 05:00Z, T0's next hour
    assert (ape.mark_price, ape.turnover_24h) == (0.1379, 34492024.58)
    assert ape.open_interest_value == pytest.approx(968929828 * 1 * 0.1379)
    ldo = quotes["LDO_USDT"]
    assert (ldo.rate, ldo.interval_h, ldo.next_funding_time) == (-0.000088, 4.0, 1789027200000)
    assert ldo.hourly == pytest.approx(-0.000088 / 4)
    btc = quotes["BTC_USDT"]
    assert (btc.rate, btc.interval_h, btc.next_funding_time) == (0.000039, 8.0, 1789027200000)
    assert (btc.mark_price, btc.turnover_24h, btc.settle) == (77587.9, 374106652.38, "USDT")
    # 282026139 contracts of 0.0001 BTC at 77587.9 a coin.
    assert btc.open_interest_value == pytest.approx(282026139 * 0.0001 * 77587.9)


def test_quanto_multiplier_sizes_contracts_and_is_no_price_multiplier():
    quotes = fixture_quotes()
    pepe = quotes["PEPE_USDT"]  # quanto_multiplier 10000000: ten million PEPE a contract
    assert (pepe.asset, pepe.multiplier, pepe.mark_price) == ("PEPE", 1.0, 0.0000036338)
    assert pepe.unit_price == 0.0000036338
    assert pepe.open_interest_value == pytest.approx(248938304 * 10_000_000 * 0.0000036338)
    assert quotes["BTC_USDT"].multiplier == 1.0  # quanto 0.0001, price still per coin


def test_a_1000x_base_is_priced_per_thousand_coins():
    # Constructed: the recorded file has no 1000x contract; Gate lists e.g. 1000BONK_USDT.
    (bonk,) = quotes_of(
        contract_row(
            "1000BONK_USDT", mark_price="0.02081", quanto_multiplier="1", position_size="1200"
        )
    )
    assert (bonk.asset, bonk.multiplier, bonk.mark_price) == ("BONK", 1000.0, 0.02081)
    assert bonk.unit_price == pytest.approx(0.02081 / 1000)
    assert bonk.open_interest_value == pytest.approx(1200 * 0.02081)


def test_rows_out_of_scope_are_skipped():
    junk = [
        contract_row("A_USDT", in_delisting=True),
        contract_row("B_USDT", status="delisting"),
        contract_row("C_USDT", status="delisted"),
        contract_row("D_USDT", status="prelaunch"),
        contract_row("E_USDT", status="circuit_breaker"),
        contract_row("F_USDT", type="inverse"),
        contract_row("G_USDT", funding_rate=""),
        contract_row("H_USDT", funding_rate=None),
        contract_row("I_USDT", funding_interval=0),
        contract_row("BTC_USD"),
        contract_row("BTC_USDT_20260925"),
        contract_row("_USDT"),
    ]
    kept = contract_row("Z_USDT", status="trading", funding_rate="0")
    (z,) = quotes_of(*junk, kept)
    assert (z.symbol, z.asset, z.rate, z.interval_h) == ("Z_USDT", "Z", 0.0, 8.0)  # zero kept


def test_missing_numbers_mean_unknown_not_zero():
    row = contract_row("X_USDT", mark_price="", position_size=None, funding_next_apply=None)
    (x,) = quotes_of(row)
    assert x.mark_price is None and x.open_interest_value is None
    assert x.next_funding_time is None and x.turnover_24h is None


def test_sizes_as_strings_like_the_current_docs():
    (x,) = quotes_of(
        contract_row(
            "X_USDT", position_size="10", funding_interval="7200", funding_next_apply="1789020000"
        )
    )
    assert (x.interval_h, x.next_funding_time) == (2.0, 1789020000000)
    assert x.open_interest_value == pytest.approx(10 * 0.0001 * 77587.9)


def test_turnover_is_volume_24h_quote():
    turnover = gate.parse_turnover(fixture_bytes(TICKERS_FILE))
    assert turnover["APE_USDT"] == 34492024.58  # volume_24h_base is 250123456 APE
    assert turnover["PEPE_USDT"] == 186176043.11
    assert len(turnover) == 7


@pytest.mark.parametrize(
    ("path", "label", "message"),
    [
        ("gate/error_INVALID_SIGNATURE.json", "INVALID_SIGNATURE", "Signature mismatch"),
        ("gate/error_REQUEST_EXPIRED.json", "REQUEST_EXPIRED", "gap between request"),
    ],
)
@pytest.mark.parametrize(
    "decode", [gate.decode_contracts, gate.parse_turnover, gate.decode_funding_history]
)
def test_error_bodies_are_reply_errors(decode, path, label, message):
    with pytest.raises(ReplyError) as e:
        decode(fixture_bytes(path))
    assert e.value.code == label and e.value.message.startswith(message)
    assert not e.value.retryable


@pytest.mark.parametrize("label", ["TOO_MANY_REQUESTS", "TOO_BUSY", "SERVER_ERROR"])
def test_rate_limit_and_server_labels_are_retryable(label):
    with pytest.raises(ReplyError) as e:
        gate.decode_contracts(json.dumps({"label": label, "message": "x"}).encode())
    assert e.value.retryable


@pytest.mark.parametrize(
    "decode", [gate.decode_contracts, gate.parse_turnover, gate.decode_funding_history]
)
@pytest.mark.parametrize("body", [b'{"unexpected": true}', b'"nope"', b"[1, 2]"])
def test_wrong_shape_is_a_decode_error(decode, body):
    with pytest.raises(msgspec.DecodeError):
        decode(body)


def test_a_malformed_number_is_a_decode_error_not_a_crash():
    with pytest.raises(msgspec.ValidationError):
        quotes_of(contract_row("X_USDT", funding_rate="abc"))


# --- the client against the fake -------------------------------------------------


def client_for(
    fake: FakeVenues,
    *,
    attempts: int = 1,
    timeout_s: float = 2.0,
    sleeps: Sleeps | None = None,
    clock: Clock | None = None,
) -> GateClient:
    clock = clock or Clock(T0)
    http = VenueHttp(
        "gate",
        fake.url("gate"),
        timeout_s=timeout_s,
        retry=RetryPolicy(attempts=attempts),
        sleep=sleeps or Sleeps(),
        clock=clock,
    )
    return GateClient(http, clock=clock)


@asynccontextmanager
async def gate_venue(market: FakeMarket | None = None) -> AsyncIterator[FakeVenues]:
    async with FakeVenues(market) as fake:
        install(fake)
        yield fake


def desk_market() -> FakeMarket:
    """1, 2, 4 and 8 h intervals, a negative rate, a 1000x base and odd contract sizes."""
    P = FakePerp
    return FakeMarket(
        now_ms=T0_MS,
        venues={
            "gate": [
                P("APE", 0.00029, 1, price=0.1379, turnover=34_492_024.58, open_interest=9.6e8),
                P("SOPH", -0.00048, 2, price=0.004149, lot=10.0, open_interest=3.3e7),
                P("LDO", -0.000088, 4, price=0.3499, turnover=21_037_197.25),
                P("BTC", 0.000039, 8, price=77587.9, lot=0.0001, open_interest=28_202.6),
                P("BONK", 0.0001, 8, price=0.00002081, multiplier=1000, open_interest=5.5e10),
            ]
        },
    )


async def test_the_client_gives_the_markets_figures():
    market = desk_market()
    async with gate_venue(market) as fake:
        client = client_for(fake)
        try:
            got = await client.fetch_quotes()
        finally:
            await client.close()
    assert got.warnings == []
    quotes = by_symbol(got.quotes)
    perps = market.perps("gate")
    assert set(quotes) == {gate_symbol(p) for p in perps}  # the fake's MKR_USDT skipped
    assert set(quotes) >= {"1000BONK_USDT", "SOPH_USDT"}
    for p in perps:
        q = quotes[gate_symbol(p)]
        assert (q.venue, q.asset, q.settle, q.multiplier) == ("gate", p.asset, "USDT", p.multiplier)
        assert (q.rate, q.interval_h) == (p.rate, p.interval_h)
        assert q.next_funding_time == market.next_settlement(p.interval_h)
        assert q.mark_price == p.price * p.multiplier
        assert q.unit_price == pytest.approx(p.price, rel=1e-12)
        assert q.turnover_24h == p.turnover
        assert q.open_interest_value == pytest.approx(p.open_interest * p.price, rel=1e-12)
        assert q.received_at == T0
    assert quotes["SOPH_USDT"].hourly == pytest.approx(-0.00048 / 2)


async def test_one_contracts_call_per_scan_and_turnover_once_a_minute():
    clock = Clock(T0)
    async with gate_venue(desk_market()) as fake:
        client = client_for(fake, clock=clock)
        try:
            await client.fetch_quotes()
            clock.now += 30
            await client.fetch_quotes()
            assert (fake.hits("gate", GATE_CONTRACTS), fake.hits("gate", GATE_TICKERS)) == (2, 1)
            clock.now += 31
            await client.fetch_quotes()
        finally:
            await client.close()
    assert (fake.hits("gate", GATE_CONTRACTS), fake.hits("gate", GATE_TICKERS)) == (3, 2)
    sent = [r.query for r in fake.requests if r.path == GATE_CONTRACTS]
    assert sent[0] == {"limit": "1000", "offset": "0"}


async def test_more_contracts_than_a_page_are_read_page_by_page():
    perps = [FakePerp(f"C{i:04d}", 0.0001) for i in range(1001)]
    async with gate_venue(FakeMarket(now_ms=T0_MS, venues={"gate": perps})) as fake:
        client = client_for(fake)
        try:
            got = await client.fetch_quotes()
        finally:
            await client.close()
    assert len(got.quotes) == 1001  # plus the fake's delisting row: 1002 rows, two pages
    offsets = [r.query["offset"] for r in fake.requests if r.path == GATE_CONTRACTS]
    assert offsets == ["0", "1000"]


async def test_without_turnover_the_quotes_still_come_with_a_warning():
    async with gate_venue(desk_market()) as fake:
        fake.fail("gate", GATE_TICKERS, Fault.http(500))
        client = client_for(fake)
        try:
            got = await client.fetch_quotes()
        finally:
            await client.close()
    assert len(got.quotes) == 5
    assert all(q.turnover_24h is None for q in got.quotes)
    (warning,) = got.warnings
    assert warning.startswith("no 24h turnover: gate /api/v4/futures/usdt/tickers: HTTP 500")


async def test_the_recorded_replies_are_served_without_a_market():
    async with gate_venue() as fake:
        client = client_for(fake)
        try:
            got = await client.fetch_quotes()
        finally:
            await client.close()
    assert by_symbol(got.quotes) == fixture_quotes()


# --- order books -----------------------------------------------------------------


def sizings(*rows: dict[str, Any]) -> dict[str, Sizing]:
    return gate.parse_sizing(common.decode_contracts(json.dumps(rows).encode()))


def btc_book():
    rows = common.decode_contracts(fixture_bytes(CONTRACTS_FILE))
    sizing = gate.parse_sizing(rows)["BTC_USDT"]
    return gate.parse_book(fixture_bytes(BOOK_FILE), "BTC_USDT", sizing, T0)


# By hand, mid (77598.4 + 77598.5) / 2 = 77598.45. quanto_multiplier 0.0001 BTC: 31250
# contracts at the best ask are 3.125 BTC; one contract (order_size_min 1) is both the
# step and the smallest order.
#
# Buy $600,000: 3.125 BTC at 77598.5 (242,495.3125) and 0.48 at 77598.9 (37,247.472)
# leave 320,257.2155 = 4.127047... BTC at 77599.6; 7.732047... BTC is 7.732 in whole
# contracts of 0.0001. They cost 242,495.3125 + 37,247.472 + 4.127 x 77599.6
# (320,253.5492) = 599,996.3337: vwap 599,996.3337 / 7.732 = 77599.111963269529, slippage
# (77599.111963269529 - 77598.45) / 77598.45 x 1e4 = 0.085306248968791 bp.
#
# Sell $150,000: the best bid's 2.75 BTC are worth 213,395.6, so 150,000 / 77598.4 =
# 1.933029... BTC, 1.933 in contracts: 149,997.7072 at 77598.4, slippage
# (77598.45 - 77598.4) / 77598.45 x 1e4 = 0.0064434276715579 bp.
RECORDED = RecordedBook(
    "BTC_USDT",
    bids=((77598.4, 2.75), (77598.0, 0.9), (77597.1, 6.1)),
    asks=((77598.5, 3.125), (77598.9, 0.48), (77599.6, 5.2)),
    lot=0.0001,
    min_qty=0.0001,
    fills=(
        HandFill("buy", 600_000, 7.732, 599_996.3337, 77599.111963269529, 0.085306248968791),
        HandFill("sell", 150_000, 1.933, 149_997.7072, 77598.4, 0.0064434276715579),
    ),
    levels=5,
    mid=77598.45,
)


def test_the_recorded_book_is_per_coin_in_coins_and_fills_as_worked_by_hand():
    book = btc_book()
    assert book.received_at == T0
    RECORDED.check(book, "gate")


def test_a_1000x_book_is_per_coin_in_coins_and_contracts_count_the_base():
    # Constructed: 1000BONK_USDT quotes per 1000 BONK; quanto_multiplier 10 of those
    # thousands, so a contract is 10,000 BONK and the smallest order (3) 30,000.
    table = sizings(
        contract_row("1000BONK_USDT", quanto_multiplier="10", order_size_min=3),
        contract_row("PEPE_USDT", quanto_multiplier="10000000"),
    )
    assert table["1000BONK_USDT"] == Sizing(1000.0, 10_000.0, 30_000.0, 10_000.0)
    assert table["PEPE_USDT"] == Sizing(1.0, 1e7, 1e7, 1e7)
    body = json.dumps(
        {"current": T0, "update": T0, "asks": [{"p": "0.02081", "s": "7"}],
         "bids": [{"p": "0.0208", "s": 12}, {"p": "0.02079", "s": "0"}]}
    ).encode()  # fmt: skip
    book = gate.parse_book(body, "1000BONK_USDT", table["1000BONK_USDT"], T0)
    assert book.asks == (Level(0.00002081, 70_000.0),)
    assert book.bids == (Level(0.0000208, 120_000.0),)  # the empty level dropped
    assert (book.lot, book.min_qty) == (10_000.0, 30_000.0)


def test_a_book_reply_without_sides_is_a_decode_error_and_an_error_body_a_reply_error():
    sizing = Sizing(1.0, 0.0001, 0.0001, 0.0001)
    with pytest.raises(msgspec.ValidationError):
        gate.parse_book(b'{"unexpected": true}', "BTC_USDT", sizing, T0)
    with pytest.raises(ReplyError) as e:
        gate.parse_book(b'{"label": "TOO_BUSY", "message": "x"}', "BTC_USDT", sizing, T0)
    assert e.value.code == "TOO_BUSY" and e.value.retryable


async def test_a_book_asks_for_100_levels_and_a_1000x_contract_comes_back_in_coins():
    """Gate's contract is the lot: 10 x 1000 BONK, at least 3 of them (the round trip
    itself, for every venue: tests/venues/test_book_contract.py)."""
    bonk = FakePerp(
        "BONK", 0.0001, price=0.00002081, multiplier=1000, lot=10_000.0, min_qty=30_000.0
    )
    async with gate_venue(FakeMarket(now_ms=T0_MS, venues={"gate": [bonk]})) as fake:
        client = client_for(fake)
        try:
            book = await client.order_book("1000BONK_USDT")
        finally:
            await client.close()
    (sent,) = [r.query for r in fake.requests if r.path == GATE_ORDER_BOOK]
    assert sent == {"contract": "1000BONK_USDT", "limit": "100"}
    assert (book.lot, book.min_qty) == (10_000.0, 30_000.0)
    assert book.asks[0].price == pytest.approx(0.00002081, rel=1e-3)  # per coin


async def test_a_contract_not_listed_asks_for_no_book():
    async with gate_venue() as fake:
        client = client_for(fake)
        try:
            with pytest.raises(VenueError) as e:
                await client.order_book("NOPE_USDT")
            book = await client.order_book("BTC_USDT")  # the recorded book, served as is
        finally:
            await client.close()
    assert type(e.value) is VenueError and e.value.endpoint == GATE_ORDER_BOOK
    assert fake.hits("gate", GATE_ORDER_BOOK) == 1 and book.asks == btc_book().asks


# --- settled funding -------------------------------------------------------------


def bonk_market(interval_h: float = 1.0, history: list[tuple[int, float]] | None = None):
    perp = FakePerp("BONK", 0.0000125, interval_h, price=0.00002081, multiplier=1000)
    perp.history = history
    return FakeMarket(now_ms=T0_MS, venues={"gate": [perp]})


async def history_of_quote(fake: FakeVenues, start_ms: int, end_ms: int):
    """History asked for by the symbol the client's own quote carries, counting only the
    history requests."""
    client = client_for(fake)
    try:
        (quote,) = (await client.fetch_quotes()).quotes
        fake.requests.clear()
        points = await client.funding_history(quote.symbol, start_ms, end_ms)
    finally:
        await client.close()
    return quote.symbol, points, fake.hits("gate", GATE_FUNDING_RATE)


async def test_thirty_days_hourly_complete_ascending_in_one_request():
    market = bonk_market()
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    async with gate_venue(market) as fake:
        symbol, points, hits = await history_of_quote(fake, start, end)
        (sent,) = [r.query for r in fake.requests]
    assert symbol == "1000BONK_USDT"
    expected = [
        FundingPoint(t, r) for t, r in market.settled(market.perps("gate")[0]) if start <= t <= end
    ]
    assert len(expected) == 720  # T0 is not on the hour
    assert points == expected
    assert hits == 1
    assert sent == {"contract": "1000BONK_USDT", "to": str(T0_MS // 1000), "limit": "1000"}


def custom_history() -> list[tuple[int, float]]:
    """Irregular whole-second times (Gate's unit), gaps of 1 to 45 h, rates to the bit."""
    rates = [0.000123456789, -0.0000015186, 0.0, 1e-8, 0.02, -0.00102581, 0.0000285421766518]
    hours = [70, 62, 54, 9, 8, 2, 1]
    base = T0_MS // 1000 * 1000
    return [(base - h * HOUR_MS - 7000, r) for h, r in zip(hours, rates, strict=True)]


async def test_an_end_with_milliseconds_past_a_settlements_second_still_includes_it():
    """Gate's times are whole seconds and `to` is too: the client rounds the end down."""
    history = custom_history()
    async with gate_venue(bonk_market(history=history)) as fake:
        (first, _), *_, (last, _) = history[1:-1]
        _, inner, _ = await history_of_quote(fake, first, last)
        _, upto, _ = await history_of_quote(fake, first, last + 999)
    assert inner == [FundingPoint(t, r) for t, r in history[1:-1]]
    assert upto == inner


async def test_a_full_page_is_followed_by_the_one_before_it():
    history = [(T0_MS // HOUR_MS * HOUR_MS - h * HOUR_MS, 0.0001) for h in range(1500, 0, -1)]
    async with gate_venue(bonk_market(history=history)) as fake:
        _, points, hits = await history_of_quote(fake, history[0][0], T0_MS)
        tos = [int(r.query["to"]) for r in fake.requests]
    assert len(points) == 1500 and hits == 2
    # The second page ends one second before the oldest settlement of the first.
    assert tos[1] == history[500][0] // 1000 - 1


# --- Gate's own error bodies (the faults every venue shares: test_rest_contract.py) ---


async def call(client: GateClient, path: str) -> Any:
    """The client's own call that reaches `path` and lets its error through."""
    if path == GATE_CONTRACTS:
        return await client.fetch_quotes()
    if path == GATE_TICKERS:
        return await client.turnover.get()  # fetch_quotes turns this one into a warning
    if path == GATE_ORDER_BOOK:
        return await client.order_book("1000BONK_USDT")
    return await client.funding_history("1000BONK_USDT", T0_MS - DAY_MS, T0_MS)


PATHS = [GATE_CONTRACTS, GATE_TICKERS, GATE_FUNDING_RATE, GATE_ORDER_BOOK]


async def fault_on(path: str, fault: Fault, **client_kw: Any) -> tuple[VenueError, int]:
    """The error `call` raises with `fault` on `path`, and the requests `path` received."""
    async with gate_venue(bonk_market()) as fake:
        fake.fail("gate", path, fault)
        client = client_for(fake, **client_kw)
        try:
            with pytest.raises(VenueError) as e:
                await call(client, path)
        finally:
            await client.close()
    assert e.value.venue == "gate" and e.value.endpoint == path
    return e.value, fake.hits("gate", path)


@pytest.mark.parametrize("path", PATHS)
async def test_gates_error_with_a_4xx_status_keeps_its_label(path):
    body = json.loads(fixture_bytes("gate/error_INVALID_SIGNATURE.json"))
    error, hits = await fault_on(path, Fault.venue_error(body, status=401), attempts=3)
    assert type(error) is VenueHTTPError
    assert (error.status, error.code) == (401, "INVALID_SIGNATURE")
    assert "venue error INVALID_SIGNATURE: Signature mismatch" in str(error)
    assert hits == 1  # a refused request does not get better by retrying


@pytest.mark.parametrize("path", PATHS)
async def test_gates_error_with_a_2xx_status_is_an_api_error(path):
    body = json.loads(fixture_bytes("gate/error_REQUEST_EXPIRED.json"))
    error, hits = await fault_on(path, Fault.venue_error(body), attempts=3)
    assert type(error) is VenueAPIError and error.code == "REQUEST_EXPIRED"
    assert str(error) == (
        f"gate {path}: venue error REQUEST_EXPIRED: "
        "gap between request Timestamp and server time exceeds 60"
    )
    assert hits == 1


async def test_gates_own_429_names_its_label():
    body = {"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded"}
    error, _ = await fault_on(GATE_CONTRACTS, Fault.venue_error(body, status=429))
    assert type(error) is VenueRateLimited and "TOO_MANY_REQUESTS" in str(error)


async def test_a_500_then_an_answer_and_retry_after_are_honoured():
    sleeps = Sleeps()
    async with gate_venue(bonk_market()) as fake:
        fake.fail("gate", GATE_CONTRACTS, Fault.http(500, times=2))
        fake.fail("gate", GATE_FUNDING_RATE, Fault.http(429, retry_after="3", times=1))
        client = client_for(fake, attempts=3, sleeps=sleeps)
        try:
            got = await client.fetch_quotes()
            points = await client.funding_history("1000BONK_USDT", T0_MS - DAY_MS, T0_MS)
        finally:
            await client.close()
    assert len(got.quotes) == 1 and len(points) == 24
    assert fake.hits("gate", GATE_CONTRACTS) == 3 and fake.hits("gate", GATE_FUNDING_RATE) == 2
    backoff, retry_after = sleeps.calls[:2], sleeps.calls[2:]
    assert all(0 < w <= 4.25 for w in backoff) and retry_after == [3.0]


async def test_a_retryable_label_with_2xx_is_retried():
    sleeps = Sleeps()
    busy = {"label": "TOO_BUSY", "message": "server is busy"}
    async with gate_venue(bonk_market()) as fake:
        fake.fail("gate", GATE_CONTRACTS, Fault.venue_error(busy, times=1))
        client = client_for(fake, attempts=3, sleeps=sleeps)
        try:
            got = await client.fetch_quotes()
        finally:
            await client.close()
    assert len(got.quotes) == 1 and len(sleeps.calls) == 1
