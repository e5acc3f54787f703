"""What every venue's `order_book` promises, checked for each venue in the registry against
its fake: the book a fake serves in the venue's own units (per 1000 coins, in contracts...)
comes back as `FakePerp.levels` in USD per coin and coins, best first, with the order step
and minimum of the venue's instrument metadata; it follows the mark on every call while the
metadata stays cached; whatever goes wrong on the way is a typed VenueError naming the venue
and the endpoint, retried only where a retry may help."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import import_module
from typing import Any

import pytest

from arb.depth import Book
from arb.http import VenueError
from tests.conftest import T0_MS, fixture_bytes
from tests.fakes.private_base import Sleeps
from tests.fakes.venues import BookShape, FakeMarket, FakePerp, FakeVenues, fixture
from tests.venues.test_rest_contract import (
    ATTEMPTS,
    FAULTS,
    TIMEOUT_S,
    VENUES,
    client_for,
    pepe_market,
)

pytestmark = pytest.mark.usefixtures("each_wire")  # each test over each of VenueHttp's wires

# Venues whose smallest order is a notional, not a size: their books say min_qty 0.
NO_MINIMUM_SIZE = {"hyperliquid"}
# The book each perp has on the venue under test: unlike the default (`FakePerp.book`, 20
# levels a side), so that the venue's own shape is seen to be the one served.
THIN = BookShape(spread_bps=6.0, step_bps=2.5, depth_usd=8_000.0, levels=5)


def perps(venue: str) -> dict[str, FakePerp]:
    """BTC in contracts of 0.001 where a venue counts contracts, and the REST contract's
    PEPE (1000PEPEUSDT, kPEPE, or per coin at OKX) in lots of 1000. Each lot is one
    contract, as Gate trades whole contracts."""
    thin = {venue: THIN}
    btc = FakePerp("BTC", 0.0001, price=77_600.5, ct_val="0.001", venue_books=thin)
    (pepe,) = pepe_market(venue).perps(venue)
    pepe = replace(pepe, ct_val="1", lot=1000.0, min_qty=2000.0, venue_books=thin)
    return {"BTC": btc, "PEPE": pepe}


def market(venue: str) -> FakeMarket:
    return FakeMarket(now_ms=T0_MS, venues={venue: list(perps(venue).values())})


def expected(venue: str, perp: FakePerp, symbol: str) -> tuple:
    bids, asks = perp.levels(venue)
    minimum = 0.0 if venue in NO_MINIMUM_SIZE else perp.min_qty
    return (venue, symbol, bids, asks, perp.lot, minimum)


def as_served(book: Book) -> tuple:
    bids = [(level.price, level.size) for level in book.bids]
    asks = [(level.price, level.size) for level in book.asks]
    return (book.venue, book.symbol, bids, asks, book.lot, book.min_qty)


async def books_of(fake: FakeVenues, venue: str, symbols: list[str], **kw) -> list[Book]:
    client = client_for(fake, venue, **kw)
    try:
        return [await client.order_book(symbol) for symbol in symbols]
    finally:
        await client.close()


@pytest.mark.parametrize("asset", ["BTC", "PEPE"])
@pytest.mark.parametrize("venue", VENUES)
async def test_a_served_book_comes_back_per_coin_in_coins_with_the_venues_lot(venue, asset):
    """The round trip through the venue's units is exact: the fake writes each level as the
    venue does (per 1000 PEPE, in contracts...) and the client reads it back."""
    fake_market = market(venue)
    async with FakeVenues(fake_market) as fake:
        perp = next(p for p in fake_market.perps(venue) if p.asset == asset)
        symbol = fake.symbols[venue](perp)
        (book,) = await books_of(fake, venue, [symbol])
    assert as_served(book) == expected(venue, perp, symbol)
    assert len(book.bids) == len(book.asks) == THIN.levels  # the venue's own shape
    assert book.bids[0].price < perp.price < book.asks[0].price


@pytest.mark.parametrize("venue", VENUES)
async def test_the_book_follows_the_mark_each_call_while_the_metadata_stays_cached(venue):
    fake_market = market(venue)
    async with FakeVenues(fake_market) as fake:
        (perp,) = [p for p in fake_market.perps(venue) if p.asset == "BTC"]
        symbol = fake.symbols[venue](perp)
        client = client_for(fake, venue)
        try:
            before = await client.order_book(symbol)
            perp.price *= 1.01
            fake.requests.clear()
            after = await client.order_book(symbol)
        finally:
            await client.close()
        assert len(fake.requests) == 1  # the book alone: the metadata is cached
    assert as_served(after) == expected(venue, perp, symbol)
    assert after.mid == pytest.approx(before.mid * 1.01, rel=1e-6)


# A venue's recorded book (built from its docs' example): the symbol, the file, and the
# request the client sends for it (query, or the POSTed body): the depth it pays for.
RECORDED_BOOKS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "binance": (
        "1000PEPEUSDT",
        "binance/fapi_v1_depth_1000PEPEUSDT.json",
        {"symbol": "1000PEPEUSDT", "limit": "100"},  # weight 5
    ),
    "bybit": (
        "1000PEPEUSDT",
        "bybit/v5_market_orderbook_1000PEPEUSDT.json",
        {"category": "linear", "symbol": "1000PEPEUSDT", "limit": "200"},
    ),
    "bitget": (
        "BTCUSDT",
        "bitget/api_v2_mix_market_merge_depth_BTCUSDT.json",
        {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "precision": "scale0", "limit": "max"},
    ),
    "gate": (
        "BTC_USDT",
        "gate/api_v4_futures_usdt_order_book_BTC_USDT.json",
        {"contract": "BTC_USDT", "limit": "100"},
    ),
    "hyperliquid": (
        "BTC",
        "hyperliquid/info_l2Book_BTC.json",
        fixture("hyperliquid/info_l2Book_request.json"),  # weight 2
    ),
    "okx": (
        "BTC-USDT-SWAP",
        "okx/api_v5_market_books_BTC-USDT-SWAP.json",
        {"instId": "BTC-USDT-SWAP", "sz": "400"},
    ),
}


def test_every_venue_has_its_recorded_book_listed():
    assert RECORDED_BOOKS.keys() == set(VENUES)


@pytest.mark.parametrize("venue", VENUES)
async def test_the_recorded_book_is_asked_for_at_the_cheap_depth_and_parsed(venue):
    symbol, file, request = RECORDED_BOOKS[venue]
    async with FakeVenues() as fake:
        client = client_for(fake, venue)
        try:
            book = await client.order_book(symbol)
            sizing = await client.sizing(client.sizings, symbol, "")
        finally:
            await client.close()
        asked = fake.requests[-1]
    sent = json.loads(asked.body) if asked.method == "POST" else asked.query
    assert sent == request
    parse_book = import_module(f"arb.venues.{venue}.rest").parse_book
    assert book == parse_book(fixture_bytes(file), symbol, sizing, book.received_at)
    assert book.bids and book.asks and book.lot > 0


@pytest.mark.parametrize("venue", VENUES)
async def test_a_symbol_the_venue_does_not_list_is_a_venue_error(venue):
    async with FakeVenues(market(venue)) as fake:
        with pytest.raises(VenueError) as e:
            await books_of(fake, venue, ["NOPE"])
    assert e.value.venue == venue


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    ("fault", "kind", "reason", "requests"), FAULTS, ids=[f[0].kind for f in FAULTS]
)
async def test_a_fault_on_any_book_endpoint_is_typed_named_and_retried_if_it_may_pass(
    venue, fault, kind, reason, requests
):
    """Each endpoint an order book reads (the book, its instrument metadata), failed in
    turn for a fresh client: the call fails with the typed error naming it, never its query."""
    timeout_s = TIMEOUT_S if fault.kind == "timeout" else 2
    async with FakeVenues(market(venue)) as fake:
        symbol = fake.symbols[venue](perps(venue)["BTC"])
        await books_of(fake, venue, [symbol])
        paths = sorted({r.path for r in fake.requests})
        for path in paths:
            fake.requests.clear()
            fake.fail(venue, path, fault)
            sleeps = Sleeps()
            client = client_for(fake, venue, attempts=ATTEMPTS, timeout_s=timeout_s, sleeps=sleeps)
            said = f"{venue} {path}: {reason}"
            try:
                with pytest.raises(VenueError) as e:
                    await client.order_book(symbol)
            finally:
                await client.close()
            assert type(e.value) is kind and (e.value.venue, e.value.endpoint) == (venue, path)
            assert str(e.value).startswith(said) and "=" not in str(e.value), (str(e.value), said)
            assert fake.hits(venue, path) == requests, path
            assert len(sleeps.calls) == requests - 1  # a backoff before each retry
            fake.clear_faults()
    assert paths
