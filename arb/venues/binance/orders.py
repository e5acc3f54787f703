"""Binance USDⓈ-M order path: IOC limit orders, their fills and fees, leverage and the
position-mode check, on the signed client's keys and clock.

An order is `POST /fapi/v1/order` (New-Order: type LIMIT, timeInForce IOC,
newClientOrderId, reduceOnly, newOrderRespType RESULT so that the reply holds the final
status, executedQty and avgPrice of an IOC order). Its parameters go in the query and
are signed as a GET's are (HMAC-SHA256 hex of the query string, signature last; the
docs allow the query for POST). The reply holds no commission: it is read from
`GET /fapi/v1/userTrades?orderId=` (Account-Trade-List) once the order filled, and is
None, with a warning, when those trades cannot be read or are charged in a coin that
is not USD (BNB fee discount); the order's outcome does not wait on it otherwise.

An order is looked up with `GET /fapi/v1/order?origClientOrderId=` (Query-Order; -2013
"Order does not exist." means it never arrived). Sizes and prices go in the symbol's
base units (1000PEPEUSDT: lots of 1000 PEPE, priced per 1000), on LOT_SIZE stepSize and
PRICE_FILTER tickSize from the public exchangeInfo, cached. The position mode is
`GET /fapi/v1/positionSide/dual` (dualSidePosition true: hedge mode) and the leverage
`POST /fapi/v1/leverage`, a whole number.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import msgspec

from arb.accounts.base import AuthError, Params, code_of
from arb.http import (
    VenueAPIError,
    VenueError,
    VenueHTTPError,
)
from arb.trading.orders import (
    OrderIntent,
    OrderOutcome,
    OrderVenue,
    Status,
    TradeRefused,
    decimal_text,
    refused_outcome,
    to_lots,
    to_tick,
)
from arb.venues.base import USD_SETTLES
from arb.venues.binance.account import API_KEY_HEADER, BinancePrivate, signed_params
from arb.venues.binance.common import NAME, perp_of, reply_error, unwrapper
from arb.venues.numbers import RawNum, per_coin, to_number

log = logging.getLogger(__name__)

ORDER = "/fapi/v1/order"
USER_TRADES = "/fapi/v1/userTrades"
LEVERAGE = "/fapi/v1/leverage"
POSITION_MODE = "/fapi/v1/positionSide/dual"
EXCHANGE_INFO = "/fapi/v1/exchangeInfo"

# usds-margined-futures/error-code
NO_SUCH_ORDER = "-2013"  # Order does not exist.
DUPLICATE_CODE = "-4116"  # clientOrderId is duplicated
# -1006 UNEXPECTED_RESP, -1007 TIMEOUT: "execution status unknown".
UNKNOWN_CODES = frozenset({"-1006", "-1007"})

# Order statuses (common-definition): an IOC order ends FILLED or EXPIRED (what was not
# filled at once is expired), or CANCELED / EXPIRED_IN_MATCH (self-trade prevention).
ENDED = frozenset({"EXPIRED", "CANCELED", "EXPIRED_IN_MATCH"})


# --- replies -------------------------------------------------------------------------


class Filter(msgspec.Struct, gc=False):
    filterType: str = ""
    tickSize: RawNum = None  # PRICE_FILTER
    stepSize: RawNum = None  # LOT_SIZE
    minQty: RawNum = None


class SymbolRow(msgspec.Struct, gc=False):
    symbol: str = ""
    contractType: str = ""
    filters: list[Filter] = msgspec.field(default_factory=list)


class ExchangeInfo(msgspec.Struct, gc=False):
    symbols: list[SymbolRow] = msgspec.field(default_factory=list)


class Instrument(NamedTuple):
    """One symbol's order units, all in the symbol's own units (1000PEPE)."""

    multiplier: float
    tick: float  # price step, per unit
    lot: float  # quantity step of a limit order, units
    min_qty: float


class Reply(msgspec.Struct, gc=False):
    """An object reply: on HTTP 200 it may still be Binance's error envelope, which VenueHttp
    types by its code on 4xx only."""

    code: int | None = None
    msg: str = ""


class OrderRow(Reply, gc=False):
    orderId: int | str | None = None
    clientOrderId: str = ""
    status: str = ""
    executedQty: RawNum = None  # units
    avgPrice: RawNum = None  # per unit; "0" or "0.00000" when nothing filled


class TradeRow(msgspec.Struct, gc=False):
    commission: RawNum = None
    commissionAsset: str = ""


class Mode(Reply, gc=False):
    dualSidePosition: bool = False


R = TypeVar("R", bound=Reply)


def decoder(shape: type[R]) -> Callable[[bytes], R]:
    """A decoder of the object reply `shape` that raises its error envelope."""
    decode = msgspec.json.Decoder(shape, strict=False).decode

    def unwrap(body: bytes) -> R:
        reply = decode(body)
        if reply.code is not None:
            raise reply_error(reply.code, reply.msg)
        return reply

    return unwrap


_exchange_info = msgspec.json.Decoder(ExchangeInfo, strict=False)
_order = decoder(OrderRow)
_trades = unwrapper(TradeRow)
_mode = decoder(Mode)
_ack = decoder(Reply)


# --- parsing -------------------------------------------------------------------------


def parse_instruments(body: bytes) -> dict[str, Instrument]:
    """exchangeInfo -> each USDT/USDC perpetual's order units."""
    table: dict[str, Instrument] = {}
    for row in _exchange_info.decode(body).symbols:
        perp = perp_of(row.symbol)
        filters = {f.filterType: f for f in row.filters}
        price, lots = filters.get("PRICE_FILTER"), filters.get("LOT_SIZE")
        if row.contractType != "PERPETUAL" or perp is None or price is None or lots is None:
            continue
        tick, lot = to_number(price.tickSize), to_number(lots.stepSize)
        if tick and lot:
            table[row.symbol] = Instrument(perp.multiplier, tick, lot, to_number(lots.minQty) or 0)
    return table


