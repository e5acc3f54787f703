"""Bybit v5 order path (linear perpetuals): IOC limit orders, their fills, leverage and the
position-mode check, on the signed client's keys and clock.

An order is `POST /v5/order/create` (docs/v5/order/create-order: category linear,
orderType Limit, timeInForce IOC, orderLinkId, reduceOnly, positionIdx 0 for one-way),
signed like a GET but over the raw JSON body: `timestamp + key + recvWindow + body`.
Its reply holds only the ids, so the fills come from `GET /v5/order/realtime` by
orderLinkId (docs/v5/order/open-order: it also lists the latest 500 closed orders, but
after a server restart only `/v5/order/history` has them, so that is asked next):
cumExecQty, avgPrice and cumExecFee, with orderStatus Filled, PartiallyFilledCanceled,
Cancelled or Rejected once an IOC order is done.

Sizes and prices go in the symbol's base units (1000PEPEUSDT: lots of 1000 PEPE, priced
per 1000 PEPE), on its qtyStep and tickSize (instruments-info lotSizeFilter and
priceFilter), loaded from the public instruments list and cached.

The position mode is read from `/v5/position/list` by symbol (position.mdx: positionIdx
0 one-way, 1 and 2 the buy and sell sides of hedge mode); the leverage is set with
`/v5/position/set-leverage`, where 110043 "Set leverage has not been modified" means it
already was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec

from arb.accounts.base import AuthError, Params, code_of
from arb.http import (
    VenueAPIError,
    VenueBadResponse,
    VenueError,
)
from arb.trading.orders import (
    OrderIntent,
    OrderOutcome,
    OrderVenue,
    Status,
    TradeRefused,
    decimal_text,
    fills_when_final,
    refused_outcome,
    to_lots,
    to_tick,
)
from arb.venues.bybit.account import BybitPrivate, auth_headers
from arb.venues.bybit.common import NAME, Rows, classify, unwrapper
from arb.venues.numbers import RawNum, per_coin, to_number

log = logging.getLogger(__name__)

ORDER_CREATE = "/v5/order/create"
ORDER_REALTIME = "/v5/order/realtime"
ORDER_HISTORY = "/v5/order/history"
SET_LEVERAGE = "/v5/position/set-leverage"
POSITION_LIST = "/v5/position/list"
INSTRUMENTS = "/v5/market/instruments-info"

INSTRUMENTS_PAGE = 1000  # the endpoint's maximum
MAX_INSTRUMENT_PAGES = 10
ONE_WAY = 0  # positionIdx of a one-way position (and of an order sent in one-way mode)

# docs/v5/error.mdx
DUPLICATE_CODE = "110072"  # OrderLinkedID is duplicate
LEVERAGE_NOT_MODIFIED = "110043"  # Set leverage has not been modified.
# 10000 Server Timeout, 10016 internal server error: the order may or may not exist.
UNKNOWN_CODES = frozenset({"10000", "10016"})

# docs/v5/enum.mdx orderStatus, for an order that is done.
DONE = {"Filled": "filled", "PartiallyFilledCanceled": "partial", "Rejected": "rejected"}
CANCELLED = frozenset({"Cancelled", "Deactivated"})


# --- replies -------------------------------------------------------------------------


class PriceFilter(msgspec.Struct, gc=False):
    tickSize: RawNum = None


class LotSizeFilter(msgspec.Struct, gc=False):
    qtyStep: RawNum = None
    minOrderQty: RawNum = None


class InstrumentRow(msgspec.Struct, gc=False):
    symbol: str = ""
    priceFilter: PriceFilter = msgspec.field(default_factory=PriceFilter)
    lotSizeFilter: LotSizeFilter = msgspec.field(default_factory=LotSizeFilter)


class Instrument(NamedTuple):
    """One symbol's order units: all in the symbol's own units (1000PEPE), and how many
    coins one of them is."""

    multiplier: float
    tick: float  # price step, per unit
    lot: float  # quantity step, units
    min_qty: float  # smallest order, units


class Created(msgspec.Struct, gc=False):
    orderId: str = ""
    orderLinkId: str = ""


class OrderRow(msgspec.Struct, gc=False):
    orderId: str = ""
    orderLinkId: str = ""
    symbol: str = ""
    orderStatus: str = ""
    cumExecQty: RawNum = None  # units of the symbol's base
    avgPrice: RawNum = None  # per unit; "" or "0" when nothing filled
    cumExecFee: RawNum = None  # in the settle coin
    rejectReason: str = ""


class PositionSlot(msgspec.Struct, gc=False):
    symbol: str = ""
    positionIdx: int = ONE_WAY


_instruments = unwrapper(Rows[InstrumentRow])
_created = unwrapper(Created)
_orders = unwrapper(Rows[OrderRow])
_slots = unwrapper(Rows[PositionSlot])
_ack = unwrapper(dict)


# --- parsing -------------------------------------------------------------------------


def parse_instruments(body: bytes) -> tuple[dict[str, Instrument], str]:
    """One instruments-info page -> each in-scope symbol's order units, and the cursor."""
    rows = _instruments(body)
    table: dict[str, Instrument] = {}
    for row in rows.rows:
        perp = classify(row.symbol)
        tick, lot = to_number(row.priceFilter.tickSize), to_number(row.lotSizeFilter.qtyStep)
        if perp is None or not tick or not lot:
            continue
        least = to_number(row.lotSizeFilter.minOrderQty) or 0.0
        table[row.symbol] = Instrument(perp.multiplier, tick, lot, least)
    return table, rows.nextPageCursor or ""


