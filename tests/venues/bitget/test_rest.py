"""Bitget: the parsers on the recorded replies, the client against the fake venue (figures,
caching, faults, error envelopes), funding history paged within its request bound, and
order books read per coin in coins (a 1000x symbol's in units of 1000)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import msgspec
import pytest

from arb.depth import Level
from arb.http import (
    ReplyError,
    ReplyShapeError,
    RetryPolicy,
    VenueAPIError,
    VenueError,
    VenueHttp,
    VenueHTTPError,
)
from arb.venues.base import MAX_HISTORY_REQUESTS, FundingPoint, Sizing
from arb.venues.bitget import account, stream
from arb.venues.bitget import rest as bitget
from arb.venues.bitget.rest import BitgetClient, Schedule
from tests.conftest import T0, T0_MS, fixture_bytes
from tests.fakes.private_base import Sleeps
from tests.fakes.venues import Clock, FakeMarket, FakePerp, FakeVenues, Fault, by_symbol
from tests.venues.bitget.fake_rest import (
    BITGET_CONTRACTS,
    BITGET_CURRENT_FUNDING,
    BITGET_DEPTH,
    BITGET_FUNDING_HISTORY,
    BITGET_TICKERS,
    DATED_SYMBOL,
    bitget_symbol,
    install,
)
from tests.venues.hand_fills import HandFill, RecordedBook

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TICKERS_FILE = "bitget/api_v2_mix_market_tickers_USDT-FUTURES.json"
SCHEDULES_FILE = "bitget/api_v2_mix_market_current_fund_rate_USDT-FUTURES.json"
HISTORY_FILE = "bitget/api_v2_mix_market_history_fund_rate.json"
CONTRACTS_FILE = "bitget/api_v2_mix_market_contracts_USDT-FUTURES.json"
DEPTH_FILE = "bitget/api_v2_mix_market_merge_depth_BTCUSDT.json"


def envelope(rows) -> bytes:
    return json.dumps({"code": "00000", "msg": "success", "requestTime": 0, "data": rows}).encode()


def fixture_quotes():
    rows = bitget.decode_tickers(fixture_bytes(TICKERS_FILE))
    schedules = bitget.parse_schedules(fixture_bytes(SCHEDULES_FILE))
    return by_symbol(bitget.join_quotes(rows, schedules, T0))


# --- parsing the recorded replies ----------------------------------------------------


def test_tickers_joined_with_each_symbols_own_interval_and_next_funding():
    quotes = fixture_quotes()
    assert len(quotes) == 8
    ape = quotes["APEUSDT"]
    assert (ape.asset, ape.rate, ape.interval_h) == ("APE", 0.000264, 1.0)
    assert ape.next_funding_time == 1789016400000  # 05:00Z, T0 being 04:52:22Z
    assert ape.mark_price == 0.1378
    assert ape.turnover_24h == 12689205.6647  # quoteVolume, USDT
    assert ape.open_interest_value == pytest.approx(36825738.5522 * 0.1378)
    assert (ape.multiplier, ape.settle, ape.received_at) == (1.0, "USDT", T0)
    soph = quotes["SOPHUSDT"]
    assert (soph.rate, soph.interval_h) == (-0.000815, 4.0)
    assert soph.hourly == pytest.approx(-0.000815 / 4)
    assert soph.next_funding_time == 1789027200000  # 08:00Z
    btc = quotes["BTCUSDT"]
    assert (btc.rate, btc.interval_h, btc.mark_price) == (0.000034, 8.0, 77606.2)
    assert btc.turnover_24h == 1440479188.1413
    assert btc.open_interest_value == pytest.approx(7424.5586 * 77606.2)
    assert quotes["LDOUSDT"].interval_h == 4.0


def test_schedules_fixture():
    schedules = bitget.parse_schedules(fixture_bytes(SCHEDULES_FILE))
    assert len(schedules) == 8
    assert schedules["APEUSDT"] == Schedule(1.0, 1789016400000)
    assert schedules["LDOUSDT"] == Schedule(4.0, 1789027200000)
    assert schedules["BTCUSDT"] == Schedule(8.0, 1789027200000)


def test_a_1000x_contract_is_priced_per_1000_coins():
    row = json.loads(fixture_bytes(TICKERS_FILE))["data"][0]
    row.update(symbol="1000BONKUSDT", fundingRate="-0.00005", markPrice="0.012345")
    row.update(quoteVolume="8800000.5", holdingAmount="2000000")
    body = envelope([row])
    schedules = {"1000BONKUSDT": Schedule(4.0, 1789027200000)}
    (bonk,) = bitget.join_quotes(bitget.decode_tickers(body), schedules, T0)
    assert (bonk.asset, bonk.multiplier, bonk.mark_price) == ("BONK", 1000.0, 0.012345)
    assert bonk.unit_price == pytest.approx(0.000012345)
    assert bonk.open_interest_value == pytest.approx(2000000 * 0.012345)
    assert (bonk.rate, bonk.interval_h) == (-0.00005, 4.0)


def test_junk_rows_are_skipped_and_blanks_mean_missing():
    def ticker(symbol, **fields):
        row = {"symbol": symbol, "fundingRate": "0.0001", "markPrice": "2", "deliveryTime": None}
        return {**row, **fields}

    tickers = [
        ticker("XUSDT", deliveryTime="1790323200000"),  # a perpetual set to settle: delisting
        ticker(DATED_SYMBOL, fundingRate="0", deliveryTime="1790323200000"),  # a dated future
        ticker("YUSDT", fundingRate=""),
        ticker("ZUSDT", fundingRate=None),
        ticker("NEWUSDT"),  # not in the schedule table yet
        ticker("BTCUSD"),  # coin-margined
        ticker("FLATUSDT"),  # an interval of 0 in the table
        ticker("OKUSDT", markPrice="", quoteVolume=None, deliveryTime=""),
        ticker("ZERORATEUSDT", fundingRate="0"),
    ]
    settings = [
        {"symbol": s, "fundingRateInterval": "8", "nextUpdate": "1789027200000"}
        for s in ("XUSDT", DATED_SYMBOL, "YUSDT", "ZUSDT", "BTCUSD", "ZERORATEUSDT")
    ]
    settings += [
        {"symbol": "FLATUSDT", "fundingRateInterval": "0", "nextUpdate": "1789027200000"},
        {"symbol": "OKUSDT", "fundingRateInterval": "2", "nextUpdate": ""},
    ]
    schedules = bitget.parse_schedules(envelope(settings))
    assert "FLATUSDT" not in schedules
    quotes = by_symbol(bitget.join_quotes(bitget.decode_tickers(envelope(tickers)), schedules, T0))
    assert sorted(quotes) == ["OKUSDT", "ZERORATEUSDT"]
    ok = quotes["OKUSDT"]
    assert (ok.rate, ok.interval_h) == (0.0001, 2.0)
    assert ok.mark_price is None and ok.turnover_24h is None
    assert ok.open_interest_value is None and ok.next_funding_time is None
    assert quotes["ZERORATEUSDT"].rate == 0.0  # a zero rate is a quote, not a gap


@pytest.mark.parametrize(
    ("next_ms", "interval_h", "now_ms", "expected"),
    [
        (T0_MS + 1, 8.0, T0_MS, T0_MS + 1),  # still ahead: as read
        (5 * HOUR_MS, 1.0, 5 * HOUR_MS, 6 * HOUR_MS),  # settling now: the next one
        (8 * HOUR_MS, 4.0, 13 * HOUR_MS + 1, 16 * HOUR_MS),  # two settlements passed
    ],
)
def test_a_cached_settlement_rolls_forward_by_whole_intervals(
    next_ms, interval_h, now_ms, expected
):
    assert bitget.roll_forward(next_ms, interval_h, now_ms) == expected


@pytest.mark.parametrize(
    ("code", "retryable"), [("40009", False), ("429", True), ("40015", True), ("40034", False)]
)
@pytest.mark.parametrize(
    "parse",
    [bitget.decode_tickers, bitget.parse_schedules, bitget.decode_funding_history],
)
def test_error_envelopes_are_reply_errors(parse, code, retryable):
    doc = json.loads(fixture_bytes("bitget/error_40009_sign.json"))
    with pytest.raises(ReplyError) as e:
        parse(json.dumps({**doc, "code": code}).encode())
    assert (e.value.code, e.value.retryable) == (code, retryable)
    if code == "40009":
        assert e.value.message == "sign signature error"


def test_a_numeric_error_code_reads_like_a_string_one():
    with pytest.raises(ReplyError) as e:
        bitget.decode_tickers(b'{"code":429,"msg":"Too Many Requests","data":null}')
    assert (e.value.code, e.value.retryable) == ("429", True)


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":"00000","data":{}}',
        b'{"code":"00000","data":[{"symbol":"XUSDT","fundingRate":"abc"}]}',
        b'{"msg":"no code"}',
    ],
)
def test_wrong_shape_is_a_decode_error(body):
    with pytest.raises(msgspec.DecodeError):
        bitget.decode_tickers(body)


# --- the client against the fake venue ------------------------------------------------


def client_for(fake, *, attempts=1, timeout_s=2.0, clock=None, sleeps=None) -> BitgetClient:
    http = VenueHttp(
        "bitget",
        fake.url("bitget"),
        timeout_s=timeout_s,
        retry=RetryPolicy(attempts=attempts),
        sleep=sleeps or Sleeps(),
    )
    return BitgetClient(http) if clock is None else BitgetClient(http, clock=clock)


def desk_market() -> FakeMarket:
    """1, 2, 4 and 8 h intervals, both signs, and a 1000x contract."""
    P = FakePerp
    return FakeMarket(
        now_ms=T0_MS,
        venues={
            "bitget": [
                P("APE", 0.000264, 1, price=0.1378, turnover=12689205.6647, open_interest=3.6e7),
                P("LDO", 0.0001, 2, price=0.3498, turnover=9117440.3957),
                P("SOPH", -0.000815, 4, price=0.004149, open_interest=4.5e8),
                P("BTC", 0.000034, 8, price=77606.2, turnover=1.44e9, open_interest=7424.5586),
                P("BONK", -0.00005, 4, price=0.000012345, multiplier=1000, open_interest=2e9),
            ]
        },
    )


@dataclass
class Bitget:
    """A started fake with the Bitget routes, and a client on a controllable clock."""

    fake: FakeVenues
    client: BitgetClient
    clock: Clock


@pytest.fixture
async def venue():
    async with FakeVenues(desk_market()) as fake:
        install(fake)
        clock = Clock(T0)
        client = client_for(fake, clock=clock)
        try:
            yield Bitget(fake, client, clock)
        finally:
            await client.close()


async def test_quotes_are_the_markets_figures(venue):
    market = venue.fake.market
    quotes = by_symbol((await venue.client.fetch_quotes()).quotes)
    perps = market.perps("bitget")
    assert DATED_SYMBOL not in quotes
    assert len(quotes) == len(perps)
    for p in perps:
        q = quotes[bitget_symbol(p)]
        assert (q.asset, q.rate, q.interval_h) == (p.asset, p.rate, p.interval_h)
        assert q.next_funding_time == market.next_settlement(p.interval_h)
        assert q.mark_price == p.price * p.multiplier
        assert q.unit_price == pytest.approx(p.price)
        assert q.multiplier == p.multiplier and q.settle == "USDT"
        assert q.turnover_24h == p.turnover
        assert q.open_interest_value == pytest.approx(p.open_interest * p.price)
    assert quotes["1000BONKUSDT"].asset == "BONK"
    assert quotes["LDOUSDT"].next_funding_time == T0_MS - T0_MS % (2 * HOUR_MS) + 2 * HOUR_MS


async def test_one_call_per_scan_once_the_schedules_are_cached(venue):
    fake = venue.fake
    await venue.client.fetch_quotes()
    assert fake.hits("bitget", BITGET_TICKERS) == fake.hits("bitget", BITGET_CURRENT_FUNDING) == 1
    assert all(r.query == {"productType": "USDT-FUTURES"} for r in fake.requests)
    venue.clock.now += 59
    await venue.client.fetch_quotes()
    assert fake.hits("bitget", BITGET_TICKERS) == 2
    assert fake.hits("bitget", BITGET_CURRENT_FUNDING) == 1
    venue.clock.now += 2  # a minute on: the table is read again
    await venue.client.fetch_quotes()
    assert fake.hits("bitget", BITGET_CURRENT_FUNDING) == 2


async def test_stale_schedules_still_give_the_upcoming_settlement(venue):
    """Past the TTL and past a settlement, with current-fund-rate failing: the last table
    is served, and each next funding moves on by its own interval."""
    fake, market = venue.fake, venue.fake.market
    await venue.client.fetch_quotes()
    market.now_ms = T0_MS + 10 * 60_000  # 05:02:22Z: APE settled at 05:00
    venue.clock.now = market.now_ms / 1000
    fake.fail("bitget", BITGET_CURRENT_FUNDING, Fault.http(500))
    quotes = by_symbol((await venue.client.fetch_quotes()).quotes)
    assert fake.hits("bitget", BITGET_CURRENT_FUNDING) == 2
    assert quotes["APEUSDT"].next_funding_time == 1789016400000 + HOUR_MS
    assert quotes["BTCUSDT"].next_funding_time == 1789027200000
    for p in market.perps("bitget"):
        assert quotes[bitget_symbol(p)].next_funding_time == market.next_settlement(p.interval_h)


async def test_the_recorded_replies_are_served_without_a_market():
    async with FakeVenues() as fake:
        install(fake)
        client = client_for(fake)
        try:
            got = await client.fetch_quotes()
        finally:
            await client.close()
    quotes = by_symbol(got.quotes)
    assert quotes.keys() == fixture_quotes().keys()
    assert quotes["APEUSDT"].rate == 0.000264


async def test_the_fake_honours_the_query_like_bitget(venue):
    http = venue.client.http
    one = await http.get(
        BITGET_CURRENT_FUNDING,
        {"productType": "usdt-futures", "symbol": "APEUSDT"},
        decode=bitget.parse_schedules,
    )
    assert one == {"APEUSDT": Schedule(1.0, 1789016400000)}
    refusals = [
        (BITGET_TICKERS, {}, "40019"),
        (BITGET_TICKERS, {"productType": "COIN-FUTURES"}, "40034"),
        (BITGET_CURRENT_FUNDING, {"productType": "USDT-FUTURES", "symbol": "NOPEUSDT"}, "40034"),
        (BITGET_FUNDING_HISTORY, {"productType": "USDT-FUTURES"}, "40019"),
        (
            BITGET_FUNDING_HISTORY,
            {"productType": "USDT-FUTURES", "symbol": "BTCUSDT", "pageSize": "101"},
            "40017",
        ),
    ]
    for path, params, code in refusals:
        with pytest.raises(VenueHTTPError) as e:
            await http.get(path, params, decode=bitget.decode_tickers)
        assert (e.value.status, e.value.code) == (400, code), (path, params)


# --- error envelopes (the faults every venue shares: tests/venues/test_rest_contract.py) ---

ENDPOINTS = (
    BITGET_TICKERS,
    BITGET_CURRENT_FUNDING,
    BITGET_FUNDING_HISTORY,
    BITGET_DEPTH,
    BITGET_CONTRACTS,
)


async def call(client: BitgetClient, path: str):
    """The client call that reaches `path`: a scan, one day of history or a book."""
    if path == BITGET_FUNDING_HISTORY:
        return await client.funding_history("BTCUSDT", T0_MS - DAY_MS, T0_MS)
    if path in (BITGET_DEPTH, BITGET_CONTRACTS):
        return await client.order_book("BTCUSDT")
    return await client.fetch_quotes()


async def failure(path: str, fault: Fault, **client_kw) -> tuple[VenueError, FakeVenues, Sleeps]:
    sleeps = Sleeps()
    async with FakeVenues(desk_market()) as fake:
        install(fake)
        fake.fail("bitget", path, fault)
        client = client_for(fake, sleeps=sleeps, **client_kw)
        try:
            with pytest.raises(VenueError) as e:
                await call(client, path)
        finally:
            await client.close()
    return e.value, fake, sleeps


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_an_error_envelope_is_an_api_error(path):
    body = json.loads(fixture_bytes("bitget/error_40009_sign.json"))
    error, fake, _ = await failure(path, Fault.venue_error(body), attempts=3)
    assert type(error) is VenueAPIError
    assert str(error) == f"bitget {path}: venue error 40009: sign signature error"
    assert not error.retryable and fake.hits("bitget", path) == 1


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_rate_limit_envelope_is_retried(path):
    sleeps = Sleeps()
    body = {"code": "429", "msg": "Too Many Requests", "requestTime": T0_MS, "data": None}
    async with FakeVenues(desk_market()) as fake:
        install(fake)
        fake.fail("bitget", path, Fault.venue_error(body, times=1))
        client = client_for(fake, attempts=3, sleeps=sleeps)
        try:
            assert await call(client, path)
        finally:
            await client.close()
    assert fake.hits("bitget", path) == 2 and len(sleeps.calls) == 1


# --- order books -------------------------------------------------------------------


def btc_book():
    sizing = bitget.parse_sizing(fixture_bytes(CONTRACTS_FILE))["BTCUSDT"]
    return bitget.parse_book(fixture_bytes(DEPTH_FILE), "BTCUSDT", sizing, T0)


# By hand, mid (77617.4 + 77617.5) / 2 = 77617.45. The docs' futures example writes numbers;
# BTCUSDT's sizeMultiplier and minTradeNum (the docs' row) are 0.01 BTC.
#
# Buy $800,000: 7.919 BTC at 77617.5 (614,652.9825) and 0.25 at 77617.6 (19,404.4)
# leave 165,942.6175 = 2.137939... BTC at 77618; 10.306939... BTC is 10.30 in lots of
# 0.01, so 2.131 at 77618 (165,403.958): 799,461.3405 in all, vwap
# 799,461.3405 / 10.3 = 77617.605873786408, slippage
# (77617.605873786408 - 77617.45) / 77617.45 x 1e4 = 0.020082312213010 bp.
#
# Sell $30,000: the best bid's 0.539 BTC are worth 41,835.7786, so 30,000 / 77617.4 =
# 0.386511... BTC, 0.38 in lots: 29,494.612 at 77617.4, slippage
# (77617.45 - 77617.4) / 77617.45 x 1e4 = 0.0064418503828714 bp.
RECORDED = RecordedBook(
    "BTCUSDT",
    bids=((77617.4, 0.539), (77617.0, 2.1), (77616.3, 6.0)),
    asks=((77617.5, 7.919), (77617.6, 0.25), (77618.0, 3.5)),
    lot=0.01,
    min_qty=0.01,
    fills=(
        HandFill("buy", 800_000, 10.3, 799_461.3405, 77617.605873786408, 0.020082312213010),
        HandFill("sell", 30_000, 0.38, 29_494.612, 77617.4, 0.0064418503828714),
    ),
    levels=5,
    mid=77617.45,
)


def test_the_recorded_book_is_per_coin_in_coins_and_fills_as_worked_by_hand():
    book = btc_book()
    assert book.received_at == T0
    RECORDED.check(book, "bitget")


def test_a_1000x_book_and_its_lots_are_converted_by_the_symbols_multiplier():
    # Constructed: 1000BONKUSDT is priced per 1000 BONK and sized in those thousands.
    contract = {"symbol": "1000BONKUSDT", "sizeMultiplier": "1", "minTradeNum": "5"}
    dated = {"symbol": "BTCUSDT_260925", "sizeMultiplier": "0.001", "minTradeNum": "0.001"}
    table = bitget.parse_sizing(envelope([contract, dated]))
    assert table == {"1000BONKUSDT": Sizing(1000, 1000.0, 5000.0)}
    body = envelope({"asks": [["0.02081", "12.5"]], "bids": [[0.0208, 40], ["0", "3"]]})
    book = bitget.parse_book(body, "1000BONKUSDT", table["1000BONKUSDT"], T0)
    assert book.asks == (Level(0.00002081, 12_500.0),)
    assert book.bids == (Level(0.0000208, 40_000.0),)  # the level priced 0 dropped


def test_a_null_book_is_no_book_and_a_wrong_level_a_decode_error():
    sizing = Sizing(1, 0.01, 0.01)
    with pytest.raises(ReplyShapeError):
        bitget.parse_book(envelope(None), "BTCUSDT", sizing, T0)
    with pytest.raises(msgspec.ValidationError):
        bitget.parse_book(envelope({"asks": [["1", "2", "3"]], "bids": []}), "X", sizing, T0)


async def test_a_book_asks_for_the_deepest_unmerged_depth(venue):
    """(The round trip in coins, for every venue: tests/venues/test_book_contract.py.)"""
    fake = venue.fake
    book = await venue.client.order_book("1000BONKUSDT")
    (sent,) = [r.query for r in fake.requests if r.path == BITGET_DEPTH]
    assert sent == {
        "symbol": "1000BONKUSDT",
        "productType": "USDT-FUTURES",
        "precision": "scale0",
        "limit": "max",
    }
    assert book.asks[0].price == pytest.approx(0.000012345, rel=1e-3)  # per coin
    with pytest.raises(VenueError) as e:
        await venue.client.order_book(DATED_SYMBOL)  # listed, but not a perpetual of ours
    assert type(e.value) is VenueError and fake.hits("bitget", BITGET_DEPTH) == 1


async def test_the_recorded_book_is_served_without_a_market():
    async with FakeVenues() as fake:
        client = client_for(fake)
        try:
            book = await client.order_book("BTCUSDT")
        finally:
            await client.close()
    assert book.asks == btc_book().asks and book.lot == 0.01


# --- funding history ----------------------------------------------------------------


def pepe_market(interval_h: float = 1.0, history=None, market=FakeMarket) -> FakeMarket:
    return market(
        now_ms=T0_MS,
        venues={
            "bitget": [
                FakePerp(
                    "PEPE", 0.0000125, interval_h, price=0.0000036, multiplier=1000, history=history
                )
            ]
        },
    )


async def history(market: FakeMarket, start_ms: int, end_ms: int, symbol="1000PEPEUSDT"):
    """History of `symbol` and the history requests' queries."""
    async with FakeVenues(market) as fake:
        install(fake)
        client = client_for(fake)
        try:
            points = await client.funding_history(symbol, start_ms, end_ms)
        finally:
            await client.close()
    return points, [r.query for r in fake.requests if r.path == BITGET_FUNDING_HISTORY]