def outcome_of(row: OrderRow, client_id: str, multiplier: float) -> OrderOutcome:
    """An order (RESULT reply or query) in coins and USD per coin; one still working
    (NEW, PARTIALLY_FILLED) is `unknown`, its fills so far."""
    filled = to_number(row.executedQty) or 0.0
    coins = float(exact(filled) * exact(multiplier))
    status: Status
    if row.status == "FILLED":
        status = "filled"
    elif row.status in ENDED:
        status = "partial" if filled > 0 else "none"
    elif row.status == "REJECTED":
        status = "rejected"
    else:
        status = "unknown"
    reason = None if status in ("filled", "partial", "none") else f"order {row.status}"
    return OrderOutcome(
        client_id=client_id,
        status=status,
        filled_coins=coins,
        avg_price=per_coin(row.avgPrice, multiplier) if coins else None,
        order_id=None if row.orderId is None else str(row.orderId),
        reason=reason,
    )


def fee_of(trades: list[TradeRow]) -> float | None:
    """The commission of an order's trades in USD; None if any was charged in another coin."""
    if any(t.commissionAsset not in USD_SETTLES for t in trades):
        return None
    fees = [to_number(t.commission) for t in trades]
    return None if any(f is None for f in fees) else sum(f for f in fees if f is not None)


def is_hedge_mode(body: bytes) -> bool:
    return _mode(body).dualSidePosition


# --- requests ------------------------------------------------------------------------


