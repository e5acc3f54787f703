"""What every venue's public client promises, checked for each venue in the registry against
its fake (`tests/venues/<name>/fake_rest.py`, whose HISTORY_* facts say how its settled-
funding endpoint pages): the recorded replies parse into quotes with a positive interval;
funding history pages within the request bound and keeps exactly the range asked for;
whatever goes wrong arrives as a VenueError naming the venue and the endpoint."""

from __future__ import annotations

import json
import math
from importlib import import_module
from types import ModuleType

import pytest

from arb.http import (
    RetryPolicy,
    VenueAPIError,
    VenueBadResponse,
    VenueError,
    VenueHttp,
    VenueHTTPError,
)
from arb.venues.base import (
    MAX_HISTORY_REQUESTS,
    FundingPoint,
    HistoryPage,
    VenueClient,
    VenueFetch,
)
from arb.venues.registry import SPECS
from tests.conftest import T0_MS, fixture_bytes
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues, Fault

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
VENUES = tuple(SPECS)


def fake_rest(venue: str) -> ModuleType:
    return import_module(f"tests.venues.{venue}.fake_rest")


def client_for(fake: FakeVenues, venue: str) -> VenueClient:
    http = VenueHttp(venue, fake.url(venue), timeout_s=2, retry=RetryPolicy(attempts=1))
    return SPECS[venue].client_class()(http)


def decode_history(venue: str, body: bytes) -> HistoryPage:
    return import_module(f"arb.venues.{venue}.rest").decode_funding_history(body)


# --- quotes ---------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
async def test_every_recorded_reply_parses_into_quotes_with_a_positive_interval(venue):
    async with FakeVenues() as fake:
        fetched = await fetch(fake, venue)
    assert fetched.quotes and fetched.warnings == []
    for q in fetched.quotes:
        assert q.venue == venue and q.symbol and q.asset
        assert q.interval_h > 0 and math.isfinite(q.rate)
        assert q.multiplier >= 1 and q.settle in ("USDT", "USDC")
        assert q.mark_price is None or q.mark_price > 0
    assert len({q.symbol for q in fetched.quotes}) == len(fetched.quotes)


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault("wrong_shape"), VenueBadResponse),
        (Fault("garbage"), VenueBadResponse),
        (Fault("html", status=502), VenueHTTPError),
        (Fault.http(404), VenueHTTPError),
    ],
)
async def test_a_fault_on_any_quotes_endpoint_is_a_venue_error(venue, fault, kind):
    """Each endpoint the scan reads, failed in turn for a fresh client: the scan fails with
    a typed VenueError naming it, or, where that part is optional, goes on with a warning
    that names it."""
    async with FakeVenues() as fake:
        await fetch(fake, venue)
        paths = sorted({r.path for r in fake.requests})
        for path in paths:
            fake.fail(venue, path, fault)
            try:
                fetched = await fetch(fake, venue)
            except VenueError as e:
                assert type(e) is kind and e.venue == venue and e.endpoint == path
            else:
                assert fetched.quotes
                assert any(path in w for w in fetched.warnings), (path, fetched.warnings)
            fake.clear_faults()
    assert paths


async def fetch(fake: FakeVenues, venue: str) -> VenueFetch:
    client = client_for(fake, venue)
    try:
        return await client.fetch_quotes()
    finally:
        await client.close()


# --- funding history ------------------------------------------------------------------


def pepe_market(venue: str, history: list[tuple[int, float]] | None = None) -> FakeMarket:
    """PEPE under the venue's own name (1000PEPEUSDT, PEPE-USDT-SWAP, kPEPE...), hourly."""
    perp = FakePerp(
        "PEPE",
        0.0000125,
        1.0,
        price=0.0000036,
        multiplier=1 if venue == "okx" else 1000,
        history=history,
    )
    return FakeMarket(now_ms=T0_MS, venues={venue: [perp]})


async def history_of_quote(fake: FakeVenues, venue: str, start_ms: int, end_ms: int):
    """History asked for by the symbol the client's own quote carries, and how many
    history requests it took."""
    client = client_for(fake, venue)
    try:
        (quote,) = (await client.fetch_quotes()).quotes
        assert quote.symbol == fake.symbols[venue](fake.market.perps(venue)[0])
        fake.requests.clear()
        points = await client.funding_history(quote.symbol, start_ms, end_ms)
    finally:
        await client.close()
    return points, fake.hits(venue, fake_rest(venue).HISTORY_PATH)


def hourly(venue: str, n: int, rate=lambda i: round(i * 1e-7, 10)) -> list[tuple[int, float]]:
    """`n` hourly settlements up to T0, on the venue's own time unit."""
    last = T0_MS // HOUR_MS * HOUR_MS
    return [(last - (n - 1 - i) * HOUR_MS, rate(i)) for i in range(n)]


def points_of(history: list[tuple[int, float]]) -> list[FundingPoint]:
    return [FundingPoint(t, r) for t, r in history]


