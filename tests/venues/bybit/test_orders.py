"""Bybit's order client on the wire: the exact create-order body (units, tick direction,
IOC, reduce-only, one-way slot), the POST signature over the body, where fills are read
from, how the venue's refusals map, and leverage set once."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from arb.accounts.base import Credentials
from arb.http import RetryPolicy, VenueHttp
from arb.trading.orders import OrderIntent, TradeRefused
from arb.venues.bybit.orders import BybitOrders
from tests.fakes.exchange import FakeExchange
from tests.fakes.venues import FakeVenues
from tests.venues.bybit.fake_account import FakeBybitPrivate
from tests.venues.bybit.fake_orders import ORDER_CREATE, FakeOrders
from tests.venues.test_orders_contract import market


class Desk:
    def __init__(self, fake: FakeVenues, orders: FakeOrders, exchange: FakeExchange) -> None:
        self.fake, self.orders, self.exchange = fake, orders, exchange
        self.account = orders.account
        self.clients: list[BybitOrders] = []

    def client(self, secret: str | None = None) -> BybitOrders:
        creds = Credentials(self.account.key, secret or self.account.secret)
        http = VenueHttp("bybit", self.fake.url("bybit"), timeout_s=0.5, retry=RetryPolicy(2))
        client = BybitOrders(http, creds)
        self.clients.append(client)
        return client


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    account = FakeBybitPrivate()
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
    return OrderIntent("a7k1n1", "bybit", symbol, side, coins, cap, **kw)  # type: ignore[arg-type]


async def test_a_buy_goes_as_an_ioc_limit_with_its_price_down_on_the_tick(desk):
    out = await desk.client().place(intent("ETHUSDT", "buy", 0.5, 2002.2057))
    assert out.status == "filled"
    assert desk.orders.bodies == [{
        "category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit",
        "qty": "0.5", "price": "2002.2", "timeInForce": "IOC", "orderLinkId": "a7k1n1",
        "reduceOnly": False, "positionIdx": 0,
    }]  # fmt: skip


async def test_a_sell_rounds_its_price_up_and_reduce_only_is_sent(desk):
    desk.exchange.positions["ETHUSDT"] = 2.0
    await desk.client().place(intent("ETHUSDT", "sell", 1.0, 1997.80001, reduce_only=True))
    body = desk.orders.bodies[0]
    assert (body["side"], body["price"], body["reduceOnly"]) == ("Sell", "1997.81", True)


async def test_1000pepe_goes_in_lots_of_1000_priced_per_1000(desk):
    out = await desk.client().place(intent("1000PEPEUSDT", "buy", 2_000_000.0, 1.00109e-05))
    body = desk.orders.bodies[0]
    assert (body["qty"], body["price"]) == ("2000", "0.0100109")
    assert out.filled_coins == pytest.approx(2_000_000.0)
    assert out.avg_price == pytest.approx(1.0001e-05, rel=1e-3)


async def test_the_post_is_signed_over_its_exact_body(desk):
    client = desk.client()
    text = json.dumps({"a": 1}, separators=(",", ":"))
    _, headers = client.sign_body(1_700_000_000_000, "POST", ORDER_CREATE, None, text)
    message = f"1700000000000{desk.account.key}5000{text}"
    mac = hmac.new(desk.account.secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert headers["X-BAPI-SIGN"] == mac
    assert (await client.place(intent("ETHUSDT", "buy", 0.5, 2010.0))).status == "filled"
    assert desk.account.refusals == []


async def test_a_wrong_secret_is_refused_by_its_signature(desk):
    out = await desk.client(secret="not-the-secret").place(intent("ETHUSDT", "buy", 0.5, 2010.0))
    assert out.status == "rejected" and "signature refused" in (out.reason or "")
    assert desk.account.refusals == ["10004"] and desk.exchange.placed == 0


async def test_fills_are_read_from_history_when_realtime_no_longer_lists_them(desk):
    desk.orders.realtime_forgets = True
    out = await desk.client().place(intent("ETHUSDT", "buy", 0.5, 2010.0))
    assert out.status == "filled" and out.filled_coins == pytest.approx(0.5)
    assert desk.fake.hits("bybit", "/v5/order/history") == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [("110007", "rejected"), ("110003", "rejected"), ("10000", "unknown"), ("10016", "unknown")],
)
async def test_the_venues_codes_map_to_rejected_or_unknown(desk, code, status):
    desk.exchange.reject_next(code, "the venue's words")
    out = await desk.client().place(intent("ETHUSDT", "buy", 0.5, 2010.0))
    assert out.status == status and code in (out.reason or "")


async def test_a_size_below_one_lot_is_not_sent(desk):
    out = await desk.client().place(intent("ETHUSDT", "buy", 0.004, 2010.0))
    assert out.status == "rejected" and desk.exchange.received == 0


async def test_leverage_is_set_once_and_not_modified_is_success(desk):
    client = desk.client()
    await client.prepare("ETHUSDT", 2.5)
    await client.prepare("ETHUSDT", 2.5)
    assert desk.orders.leverage_bodies == [
        {"category": "linear", "symbol": "ETHUSDT", "buyLeverage": "2.5", "sellLeverage": "2.5"}
    ]
    await desk.client().prepare("ETHUSDT", 2.5)  # a new process: the venue says 110043
    assert len(desk.orders.leverage_bodies) == 2
    assert desk.exchange.leverage["ETHUSDT"] == 2.5


async def test_hedge_mode_is_refused_before_any_leverage_is_set(desk):
    desk.exchange.hedge_mode = True
    with pytest.raises(TradeRefused, match="hedge position mode"):
        await desk.client().prepare("ETHUSDT", 3.0)
    assert desk.orders.leverage_bodies == []
