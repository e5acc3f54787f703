"""Settled funding history: each venue's parser on the recorded shapes, and each client
paging the fake venues' history endpoints within its request bound."""

from __future__ import annotations

import json

import pytest

from arb.http import (
    ReplyError,
    RetryPolicy,
    VenueAPIError,
    VenueBadResponse,
    VenueError,
    VenueHttp,
    VenueHTTPError,
)
from arb.venues.base import MAX_HISTORY_REQUESTS, FundingPoint, VenueClient
from arb.venues.binance import rest as binance
from arb.venues.bybit import rest as bybit
from arb.venues.hyperliquid import rest as hyperliquid
from arb.venues.okx import rest as okx
from arb.venues.registry import SPECS
from tests.conftest import T0_MS, fixture_bytes
from tests.fakes.venues import (
    BINANCE_FUNDING_RATE,
    BYBIT_FUNDING_HISTORY,
    HL_FUNDING_HISTORY,
    OKX_FUNDING_HISTORY,
    FakeMarket,
    FakePerp,
    FakeVenues,
    Fault,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PATHS = {
    "bybit": BYBIT_FUNDING_HISTORY,
    "binance": BINANCE_FUNDING_RATE,
    "okx": OKX_FUNDING_HISTORY,
    "hyperliquid": HL_FUNDING_HISTORY,
}
VENUES = tuple(PATHS)


def client_for(fake: FakeVenues, venue: str) -> VenueClient:
    http = VenueHttp(venue, fake.url(venue), timeout_s=2, retry=RetryPolicy(attempts=1))
    return SPECS[venue].client_class()(http)


def pepe_market(interval_h: float = 1.0, **history: list[tuple[int, float]]) -> FakeMarket:
    """PEPE on every venue under its venue's own name (1000PEPEUSDT, PEPE-USDT-SWAP,
    kPEPE), with an optional custom history per venue."""
    return FakeMarket(
        now_ms=T0_MS,
        venues={
            venue: [
                FakePerp(
                    "PEPE",
                    0.0000125,
                    interval_h,
                    price=0.0000036,
                    multiplier=1 if venue == "okx" else 1000,
                    history=history.get(venue),
                )
            ]
            for venue in VENUES
        },
    )


async def history_of_quote(fake: FakeVenues, venue: str, start_ms: int, end_ms: int):
    """History asked for by the symbol the client's own quotes carry, counting only the
    history requests."""
    client = client_for(fake, venue)
    try:
        (quote,) = (await client.fetch_quotes()).quotes
        fake.requests.clear()
        points = await client.funding_history(quote.symbol, start_ms, end_ms)
    finally:
        await client.close()
    return quote.symbol, points, fake.hits(venue, PATHS[venue])


# --- parsing the recorded replies -----------------------------------------------


def test_bybit_history_fixture():
    points = bybit.parse_funding_history(fixture_bytes("bybit/v5_market_funding_history.json"))
    assert len(points) == 8
    # The file is newest first; points come oldest first.
    assert points[0] == FundingPoint(1788796800000, 0.0001)
    assert points[2] == FundingPoint(1788854400000, -0.00001964)
    assert points[-1] == FundingPoint(1788998400000, 0.00003618)


def test_binance_history_fixture():
    points = binance.parse_funding_history(fixture_bytes("binance/fapi_v1_fundingRate.json"))
    assert len(points) == 6
    assert points[0] == FundingPoint(1788854400000, 0.0001)
    assert points[2] == FundingPoint(1788912000000, -0.00001964)
    assert points[-1] == FundingPoint(1788998400000, 0.00004436)


def test_okx_history_fixture():
    body = fixture_bytes("okx/api_v5_public_funding_rate_history.json")
    points = okx.parse_funding_history(body)
    assert [p.time_ms for p in points] == [
        1788912000000,
        1788940800000,
        1788969600000,
        1788998400000,
    ]
    assert points[0].rate == 0.0000701135210982
    assert points[1].rate == -0.0000119823337217


def test_hyperliquid_history_fixture():
    points = hyperliquid.parse_funding_history(
        fixture_bytes("hyperliquid/info_fundingHistory.json")
    )
    assert len(points) == 6
    # Settlements land a few ms past the hour; the rate is hourly as sent.
    assert points[0] == FundingPoint(1788994800066, 0.0000125)
    assert points[-1] == FundingPoint(1789012800061, -0.0000015186)


def test_okx_charged_rate_is_realized_rate_when_present():
    rows = [
        {"fundingTime": "3600000", "fundingRate": "0.0002", "realizedRate": "0.00015"},
        {"fundingTime": "7200000", "fundingRate": "0.0003", "realizedRate": ""},
        {"fundingTime": "10800000", "fundingRate": "0.0004"},
    ]
    body = json.dumps({"code": "0", "msg": "", "data": rows}).encode()
    assert okx.parse_funding_history(body) == [
        FundingPoint(3600000, 0.00015),
        FundingPoint(7200000, 0.0003),
        FundingPoint(10800000, 0.0004),
    ]


JUNK = [
    ("", "0.0001"),
    ("3600000", ""),
    ("7200000", "abc"),
    ("10800000", None),
    ("14400000", "NaN"),
    (None, "0.0001"),
]
GOOD = ("18000000", "-0.0002")


def junk_body(venue: str) -> bytes:
    rows = [*JUNK, GOOD]
    if venue == "bybit":
        rows = [{"symbol": "X", "fundingRateTimestamp": t, "fundingRate": r} for t, r in rows]
        return json.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": rows}}).encode()
    if venue == "binance":
        rows = [{"symbol": "X", "fundingTime": t, "fundingRate": r} for t, r in rows]
        return json.dumps(rows).encode()
    if venue == "okx":
        rows = [{"instId": "X", "fundingTime": t, "realizedRate": r} for t, r in rows]
        return json.dumps({"code": "0", "msg": "", "data": rows}).encode()
    return json.dumps([{"coin": "X", "time": t, "fundingRate": r} for t, r in rows]).encode()


PARSERS = {
    "bybit": bybit.parse_funding_history,
    "binance": binance.parse_funding_history,
    "okx": okx.parse_funding_history,
    "hyperliquid": hyperliquid.parse_funding_history,
}


@pytest.mark.parametrize("venue", VENUES)
def test_junk_rows_are_skipped_not_fatal(venue):
    assert PARSERS[venue](junk_body(venue)) == [FundingPoint(18000000, -0.0002)]


@pytest.mark.parametrize(
    ("parse", "path", "code"),
    [
        (bybit.parse_funding_history, "bybit/error_10006_rate_limit.json", "10006"),
        (okx.parse_funding_history, "okx/error_50011_rate_limit.json", "50011"),
    ],
)
def test_error_envelopes_are_reply_errors(parse, path, code):
    with pytest.raises(ReplyError) as e:
        parse(fixture_bytes(path))
    assert e.value.code == code and e.value.retryable


# --- the clients against the fake venues ----------------------------------------

QUOTE_SYMBOL = {
    "bybit": "1000PEPEUSDT",
    "binance": "1000PEPEUSDT",
    "okx": "PEPE-USDT-SWAP",
    "hyperliquid": "kPEPE",
}
# Requests a 30-day hourly history (720 settlements) takes at each venue's page size.
EXPECTED_HITS = {"bybit": 4, "binance": 1, "okx": 2, "hyperliquid": 2}


@pytest.mark.parametrize("venue", VENUES)
async def test_thirty_days_hourly_complete_ascending_and_bounded(venue):
    market = pepe_market()
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    async with FakeVenues(market) as fake:
        symbol, points, hits = await history_of_quote(fake, venue, start, end)
    assert symbol == QUOTE_SYMBOL[venue]
    expected = [
        FundingPoint(t, r) for t, r in market.settled(market.perps(venue)[0]) if start <= t <= end
    ]
    assert len(expected) == 720  # T0 is not on the hour
    assert points == expected
    times = [p.time_ms for p in points]
    assert times == sorted(set(times))
    assert start <= times[0] and times[-1] <= end
    assert hits == EXPECTED_HITS[venue] <= MAX_HISTORY_REQUESTS


def custom_history() -> list[tuple[int, float]]:
    """Irregular times (off the hour by a few ms, gaps of 1 to 45 h) and rates that must
    come back to the bit."""
    rates = [0.000123456789, -0.0000015186, 0.0, 1e-8, 0.02, -0.00102581, 0.0000285421766518]
    times = [T0_MS - h * HOUR_MS - ms for h, ms in [(70, 0), (62, 66), (54, 3), (9, 0), (8, 71)]]
    times += [T0_MS - 2 * HOUR_MS, T0_MS - HOUR_MS]
    return sorted(zip(times, rates, strict=True))


@pytest.mark.parametrize("venue", VENUES)
async def test_a_custom_history_round_trips_exactly(venue):
    history = custom_history()
    market = pepe_market(**{venue: history})
    async with FakeVenues(market) as fake:
        _, points, _ = await history_of_quote(fake, venue, T0_MS - 100 * HOUR_MS, T0_MS)
        assert points == [FundingPoint(t, r) for t, r in history]
        # Both ends of the range are inclusive.
        (first, _), *_, (last, _) = history[1:-1]
        _, inner, _ = await history_of_quote(fake, venue, first, last)
    assert inner == [FundingPoint(t, r) for t, r in history[1:-1]]


# Settlements one call can bring back: MAX_HISTORY_REQUESTS pages of each venue's size.
CAPACITY = {"bybit": 800, "binance": 4000, "okx": 1600, "hyperliquid": 2000}
# Where the venue pages newest first the most recent settlements are kept, else the oldest.
KEEPS_NEWEST = {"bybit": True, "binance": False, "okx": True, "hyperliquid": False}


@pytest.mark.parametrize("venue", VENUES)
async def test_the_request_bound_keeps_one_documented_end(venue):
    n = CAPACITY[venue] + 50
    history = [(T0_MS - (n - i) * HOUR_MS, round(i * 1e-7, 10)) for i in range(n)]
    market = pepe_market(**{venue: history})
    async with FakeVenues(market) as fake:
        _, points, hits = await history_of_quote(fake, venue, history[0][0], T0_MS)
    assert hits == MAX_HISTORY_REQUESTS
    wanted = history[-CAPACITY[venue] :] if KEEPS_NEWEST[venue] else history[: CAPACITY[venue]]
    assert points == [FundingPoint(t, r) for t, r in wanted]


@pytest.mark.parametrize("venue", VENUES)
async def test_a_recent_listing_stops_paging_early(venue):
    history = [(T0_MS - h * HOUR_MS, 0.0001) for h in range(240, 0, -1)]  # 10 days
    market = pepe_market(**{venue: history})
    async with FakeVenues(market) as fake:
        _, points, hits = await history_of_quote(fake, venue, T0_MS - 30 * DAY_MS, T0_MS)
    assert len(points) == 240
    assert hits == {"bybit": 2, "binance": 1, "okx": 1, "hyperliquid": 1}[venue]


async def test_the_recorded_replies_are_served_without_a_market(fake_venues):
    symbols = {"bybit": "BTCUSDT", "binance": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
    files = {
        "bybit": "bybit/v5_market_funding_history.json",
        "binance": "binance/fapi_v1_fundingRate.json",
        "okx": "okx/api_v5_public_funding_rate_history.json",
        "hyperliquid": "hyperliquid/info_fundingHistory.json",
    }
    for venue in VENUES:
        client = client_for(fake_venues, venue)
        try:
            points = await client.funding_history(symbols.get(venue, "BTC"), 0, T0_MS)
        finally:
            await client.close()
        assert points == PARSERS[venue](fixture_bytes(files[venue])), venue


# --- errors -------------------------------------------------------------------


async def history_error(fake: FakeVenues, venue: str, symbol: str) -> VenueError:
    client = client_for(fake, venue)
    try:
        with pytest.raises(VenueError) as e:
            await client.funding_history(symbol, T0_MS - DAY_MS, T0_MS)
    finally:
        await client.close()
    return e.value


@pytest.mark.parametrize(
    ("venue", "kind", "code"),
    [
        ("bybit", VenueAPIError, "10001"),
        ("okx", VenueAPIError, "51001"),
        ("binance", VenueHTTPError, None),
        ("hyperliquid", VenueHTTPError, None),
    ],
)
async def test_an_unknown_symbol_is_answered_like_the_venue(venue, kind, code):
    async with FakeVenues(pepe_market()) as fake:
        error = await history_error(fake, venue, "NOPE")
    assert type(error) is kind and error.venue == venue
    if code is not None:
        assert error.code == code
    else:
        assert error.status == {"binance": 400, "hyperliquid": 500}[venue]


@pytest.mark.parametrize(
    ("venue", "path", "code"),
    [
        ("bybit", "bybit/error_10006_rate_limit.json", "10006"),
        ("okx", "okx/error_50011_rate_limit.json", "50011"),
    ],
)
async def test_venue_error_envelopes_become_api_errors(venue, path, code):
    async with FakeVenues(pepe_market()) as fake:
        fake.fail(venue, PATHS[venue], Fault.venue_error(json.loads(fixture_bytes(path))))
        error = await history_error(fake, venue, "PEPE")
    assert isinstance(error, VenueAPIError)
    assert error.code == code and error.retryable
    assert error.endpoint == PATHS[venue]


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault("wrong_shape"), VenueBadResponse),
        (Fault("html", status=502), VenueHTTPError),
        (Fault.http(404), VenueHTTPError),
    ],
)
async def test_faults_on_the_history_paths(venue, fault, kind):
    async with FakeVenues(pepe_market()) as fake:
        fake.fail(venue, PATHS[venue], fault)
        error = await history_error(fake, venue, "PEPE")
    assert type(error) is kind
    assert error.endpoint == PATHS[venue]
