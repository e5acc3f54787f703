"""Binance's order client on the wire: the exact new-order query (units, tick direction,
IOC, reduce-only, RESULT reply) signed last, the fee from the order's trades, how the
venue's refusals map, lookups, leverage and the position-mode check."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import pytest

from arb.accounts.base import Credentials
from arb.http import RetryPolicy, VenueHttp
from arb.trading.orders import OrderIntent, TradeRefused
from arb.venues.binance.orders import BinanceOrders
from tests.fakes.exchange import FakeExchange
from tests.fakes.venues import FakeVenues
from tests.venues.binance.fake_account import FakeBinancePrivate
from tests.venues.binance.fake_orders import FakeOrders
from tests.venues.test_orders_contract import market


class Desk:
    def __init__(self, fake: FakeVenues, orders: FakeOrders, exchange: FakeExchange) -> None:
        self.fake, self.orders, self.exchange = fake, orders, exchange
        self.account = orders.account
        self.clients: list[BinanceOrders] = []

    def client(self) -> BinanceOrders:
        creds = Credentials(self.account.key, self.account.secret)
        http = VenueHttp("binance", self.fake.url("binance"), timeout_s=0.5, retry=RetryPolicy(2))
        client = BinanceOrders(http, creds)
        self.clients.append(client)
        return client


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    account = FakeBinancePrivate()
    async with FakeVenues(market()) as fake:
        account.install(fake)
        orders = FakeOrders(account)
        exchange = orders.install(fake)
        d = Desk(fake, orders, exchange)
        try:
            yield d
        finally:
            exchange.release()
            for client in d.clients:
                await client.close()


def intent(symbol: str, side: str, coins: float, cap: float, **kw: Any) -> OrderIntent:
    return OrderIntent("a7k1n1", "binance", symbol, side, coins, cap, **kw)  # type: ignore[arg-type]


async def test_a_buy_goes_as_an_ioc_limit_in_the_signed_query(desk):
    out = await desk.client().place(intent("ETHUSDT", "buy", 0.5, 2002.2057))
    assert out.status == "filled"
    sent = dict(desk.orders.orders_sent[0])
    assert sent.pop("signature") and sent.pop("timestamp")
    assert sent == {
        "symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
        "quantity": "0.5", "price": "2002.2", "newClientOrderId": "a7k1n1",
        "newOrderRespType": "RESULT", "recvWindow": "5000",
    }  # fmt: skip


async def test_the_signature_covers_the_query_before_it_and_comes_last(desk):
    await desk.client().place(intent("ETHUSDT", "buy", 0.5, 2010.0))
    raw = desk.orders.raw_queries[0]
    payload, _, signature = raw.rpartition("&signature=")
    mac = hmac.new(desk.account.secret.encode(), payload.encode(), hashlib.sha256)
    assert signature == mac.hexdigest() and desk.account.refusals == []


async def test_a_reduce_only_sell_rounds_its_price_up(desk):
    desk.exchange.positions["ETHUSDT"] = 2.0
    out = await desk.client().place(intent("ETHUSDT", "sell", 1.0, 1997.80001, reduce_only=True))
    sent = desk.orders.orders_sent[0]
    assert (sent["side"], sent["price"], sent["reduceOnly"]) == ("SELL", "1997.81", "true")
    assert out.status == "filled" and desk.exchange.position("ETHUSDT") == pytest.approx(1.0)


async def test_1000pepe_goes_in_lots_of_1000_priced_per_1000(desk):
    out = await desk.client().place(intent("1000PEPEUSDT", "buy", 2_000_000.0, 1.00109e-05))
    sent = desk.orders.orders_sent[0]
    assert (sent["quantity"], sent["price"]) == ("2000", "0.0100109")
    assert out.filled_coins == pytest.approx(2_000_000.0)


async def test_the_fee_comes_from_the_orders_trades(desk):
    out = await desk.client().place(intent("ETHUSDT", "buy", 0.5, 2010.0))
    order = desk.exchange.find("a7k1n1")
    assert out.fee_usd == pytest.approx(order.fee_usd)
    assert desk.fake.hits("binance", "/fapi/v1/userTrades") == 1


async def test_nothing_filled_asks_for_no_trades(desk):
    out = await desk.client().place(intent("ETHUSDT", "buy", 0.5, 1990.0))
    assert out.status == "none" and out.fee_usd is None
    assert desk.fake.hits("binance", "/fapi/v1/userTrades") == 0


@pytest.mark.parametrize(
    ("code", "status"),
    [("-2019", "rejected"), ("-4016", "rejected"), ("-1007", "unknown")],
)
async def test_the_venues_codes_map_to_rejected_or_unknown(desk, code, status):
    desk.exchange.reject_next(code, "the venue's words")
    out = await desk.client().place(intent("ETHUSDT", "buy", 0.5, 2010.0))
    assert out.status == status and code in (out.reason or "")


async def test_an_unknown_client_id_is_no_order(desk):
    assert await desk.client().lookup(intent("ETHUSDT", "buy", 0.5, 2010.0)) is None


async def test_leverage_is_a_whole_number_set_once(desk):
    client = desk.client()
    await client.prepare("ETHUSDT", 3.0)
    await client.prepare("ETHUSDT", 3.0)
    assert [s["leverage"] for s in desk.orders.leverage_sent] == ["3"]
    with pytest.raises(TradeRefused, match="whole number"):
        await client.prepare("ETHUSDT", 2.5)


async def test_hedge_mode_is_refused_before_any_leverage_is_set(desk):
    desk.exchange.hedge_mode = True
    with pytest.raises(TradeRefused, match="hedge position mode"):
        await desk.client().prepare("ETHUSDT", 3.0)
    assert desk.orders.leverage_sent == []