def outcome_of(row: OrderRow, client_id: str, multiplier: float) -> OrderOutcome:
    """An order row in coins and USD per coin: final statuses as the venue says them; one
    still working (New, PartiallyFilled) is `unknown`, its fills so far."""
    filled = to_number(row.cumExecQty) or 0.0
    coins = float(Decimal(repr(filled)) * exact(multiplier))
    status: Status
    if row.orderStatus in DONE:
        status = DONE[row.orderStatus]  # type: ignore[assignment]
    elif row.orderStatus in CANCELLED:
        status = "partial" if filled > 0 else "none"
    else:
        status = "unknown"
    reason = None
    if status == "rejected":
        reason = f"rejected: {row.rejectReason or row.orderStatus}"
    elif status == "unknown":
        reason = f"order {row.orderStatus or 'in no known state'}, not final yet"
    return OrderOutcome(
        client_id=client_id,
        status=status,
        filled_coins=coins,
        avg_price=per_coin(row.avgPrice, multiplier) if coins else None,
        fee_usd=to_number(row.cumExecFee),
        order_id=row.orderId or None,
        reason=reason,
    )


def is_hedge_mode(body: bytes) -> bool:
    """A position list asked by symbol: hedge mode lists its buy and sell slots (1, 2)."""
    return any(slot.positionIdx != ONE_WAY for slot in _slots(body).rows)


# --- requests ------------------------------------------------------------------------


