"""What every venue's order path promises (`arb.trading.orders.OrderVenue`), checked for
each venue that takes orders against its fake (`tests/venues/<name>/fake_orders.py`),
which checks signatures as the venue does and fills on the same book the public
endpoints serve (`tests/fakes/exchange.py`).

Sizes go in and come out in coins, prices in USD per coin, whatever the venue's own
units (ETH in 0.1-coin contracts on OKX, PEPE in lots of 1000 on Bybit and Binance):
the fake converts back, so a client that gets a unit wrong fills the wrong size here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import pytest

from arb.accounts.base import Credentials
from arb.http import RetryPolicy, VenueHttp
from arb.trading.orders import OrderIntent, OrderVenue, TradeRefused, price_cap
from arb.venues.registry import SPECS, order_venues
from tests.fakes.exchange import FakeExchange
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues

VENUES = order_venues()
TIMEOUT_S = 0.5  # the order client's HTTP timeout: a lost answer costs this much


def market() -> FakeMarket:
    perps = lambda: [  # noqa: E731
        FakePerp("ETH", rate=0.0001, price=2000.0, lot=0.01, min_qty=0.01, ct_val="0.1"),
        FakePerp("PEPE", rate=0.0002, price=0.00001, multiplier=1000, lot=1000.0,
                 min_qty=1000.0, ct_val="1000000"),
    ]  # fmt: skip
    return FakeMarket({venue: perps() for venue in SPECS})


@dataclass
class Venue:
    name: str
    fake: FakeVenues
    account: Any  # the venue's FakeAccount
    orders: Any  # the venue's FakeOrders
    exchange: FakeExchange
    client: OrderVenue

    def symbol(self, asset: str) -> str:
        perp = next(p for p in self.fake.market.perps(self.name) if p.asset == asset)
        return self.fake.symbols[self.name](perp)

    def intent(self, asset: str, side: str, coins: float, n: int = 1, **kw: Any) -> OrderIntent:
        perp = next(p for p in self.fake.market.perps(self.name) if p.asset == asset)
        bids, asks = perp.levels(self.name)
        best = asks[0][0] if side == "buy" else bids[0][0]
        cap = kw.pop("cap", price_cap(best, side, 10.0))  # type: ignore[arg-type]
        return OrderIntent(f"a7k{n}n1", self.name, self.symbol(asset), side, coins, cap, **kw)  # type: ignore[arg-type]

    def order(self, intent: OrderIntent):
        """The fake's record of the order `intent` sent (venues may prefix the id)."""
        found = [o for cid, o in self.exchange.orders.items() if cid.endswith(intent.client_id)]
        assert len(found) <= 1
        return found[0] if found else None


@pytest.fixture(params=VENUES)
async def venue(request) -> AsyncIterator[Venue]:
    name = request.param
    account = import_module(f"tests.venues.{name}.fake_account").FakeAccount()
    orders_module = import_module(f"tests.venues.{name}.fake_orders")
    async with FakeVenues(market()) as fake:
        account.install(fake)
        orders = orders_module.FakeOrders(account)
        exchange = orders.install(fake)
        names = ("key", "secret", "passphrase") if SPECS[name].passphrase else ("key", "secret")
        creds = Credentials(**{n: getattr(account, n) for n in names})
        http = VenueHttp(name, fake.url(name), timeout_s=TIMEOUT_S, retry=RetryPolicy(attempts=2))
        client = SPECS[name].orders_class()(http, creds)
        try:
            yield Venue(name, fake, account, orders, exchange, client)
        finally:
            exchange.release()
            await client.close()


def walked(v: Venue, asset: str, side: str, coins: float) -> float:
    """The VWAP of `coins` taken from the fake's book, worked out here."""
    perp = next(p for p in v.fake.market.perps(v.name) if p.asset == asset)
    bids, asks = perp.levels(v.name)
    left, cost = coins, 0.0
    for price, size in asks if side == "buy" else bids:
        take = min(size, left)
        cost, left = cost + take * price, left - take
        if left <= 1e-12:
            break
    return cost / coins


@pytest.mark.parametrize(("asset", "coins"), [("ETH", 0.5), ("ETH", 40.0), ("PEPE", 2_000_000.0)])
async def test_an_ioc_buy_fills_in_coins_at_the_books_prices(venue, asset, coins):
    intent = venue.intent(asset, "buy", coins)
    out = await venue.client.place(intent)
    assert out.status == "filled", out
    assert out.filled_coins == pytest.approx(coins, rel=1e-9)
    assert out.avg_price == pytest.approx(walked(venue, asset, "buy", coins), rel=1e-9)
    assert out.client_id == intent.client_id and out.order_id
    assert venue.exchange.position(intent.symbol) == pytest.approx(coins, rel=1e-9)
    order = venue.order(intent)
    assert order is not None and order.cap <= intent.price_cap * (1 + 1e-12)
    if out.fee_usd is not None:
        assert out.fee_usd == pytest.approx(order.fee_usd, rel=1e-6)


