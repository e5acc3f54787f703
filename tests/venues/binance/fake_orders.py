"""A fake of Binance USDⓈ-M's order endpoints, on the `FakeExchange` matching engine.

`FakeOrders(account).install(fake)` serves, behind the fake account's signature check
(parameters in the query, or a form body, signed as a GET's): `POST /fapi/v1/order`
(IOC LIMIT orders, answered as newOrderRespType RESULT), `GET /fapi/v1/order` by
origClientOrderId (-2013 when there is none), `GET /fapi/v1/userTrades` by orderId (one
trade per order, its commission in USDT), `POST /fapi/v1/leverage` and
`GET /fapi/v1/positionSide/dual` (the engine's `hedge_mode`).

Orders are read as the venue reads them: quantity and price in the symbol's units
(1000PEPEUSDT: lots of 1000 PEPE, priced per 1000); each order's parameters are kept in
`orders_sent`. Refusals come back as Binance sends them: HTTP 400 and `{"code", "msg"}`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.exchange import FakeExchange, FakeOrder, OrderRefused
from tests.fakes.venues import FakeVenues, dec, scaled
from tests.venues.binance.fake_account import FakeBinancePrivate

ORDER = "/fapi/v1/order"
USER_TRADES = "/fapi/v1/userTrades"
LEVERAGE = "/fapi/v1/leverage"
POSITION_MODE = "/fapi/v1/positionSide/dual"

# The engine's refusals in the venue's codes and words (usds-margined-futures/error-code).
REFUSALS = {
    "duplicate": (-4116, "clientOrderId is duplicated"),
    "reduce_only": (-2022, "ReduceOnly Order is rejected."),
    "symbol": (-1121, "Invalid symbol."),
}
# An IOC order's end: what did not fill at once is expired.
STATUSES = {"filled": "FILLED", "partial": "EXPIRED", "none": "EXPIRED"}


def error(code: int | str, message: str, status: int = 400) -> web.Response:
    return web.json_response({"code": int(code), "msg": message}, status=status)


class FakeOrders:
    # The venue's refusals for insufficient margin and a price outside the band.
    REASONS: ClassVar[dict[str, tuple[str, str]]] = {
        "margin": ("-2019", "Margin is insufficient."),
        "price_band": ("-4016", "Price is higher than mark price multiplier cap."),
    }

    def __init__(self, account: FakeBinancePrivate) -> None:
        self.account = account
        self.exchange: FakeExchange | None = None
        self.orders_sent: list[dict[str, str]] = []  # every new order's parameters
        self.leverage_sent: list[dict[str, str]] = []
        self.raw_queries: list[str] = []  # the raw query of every new order, as received

    def install(self, fake: FakeVenues) -> FakeExchange:
        self.exchange = FakeExchange("binance", fake)
        routes = {
            ("POST", ORDER): self.new_order,
            ("GET", ORDER): self.query_order,
            ("GET", USER_TRADES): self.user_trades,
            ("POST", LEVERAGE): self.leverage,
            ("GET", POSITION_MODE): self.position_mode,
        }
        for (method, path), answer in routes.items():
            fake.route("binance", method, path, self.account.guarded(with_params(answer)))
        return self.exchange

    # --- orders ----------------------------------------------------------------------

    async def new_order(self, request: web.Request, q: dict[str, str]) -> Any:
        assert self.exchange is not None
        self.orders_sent.append(q)
        self.raw_queries.append(request.rel_url.raw_query_string)
        if q.get("type") != "LIMIT" or q.get("timeInForce") not in ("GTC", "IOC", "FOK"):
            return error(-1116, "Invalid orderType.")
        if q.get("side") not in ("BUY", "SELL") or q.get("reduceOnly", "false") not in (
            "true",
            "false",
        ):
            return error(
                -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed."
            )
        try:
            perp = self.exchange.perp(q["symbol"])
            m = Decimal(perp.multiplier)
            order = await self.exchange.submit(
                client_id=q["newClientOrderId"],
                symbol=q["symbol"],
                side="buy" if q["side"] == "BUY" else "sell",
                coins=float(Decimal(q["quantity"]) * m),
                cap=float(Decimal(q["price"]) / m),
                reduce_only=q.get("reduceOnly") == "true",
            )
        except OrderRefused as e:
            return error(*REFUSALS.get(e.code, (e.code, e.message)))
        if q.get("newOrderRespType") == "RESULT":
            return self.row(order)
        return {k: v for k, v in self.row(order).items() if k not in ("executedQty", "avgPrice")}

    def row(self, order: FakeOrder) -> dict[str, Any]:
        """An order as the RESULT reply and the order query write it, in the symbol's units."""
        assert self.exchange is not None
        m = self.exchange.perp(order.symbol).multiplier
        cost = (order.avg_price or 0.0) * order.filled
        return {
            "orderId": int(order.order_id),
            "symbol": order.symbol,
            "status": STATUSES[order.status],
            "clientOrderId": order.client_id,
            "price": scaled(order.cap, m),
            "avgPrice": scaled(order.avg_price, m) if order.avg_price else "0.00000",
            "origQty": scaled(order.coins, per=m),
            "executedQty": scaled(order.filled, per=m),
            "cumQty": scaled(order.filled, per=m),
            "cumQuote": dec(cost),
            "timeInForce": "IOC",
            "type": "LIMIT",
            "reduceOnly": order.reduce_only,
            "closePosition": False,
            "side": order.side.upper(),
            "positionSide": "BOTH",
            "origType": "LIMIT",
            "updateTime": order.time_ms,
        }

    async def query_order(self, request: web.Request, q: dict[str, str]) -> Any:
        assert self.exchange is not None
        order = self.exchange.find(q.get("origClientOrderId", ""))
        if order is None or order.symbol != q.get("symbol"):
            return error(-2013, "Order does not exist.")
        return self.row(order)

    async def user_trades(self, request: web.Request, q: dict[str, str]) -> Any:
        """One trade for the whole fill of the order asked for, commission in USDT."""
        assert self.exchange is not None
        order = next(
            (o for o in self.exchange.orders.values() if o.order_id == q.get("orderId")), None
        )
        if order is None or not order.filled or order.avg_price is None:
            return []
        m = self.exchange.perp(order.symbol).multiplier
        return [
            {
                "symbol": order.symbol,
                "id": int(order.order_id) * 10,
                "orderId": int(order.order_id),
                "side": order.side.upper(),
                "price": scaled(order.avg_price, m),
                "qty": scaled(order.filled, per=m),
                "quoteQty": dec(order.avg_price * order.filled),
                "commission": dec(order.fee_usd),
                "commissionAsset": "USDT",
                "realizedPnl": "0",
                "positionSide": "BOTH",
                "buyer": order.side == "buy",
                "maker": False,
                "time": order.time_ms,
            }
        ]

    # --- account settings ------------------------------------------------------------

    async def leverage(self, request: web.Request, q: dict[str, str]) -> Any:
        assert self.exchange is not None
        self.leverage_sent.append(q)
        value = q.get("leverage", "")
        if not value.isdigit() or not 1 <= int(value) <= 125:
            return error(-4028, f"Leverage {value} is not valid")
        self.exchange.leverage[q["symbol"]] = float(value)
        return {"leverage": int(value), "maxNotionalValue": "1000000", "symbol": q["symbol"]}

    async def position_mode(self, request: web.Request, q: dict[str, str]) -> Any:
        assert self.exchange is not None
        return {"dualSidePosition": self.exchange.hedge_mode}


def with_params(answer: Any) -> Any:
    """`answer(request, params)`, params read as Binance reads them: the query and an
    urlencoded body, together."""

    async def read(request: web.Request, body: bytes) -> Any:
        params = dict(request.query) | dict(parse_qsl(body.decode()))
        return await answer(request, params)

    return read