def exact(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def units(coins: float, multiplier: float) -> float:
    """Coins as the symbol's units (1000PEPE), exact in decimal."""
    return float(exact(coins) / exact(multiplier))


def order_body(intent: OrderIntent, facts: Instrument) -> dict[str, Any]:
    """The create-order body: quantity down to the lot, price onto the tick grid on the
    side that keeps the cap (down for a buy, up for a sell)."""
    qty = to_lots(units(intent.coins, facts.multiplier), facts.lot)
    price = float(exact(intent.price_cap) * exact(facts.multiplier))
    return {
        "category": "linear",
        "symbol": intent.symbol,
        "side": "Buy" if intent.side == "buy" else "Sell",
        "orderType": "Limit",
        "qty": decimal_text(qty),
        "price": decimal_text(to_tick(price, facts.tick, intent.side)),
        "timeInForce": "IOC",
        "orderLinkId": intent.client_id,
        "reduceOnly": intent.reduce_only,
        "positionIdx": ONE_WAY,  # a hedge-mode account refuses it rather than guess a side
    }


def lookup_params(intent: OrderIntent) -> dict[str, str]:
    return {"category": "linear", "symbol": intent.symbol, "orderLinkId": intent.client_id}


# --- the client ----------------------------------------------------------------------


class BybitOrders(BybitPrivate, OrderVenue):
    """The desk's orders on Bybit linear perpetuals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._leverage: dict[str, float] = {}  # set this process, by symbol

    def sign_body(
        self, timestamp_ms: int, method: str, path: str, params: Params, body: str
    ) -> tuple[Params, dict[str, str]]:
        """A POST signs its raw JSON body where a GET signs its query."""
        return params, auth_headers(self.credentials, timestamp_ms, body)

    async def load_contracts(self) -> Mapping[str, Instrument]:
        """Every in-scope linear symbol's order units, from the public instruments list."""
        table: dict[str, Instrument] = {}
        cursor = ""
        for _ in range(MAX_INSTRUMENT_PAGES):
            params = {"category": "linear", "limit": str(INSTRUMENTS_PAGE)}
            if cursor:
                params["cursor"] = cursor
            page, cursor = await self.http.get(INSTRUMENTS, params, decode=parse_instruments)
            table |= page
            if not cursor:
                return table
        raise VenueBadResponse(NAME, INSTRUMENTS, "instruments still paging")

    async def instrument(self, symbol: str) -> Instrument | None:
        return (await self.sized([symbol])).get(symbol)

    async def prepare(self, symbol: str, leverage: float) -> None:
        params = {"category": "linear", "symbol": symbol}
        try:
            hedge = await self.get(POSITION_LIST, params, is_hedge_mode)
        except AuthError as e:
            raise TradeRefused(f"{NAME}: {e.reason}") from None
        if hedge:
            raise TradeRefused(
                f"{NAME}: the account is in hedge position mode; switch USDT perpetuals to"
                " one-way mode to trade from here"
            )
        if self._leverage.get(symbol) == leverage:
            return
        await self.set_leverage(symbol, leverage)
        self._leverage[symbol] = leverage

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        text = decimal_text(leverage)
        body = {"category": "linear", "symbol": symbol, "buyLeverage": text, "sellLeverage": text}
        try:
            await self.send("POST", SET_LEVERAGE, _ack, body=body)
        except VenueError as e:
            if code_of(e) == LEVERAGE_NOT_MODIFIED:
                return
            if isinstance(e, AuthError | VenueAPIError):
                raise TradeRefused(f"{NAME}: leverage {text} refused: {e.reason}") from None
            raise

    async def place(self, intent: OrderIntent) -> OrderOutcome:
        try:
            facts = await self.instrument(intent.symbol)
        except VenueError as e:
            return OrderOutcome(intent.client_id, "rejected", reason=f"not sent: {e}")
        if facts is None:
            return OrderOutcome(intent.client_id, "rejected", reason=f"no symbol {intent.symbol}")
        body = order_body(intent, facts)
        if float(body["qty"]) < max(facts.min_qty, facts.lot):
            reason = f"not sent: {body['qty']} is below the smallest order {facts.min_qty:g}"
            return OrderOutcome(intent.client_id, "rejected", reason=reason)
        try:
            created = await self.send("POST", ORDER_CREATE, _created, body=body, once=True)
        except VenueError as e:
            return await refused_outcome(
                intent, e, lambda: self.lookup(intent), {DUPLICATE_CODE}, UNKNOWN_CODES
            )
        return await self.fills(intent, created.orderId)

    async def fills(self, intent: OrderIntent, order_id: str) -> OrderOutcome:
        """The fills of an order the venue took, read until final (unknown, with its id,
        if they cannot be read)."""
        return await fills_when_final(
            lambda: self.lookup(intent), intent, order_id or None, self._sleep
        )

    async def lookup(self, intent: OrderIntent) -> OrderOutcome | None:
        perp = classify(intent.symbol)  # the name decides the multiplier, as for positions
        multiplier = perp.multiplier if perp else 1.0
        params = lookup_params(intent)
        for path in (ORDER_REALTIME, ORDER_HISTORY):
            rows = (await self.get(path, params, _orders)).rows
            row = next((r for r in rows if r.orderLinkId == intent.client_id), None)
            if row is not None:
                return outcome_of(row, intent.client_id, multiplier)
        return None
