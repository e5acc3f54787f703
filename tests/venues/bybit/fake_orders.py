"""A fake of Bybit's v5 order endpoints, on the `FakeExchange` matching engine.

`FakeOrders(account).install(fake)` serves, behind the fake account's signature check
(a POST signed over its raw JSON body): `POST /v5/order/create`, `GET /v5/order/realtime`
and `/v5/order/history` by orderLinkId, `POST /v5/position/set-leverage`, and
`GET /v5/position/list` by symbol from the engine's positions (one-way: one slot with
positionIdx 0; hedge mode: slots 1 and 2); the list by settle coin stays the account's.

Orders are read as the venue reads them: quantity and price in the symbol's units
(1000PEPEUSDT: lots of 1000 PEPE, priced per 1000), and each body is kept in `bodies`.
The engine's refusals come back with the venue's codes (docs/v5/error.mdx).
`realtime_forgets` plays a server restart: closed orders then live in history only.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.exchange import FakeExchange, FakeOrder, OrderRefused
from tests.fakes.venues import FakeVenues, dec, scaled
from tests.venues.bybit.fake_account import FakeBybitPrivate, error_reply
from tests.venues.bybit.fake_rest import bybit_error

ORDER_CREATE = "/v5/order/create"
ORDER_REALTIME = "/v5/order/realtime"
ORDER_HISTORY = "/v5/order/history"
SET_LEVERAGE = "/v5/position/set-leverage"
POSITION_LIST = "/v5/position/list"

# The engine's refusals in the venue's codes and words.
REFUSALS = {
    "duplicate": (110072, "OrderLinkedID is duplicate"),
    "reduce_only": (110017, "Reduce-only rule not satisfied"),
    "symbol": (10001, "params error: symbol invalid"),
}
STATUSES = {"filled": "Filled", "partial": "PartiallyFilledCanceled", "none": "Cancelled"}


class FakeOrders:
    # The venue's refusals for insufficient margin and a price outside the band.
    REASONS: ClassVar[dict[str, tuple[str, str]]] = {
        "margin": ("110007", "Available balance is insufficient"),
        "price_band": ("110003", "Order price exceeds the allowable range."),
    }

    def __init__(self, account: FakeBybitPrivate) -> None:
        self.account = account
        self.exchange: FakeExchange | None = None
        self.bodies: list[dict[str, Any]] = []  # every create-order body received
        self.leverage_bodies: list[dict[str, Any]] = []
        self.realtime_forgets = False

    def install(self, fake: FakeVenues) -> FakeExchange:
        self.exchange = FakeExchange("bybit", fake)
        routes = {
            ("POST", ORDER_CREATE): self.create,
            ("GET", ORDER_REALTIME): self.realtime,
            ("GET", ORDER_HISTORY): self.history,
            ("POST", SET_LEVERAGE): self.set_leverage,
            ("GET", POSITION_LIST): self.position_list,
        }
        for (method, path), answer in routes.items():
            fake.route("bybit", method, path, self.account.guarded(answer))
        return self.exchange

    def reply(self, result: Any) -> dict[str, Any]:
        now = self.account.now_ms()
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now}

    def error(self, code: int | str, message: str) -> dict[str, Any]:
        return error_reply(int(code), message, self.account.now_ms())

    # --- orders ----------------------------------------------------------------------

    async def create(self, request: web.Request, raw: bytes) -> Any:
        assert self.exchange is not None
        body = json.loads(raw)
        self.bodies.append(body)
        if body.get("category") != "linear" or body.get("orderType") != "Limit":
            return bybit_error(10001, "params error: category or orderType")
        if body.get("timeInForce") != "IOC" or body.get("side") not in ("Buy", "Sell"):
            return bybit_error(10001, "params error: timeInForce or side")
        try:
            perp = self.exchange.perp(body["symbol"])
            m = Decimal(perp.multiplier)
            order = await self.exchange.submit(
                client_id=body["orderLinkId"],
                symbol=body["symbol"],
                side="buy" if body["side"] == "Buy" else "sell",
                coins=float(Decimal(body["qty"]) * m),
                cap=float(Decimal(body["price"]) / m),
                reduce_only=body.get("reduceOnly") is True,
            )
        except OrderRefused as e:
            return self.error(*REFUSALS.get(e.code, (e.code, e.message)))
        return self.reply({"orderId": order.order_id, "orderLinkId": order.client_id})

    def row(self, order: FakeOrder) -> dict[str, Any]:
        """An order as realtime and history write it, in the symbol's units."""
        assert self.exchange is not None
        m = self.exchange.perp(order.symbol).multiplier
        cost = (order.avg_price or 0.0) * order.filled
        return {
            "orderId": order.order_id,
            "orderLinkId": order.client_id,
            "symbol": order.symbol,
            "side": "Buy" if order.side == "buy" else "Sell",
            "orderType": "Limit",
            "timeInForce": "IOC",
            "price": scaled(order.cap, m),
            "qty": scaled(order.coins, per=m),
            "orderStatus": STATUSES[order.status],
            "cumExecQty": scaled(order.filled, per=m),
            "cumExecValue": dec(cost),
            "cumExecFee": dec(order.fee_usd),
            "avgPrice": scaled(order.avg_price, m) if order.avg_price else "",
            "leavesQty": "0",
            "reduceOnly": order.reduce_only,
            "positionIdx": 0,
            "rejectReason": "EC_NoError",
            "createdTime": str(order.time_ms),
            "updatedTime": str(order.time_ms),
        }

    def found(self, request: web.Request) -> list[dict[str, Any]]:
        assert self.exchange is not None
        q = request.query
        order = self.exchange.find(q.get("orderLinkId", ""))
        if order is None or q.get("symbol") not in (None, order.symbol):
            return []
        return [self.row(order)]

    async def realtime(self, request: web.Request, raw: bytes) -> Any:
        if request.query.get("category") != "linear":
            return bybit_error(10001, "params error: category")
        rows = [] if self.realtime_forgets else self.found(request)
        return self.reply({"list": rows, "nextPageCursor": "", "category": "linear"})

    async def history(self, request: web.Request, raw: bytes) -> Any:
        if request.query.get("category") != "linear":
            return bybit_error(10001, "params error: category")
        return self.reply({"list": self.found(request), "nextPageCursor": "", "category": "linear"})

    # --- positions -------------------------------------------------------------------

    async def set_leverage(self, request: web.Request, raw: bytes) -> Any:
        assert self.exchange is not None
        body = json.loads(raw)
        self.leverage_bodies.append(body)
        buy, sell = float(body["buyLeverage"]), float(body["sellLeverage"])
        if body.get("category") != "linear" or buy != sell:
            return bybit_error(10001, "params error: buyLeverage must equal sellLeverage")
        symbol = body["symbol"]
        if self.exchange.leverage.get(symbol) == buy:
            return self.error(110043, "Set leverage has not been modified.")
        self.exchange.leverage[symbol] = buy
        return self.reply({})

    async def position_list(self, request: web.Request, raw: bytes) -> Any:
        """By symbol: the engine's slots. By settle coin: the account's own list."""
        assert self.exchange is not None
        symbol = request.query.get("symbol")
        if symbol is None:
            return self.account.position_list(request)
        held = self.exchange.position(symbol)
        perp = self.exchange.fake.perp("bybit", symbol)
        m = perp.multiplier if perp else 1
        slots = (
            [(1, max(held, 0.0)), (2, max(-held, 0.0))] if self.exchange.hedge_mode else [(0, held)]
        )
        rows = [
            {
                "symbol": symbol,
                "positionIdx": idx,
                "side": side_of(size),
                "size": scaled(abs(size), per=m),
            }
            for idx, size in slots
        ]
        return self.reply({"list": rows, "nextPageCursor": "", "category": "linear"})


def side_of(size: float) -> str:
    return "Buy" if size > 0 else "Sell" if size < 0 else ""