def exact(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def order_params(intent: OrderIntent, facts: Instrument) -> dict[str, str]:
    """The new-order parameters: quantity down to the lot, price onto the tick grid on the
    side that keeps the cap (down for a buy, up for a sell)."""
    qty = to_lots(float(exact(intent.coins) / exact(facts.multiplier)), facts.lot)
    price = float(exact(intent.price_cap) * exact(facts.multiplier))
    params = {
        "symbol": intent.symbol,
        "side": "BUY" if intent.side == "buy" else "SELL",
        "type": "LIMIT",
        "timeInForce": "IOC",
        "quantity": decimal_text(qty),
        "price": decimal_text(to_tick(price, facts.tick, intent.side)),
        "newClientOrderId": intent.client_id,
        "newOrderRespType": "RESULT",
    }
    return params | {"reduceOnly": "true"} if intent.reduce_only else params


# --- the client ----------------------------------------------------------------------


class BinanceOrders(BinancePrivate, OrderVenue):
    """The desk's orders on Binance USDⓈ-M perpetuals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._leverage: dict[str, int] = {}  # set this process, by symbol

    def sign_body(
        self, timestamp_ms: int, method: str, path: str, params: Params, body: str
    ) -> tuple[Params, dict[str, str]]:
        """Parameters go in the query, signed as a GET's: the body stays empty."""
        query = signed_params(params or {}, timestamp_ms, self.credentials.secret)
        return query, {API_KEY_HEADER: self.credentials.key}

    async def load_contracts(self) -> Mapping[str, Instrument]:
        return await self.http.get(EXCHANGE_INFO, decode=parse_instruments)

    async def instrument(self, symbol: str) -> Instrument | None:
        return (await self.sized([symbol])).get(symbol)

    async def prepare(self, symbol: str, leverage: float) -> None:
        try:
            hedge = await self.get(POSITION_MODE, {}, is_hedge_mode)
        except AuthError as e:
            raise TradeRefused(f"{NAME}: {e.reason}") from None
        if hedge:
            raise TradeRefused(
                f"{NAME}: the account is in hedge position mode (dual side); switch it to"
                " one-way mode to trade from here"
            )
        if leverage != int(leverage) or leverage < 1:
            raise TradeRefused(f"{NAME}: leverage is a whole number from 1, not {leverage:g}")
        whole = int(leverage)
        if self._leverage.get(symbol) == whole:
            return
        params = {"symbol": symbol, "leverage": str(whole)}
        try:
            await self.send("POST", LEVERAGE, _ack, params=params)
        except (AuthError, VenueAPIError) as e:
            raise TradeRefused(f"{NAME}: leverage {whole} refused: {e.reason}") from None
        except VenueHTTPError as e:
            if e.status >= 500:
                raise
            raise TradeRefused(f"{NAME}: leverage {whole} refused: {e.reason}") from None
        self._leverage[symbol] = whole

    async def place(self, intent: OrderIntent) -> OrderOutcome:
        try:
            facts = await self.instrument(intent.symbol)
        except VenueError as e:
            return OrderOutcome(intent.client_id, "rejected", reason=f"not sent: {e}")
        if facts is None:
            return OrderOutcome(intent.client_id, "rejected", reason=f"no symbol {intent.symbol}")
        params = order_params(intent, facts)
        if float(params["quantity"]) < max(facts.min_qty, facts.lot):
            reason = f"not sent: {params['quantity']} is below the smallest order {facts.min_qty:g}"
            return OrderOutcome(intent.client_id, "rejected", reason=reason)
        try:
            row = await self.send("POST", ORDER, _order, params=params, once=True)
        except VenueError as e:
            return await refused_outcome(
                intent, e, lambda: self.lookup(intent), {DUPLICATE_CODE}, UNKNOWN_CODES
            )
        return await self.with_fee(intent, outcome_of(row, intent.client_id, facts.multiplier))

    async def with_fee(self, intent: OrderIntent, out: OrderOutcome) -> OrderOutcome:
        """`out` with the commission of its trades, when it filled and they can be read."""
        if not out.filled_coins or out.order_id is None:
            return out
        params = {"symbol": intent.symbol, "orderId": out.order_id}
        try:
            trades = await self.get(USER_TRADES, params, _trades)
        except VenueError as e:
            log.warning("%s: fee of order %s unknown: %s", NAME, intent.client_id, e)
            return out
        return dataclasses.replace(out, fee_usd=fee_of(trades))

    async def lookup(self, intent: OrderIntent) -> OrderOutcome | None:
        perp = perp_of(intent.symbol)  # the name decides the multiplier, as for positions
        params = {"symbol": intent.symbol, "origClientOrderId": intent.client_id}
        try:
            row = await self.get(ORDER, params, _order)
        except VenueError as e:
            if code_of(e) == NO_SUCH_ORDER:
                return None
            raise
        out = outcome_of(row, intent.client_id, perp.multiplier if perp else 1.0)
        return await self.with_fee(intent, out)
