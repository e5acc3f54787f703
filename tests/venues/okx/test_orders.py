"""OKX's order client on the wire: the exact order body, its signature, the IOC and
reduce-only flags, contracts for coins, the price on the tick grid, error mapping,
leverage and the demo header (tests/venues/test_orders_contract.py holds the rest)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from arb.accounts.base import Credentials
from arb.http import RetryPolicy, VenueHttp
from arb.trading.orders import OrderIntent
from arb.venues.okx.orders import OkxOrders, OrderRow, outcome
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues
from tests.venues.okx.fake_account import FakeOkxPrivate
from tests.venues.okx.fake_orders import OKX_ORDER, FakeOrders

ETH, PEPE = "ETH-USDT-SWAP", "PEPE-USDT-SWAP"


def market() -> FakeMarket:
    return FakeMarket({"okx": [
        FakePerp("ETH", rate=0.0001, price=2000.0, lot=0.01, min_qty=0.01, ct_val="0.1"),
        FakePerp("PEPE", rate=0.0002, price=0.00001, lot=1000.0, min_qty=1000.0,
                 ct_val="1000000"),
    ]})  # fmt: skip


@pytest.fixture
async def desk() -> AsyncIterator[Any]:
    account = FakeOkxPrivate()
    async with FakeVenues(market()) as fake:
        account.install(fake)
        orders = FakeOrders(account)
        exchange = orders.install(fake)
        creds = Credentials(account.key, account.secret, account.passphrase)
        http = VenueHttp("okx", fake.url("okx"), timeout_s=0.5, retry=RetryPolicy(attempts=1))
        client = OkxOrders(http, creds)
        try:
            yield client, orders, exchange, account
        finally:
            exchange.release()
            await client.close()


def intent(symbol: str, side: str, coins: float, cap: float, **kw: Any) -> OrderIntent:
    return OrderIntent("q7x1", "okx", symbol, side, coins, cap, **kw)  # type: ignore[arg-type]


async def test_a_pepe_buy_goes_as_contracts_ioc_cross_with_the_price_down_on_the_tick(desk):
    client, orders, exchange, account = desk
    out = await client.place(intent(PEPE, "buy", 2_000_000.0, 0.0000100123456))
    assert orders.bodies == [{
        "instId": PEPE, "tdMode": "cross", "side": "buy", "ordType": "ioc",
        "px": "0.000010012", "sz": "2", "clOrdId": "q7x1", "reduceOnly": False,
    }]  # fmt: skip
    assert out.status == "filled" and out.filled_coins == 2_000_000.0
    assert exchange.position(PEPE) == 2_000_000.0
    # Accepted behind the fake's check of the signature over the raw body.
    assert account.refusals == [] and OKX_ORDER in account.signed_paths


async def test_a_reduce_only_sell_rounds_its_price_up_and_says_reduce_only(desk):
    client, orders, exchange, _ = desk
    assert (await client.place(intent(ETH, "buy", 1.5, 2010.0))).status == "filled"
    out = await client.place(
        OrderIntent("q7x2", "okx", ETH, "sell", 1.5, 1990.01, reduce_only=True)
    )
    body = orders.bodies[-1]
    assert body["px"] == "1990.1" and body["sz"] == "15" and body["reduceOnly"] is True
    assert out.status == "filled" and exchange.position(ETH) == 0


async def test_less_than_one_lot_is_rejected_without_a_request(desk):
    client, orders, exchange, _ = desk
    out = await client.place(intent(PEPE, "buy", 500.0, 0.00002))
    assert out.status == "rejected" and "less than one lot" in (out.reason or "")
    assert exchange.received == 0 and orders.bodies == []


@pytest.mark.parametrize(
    ("code", "message"),
    [("51008", "Order failed. Insufficient USDT balance in account"),
     ("51006", "Order price is not within the price limit")],
)  # fmt: skip
async def test_an_order_refusal_under_code_1_is_rejected_with_the_orders_own_code(
    desk, code, message
):
    client, _, exchange, _ = desk
    exchange.reject_next(code, message)
    out = await client.place(intent(ETH, "buy", 1.0, 2010.0))
    assert out.status == "rejected"
    assert out.reason is not None and code in out.reason and message in out.reason


async def test_prepare_sets_cross_leverage_once_and_reads_the_mode_every_time(desk):
    client, orders, exchange, _ = desk
    await client.prepare(ETH, 3.0)
    await client.prepare(ETH, 3.0)
    assert orders.leverage_bodies == [{"instId": ETH, "lever": "3", "mgnMode": "cross"}]
    assert exchange.leverage[ETH] == 3.0


def test_fills_in_contracts_come_back_in_coins_and_the_fee_charged_positive():
    row = OrderRow(instId=PEPE, ordId="7", clOrdId="q7x1", state="canceled",
                   accFillSz="1.5", avgPx="0.00001", fee="-0.075", feeCcy="USDT")  # fmt: skip
    out = outcome("q7x1", row, Decimal("10000000"))
    assert out.status == "partial" and out.filled_coins == 15_000_000.0
    assert out.avg_price == 0.00001 and out.fee_usd == pytest.approx(0.075)
    live = outcome("q7x1", OrderRow(state="live", accFillSz="0"), Decimal(1))
    assert live.status == "unknown" and not live.final


def test_demo_trading_adds_the_simulated_trading_header_to_every_signed_request():
    creds = Credentials("k", "s", "p")
    demo = OkxOrders(VenueHttp("okx", "http://127.0.0.1:9"), creds, demo=True)
    live = OkxOrders(VenueHttp("okx", "http://127.0.0.1:9"), creds)
    _, posted = demo.sign_body(0, "POST", OKX_ORDER, None, "{}")
    assert posted["x-simulated-trading"] == "1"
    assert demo.headers(0, "GET", OKX_ORDER, None)["x-simulated-trading"] == "1"
    assert "x-simulated-trading" not in live.sign_body(0, "POST", OKX_ORDER, None, "{}")[1]
