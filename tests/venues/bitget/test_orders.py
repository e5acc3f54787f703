"""Bitget's order client on the wire: the exact order body, its signature, the IOC and
reduce-only flags, 1000PEPE units for coins, the price on the tick grid, error mapping,
leverage and the demo header (tests/venues/test_orders_contract.py holds the rest)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from arb.accounts.base import Credentials
from arb.http import RetryPolicy, VenueHttp
from arb.trading.orders import OrderIntent
from arb.venues.bitget.orders import BitgetOrders, Contract, OrderRow, outcome
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues
from tests.venues.bitget.fake_account import FakeBitgetPrivate
from tests.venues.bitget.fake_orders import BITGET_PLACE_ORDER, FakeOrders

ETH, PEPE = "ETHUSDT", "1000PEPEUSDT"


def market() -> FakeMarket:
    return FakeMarket({"bitget": [
        FakePerp("ETH", rate=0.0001, price=2000.0, lot=0.01, min_qty=0.01),
        FakePerp("PEPE", rate=0.0002, price=0.00001, multiplier=1000, lot=1000.0,
                 min_qty=1000.0),
    ]})  # fmt: skip


@pytest.fixture
async def desk() -> AsyncIterator[Any]:
    account = FakeBitgetPrivate()
    async with FakeVenues(market()) as fake:
        account.install(fake)
        orders = FakeOrders(account)
        exchange = orders.install(fake)
        creds = Credentials(account.key, account.secret, account.passphrase)
        http = VenueHttp("bitget", fake.url("bitget"), timeout_s=0.5,
                         retry=RetryPolicy(attempts=1))  # fmt: skip
        client = BitgetOrders(http, creds)
        try:
            yield client, orders, exchange, account
        finally:
            exchange.release()
            await client.close()


def intent(symbol: str, side: str, coins: float, cap: float, **kw: Any) -> OrderIntent:
    return OrderIntent("q7x1", "bitget", symbol, side, coins, cap, **kw)  # type: ignore[arg-type]


async def test_a_pepe_buy_goes_in_1000pepe_units_ioc_crossed_with_the_price_down(desk):
    client, orders, exchange, account = desk
    out = await client.place(intent(PEPE, "buy", 2_000_000.0, 0.0000100123456))
    assert orders.bodies == [{
        "symbol": PEPE, "productType": "USDT-FUTURES", "marginMode": "crossed",
        "marginCoin": "USDT", "size": "2000", "price": "0.010012", "side": "buy",
        "orderType": "limit", "force": "ioc", "clientOid": "q7x1", "reduceOnly": "NO",
    }]  # fmt: skip
    assert out.status == "filled" and out.filled_coins == 2_000_000.0
    assert out.avg_price == pytest.approx(0.000010001, rel=1e-9)
    assert exchange.position(PEPE) == 2_000_000.0
    # Accepted behind the fake's check of the signature over the raw body.
    assert account.refusals == [] and BITGET_PLACE_ORDER in account.signed_paths


async def test_a_reduce_only_sell_rounds_its_price_up_and_says_yes(desk):
    client, orders, exchange, _ = desk
    assert (await client.place(intent(ETH, "buy", 1.5, 2010.0))).status == "filled"
    out = await client.place(
        OrderIntent("q7x2", "bitget", ETH, "sell", 1.5, 1990.01, reduce_only=True)
    )
    body = orders.bodies[-1]
    assert body["price"] == "1990.1" and body["size"] == "1.5"
    assert body["reduceOnly"] == "YES" and "tradeSide" not in body
    assert out.status == "filled" and exchange.position(ETH) == 0


async def test_a_reduce_only_order_without_a_position_is_rejected_in_bitgets_words(desk):
    client, _, exchange, _ = desk
    out = await client.place(intent(ETH, "sell", 1.0, 1990.0, reduce_only=True))
    assert out.status == "rejected" and "22002" in (out.reason or "")
    assert exchange.position(ETH) == 0


async def test_less_than_one_lot_is_rejected_without_a_request(desk):
    client, orders, exchange, _ = desk
    out = await client.place(intent(PEPE, "buy", 500.0, 0.00002))
    assert out.status == "rejected" and "less than one lot" in (out.reason or "")
    assert exchange.received == 0 and orders.bodies == []


async def test_a_margin_refusal_is_rejected_with_its_code_and_words(desk):
    client, _, exchange, _ = desk
    exchange.reject_next("40762", "The order amount exceeds the balance")
    out = await client.place(intent(ETH, "buy", 1.0, 2010.0))
    assert out.status == "rejected"
    assert "40762" in (out.reason or "") and "exceeds the balance" in (out.reason or "")


async def test_prepare_sets_cross_leverage_once_and_reads_the_mode_every_time(desk):
    client, orders, exchange, _ = desk
    await client.prepare(ETH, 3.0)
    await client.prepare(ETH, 3.0)
    assert orders.leverage_bodies == [
        {"symbol": ETH, "productType": "USDT-FUTURES", "marginCoin": "USDT", "leverage": "3"}
    ]
    assert exchange.leverage[ETH] == 3.0


def test_base_units_come_back_in_coins_per_coin_prices_and_the_fee_positive():
    pepe = Contract(Decimal(1000), Decimal(1), Decimal("0.000001"))
    row = OrderRow(state="canceled", baseVolume="1500", priceAvg="0.010001", fee="-0.009")
    out = outcome("q7x1", row, pepe)
    assert out.status == "partial" and out.filled_coins == 1_500_000.0
    assert out.avg_price == pytest.approx(0.000010001) and out.fee_usd == pytest.approx(0.009)
    assert outcome("q7x1", OrderRow(status="live"), pepe).status == "unknown"


def test_demo_trading_adds_the_paptrading_header_to_every_signed_request():
    creds = Credentials("k", "s", "p")
    demo = BitgetOrders(VenueHttp("bitget", "http://127.0.0.1:9"), creds, demo=True)
    live = BitgetOrders(VenueHttp("bitget", "http://127.0.0.1:9"), creds)
    assert demo.sign_body(0, "POST", BITGET_PLACE_ORDER, None, "{}")[1]["paptrading"] == "1"
    assert demo.headers(0, "GET", BITGET_PLACE_ORDER, None)["paptrading"] == "1"
    assert "paptrading" not in live.sign_body(0, "POST", BITGET_PLACE_ORDER, None, "{}")[1]
