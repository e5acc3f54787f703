"""A fake of Gate's v4 USDT-futures order endpoints, on a `FakeGatePrivate` account.

`FakeOrders(account).install(fake)` serves, behind the account's signature check (the
SHA512 of the raw body signed with method, raw path, raw query and Timestamp):

- `POST /api/v4/futures/usdt/orders`: the JSON body read as Gate documents it (`contract`,
  `size` whole contracts signed by side, `price` a string on the contract's
  `order_price_round` grid, `tif`, `text` "t-" and at most 28 bytes, `reduce_only`),
  converted to coins and USD per coin and matched by a `FakeExchange`; the answer is
  Gate's order (201): `status` "finished", `finish_as`, `size`, `left`, `fill_price` per
  unit of the base, `tkfr`. Only IOC is served (the desk sends nothing else).
- `GET /api/v4/futures/usdt/orders/{order_id}`: by Gate's id or by the "t-" text; 404
  ORDER_NOT_FOUND otherwise. `forget_texts = True` plays Gate's rule that a text is
  answered only up to 60 s after its order finished.
- `GET /api/v4/futures/usdt/orders?status=finished&contract=`: newest first, `limit`.
- `POST /api/v4/futures/usdt/positions/{contract}/leverage?leverage=&cross_leverage_limit=`
  (no body): `leverage` 0 is cross margin at `cross_leverage_limit`; the leverage set is
  the exchange's `leverage[contract]`, the margin mode `margin[contract]`.
- `GET /api/v4/futures/usdt/accounts`: the account, `in_dual_mode` as the exchange's
  `hedge_mode`.

The engine's refusals become Gate's: an unknown contract CONTRACT_NOT_FOUND; a
reduce-only order that would open a position is finished unfilled with `finish_as`
"reduce_only" (Gate's FuturesOrder model); a refusal a test asks for carries its label.
Gate refuses no repeated `text` (it keeps the later order), which one engine order per
id cannot play: a repeat is answered 500, so a client that sends one fails its test.
Every order body received is kept raw in `bodies`, every leverage query in
`leverage_queries`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.exchange import FakeExchange, FakeOrder, OrderRefused
from tests.fakes.venues import FakePerp, FakeVenues
from tests.venues.gate.fake_account import GATE_ACCOUNTS, FakeGatePrivate, base_unit
from tests.venues.gate.fake_rest import gate_symbol, unit_price

GATE_ORDERS = "/api/v4/futures/usdt/orders"
GATE_LEVERAGE = "/api/v4/futures/usdt/positions/{contract}/leverage"
TAKER_FEE = 0.0005
MAKER_FEE = 0.0002
TEXT = re.compile(r"t-[0-9A-Za-z_.-]{1,28}")


def tick_of(p: FakePerp) -> str:
    """A price tick finer than the book's 8 significant digits, per unit of the base."""
    exponent = math.floor(math.log10(unit_price(p))) - 9
    return format(Decimal(1).scaleb(exponent), "f")


def error(label: str, message: str, status: int = 400) -> web.Response:
    return web.json_response({"label": label, "message": message}, status=status)


