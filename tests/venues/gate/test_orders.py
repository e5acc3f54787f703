"""Gate's order client on the wire: the exact body it sends (contracts signed by side, the
price on the tick grid on the cap's side, IOC, the "t-" text, reduce-only), its signature
over the body against Gate's documented example, 1000x contracts, the leverage query,
the refusals it maps, and lookups once Gate no longer answers the text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from arb.accounts.base import Credentials
from arb.http import RetryPolicy, VenueHttp
from arb.trading.orders import OrderIntent, TradeRefused
from arb.venues.gate import orders as gate
from arb.venues.gate.orders import GateOrders
from tests.fakes.exchange import FakeExchange
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues
from tests.venues.gate.fake_account import FakeGatePrivate
from tests.venues.gate.fake_orders import GATE_ORDERS, FakeOrders
from tests.venues.gate.test_account import DOC_BODY, DOC_POST_SIGN, DOC_SECRET, DOC_TS

ETH, PEPE = "ETH_USDT", "1000PEPE_USDT"


@dataclass
class Desk:
    fake: FakeVenues
    orders: FakeOrders
    exchange: FakeExchange
    client: GateOrders

    def sent(self) -> list[dict]:
        return [json.loads(b) for b in self.orders.bodies]


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    perps = [
        FakePerp("ETH", rate=0.0001, price=2000.0, lot=0.01, min_qty=0.01),
        FakePerp("PEPE", rate=0.0002, price=0.00001, multiplier=1000, lot=1000.0, min_qty=1000.0),
    ]
    async with FakeVenues(FakeMarket({"gate": perps})) as fake:
        account = FakeGatePrivate().install(fake)
        orders = FakeOrders(account)
        exchange = orders.install(fake)
        http = VenueHttp("gate", fake.url("gate"), timeout_s=0.5, retry=RetryPolicy(attempts=2))
        client = GateOrders(http, Credentials(account.key, account.secret))
        try:
            yield Desk(fake, orders, exchange, client)
        finally:
            exchange.release()
            await client.close()


def intent(side: str, coins: float, cap: float, n: int = 1, **kw) -> OrderIntent:
    symbol = kw.pop("symbol", ETH)
    return OrderIntent(f"j{n}leg1", "gate", symbol, side, coins, cap, **kw)  # type: ignore[arg-type]


# --- pure parts ------------------------------------------------------------------------


def test_the_body_is_signed_as_gates_documented_post_example():
    client = GateOrders(VenueHttp("gate", "http://127.0.0.1:9"), Credentials("key", DOC_SECRET))
    params, headers = client.sign_body(
        DOC_TS * 1000 + 999, "POST", "/api/v4/futures/orders", None, DOC_BODY.decode()
    )
    assert params is None
    assert headers == {"KEY": "key", "Timestamp": str(DOC_TS), "SIGN": DOC_POST_SIGN}


def test_a_text_is_t_dash_and_at_most_28_bytes_after_it():
    assert gate.text_of("a7k1n1") == "t-a7k1n1"
    assert gate.text_of("x" * 28) == "t-" + "x" * 28
    with pytest.raises(ValueError):
        gate.text_of("x" * 29)


def test_coins_become_whole_contracts_rounded_down():
    eth = gate.Instrument(Decimal("0.01"), Decimal(1), Decimal("0.05"), Decimal(1))
    assert gate.contracts_of(0.5, eth) == 50
    assert gate.contracts_of(0.509, eth) == 50  # never more than asked
    assert gate.contracts_of(0.3, eth) == 30  # exact in decimal, not 29.999...


@pytest.mark.parametrize(
    ("side", "cap", "price"),
    [("buy", 2002.26, "2002.25"), ("buy", 2002.25, "2002.25"), ("sell", 1998.26, "1998.3"),
     ("sell", 1998.3, "1998.3")],
)  # fmt: skip
def test_the_price_is_on_the_grid_on_the_caps_side(side, cap, price):
    eth = gate.Instrument(Decimal("0.01"), Decimal(1), Decimal("0.05"), Decimal(1))
    assert gate.price_of(intent(side, 1.0, cap), eth) == price


def test_a_1000x_contract_is_priced_per_1000_coins():
    pepe = gate.Instrument(Decimal(1000), Decimal(1000), Decimal("0.000001"), Decimal(1))
    body = gate.order_body(intent("sell", 2_000_000.0, 0.0000099912, symbol=PEPE), pepe)
    assert body["size"] == -2000 and body["price"] == "0.009992"


# --- against the fake ------------------------------------------------------------------


async def test_a_buy_sends_exactly_gates_body(desk):
    desk.orders.set_tick(ETH, "0.05")
    out = await desk.client.place(intent("buy", 0.5, 2002.26))
    assert out.status == "filled" and out.order_id == desk.exchange.find("t-j1leg1").order_id
    assert desk.orders.bodies == [
        b'{"contract":"ETH_USDT","size":50,"price":"2002.25","tif":"ioc",'
        b'"text":"t-j1leg1","reduce_only":false}'
    ]
    assert desk.fake.requests[-1].path == GATE_ORDERS and desk.fake.requests[-1].query == {}
    assert desk.exchange.position(ETH) == pytest.approx(0.5)


async def test_a_sell_is_negative_contracts_priced_up_and_reduce_only_says_so(desk):
    desk.orders.set_tick(ETH, "0.05")
    await desk.client.place(intent("buy", 1.5, 2010.0, n=1))
    out = await desk.client.place(intent("sell", 1.5, 1990.01, n=2, reduce_only=True))
    assert out.status == "filled"
    assert desk.sent()[1] == {"contract": ETH, "size": -150, "price": "1990.05", "tif": "ioc",
                              "text": "t-j2leg1", "reduce_only": True}  # fmt: skip
    assert desk.exchange.position(ETH) == 0


async def test_a_1000x_contract_fills_in_coins_with_the_fee_at_the_taker_rate(desk):
    perp = desk.fake.perp("gate", PEPE)
    best_ask = perp.levels("gate")[1][0][0]
    out = await desk.client.place(intent("buy", 3_000_000.0, best_ask * 1.001, symbol=PEPE))
    assert desk.sent()[0]["size"] == 3000  # contracts of 1000 PEPE
    assert out.filled_coins == pytest.approx(3_000_000.0)
    assert out.avg_price == pytest.approx(best_ask, rel=1e-9)
    order = desk.exchange.find("t-j1leg1")
    assert out.fee_usd == pytest.approx(order.fee_usd, rel=1e-9)
    assert order.cap <= best_ask * 1.001


async def test_the_order_is_refused_when_signed_over_other_bytes(desk):
    """The fake checks SIGN over the raw body: a client signing a different body fails."""

    class Tampered(GateOrders):
        def sign_body(self, timestamp_ms, method, path, params, body):
            return super().sign_body(timestamp_ms, method, path, params, body + " ")

    http = VenueHttp("gate", desk.fake.url("gate"), timeout_s=0.5)
    client = Tampered(http, desk.client.credentials)
    try:
        out = await client.place(intent("buy", 0.5, 2010.0))
    finally:
        await client.close()
    assert out.status == "rejected" and "INVALID_SIGNATURE" in (out.reason or "")
    assert desk.exchange.received == 0


@pytest.mark.parametrize(
    ("label", "status"),
    [("INSUFFICIENT_AVAILABLE", "rejected"), ("PRICE_TOO_DEVIATED", "rejected"),
     ("SIZE_TOO_SMALL", "rejected"), ("SERVER_ERROR", "unknown"), ("TOO_BUSY", "unknown")],
)  # fmt: skip
async def test_gates_labels_are_refusals_except_its_server_trouble(desk, label, status):
    desk.exchange.reject_next(label, "as Gate says it")
    out = await desk.client.place(intent("buy", 0.5, 2010.0))
    assert out.status == status and label in (out.reason or "")
    assert "as Gate says it" in (out.reason or "")


async def test_below_one_contract_is_not_sent(desk):
    out = await desk.client.place(intent("buy", 0.004, 2010.0))
    assert out.status == "rejected" and "smallest order" in (out.reason or "")
    assert desk.orders.bodies == []


async def test_a_lookup_after_gate_forgets_the_text_reads_the_finished_orders(desk):
    placed = await desk.client.place(intent("buy", 2.0, 2010.0))
    desk.orders.forget_texts = True  # Gate answers a text up to 60 s after the order ends
    found = await desk.client.lookup(intent("buy", 2.0, 2010.0))
    assert found == placed
    hits = [r.query for r in desk.fake.requests if r.path == GATE_ORDERS and r.method == "GET"]
    assert hits == [{"contract": ETH, "status": "finished", "limit": "100"}]
    assert await desk.client.lookup(intent("buy", 2.0, 2010.0, n=9)) is None


async def test_a_repeated_id_is_looked_up_never_sent_twice(desk):
    first = await desk.client.place(intent("buy", 1.0, 2010.0))
    desk.orders.forget_texts = True
    again = await desk.client.place(intent("buy", 1.0, 2010.0))
    assert again == first and len(desk.orders.bodies) == 1


async def test_an_id_sent_but_never_arrived_is_sent_again(desk):
    desk.exchange.drop_next()
    assert (await desk.client.place(intent("buy", 1.0, 2010.0))).status == "unknown"
    assert (await desk.client.place(intent("buy", 1.0, 2010.0))).status == "filled"
    assert desk.exchange.placed == 1 and desk.exchange.position(ETH) == pytest.approx(1.0)


async def test_prepare_sets_cross_margin_leverage_once_by_query(desk):
    await desk.client.prepare(ETH, 3.0)
    await desk.client.prepare(ETH, 3.0)
    assert desk.orders.leverage_queries == [{"leverage": "0", "cross_leverage_limit": "3"}]
    assert desk.orders.margin[ETH] == "cross" and desk.exchange.leverage[ETH] == 3.0
    await desk.client.prepare(ETH, 2.5)
    assert desk.orders.leverage_queries[-1] == {"leverage": "0", "cross_leverage_limit": "2.5"}
    posted = [r for r in desk.fake.requests if r.method == "POST"]
    assert posted and all(r.body == b"" for r in posted)


async def test_a_dual_mode_account_is_refused_before_any_leverage(desk):
    desk.exchange.hedge_mode = True
    with pytest.raises(TradeRefused, match="hedge"):
        await desk.client.prepare(ETH, 3.0)
    assert desk.orders.leverage_queries == []
