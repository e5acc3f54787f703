"""What every venue's public client promises, checked for each venue in the registry against
its fake (`tests/venues/<name>/fake_rest.py`, whose `HISTORY` facts say how its settled-
funding endpoint pages): the recorded replies parse into quotes with a positive interval
and into settlements oldest first; funding history pages within the request bound and
keeps exactly the range asked for; whatever goes wrong on any endpoint arrives as a typed
VenueError naming the venue and the endpoint, retried only where a retry may help."""

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
    VenueRateLimited,
    VenueTimeout,
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
from tests.fakes.private_base import Sleeps
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues, Fault, HistoryFacts

pytestmark = pytest.mark.usefixtures("each_wire")  # each test over each of VenueHttp's wires

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
VENUES = tuple(SPECS)


def fake_rest(venue: str) -> ModuleType:
    return import_module(f"tests.venues.{venue}.fake_rest")


def facts(venue: str) -> HistoryFacts:
    return fake_rest(venue).HISTORY


def client_for(
    fake: FakeVenues, venue: str, *, attempts: int = 1, timeout_s: float = 2, sleeps=None
) -> VenueClient:
    """The venue's client against `fake`; its waits between retries are recorded in `sleeps`,
    not waited."""
    retry = RetryPolicy(attempts=attempts)
    sleep = sleeps or Sleeps()
    http = VenueHttp(venue, fake.url(venue), timeout_s=timeout_s, retry=retry, sleep=sleep)
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
    return points, fake.hits(venue, facts(venue).path)


def hourly(venue: str, n: int, rate=lambda i: round(i * 1e-7, 10)) -> list[tuple[int, float]]:
    """`n` hourly settlements up to T0, on the venue's own time unit."""
    last = T0_MS // HOUR_MS * HOUR_MS
    return [(last - (n - 1 - i) * HOUR_MS, rate(i)) for i in range(n)]


def points_of(history: list[tuple[int, float]]) -> list[FundingPoint]:
    return [FundingPoint(t, r) for t, r in history]


@pytest.mark.parametrize("venue", VENUES)
async def test_two_and_a_half_pages_come_back_complete_ascending_in_three_requests(venue):
    page = facts(venue).page
    history = hourly(venue, 2 * page + page // 2)
    async with FakeVenues(pepe_market(venue, history)) as fake:
        points, hits = await history_of_quote(fake, venue, history[0][0], T0_MS)
    assert points == points_of(history)
    assert hits == 3


@pytest.mark.parametrize("venue", VENUES)
async def test_a_custom_history_round_trips_exactly_with_both_ends_inclusive(venue):
    """Irregular times (off the hour, gaps of 1 to 45 h, in the venue's own time unit) and
    rates that must come back to the bit."""
    unit = facts(venue).unit_ms
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
    capacity = MAX_HISTORY_REQUESTS * facts(venue).page
    history = hourly(venue, capacity + 50)
    async with FakeVenues(pepe_market(venue, history)) as fake:
        points, hits = await history_of_quote(fake, venue, history[0][0], T0_MS)
    assert hits == MAX_HISTORY_REQUESTS
    kept = history[:capacity] if facts(venue).forward else history[-capacity:]
    assert points == points_of(kept)


@pytest.mark.parametrize("venue", VENUES)
async def test_a_recent_listing_stops_paging_at_its_first_settlement(venue):
    history = hourly(venue, 240, rate=lambda _: 0.0001)  # 10 days, asked for 30
    async with FakeVenues(pepe_market(venue, history)) as fake:
        points, hits = await history_of_quote(fake, venue, T0_MS - 30 * DAY_MS, T0_MS)
    assert points == points_of(history)
    assert hits == math.ceil(240 / facts(venue).page)


@pytest.mark.parametrize("venue", VENUES)
async def test_the_recorded_history_is_served_without_a_market(venue):
    symbol, file = facts(venue).recorded
    async with FakeVenues() as fake:
        client = client_for(fake, venue)
        try:
            points = await client.funding_history(symbol, 0, T0_MS)
        finally:
            await client.close()
    assert points and points == decode_history(venue, fixture_bytes(file)).points


P = FundingPoint
# Each recorded settled-funding reply as read off its file, oldest first in ms whatever
# the order and unit the venue writes.
RECORDED_POINTS = {
    "binance": [  # ascending as sent
        P(1788854400000, 0.0001),
        P(1788883200000, 0.00003258),
        P(1788912000000, -0.00001964),
        P(1788940800000, 0.00006117),
        P(1788969600000, 0.00005002),
        P(1788998400000, 0.00004436),
    ],
    "bitget": [  # newest first on the wire
        P(1788912000000, 0.0001),
        P(1788940800000, -0.000013),
        P(1788969600000, 0.000052),
        P(1788998400000, 0.000041),
    ],
    "bybit": [  # newest first on the wire
        P(1788796800000, 0.0001),
        P(1788825600000, 0.0000327),
        P(1788854400000, -0.00001964),
        P(1788883200000, 0.00008112),
        P(1788912000000, 0.0001),
        P(1788940800000, 0.0001),
        P(1788969600000, 0.00005376),
        P(1788998400000, 0.00003618),
    ],
    "gate": [  # newest first and in seconds on the wire
        P(1788854400000, 0.000018),
        P(1788883200000, 0.000071),
        P(1788912000000, 0.0001),
        P(1788940800000, -0.000012),
        P(1788969600000, 0.000052),
        P(1788998400000, 0.000039),
    ],
    "hyperliquid": [  # settled a few ms past the hour; the rate is hourly as sent
        P(1788994800066, 0.0000125),
        P(1788998400071, 0.0000047213),
        P(1789002000058, -0.0000033128),
        P(1789005600063, -0.0000089034),
        P(1789009200069, -0.0000021617),
        P(1789012800061, -0.0000015186),
    ],
    "okx": [  # newest first on the wire; the rate charged (realizedRate)
        P(1788912000000, 0.0000701135210982),
        P(1788940800000, -0.0000119823337217),
        P(1788969600000, 0.0000441293561284),
        P(1788998400000, 0.0000285421766518),
    ],
}


def test_every_venue_has_its_recorded_history_listed():
    assert RECORDED_POINTS.keys() == set(VENUES)


@pytest.mark.parametrize("venue", VENUES)
def test_the_recorded_history_reads_oldest_first_in_ms(venue):
    _, file = facts(venue).recorded
    assert decode_history(venue, fixture_bytes(file)).points == RECORDED_POINTS[venue]


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
    assert e.value.venue == venue and e.value.endpoint == facts(venue).path
    return e.value


@pytest.mark.parametrize("venue", VENUES)
async def test_an_unknown_symbol_is_answered_like_the_venue(venue):
    how, value = facts(venue).unknown_symbol
    async with FakeVenues(pepe_market(venue)) as fake:
        error = await history_error(fake, venue, "NOPE")
    if how == "code":
        assert isinstance(error, VenueAPIError | VenueHTTPError) and error.code == value
    else:
        assert type(error) is VenueHTTPError and error.status == value


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
            facts(venue).path,
            Fault.venue_error(json.loads(fixture_bytes(path))),
        )
        error = await history_error(fake, venue, "PEPE")
    assert isinstance(error, VenueAPIError)
    assert error.code == code and error.retryable


