"""A fake of Bitget's v2 futures order endpoints, on the account fake's keys and the
market's books.

`FakeOrders(account).install(fake)` serves `POST /api/v2/mix/order/place-order`, `GET
/api/v2/mix/order/detail`, `POST /api/v2/mix/account/set-leverage` and `GET
/api/v2/mix/account/account` (its `posMode` following the exchange's `hedge_mode`), each
behind the account fake's signature check (over the raw body for a POST). Orders are
read as Bitget documents them: `size` in the symbol's base coin (1000PEPE units on
1000PEPEUSDT, a whole number of `sizeMultiplier`), `price` per base unit on the
contract's tick (tests/venues/bitget/fake_rest.py), `productType` USDT-FUTURES,
`marginMode` crossed, `marginCoin` USDT, `orderType` limit, `force` ioc, `reduceOnly`
YES or NO, no `tradeSide` in one-way mode; anything else is refused with 40017. Refusals
are HTTP 400 with Bitget's code. Every body accepted is kept in `bodies`.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakes.exchange import FakeExchange, FakeOrder, OrderRefused
from tests.fakes.venues import FakePerp, FakeVenues, dec, fixture, scaled
from tests.venues.bitget.fake_account import FakeBitgetPrivate, bitget_ok
from tests.venues.bitget.fake_rest import PRODUCT_TYPE, bitget_symbol

BITGET_PLACE_ORDER = "/api/v2/mix/order/place-order"
BITGET_ORDER_DETAIL = "/api/v2/mix/order/detail"
BITGET_SET_LEVERAGE = "/api/v2/mix/account/set-leverage"
BITGET_ACCOUNT = "/api/v2/mix/account/account"

# The venue's code and words for each refusal the exchange makes, and the contract
# test's two.
CODES = {
    "duplicate": ("40786", "Duplicate clientOid"),
    "reduce_only": ("22002", "No position to close"),
    "symbol": ("40034", "Parameter does not exist"),
}
REASONS = {
    "margin": ("40762", "The order amount exceeds the balance"),
    "price_band": ("22047", "The order price is higher than the highest buy price"),
}


def tick_of(perp: FakePerp) -> Decimal:
    """The contract's price step per base unit, as the fake's contracts write it."""
    return Decimal(1).scaleb(-(4 - math.floor(math.log10(perp.price * perp.multiplier))))


def on_grid(x: Decimal, step: Decimal) -> bool:
    return step > 0 and x > 0 and x % step == 0


def error(code: str, msg: str, now_ms: int) -> web.Response:
    body = {"code": code, "msg": msg, "requestTime": now_ms, "data": None}
    return web.json_response(body, status=400)


class FakeOrders:
    REASONS = REASONS

    def __init__(self, account: FakeBitgetPrivate) -> None:
        self.account = account
        self.exchange: FakeExchange | None = None
        self.bodies: list[dict[str, Any]] = []
        self.leverage_bodies: list[dict[str, Any]] = []

    def install(self, fake: FakeVenues) -> FakeExchange:
        self.exchange = FakeExchange("bitget", fake, taker_fee=0.0006)
        fake.route("bitget", "POST", BITGET_PLACE_ORDER, self.account.guarded(self.place))
        fake.route("bitget", "GET", BITGET_ORDER_DETAIL, self.account.guarded(self.detail))
        fake.route("bitget", "POST", BITGET_SET_LEVERAGE, self.account.guarded(self.set_leverage))
        fake.route("bitget", "GET", BITGET_ACCOUNT, self.account.guarded(self.account_reply))
        return self.exchange

    # --- helpers -----------------------------------------------------------------

    def perp(self, symbol: str) -> FakePerp | None:
        assert self.exchange is not None
        perps = self.exchange.fake.market.perps("bitget") if self.exchange.fake.market else []
        return next((p for p in perps if bitget_symbol(p) == symbol), None)

    def wrong(self, order: dict[str, Any], perp: FakePerp) -> str | None:
        """The parameter Bitget would refuse in `order`, if any."""
        lot = Decimal(scaled(perp.lot, per=perp.multiplier))
        checks = {
            "productType": order.get("productType") == PRODUCT_TYPE,
            "marginMode": order.get("marginMode") == "crossed",
            "marginCoin": order.get("marginCoin") == "USDT",
            "orderType": order.get("orderType") == "limit",
            "force": order.get("force") == "ioc",
            "side": order.get("side") in ("buy", "sell"),
            "tradeSide": "tradeSide" not in order,
            "reduceOnly": order.get("reduceOnly", "NO") in ("YES", "NO"),
            "size": isinstance(order.get("size"), str) and on_grid(Decimal(order["size"]), lot),
            "price": isinstance(order.get("price"), str)
            and on_grid(Decimal(order["price"]), tick_of(perp)),
            "clientOid": isinstance(order.get("clientOid"), str)
            and 0 < len(order["clientOid"]) <= 50,
        }
        return next((name for name, ok in checks.items() if not ok), None)

    def row(self, order: FakeOrder, perp: FakePerp) -> dict[str, Any]:
        """An order as Get Order Detail writes it: base units, prices per base unit, the
        fee paid negative."""
        m = perp.multiplier
        state = "filled" if order.status == "filled" else "canceled"
        return {
            "symbol": order.symbol, "size": scaled(order.coins, per=m),
            "orderId": order.order_id, "clientOid": order.client_id,
            "baseVolume": scaled(order.filled, per=m),
            "priceAvg": scaled(order.avg_price, times=m) if order.avg_price else "",
            "fee": dec(-order.fee_usd) if order.filled else "0",
            "price": scaled(order.cap, times=m), "state": state, "side": order.side,
            "force": "ioc", "totalProfits": "0", "posSide": "net", "marginCoin": "USDT",
            "quoteVolume": dec(order.filled * (order.avg_price or 0)), "orderType": "limit",
            "leverage": "10", "marginMode": "crossed",
            "reduceOnly": "YES" if order.reduce_only else "NO", "enterPointSource": "API",
            "tradeSide": "buy_single" if order.side == "buy" else "sell_single",
            "posMode": "one_way_mode", "orderSource": "normal", "cancelReason": "",
            "cTime": str(order.time_ms), "uTime": str(order.time_ms),
        }  # fmt: skip

    # --- the endpoints -------------------------------------------------------------

    async def place(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        now = self.account.now_ms()
        order = json.loads(body)
        self.bodies.append(order)
        perp = self.perp(order.get("symbol", ""))
        if perp is None:
            return error(*CODES["symbol"], now)
        bad = self.wrong(order, perp)
        if bad is not None:
            return error("40017", f"Parameter verification failed: {bad}", now)
        m = Decimal(perp.multiplier)
        try:
            placed = await self.exchange.submit(
                order["clientOid"],
                order["symbol"],
                order["side"],
                float(Decimal(order["size"]) * m),
                float(Decimal(order["price"]) / m),
                order.get("reduceOnly") == "YES",
            )
        except OrderRefused as e:
            return error(*CODES.get(e.code, (e.code, e.message)), now)
        return bitget_ok({"clientOid": placed.client_id, "orderId": placed.order_id}, now)

    async def detail(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        q, now = request.query, self.account.now_ms()
        if q.get("productType") != PRODUCT_TYPE or not q.get("symbol"):
            return error("40017", "Parameter verification failed", now)
        found = self.exchange.find(q.get("clientOid", ""))
        perp = self.perp(q["symbol"])
        if found is None or perp is None or found.symbol != q["symbol"]:
            msg = "The data of the order cannot be found, please confirm the order number"
            return error("40109", msg, now)
        return bitget_ok(self.row(found, perp), now)

    async def set_leverage(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        ask, now = json.loads(body), self.account.now_ms()
        self.leverage_bodies.append(ask)
        if ask.get("productType") != PRODUCT_TYPE or not ask.get("leverage"):
            return error("40017", "Parameter verification failed", now)
        self.exchange.leverage[ask["symbol"]] = float(ask["leverage"])
        data = {"symbol": ask["symbol"], "marginCoin": "USDT", "longLeverage": ask["leverage"],
                "shortLeverage": ask["leverage"], "crossMarginLeverage": ask["leverage"],
                "marginMode": "crossed"}  # fmt: skip
        return bitget_ok(data, now)

    async def account_reply(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        q, now = request.query, self.account.now_ms()
        if q.get("productType") != PRODUCT_TYPE or not q.get("symbol") or not q.get("marginCoin"):
            return error("40017", "Parameter verification failed", now)
        row = fixture("bitget/api_v2_mix_account_accounts_USDT-FUTURES.json")["data"][0]
        mode = "hedge_mode" if self.exchange.hedge_mode else "one_way_mode"
        return bitget_ok(dict(row, posMode=mode), now)
