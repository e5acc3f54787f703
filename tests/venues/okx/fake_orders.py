"""A fake of OKX's order endpoints, on the account fake's keys and the market's books.

`FakeOrders(account).install(fake)` serves `POST /api/v5/trade/order`, `GET
/api/v5/trade/order`, `POST /api/v5/account/set-leverage` and an account config whose
`posMode` follows the exchange's `hedge_mode`, each behind the account fake's signature
check (over the raw body for a POST). Orders are read as OKX documents them: `sz` in
contracts of the instrument's `ctVal` (a whole number of `lotSz`), `px` in USD per coin
on the `tickSz` grid, `tdMode` cross, `ordType` ioc, `clOrdId` letters and digits (at
most 32), `reduceOnly` a JSON boolean; anything else is refused with 51000. A refused
order is OKX's HTTP 200 with `code` "1" and the reason in `data[0].sCode`. Every body
accepted is kept in `bodies`.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakes.exchange import FakeExchange, FakeOrder, OrderRefused
from tests.fakes.venues import FakePerp, FakeVenues, dec, fixture
from tests.venues.okx.fake_account import OKX_CONFIG, FakeOkxPrivate, okx_ok

OKX_ORDER = "/api/v5/trade/order"
OKX_SET_LEVERAGE = "/api/v5/account/set-leverage"

# The venue's code and words for each refusal the exchange makes, and the contract
# test's two (docs-v5 "Error code": trade).
CODES = {
    "duplicate": ("51016", "Duplicated clOrdId"),
    "reduce_only": ("51205", "Reduce Only is not available"),
    "symbol": ("51001", "Instrument ID does not exist"),
}
REASONS = {
    "margin": ("51008", "Order failed. Insufficient USDT balance in account"),
    "price_band": (
        "51006",
        "Order price is not within the price limit (max buy price: 2004.5 min sell price: 1995.5)",
    ),
}


def tick_of(perp: FakePerp) -> Decimal:
    """The fake's `tickSz` (tests/venues/okx/fake_rest.py writes the same)."""
    return Decimal(dec(10 ** math.floor(math.log10(perp.price) - 4)))


def on_grid(x: Decimal, step: Decimal) -> bool:
    return step > 0 and x % step == 0