# --- faults on every endpoint ---------------------------------------------------------

ATTEMPTS = 2
# The client's timeout where a fault is a fake that never answers in time: long enough
# that the endpoints that do answer never miss it on a loaded machine.
TIMEOUT_S = 0.3
# A fault, the error it makes, how its message goes on after "<venue> <path>: ", and how
# many requests the endpoint gets with ATTEMPTS allowed: what may pass on a second try
# is tried again, the rest is not.
FAULTS = [
    (Fault.http(500), VenueHTTPError, "HTTP 500", ATTEMPTS),
    (Fault.http(429), VenueRateLimited, "HTTP 429 rate limited", ATTEMPTS),
    (Fault("html", status=502), VenueHTTPError, "HTTP 502 (HTML error page)", ATTEMPTS),
    (Fault("timeout", delay_s=0.8), VenueTimeout, f"no answer within {TIMEOUT_S:g} s", ATTEMPTS),
    (Fault.http(404), VenueHTTPError, "HTTP 404", 1),
    (Fault("html"), VenueBadResponse, "HTML page instead of JSON", 1),
    (Fault("garbage"), VenueBadResponse, "bad JSON", 1),
    (Fault("truncated"), VenueBadResponse, "bad JSON", 1),
    (Fault("wrong_shape"), VenueBadResponse, "wrong-shaped JSON", 1),
]


async def scan(client: VenueClient, fake: FakeVenues, venue: str) -> VenueFetch:
    return await client.fetch_quotes()


async def one_day(client: VenueClient, fake: FakeVenues, venue: str) -> list[FundingPoint]:
    symbol = fake.symbols[venue](fake.market.perps(venue)[0])
    return await client.funding_history(symbol, T0_MS - DAY_MS, T0_MS)


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    ("fault", "kind", "reason", "requests"), FAULTS, ids=[f[0].kind for f in FAULTS]
)
async def test_a_fault_on_any_endpoint_is_typed_named_and_retried_if_it_may_pass(
    venue, fault, kind, reason, requests
):
    """Each endpoint a scan or a history request reads, failed in turn for a fresh client:
    the call fails with the typed error naming it (never its query), or, where that part of
    the scan is optional, the quotes come with a warning saying the same."""
    timeout_s = TIMEOUT_S if fault.kind == "timeout" else 2
    async with FakeVenues(pepe_market(venue)) as fake:
        await fetch(fake, venue)
        endpoints = [(scan, path) for path in sorted({r.path for r in fake.requests})]
        for call, path in [*endpoints, (one_day, facts(venue).path)]:
            fake.requests.clear()
            fake.fail(venue, path, fault)
            sleeps = Sleeps()
            client = client_for(fake, venue, attempts=ATTEMPTS, timeout_s=timeout_s, sleeps=sleeps)
            said = f"{venue} {path}: {reason}"
            try:
                got = await call(client, fake, venue)
            except VenueError as e:
                assert type(e) is kind and (e.venue, e.endpoint) == (venue, path)
                assert str(e).startswith(said) and "=" not in str(e), (str(e), said)
            else:
                assert call is scan and got.quotes, path
                assert any(said in w for w in got.warnings), (got.warnings, said)
            finally:
                await client.close()
            assert fake.hits(venue, path) == requests, (path, call)
            assert len(sleeps.calls) == requests - 1  # a backoff before each retry
            fake.clear_faults()
    assert len(endpoints) >= 1