async def test_a_sell_fills_at_the_bids_and_opens_a_short(venue):
    intent = venue.intent("ETH", "sell", 1.25)
    out = await venue.client.place(intent)
    assert out.status == "filled"
    assert out.avg_price == pytest.approx(walked(venue, "ETH", "sell", 1.25), rel=1e-9)
    assert venue.exchange.position(intent.symbol) == pytest.approx(-1.25)


async def test_a_thin_book_fills_part_and_the_rest_is_cancelled(venue):
    intent = venue.intent("ETH", "buy", 3.0)
    venue.exchange.liquidity[intent.symbol] = 1.2
    out = await venue.client.place(intent)
    assert out.status == "partial"
    assert out.filled_coins == pytest.approx(1.2, rel=1e-9)
    assert venue.exchange.position(intent.symbol) == pytest.approx(1.2)


async def test_a_cap_below_the_book_fills_nothing(venue):
    perp = next(p for p in venue.fake.market.perps(venue.name) if p.asset == "ETH")
    best_bid = perp.levels(venue.name)[0][0][0]
    out = await venue.client.place(venue.intent("ETH", "buy", 1.0, cap=best_bid))
    assert out.status == "none" and out.filled_coins == 0 and out.avg_price is None
    assert venue.exchange.position(venue.symbol("ETH")) == 0


@pytest.mark.parametrize("why", ["margin", "price_band"])
async def test_a_refused_order_is_rejected_in_the_venues_words(venue, why):
    code, message = venue.orders.REASONS[why]
    venue.exchange.reject_next(code, message)
    out = await venue.client.place(venue.intent("ETH", "buy", 1.0))
    assert out.status == "rejected" and out.filled_coins == 0
    assert message in (out.reason or "")
    assert venue.exchange.placed == 0


async def test_a_lost_answer_is_unknown_and_the_lookup_finds_the_fills(venue):
    intent = venue.intent("ETH", "buy", 2.0)
    venue.exchange.lose_answer_next()
    out = await venue.client.place(intent)
    assert out.status == "unknown"
    assert venue.exchange.received == 1  # an order is never sent twice by a retry
    found = await venue.client.lookup(intent)
    assert found is not None and found.status == "filled"
    assert found.filled_coins == pytest.approx(2.0, rel=1e-9)
    assert found.avg_price == pytest.approx(walked(venue, "ETH", "buy", 2.0), rel=1e-9)


async def test_an_order_that_never_arrived_is_not_found(venue):
    intent = venue.intent("ETH", "buy", 2.0)
    venue.exchange.drop_next()
    assert (await venue.client.place(intent)).status == "unknown"
    assert await venue.client.lookup(intent) is None
    assert venue.exchange.position(intent.symbol) == 0


async def test_the_same_client_id_never_makes_a_second_order(venue):
    intent = venue.intent("ETH", "buy", 1.0)
    first = await venue.client.place(intent)
    again = await venue.client.place(intent)
    assert venue.exchange.placed == 1
    assert venue.exchange.position(intent.symbol) == pytest.approx(1.0)
    assert again.status in ("filled", "rejected")
    if again.status == "filled":  # the client looked the duplicate up
        assert again.filled_coins == pytest.approx(first.filled_coins)


async def test_reduce_only_closes_and_never_opens(venue):
    opened = await venue.client.place(venue.intent("ETH", "buy", 1.5, n=1))
    assert opened.status == "filled"
    closed = await venue.client.place(venue.intent("ETH", "sell", 1.5, n=2, reduce_only=True))
    assert closed.status == "filled" and closed.filled_coins == pytest.approx(1.5)
    assert venue.exchange.position(venue.symbol("ETH")) == 0
    more = await venue.client.place(venue.intent("ETH", "sell", 1.0, n=3, reduce_only=True))
    assert more.status in ("rejected", "none") and more.filled_coins == 0
    assert venue.exchange.position(venue.symbol("ETH")) == 0


async def test_prepare_sets_the_leverage_and_refuses_a_hedge_mode_account(venue):
    symbol = venue.symbol("ETH")
    await venue.client.prepare(symbol, 3.0)
    assert venue.exchange.leverage[symbol] == pytest.approx(3.0)
    venue.exchange.hedge_mode = True
    with pytest.raises(TradeRefused, match=r"(?i)one-way|hedge"):
        await venue.client.prepare(symbol, 3.0)


async def test_a_refused_key_rejects_the_order_and_shows_no_secret(venue, caplog):
    caplog.set_level(logging.DEBUG)
    spec = SPECS[venue.name]
    names = ("key", "secret", "passphrase") if spec.passphrase else ("key", "secret")
    creds = {n: getattr(venue.account, n) for n in names} | {"secret": "wrong-secret-9d2f"}
    http = VenueHttp(venue.name, venue.fake.url(venue.name), timeout_s=TIMEOUT_S)
    client = spec.orders_class()(http, Credentials(**creds))
    try:
        out = await client.place(venue.intent("ETH", "buy", 1.0))
    finally:
        await client.close()
    assert out.status == "rejected" and "refused" in (out.reason or "")
    assert venue.exchange.placed == 0
    logs = " ".join(r.getMessage() for r in caplog.records)
    for secret in (venue.account.secret, "wrong-secret-9d2f"):
        assert secret not in (out.reason or "") + logs