@pytest.mark.parametrize("venue", VENUES)
async def test_two_and_a_half_pages_come_back_complete_ascending_in_three_requests(venue):
    page = fake_rest(venue).HISTORY_PAGE
    history = hourly(venue, 2 * page + page // 2)
    async with FakeVenues(pepe_market(venue, history)) as fake:
        points, hits = await history_of_quote(fake, venue, history[0][0], T0_MS)
    assert points == points_of(history)
    assert hits == 3


@pytest.mark.parametrize("venue", VENUES)
async def test_a_custom_history_round_trips_exactly_with_both_ends_inclusive(venue):
    """Irregular times (off the hour, gaps of 1 to 45 h, in the venue's own time unit) and
    rates that must come back to the bit."""
    unit = fake_rest(venue).HISTORY_UNIT_MS
    rates = [0.000123456789, -0.0000015186, 0.0, 1e-8, 0.02, -0.00102581, 0.0000285421766518]
    offsets = [(70, 7000), (62, 66), (54, 3), (9, 0), (8, 71), (2, 0), (1, 0)]
    times = [(T0_MS - h * HOUR_MS - ms) // unit * unit for h, ms in offsets]
    history = list(zip(times, rates, strict=True))
    async with FakeVenues(pepe_market(venue, history)) as fake:
        points, _ = await history_of_quote(fake, venue, T0_MS - 100 * HOUR_MS, T0_MS)
        inner, _ = await history_of_quote(fake, venue, history[1][0], history[-2][0])
    assert points == points_of(history)
    assert inner == points_of(history[1:-1])


@pytest.mark.parametrize("venue", VENUES)
async def test_the_request_bound_keeps_the_end_the_venue_pages_from(venue):
    """Past MAX_HISTORY_REQUESTS pages the most recent settlements are kept, or the oldest
    where the venue answers forward from a start time."""
    facts = fake_rest(venue)
    capacity = MAX_HISTORY_REQUESTS * facts.HISTORY_PAGE
    history = hourly(venue, capacity + 50)
    async with FakeVenues(pepe_market(venue, history)) as fake:
        points, hits = await history_of_quote(fake, venue, history[0][0], T0_MS)
    assert hits == MAX_HISTORY_REQUESTS
    kept = history[:capacity] if facts.HISTORY_FORWARD else history[-capacity:]
    assert points == points_of(kept)


@pytest.mark.parametrize("venue", VENUES)
async def test_a_recent_listing_stops_paging_at_its_first_settlement(venue):
    history = hourly(venue, 240, rate=lambda _: 0.0001)  # 10 days, asked for 30
    async with FakeVenues(pepe_market(venue, history)) as fake:
        points, hits = await history_of_quote(fake, venue, T0_MS - 30 * DAY_MS, T0_MS)
    assert points == points_of(history)
    assert hits == math.ceil(240 / fake_rest(venue).HISTORY_PAGE)


@pytest.mark.parametrize("venue", VENUES)
async def test_the_recorded_history_is_served_without_a_market(venue):
    symbol, file = fake_rest(venue).RECORDED_HISTORY
    async with FakeVenues() as fake:
        client = client_for(fake, venue)
        try:
            points = await client.funding_history(symbol, 0, T0_MS)
        finally:
            await client.close()
    assert points and points == decode_history(venue, fixture_bytes(file)).points


JUNK = [("", "0.0001"), ("3600000", ""), ("7200000", "abc"), ("10800000", None)]
JUNK += [("14400000", "NaN"), (None, "0.0001")]


@pytest.mark.parametrize("venue", VENUES)
def test_junk_history_rows_are_skipped_but_counted_for_paging(venue):
    """One unreadable settlement says nothing of the others; the page's length counts it,
    as a page as long as the limit may have more behind it."""
    body = fake_rest(venue).history_reply([*JUNK, ("18000000", "-0.0002")])
    page = decode_history(venue, body)
    assert page.points == [FundingPoint(18000000, -0.0002)]
    assert page.rows == 7


async def history_error(fake: FakeVenues, venue: str, symbol: str) -> VenueError:
    client = client_for(fake, venue)
    try:
        with pytest.raises(VenueError) as e:
            await client.funding_history(symbol, T0_MS - DAY_MS, T0_MS)
    finally:
        await client.close()
    assert e.value.venue == venue and e.value.endpoint == fake_rest(venue).HISTORY_PATH
    return e.value


@pytest.mark.parametrize("venue", VENUES)
async def test_an_unknown_symbol_is_answered_like_the_venue(venue):
    how, value = fake_rest(venue).UNKNOWN_SYMBOL
    async with FakeVenues(pepe_market(venue)) as fake:
        error = await history_error(fake, venue, "NOPE")
    if how == "code":
        assert isinstance(error, VenueAPIError | VenueHTTPError) and error.code == value
    else:
        assert type(error) is VenueHTTPError and error.status == value


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault("wrong_shape"), VenueBadResponse),
        (Fault("html", status=502), VenueHTTPError),
        (Fault.http(404), VenueHTTPError),
    ],
)
async def test_faults_on_the_history_path_are_typed(venue, fault, kind):
    async with FakeVenues(pepe_market(venue)) as fake:
        fake.fail(venue, fake_rest(venue).HISTORY_PATH, fault)
        error = await history_error(fake, venue, "PEPE")
    assert type(error) is kind


@pytest.mark.parametrize(
    ("venue", "path", "code"),
    [
        ("bybit", "bybit/error_10006_rate_limit.json", "10006"),
        ("okx", "okx/error_50011_rate_limit.json", "50011"),
    ],
)
async def test_a_venue_error_envelope_with_http_200_is_an_api_error(venue, path, code):
    async with FakeVenues(pepe_market(venue)) as fake:
        fake.fail(
            venue,
            fake_rest(venue).HISTORY_PATH,
            Fault.venue_error(json.loads(fixture_bytes(path))),
        )
        error = await history_error(fake, venue, "PEPE")
    assert isinstance(error, VenueAPIError)
    assert error.code == code and error.retryable