class FakeOrders:
    REASONS = REASONS

    def __init__(self, account: FakeOkxPrivate) -> None:
        self.account = account
        self.exchange: FakeExchange | None = None
        self.bodies: list[dict[str, Any]] = []
        self.leverage_bodies: list[dict[str, Any]] = []

    def install(self, fake: FakeVenues) -> FakeExchange:
        self.exchange = FakeExchange("okx", fake, taker_fee=0.0005)
        fake.route("okx", "POST", OKX_ORDER, self.account.guarded(self.place))
        fake.route("okx", "GET", OKX_ORDER, self.account.guarded(self.order))
        fake.route("okx", "POST", OKX_SET_LEVERAGE, self.account.guarded(self.set_leverage))
        fake.route("okx", "GET", OKX_CONFIG, self.account.guarded(self.config))
        return self.exchange

    # --- helpers -----------------------------------------------------------------

    def ct_val(self, symbol: str) -> Decimal:
        return self.account.ct_val[symbol]

    def failed(self, order: dict[str, Any], code: str, msg: str) -> dict[str, Any]:
        row = {"clOrdId": order.get("clOrdId", ""), "ordId": "", "sCode": code, "sMsg": msg,
               "tag": "", "ts": str(self.account.now_ms())}  # fmt: skip
        return {"code": "1", "data": [row], "msg": "All operations failed", "inTime": "",
                "outTime": ""}  # fmt: skip

    def wrong(self, order: dict[str, Any]) -> str | None:
        """The parameter OKX would refuse in `order`, if any."""
        assert self.exchange is not None
        perp = self.exchange.fake.perp("okx", order.get("instId", ""))
        if perp is None:
            return None  # the exchange refuses the symbol
        lot = Decimal(repr(perp.lot)) / Decimal(perp.ct_val)
        checks = {
            "tdMode": order.get("tdMode") == "cross",
            "ordType": order.get("ordType") == "ioc",
            "side": order.get("side") in ("buy", "sell"),
            "sz": isinstance(order.get("sz"), str) and on_grid(Decimal(order["sz"]), lot),
            "px": isinstance(order.get("px"), str) and on_grid(Decimal(order["px"]), tick_of(perp)),
            "clOrdId": isinstance(order.get("clOrdId"), str)
            and order["clOrdId"].isalnum()
            and order["clOrdId"].isascii()
            and 1 <= len(order["clOrdId"]) <= 32,
            "reduceOnly": isinstance(order.get("reduceOnly", False), bool),
        }
        return next((name for name, ok in checks.items() if not ok), None)

    def row(self, order: FakeOrder) -> dict[str, Any]:
        """An order as Get order details writes it: contracts, and the fee charged negative."""
        ct = self.ct_val(order.symbol)
        contracts = lambda coins: format((Decimal(repr(coins)) / ct).normalize(), "f")  # noqa: E731
        state = {"filled": "filled"}.get(order.status, "canceled")
        return {
            "instType": "SWAP", "instId": order.symbol, "ordId": order.order_id,
            "clOrdId": order.client_id, "px": dec(order.cap), "sz": contracts(order.coins),
            "ordType": "ioc", "side": order.side, "posSide": "net", "tdMode": "cross",
            "accFillSz": contracts(order.filled),
            "avgPx": dec(order.avg_price) if order.avg_price else "",
            "fillPx": dec(order.avg_price) if order.avg_price else "",
            "state": state, "fee": dec(-order.fee_usd) if order.filled else "0",
            "feeCcy": "USDT", "reduceOnly": "true" if order.reduce_only else "false",
            "cTime": str(order.time_ms), "uTime": str(order.time_ms),
        }  # fmt: skip

    # --- the endpoints -------------------------------------------------------------

    async def place(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        order = json.loads(body)
        self.bodies.append(order)
        bad = self.wrong(order)
        if bad is not None:
            return self.failed(order, "51000", f"Parameter {bad} error")
        symbol = order["instId"]
        ct = self.ct_val(symbol) if symbol in self.account.ct_val else Decimal(1)
        try:
            placed = await self.exchange.submit(
                order["clOrdId"],
                symbol,
                order["side"],
                float(Decimal(order["sz"]) * ct),
                float(order["px"]),
                order.get("reduceOnly", False),
            )
        except OrderRefused as e:
            code, msg = CODES.get(e.code, (e.code, e.message))
            return self.failed(order, code, msg)
        ack = {"clOrdId": placed.client_id, "ordId": placed.order_id, "sCode": "0",
               "sMsg": "Order placed", "tag": "", "ts": str(self.account.now_ms())}  # fmt: skip
        return okx_ok([ack])

    async def order(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        q = request.query
        if not q.get("instId"):
            return {"code": "51000", "data": [], "msg": "Parameter instId error"}
        found = self.exchange.find(q.get("clOrdId", ""))
        if found is None or found.symbol != q["instId"]:
            return {"code": "51603", "data": [], "msg": "Order does not exist"}
        return okx_ok([self.row(found)])

    async def set_leverage(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        ask = json.loads(body)
        self.leverage_bodies.append(ask)
        if ask.get("mgnMode") not in ("cross", "isolated") or not ask.get("lever"):
            return {"code": "51000", "data": [], "msg": "Parameter mgnMode error"}
        self.exchange.leverage[ask["instId"]] = float(ask["lever"])
        return okx_ok([{"instId": ask["instId"], "lever": ask["lever"],
                        "mgnMode": ask["mgnMode"], "posSide": "net"}])  # fmt: skip

    async def config(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        row = fixture("okx/api_v5_account_config.json")["data"][0]
        mode = "long_short_mode" if self.exchange.hedge_mode else "net_mode"
        return okx_ok([dict(row, posMode=mode, perm="read_only,trade")])