class FakeOrders:
    # Gate's labels and messages (its API v4 "label list", futures section).
    REASONS: ClassVar[dict[str, tuple[str, str]]] = {
        "margin": ("INSUFFICIENT_AVAILABLE", "Balance is not enough"),
        "price_band": ("PRICE_TOO_DEVIATED", "Order price deviates too much from mark price"),
    }

    def __init__(self, account: FakeGatePrivate) -> None:
        self.account = account
        self.exchange: FakeExchange | None = None
        self.forget_texts = False
        self.bodies: list[bytes] = []
        self.leverage_queries: list[dict[str, str]] = []
        self.margin: dict[str, str] = {}  # contract -> cross or isolated
        self._sent: dict[str, tuple[int, str]] = {}  # text -> the signed size and price sent
        self._unfilled: dict[str, dict[str, Any]] = {}  # text -> reduce-only orders finished
        self._ids = itertools.count(9_000_001)

    # --- serving --------------------------------------------------------------------

    def install(self, fake: FakeVenues) -> FakeExchange:
        self.exchange = FakeExchange("gate", fake, taker_fee=TAKER_FEE)
        perps = [p for p in fake.market.perps("gate") if p.settle == "USDT"] if fake.market else []
        for p in perps:
            self.set_tick(gate_symbol(p), tick_of(p))
            path = GATE_LEVERAGE.format(contract=gate_symbol(p))
            fake.route("gate", "POST", path, self.account.guarded(self.set_leverage))
        fake.route("gate", "POST", GATE_ORDERS, self.account.guarded(self.create))
        fake.route("gate", "GET", GATE_ORDERS, self.account.guarded(self.finished))
        fake.route("gate", "GET", GATE_ORDERS + "/*", self.account.guarded(self.one))
        fake.route("gate", "GET", GATE_ACCOUNTS, self.account.guarded(self.accounts))
        return self.exchange

    def set_tick(self, contract: str, tick: str) -> None:
        """The contract's `order_price_round` in the contract list the account serves."""
        for row in self.account.contracts:
            if row["name"] == contract:
                row["order_price_round"] = tick

    # --- the units ------------------------------------------------------------------

    def _contract(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.account.contracts if c["name"] == name), None)

    def coins_per_contract(self, name: str) -> Decimal:
        return self.account.coins_per_contract(name)

    # --- the endpoints --------------------------------------------------------------

    async def create(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        self.bodies.append(body)
        try:
            order = json.loads(body)
            contract, size, price = order["contract"], order["size"], order["price"]
            text, tif = order.get("text", ""), order.get("tif", "gtc")
            reduce_only = order.get("reduce_only", False)
        except (ValueError, KeyError, TypeError):
            return error("INVALID_PARAM_VALUE", "invalid request body")
        row = self._contract(contract)
        if row is None:
            return error("CONTRACT_NOT_FOUND", "Contract not found")
        if not isinstance(size, int) or isinstance(size, bool) or size == 0:
            return error("INVALID_PARAM_VALUE", f"size must be a non-zero integer: {size!r}")
        if tif != "ioc" or not isinstance(price, str) or not isinstance(reduce_only, bool):
            return error("INVALID_PARAM_VALUE", "this fake serves IOC limit orders only")
        if not TEXT.fullmatch(text or ""):
            return error("INVALID_PARAM_VALUE", f"text must be t- and 1-28 characters: {text!r}")
        try:
            per_unit = Decimal(price)
        except InvalidOperation:
            return error("INVALID_PARAM_VALUE", f"price {price!r}")
        if per_unit <= 0 or per_unit % Decimal(row["order_price_round"]) != 0:
            return error("INVALID_PARAM_VALUE", f"price {price} is off the tick grid")
        unit = base_unit(contract)
        coins = abs(size) * self.coins_per_contract(contract)
        self._sent[text] = (size, price)
        try:
            placed = await self.exchange.submit(
                text, contract, "buy" if size > 0 else "sell", float(coins),
                float(per_unit / unit), reduce_only,
            )  # fmt: skip
        except OrderRefused as e:
            return self._refusal(e, contract, size, price, text)
        return web.json_response(self.row(placed), status=201)

    def _refusal(self, e: OrderRefused, contract: str, size: int, price: str, text: str) -> Any:
        if e.code == "symbol":
            return error("CONTRACT_NOT_FOUND", "Contract not found")
        if e.code == "duplicate":
            return error("FAKE_DUPLICATE_TEXT", "Gate would keep a second order", status=500)
        if e.code == "reduce_only":
            row = self._finished(str(next(self._ids)), contract, size, size, "0", text)
            row |= {"price": price, "finish_as": "reduce_only", "is_reduce_only": True}
            self._unfilled[text] = row
            return web.json_response(row, status=201)
        return error(e.code, e.message)

    async def one(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        wanted = request.match_info["path"].rpartition("/")[2]
        if wanted.startswith("t-"):
            found = None if self.forget_texts else self._by_text(wanted)
        else:
            found = next((self.row(o) for o in self.exchange.orders.values()
                          if o.order_id == wanted), None)  # fmt: skip
            found = found or next(
                (r for r in self._unfilled.values() if str(r["id"]) == wanted), None
            )
        if found is None:
            return error("ORDER_NOT_FOUND", "Order not found", status=404)
        return found

    async def finished(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        q = request.query
        if q.get("status") not in ("open", "finished"):
            return error("INVALID_PARAM_VALUE", "status is required: open or finished")
        limit = int(q.get("limit", 100))
        if q["status"] == "open":
            return []
        rows = [self.row(o) for o in self.exchange.orders.values()] + list(self._unfilled.values())
        rows = [r for r in rows if q.get("contract") in (None, r["contract"])]
        rows.sort(key=lambda r: r["id"], reverse=True)
        return rows[:limit]

    async def set_leverage(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        contract = request.match_info["path"].split("/")[-2]
        q = dict(request.query)
        self.leverage_queries.append(q)
        try:
            leverage = float(q["leverage"])
            cross = float(q.get("cross_leverage_limit", "0"))
        except (KeyError, ValueError):
            return error("INVALID_PARAM_VALUE", "leverage is required")
        if leverage == 0:
            self.exchange.leverage[contract] = cross
            self.margin[contract] = "cross"
        else:
            self.exchange.leverage[contract] = leverage
            self.margin[contract] = "isolated"
        return {
            "contract": contract,
            "size": "0",
            "leverage": q["leverage"],
            "cross_leverage_limit": q.get("cross_leverage_limit", "0"),
            "mode": "single",
        }

    async def accounts(self, request: web.Request, body: bytes) -> Any:
        assert self.exchange is not None
        dual = self.exchange.hedge_mode
        return dict(self.account.account, in_dual_mode=dual,
                    position_mode="dual" if dual else "single")  # fmt: skip

    # --- rows -----------------------------------------------------------------------

    def _by_text(self, text: str) -> dict[str, Any] | None:
        assert self.exchange is not None
        order = self.exchange.find(text)
        return self.row(order) if order is not None else self._unfilled.get(text)

    def row(self, order: FakeOrder) -> dict[str, Any]:
        """A finished IOC order as Gate writes it: contracts signed by side, the average
        fill price per unit of the base."""
        size, price = self._sent[order.client_id]
        filled = Decimal(repr(order.filled)) / self.coins_per_contract(order.symbol)
        left = abs(size) - int(filled)
        avg = "0"
        if order.avg_price is not None:
            avg = format(Decimal(repr(order.avg_price)) * base_unit(order.symbol), "f")
        row = self._finished(order.order_id, order.symbol, size, left if size > 0 else -left,
                             avg, order.client_id)  # fmt: skip
        row["finish_as"] = "filled" if left == 0 else "ioc"
        row["price"] = price
        row["is_reduce_only"] = row["reduce_only"] = order.reduce_only
        row["create_time"] = row["finish_time"] = order.time_ms / 1000
        return row

    def _finished(
        self, order_id: str, contract: str, size: int, left: int, fill_price: str, text: str
    ) -> dict[str, Any]:
        return {
            "id": int(order_id),
            "user": 16661234,
            "create_time": 0.0,
            "finish_time": 0.0,
            "finish_as": "ioc",
            "status": "finished",
            "contract": contract,
            "size": size,
            "iceberg": 0,
            "price": "0",
            "close": False,
            "is_close": False,
            "reduce_only": False,
            "is_reduce_only": False,
            "is_liq": False,
            "tif": "ioc",
            "left": left,
            "fill_price": fill_price,
            "text": text,
            "tkfr": format(Decimal(repr(TAKER_FEE)), "f"),
            "mkfr": format(Decimal(repr(MAKER_FEE)), "f"),
            "refu": 0,
            "stp_id": 0,
            "stp_act": "-",
            "amend_text": "-",
        }