def expected(market: FakeMarket, start_ms: int, end_ms: int) -> list[FundingPoint]:
    (perp,) = market.perps("bitget")
    return [FundingPoint(t, r) for t, r in market.settled(perp) if start_ms <= t <= end_ms]


async def test_thirty_days_at_8h_take_one_request():
    market = pepe_market(8.0)
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    points, queries = await history(market, start, end)
    assert len(points) == 90
    assert points == expected(market, start, end)
    assert queries == [
        {"symbol": "1000PEPEUSDT", "productType": "USDT-FUTURES", "pageSize": "100", "pageNo": "1"}
    ]


async def test_the_request_bound_keeps_the_most_recent_settlements():
    market = pepe_market(1.0)
    start, end = T0_MS - 30 * DAY_MS, T0_MS
    points, queries = await history(market, start, end)
    wanted = expected(market, start, end)
    assert len(wanted) == 720
    assert points == wanted[-MAX_HISTORY_REQUESTS * bitget.HISTORY_LIMIT :]
    assert [q["pageNo"] for q in queries] == ["1", "2", "3", "4"]


async def test_paging_stops_once_the_start_is_covered():
    market = pepe_market(1.0)
    start, end = T0_MS - 5 * DAY_MS, T0_MS - 2 * DAY_MS
    points, queries = await history(market, start, end)
    assert points == expected(market, start, end) and len(points) == 72
    assert len(queries) == 2  # 120 settlements back from now cover the start


