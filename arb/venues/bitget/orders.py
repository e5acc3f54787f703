"""Bitget v2 order path for USDT-M perpetuals: IOC limit orders, their fills, leverage and
the position mode check.

An order is `POST /api/v2/mix/order/place-order` ("Place Order") with `productType`
USDT-FUTURES, `marginMode` crossed, `marginCoin` USDT, `orderType` limit, `force` ioc,
`size` in the symbol's base coin (1000PEPE units on a 1000x symbol, a whole number of
`sizeMultiplier`) and `price` per base unit on the grid of `priceEndStep` x
10^-`pricePlace` ("Get Contract Config"); in one-way mode `reduceOnly` is YES/NO and
`tradeSide` is left out. The body is signed like a GET with the exact JSON text appended.
Refusals come as HTTP 400 with Bitget's code: 40762 "The order amount exceeds the
balance", 40786 "Duplicate clientOid", 22002 "No position to close". The reply holds
only `orderId` and `clientOid`: fills come from `GET /api/v2/mix/order/detail` by
`clientOid` ("Get Order Detail": `baseVolume` filled, `priceAvg`, `fee`, `state` live,
partially_filled, filled or canceled); an order it cannot find is 40109 ("The data of
the order cannot be found") or 40768 ("Order does not exist").

`prepare` reads `posMode` of `GET /api/v2/mix/account/account` ("Get Single Account":
one_way_mode or hedge_mode) and sets the cross leverage with `POST
/api/v2/mix/account/set-leverage` ("Change Leverage"), once per symbol.

Demo trading ("Demo Trading: RestAPI") takes demo keys and the header `paptrading: 1`
(`demo=True`), but trades other symbols (SBTCSUSDT) of other product types
(SUSDT-FUTURES) in SUSDT, which the desk's scan never quotes: `demo` adds the header only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from arb.accounts.base import Credentials, Params, code_of
from arb.http import ReplyShapeError, VenueError, VenueHttp
from arb.trading.orders import (
    OrderIntent,
    OrderOutcome,
    OrderVenue,
    TradeRefused,
    decimal_text,
    fate_unknown,
    fills_when_final,
    refused_outcome,
    to_lots,
    to_tick,
)
from arb.venues.bitget.account import BitgetPrivate, prehash, query_string, sign
from arb.venues.bitget.common import PRODUCT_TYPE, SETTLE, classify, unwrapper
from arb.venues.cache import STALE_S, TtlCache
from arb.venues.numbers import RawNum, to_decimal, to_number

log = logging.getLogger(__name__)

PLACE_ORDER = "/api/v2/mix/order/place-order"
ORDER_DETAIL = "/api/v2/mix/order/detail"
ACCOUNT = "/api/v2/mix/account/account"
SET_LEVERAGE = "/api/v2/mix/account/set-leverage"
CONTRACTS = "/api/v2/mix/market/contracts"
CONTRACTS_TTL_S = 600.0
DEMO_HEADER = {"paptrading": "1"}
DUPLICATE = "40786"
NOT_FOUND = frozenset({"40109", "40768"})
ONE_WAY = "one_way_mode"
FINAL_STATES = frozenset({"filled", "canceled", "cancelled"})
# An IOC is final at once; the order detail may lag the reply by a moment.


# --- the replies ---------------------------------------------------------------


class ContractRow(msgspec.Struct, gc=False):
    symbol: str = ""
    sizeMultiplier: RawNum = None  # the size step, base units
    pricePlace: RawNum = None  # decimals of the price
    priceEndStep: RawNum = None  # the price step, in units of the last decimal


class Ack(msgspec.Struct, gc=False):
    orderId: str | None = None
    clientOid: str | None = None


class OrderRow(msgspec.Struct, gc=False):
    symbol: str = ""
    orderId: str = ""
    clientOid: str = ""
    state: str = ""  # the docs' example; their table calls it `status`
    status: str = ""
    baseVolume: RawNum = None  # base units filled
    priceAvg: RawNum = None  # per base unit
    fee: RawNum = None  # in the margin coin, negative as Bitget writes it


class AccountRow(msgspec.Struct, gc=False):
    posMode: str = ""


class LeverageRow(msgspec.Struct, gc=False):
    crossMarginLeverage: RawNum = None


@dataclass(frozen=True, slots=True)
class Contract:
    """What an order on one perpetual needs: coins per base unit, the size step in base
    units and the price step per base unit."""

    coins: Decimal  # 1000 on 1000PEPEUSDT
    lot: Decimal
    tick: Decimal


_contracts = unwrapper(list[ContractRow])
_ack = unwrapper(Ack)
_order = unwrapper(OrderRow)
_account = unwrapper(AccountRow)
_leverage = unwrapper(LeverageRow)


def parse_contracts(body: bytes) -> dict[str, Contract]:
    """Perpetuals in scope with a positive size step and price step."""
    out: dict[str, Contract] = {}
    for r in _contracts(body) or []:
        info = classify(r.symbol)
        lot, places = to_decimal(r.sizeMultiplier), to_number(r.pricePlace)
        step = to_decimal(r.priceEndStep) or Decimal(1)
        if info is None or lot is None or lot <= 0 or places is None or step <= 0:
            continue
        out[r.symbol] = Contract(Decimal(info[1]), lot, step.scaleb(-int(places)))
    return out


def parse_pos_mode(body: bytes) -> str:
    row = _account(body)
    if row is None or not row.posMode:
        raise ReplyShapeError("no posMode in the account")
    return row.posMode


def outcome(client_id: str, row: OrderRow, contract: Contract) -> OrderOutcome:
    """An order's detail in the desk's units: base units to coins, prices per coin."""
    state = row.state or row.status
    filled = (to_decimal(row.baseVolume) or Decimal(0)) * contract.coins
    if state == "filled":
        status = "filled"
    elif state in FINAL_STATES:
        status = "partial" if filled > 0 else "none"
    else:
        status = "unknown"  # live or partially_filled: not done yet
    avg = to_decimal(row.priceAvg)
    fee = to_number(row.fee)
    return OrderOutcome(
        client_id=client_id,
        status=status,
        filled_coins=float(filled),
        avg_price=float(avg / contract.coins) if filled > 0 and avg and avg > 0 else None,
        # Bitget writes the fee paid as a negative amount of the margin coin (USDT).
        fee_usd=abs(fee) if fee is not None else None,
        order_id=row.orderId or None,
        reason=None if status != "unknown" else f"order still {state or 'unreported'}",
    )


# --- the client ----------------------------------------------------------------


class BitgetOrders(BitgetPrivate, OrderVenue):
    """Bitget's signed client, taking orders too."""

    def __init__(
        self,
        http: VenueHttp,
        credentials: Credentials,
        resync_s: float = 300.0,
        *,
        demo: bool = False,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        super().__init__(http, credentials, resync_s, sleep=sleep)
        self.demo = demo
        self.leverage_set: dict[str, float] = {}
        self.order_contracts = TtlCache(self._load_contracts, CONTRACTS_TTL_S, STALE_S)

    # signing

    def headers(self, timestamp_ms: int, method: str, path: str, params: Params) -> dict[str, str]:
        return {**super().headers(timestamp_ms, method, path, params), **self._demo()}

    def sign_body(
        self, timestamp_ms: int, method: str, path: str, params: Params, body: str
    ) -> tuple[Params, dict[str, str]]:
        query = dict(sorted((params or {}).items()))
        message = prehash(timestamp_ms, method, path, query_string(query) if query else "", body)
        return query or None, {
            "ACCESS-KEY": self.credentials.key,
            "ACCESS-SIGN": sign(self.credentials.secret, message),
            "ACCESS-TIMESTAMP": str(timestamp_ms),
            "ACCESS-PASSPHRASE": self.credentials.passphrase or "",
            "locale": "en-US",
            **self._demo(),
        }

    def _demo(self) -> dict[str, str]:
        return DEMO_HEADER if self.demo else {}

    # contracts

    async def _load_contracts(self) -> Mapping[str, Contract]:
        return await self.http.get(CONTRACTS, {"productType": PRODUCT_TYPE}, decode=parse_contracts)

    async def contract(self, symbol: str) -> Contract:
        """`symbol`'s steps, reloaded once when it is missing (listed since)."""
        found = (await self.order_contracts.holding(symbol)).get(symbol)
        if found is None:
            raise TradeRefused(f"Bitget lists no USDT perpetual {symbol}")
        return found

    # the order path

    async def prepare(self, symbol: str, leverage: float) -> None:
        params = {"symbol": symbol, "productType": PRODUCT_TYPE, "marginCoin": SETTLE}
        mode = await self.get(ACCOUNT, params, parse_pos_mode)
        if mode != ONE_WAY:
            raise TradeRefused(
                f"the Bitget futures account is in {mode.replace('_', ' ')}: "
                "switch it to one-way mode"
            )
        if self.leverage_set.get(symbol) == leverage:
            return
        body = {"symbol": symbol, "productType": PRODUCT_TYPE, "marginCoin": SETTLE,
                "leverage": decimal_text(leverage)}  # fmt: skip
        try:
            await self.send("POST", SET_LEVERAGE, _leverage, body=body)
        except VenueError as e:
            if fate_unknown(e):
                raise
            why = f"Bitget refused leverage {leverage:g} on {symbol}: {e.reason}"
            raise TradeRefused(why) from None
        self.leverage_set[symbol] = leverage

    def order_body(self, intent: OrderIntent, contract: Contract) -> dict[str, Any] | None:
        """The wire order for `intent`, None when it is less than one lot."""
        units = to_lots(float(Decimal(repr(intent.coins)) / contract.coins), float(contract.lot))
        if units <= 0:
            return None
        unit_cap = float(Decimal(repr(intent.price_cap)) * contract.coins)
        return {
            "symbol": intent.symbol,
            "productType": PRODUCT_TYPE,
            "marginMode": "crossed",
            "marginCoin": SETTLE,
            "size": decimal_text(units),
            "price": decimal_text(to_tick(unit_cap, float(contract.tick), intent.side)),
            "side": intent.side,
            "orderType": "limit",
            "force": "ioc",
            "clientOid": intent.client_id,
            "reduceOnly": "YES" if intent.reduce_only else "NO",
        }

    async def place(self, intent: OrderIntent) -> OrderOutcome:
        try:
            contract = await self.contract(intent.symbol)
        except (TradeRefused, VenueError) as e:  # nothing was sent
            return OrderOutcome(intent.client_id, "rejected", reason=str(e))
        body = self.order_body(intent, contract)
        if body is None:
            why = f"{intent.coins:g} coins is less than one lot of {intent.symbol}"
            return OrderOutcome(intent.client_id, "rejected", reason=why)
        try:
            ack = await self.send("POST", PLACE_ORDER, _ack, body=body, once=True)
        except VenueError as e:
            lookup = lambda: self._lookup(intent, contract)  # noqa: E731
            return await refused_outcome(intent, e, lookup, {DUPLICATE})
        # A reduce-only order that cancelled older ones comes back without an orderId.
        return await fills_when_final(
            lambda: self._lookup(intent, contract),
            intent,
            (ack.orderId if ack else None) or None,
            self._sleep,
        )

    async def lookup(self, intent: OrderIntent) -> OrderOutcome | None:
        return await self._lookup(intent, await self.contract(intent.symbol))

    async def _lookup(self, intent: OrderIntent, contract: Contract) -> OrderOutcome | None:
        params = {"symbol": intent.symbol, "productType": PRODUCT_TYPE,
                  "clientOid": intent.client_id}  # fmt: skip
        try:
            row = await self.get(ORDER_DETAIL, params, _order)
        except VenueError as e:
            if code_of(e) in NOT_FOUND:
                return None
            raise
        if row is None or (row.clientOid and row.clientOid != intent.client_id):
            return None
        return outcome(intent.client_id, row, contract)