@dataclass
class SettlingMarket(FakeMarket):
    """Each history request after the first sees one more settlement, as when one lands
    between two pages."""

    reads: int = 0

    def settled(self, perp: FakePerp) -> list[tuple[int, float]]:
        rows = super().settled(perp)
        self.reads += 1
        return rows if self.reads == 1 else [*rows, (rows[-1][0] + HOUR_MS, 0.0009)]


async def test_a_settlement_between_pages_loses_nothing_and_repeats_nothing():
    listing = [(T0_MS - h * HOUR_MS, round(h * 1e-6, 8)) for h in range(250, 0, -1)]
    market = pepe_market(history=listing, market=SettlingMarket)
    points, queries = await history(market, T0_MS - 30 * DAY_MS, T0_MS)
    assert len(queries) == 3
    assert points == [FundingPoint(t, r) for t, r in listing]


# --- one symbol rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "quoted"),
    [("牛来USDT", True), ("1000BONKUSDT", True), ("AB-CUSDT", False), ("btc-usdt", False)],
)
def test_every_symbol_the_scan_quotes_is_one_positions_and_the_stream_map_alike(extra, quoted):
    """The scan, the stream and /positions read symbols with one rule: a symbol quoted is
    one a position maps to the same asset, and the stream and /positions agree on every
    symbol listed, quoted or not."""
    tickers = json.loads(fixture_bytes(TICKERS_FILE))["data"]
    tickers.append(dict(tickers[0], symbol=extra))
    schedules = {t["symbol"]: Schedule(8.0, None) for t in tickers}
    quotes = by_symbol(bitget.join_quotes(bitget.decode_tickers(envelope(tickers)), schedules, T0))
    assert (extra in quotes) is quoted and len(quotes) >= 8
    for t in tickers:
        position = account.parse_position(
            account.PositionRow(symbol=t["symbol"], holdSide="long", total="1")
        )
        held = None if position is None else position.asset
        assert held == stream.asset_of(t["symbol"]), t["symbol"]
        if t["symbol"] in quotes:
            assert held == quotes[t["symbol"]].asset
