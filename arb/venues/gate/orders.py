"""Gate v4 orders on USDT perpetuals: IOC limit orders by client id, their fills, and the
account made ready for them (one-way position mode, cross margin at the desk's leverage).

Facts from Gate's API v4 docs (FuturesApi: create_futures_order, get_futures_order,
list_futures_orders, update_position_leverage; models FuturesOrder, FuturesAccount,
Contract; the "label list" of errors):

- An order is `POST /futures/usdt/orders` with a JSON body: `contract`, `size` in whole
  contracts, positive to buy and negative to sell, `price` a string (on the contract's
  `order_price_round` grid), `tif` "ioc" ("ImmediateOrCancelled, taker only"), `text` the
  client id, which must start with "t-" and be at most 28 bytes after it, and
  `reduce_only`. It is signed like every Gate request (`account.presign`), here over the
  SHA512 of the exact body bytes sent.
- The reply (201) is the order itself: `status` "finished", `finish_as` (filled, ioc,
  reduce_only, ...), `size` and `left` in contracts, `fill_price` the average price per
  unit of the contract's base, `tkfr` the taker fee rate. An IOC order is taker only, so
  its fee is its filled value times `tkfr`: read from the same reply, no second request
  between the two legs of a trade. (A fee paid in GT points, `point_fee` of
  `GET /futures/usdt/my_trades?order=`, is not read: the fee is the one at the rate.)
- `GET /futures/usdt/orders/{order_id}` takes the "t-..." text as `order_id`, but only
  while the order is open and "within 60 seconds after the end of the order"; after that
  only Gate's own id works. So a lookup that Gate answers ORDER_NOT_FOUND (or
  CLIENT_ID_NOT_FOUND, the label a text lookup gets: gateio/gateapi-go issue 41) goes on
  to the contract's newest finished orders (`GET /futures/usdt/orders?status=finished`),
  matched by `text`, before it says there is no such order.
- Gate does not refuse a second order with the same text (its maintainers: "the latter
  one will override", gateio/gateapi-go issue 41). So `place` never sends an id twice on
  its own: an id this client has sent before is looked up first, and sent again only when
  Gate holds no order by it.
- Refusals are a non-2xx status with `{"label", "message"}`: INSUFFICIENT_AVAILABLE
  ("Balance is not enough"), PRICE_TOO_DEVIATED ("Order price deviates too much from
  mark price"), SIZE_TOO_SMALL, CONTRACT_NOT_FOUND... each comes back `rejected` with
  Gate's words. Server trouble (INTERNAL, SERVER_ERROR, TOO_BUSY, any 5xx) and no answer
  are `unknown`: the order may exist.
- Leverage is `POST /futures/usdt/positions/{contract}/leverage` with query parameters
  only: `leverage` 0 and `cross_leverage_limit` N keep the position in cross margin at N
  ("Cross margin leverage (valid only when leverage is 0)"); a positive `leverage` would
  switch it to isolated margin. A carry desk wants cross: the whole account backs each
  leg, so one leg's adverse move does not liquidate an isolated slice of it.
- Position mode: `GET /futures/usdt/accounts` says `in_dual_mode`; dual (hedge) mode can
  only be left with no position and no open order, so it is refused, never switched.

Testnet: Gate's docs list `https://api-testnet.gateapi.io/api/v4` ("TestNet trading"),
so GATE_REST_URL=https://api-testnet.gateapi.io (paths here carry /api/v4).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import msgspec

from arb.accounts.base import AuthError, Credentials, Params, code_of
from arb.http import (
    VenueError,
    VenueHttp,
)
from arb.trading.orders import (
    OrderIntent,
    OrderOutcome,
    OrderVenue,
    Status,
    TradeRefused,
    decimal_text,
    fate_unknown,
    to_tick,
)
from arb.venues.cache import TtlCache
from arb.venues.gate.account import ACCOUNTS, GatePrivate, presign, query_string, sign
from arb.venues.gate.common import ContractRow, classify, contract_pages, raise_label, unwrapper
from arb.venues.numbers import RawNum, to_decimal, to_number

ORDERS = "/api/v4/futures/usdt/orders"
LEVERAGE = "/api/v4/futures/usdt/positions/{contract}/leverage"

TEXT_PREFIX = "t-"  # Gate's rule for a custom order id
TEXT_MAX_BYTES = 28  # after the prefix
NOT_FOUND_LABELS = frozenset({"ORDER_NOT_FOUND", "CLIENT_ID_NOT_FOUND"})
# Gate's server trouble: the order may or may not have been placed.
UNSURE_LABELS = frozenset({"INTERNAL", "SERVER_ERROR", "INTERNAL_SERVER_ERROR", "TOO_BUSY"})
FINISHED_PAGE = 100  # the newest finished orders of a contract a lookup reads
INSTRUMENTS_TTL_S = 600.0
INSTRUMENTS_STALE_S = 3600.0


# --- the replies ---------------------------------------------------------------------


class InstrumentRow(ContractRow, gc=False):
    order_price_round: RawNum = None  # the price tick, per unit of the name's base


class OrderRow(msgspec.Struct, gc=False):
    id: int | str | None = None  # Gate's own id, a 64-bit integer
    contract: str = ""
    status: str = ""  # open or finished
    finish_as: str = ""
    size: RawNum = None  # contracts, negative for a sell
    left: RawNum = None  # contracts not filled
    fill_price: RawNum = None  # average, per unit of the name's base
    text: str = ""
    tkfr: RawNum = None  # taker fee rate
    label: str = ""
    message: str = ""


class AccountMode(msgspec.Struct, gc=False):
    in_dual_mode: bool | None = None
    label: str = ""
    message: str = ""


class LeverageReply(msgspec.Struct, gc=False):
    contract: str = ""
    label: str = ""
    message: str = ""


decode_instruments = unwrapper(InstrumentRow)
decode_orders = unwrapper(OrderRow)
_order = msgspec.json.Decoder(OrderRow, strict=False).decode
_account_mode = msgspec.json.Decoder(AccountMode, strict=False).decode
_leverage = msgspec.json.Decoder(LeverageReply, strict=False).decode


def parse_order(body: bytes) -> OrderRow:
    row = _order(body)
    if row.label:
        raise_label(row.label, row.message)
    return row


def parse_dual_mode(body: bytes) -> bool:
    reply = _account_mode(body)
    if reply.label:
        raise_label(reply.label, reply.message)
    return bool(reply.in_dual_mode)


def parse_leverage(body: bytes) -> str:
    reply = _leverage(body)
    if reply.label:
        raise_label(reply.label, reply.message)
    return reply.contract


# --- instruments ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instrument:
    """What an order on one contract needs: coins per contract, coins per quoted price
    unit (1000 for 1000PEPE_USDT), the price tick per unit and the smallest order."""

    coins: Decimal
    price_unit: Decimal
    tick: Decimal
    min_contracts: Decimal


def to_instruments(rows: list[InstrumentRow]) -> dict[str, Instrument]:
    """USDT perpetuals in the desk's units, as `common.to_contracts` sizes them."""
    out: dict[str, Instrument] = {}
    for row in rows:
        info = classify(row.name)
        quanto = to_decimal(row.quanto_multiplier)
        tick = to_decimal(row.order_price_round)
        if info is None or quanto is None or quanto <= 0 or tick is None or tick <= 0:
            continue
        unit = Decimal(repr(info[1]))
        least = to_decimal(row.order_size_min)
        out[row.name] = Instrument(
            coins=quanto * unit,
            price_unit=unit,
            tick=tick,
            min_contracts=least if least is not None and least > 0 else Decimal(1),
        )
    return out


# --- requests --------------------------------------------------------------------------


def text_of(client_id: str) -> str:
    """The desk's client id as Gate's custom id ("t-" and at most 28 bytes after it)."""
    if not client_id or len(client_id.encode()) > TEXT_MAX_BYTES:
        raise ValueError(f"a Gate client id is 1 to {TEXT_MAX_BYTES} bytes, not {client_id!r}")
    return TEXT_PREFIX + client_id


def contracts_of(coins: float, instrument: Instrument) -> int:
    """`coins` as whole contracts, rounded down (never more than the desk asked)."""
    whole = (Decimal(repr(coins)) / instrument.coins).to_integral_value(ROUND_FLOOR)
    return int(whole)


def price_of(intent: OrderIntent, instrument: Instrument) -> str:
    """The cap in USD per coin as Gate's price per unit of the base, on the tick grid on
    the cap's side of it (down for a buy, up for a sell)."""
    per_unit = Decimal(repr(intent.price_cap)) * instrument.price_unit
    return decimal_text(to_tick(float(per_unit), float(instrument.tick), intent.side))


def order_body(intent: OrderIntent, instrument: Instrument) -> dict[str, object]:
    contracts = contracts_of(intent.coins, instrument)
    return {
        "contract": intent.symbol,
        "size": contracts if intent.side == "buy" else -contracts,
        "price": price_of(intent, instrument),
        "tif": "ioc",
        "text": text_of(intent.client_id),
        "reduce_only": intent.reduce_only,
    }


def leverage_params(leverage: float) -> dict[str, str]:
    """Cross margin at `leverage` (see the module doc)."""
    return {"leverage": "0", "cross_leverage_limit": decimal_text(leverage)}


# --- outcomes --------------------------------------------------------------------------


def outcome_of(intent: OrderIntent, row: OrderRow, instrument: Instrument) -> OrderOutcome:
    """An order as Gate wrote it, in coins and USD per coin."""
    order_id = None if row.id is None else str(row.id)
    size, left = to_decimal(row.size), to_decimal(row.left)
    if size is None or left is None:
        why = f"order without size or left: {row.size!r}, {row.left!r}"
        return OrderOutcome(intent.client_id, "unknown", order_id=order_id, reason=why)
    filled = abs(size) - abs(left)
    coins = float(filled * instrument.coins)
    price = to_decimal(row.fill_price)
    avg = float(price / instrument.price_unit) if filled > 0 and price else None
    rate = to_number(row.tkfr)
    fee = coins * avg * rate if avg is not None and rate is not None else None
    if filled <= 0:
        fee = 0.0 if rate is not None else None
    return OrderOutcome(
        client_id=intent.client_id,
        status=_status(row, filled, abs(size)),
        filled_coins=coins,
        avg_price=avg,
        fee_usd=fee,
        order_id=order_id,
        reason=None if row.finish_as in ("", "filled") else row.finish_as,
    )


def _status(row: OrderRow, filled: Decimal, size: Decimal) -> Status:
    if row.status != "finished":
        return "unknown"  # still open: IOC orders finish at once, so look again
    if filled >= size > 0:
        return "filled"
    return "partial" if filled > 0 else "none"


def refused(intent: OrderIntent, reason: str) -> OrderOutcome:
    return OrderOutcome(intent.client_id, "rejected", reason=reason)


# --- the client ------------------------------------------------------------------------


class GateOrders(GatePrivate, OrderVenue):
    """IOC limit orders on Gate's USDT perpetuals, by the desk's client id."""

    def __init__(
        self, http: VenueHttp, credentials: Credentials, resync_s: float = 300.0, **kw: Any
    ) -> None:
        super().__init__(http, credentials, resync_s, **kw)
        self.instruments = TtlCache(self._load_instruments, INSTRUMENTS_TTL_S, INSTRUMENTS_STALE_S)
        self._leverage_set: dict[str, float] = {}
        self._sent: set[str] = set()  # client ids this client has sent an order under

    def sign_body(
        self, timestamp_ms: int, method: str, path: str, params: Params, body: str
    ) -> tuple[Params, dict[str, str]]:
        timestamp_s = timestamp_ms // 1000
        message = presign(method, path, query_string(params), body.encode(), timestamp_s)
        headers = {
            "KEY": self.credentials.key,
            "Timestamp": str(timestamp_s),
            "SIGN": sign(self.credentials.secret, message),
        }
        return params, headers

    async def _load_instruments(self) -> dict[str, Instrument]:
        return to_instruments(await contract_pages(self.http, decode_instruments))

    async def instrument(self, symbol: str) -> Instrument | None:
        """`symbol`'s contract facts; the list is reloaded once when it lacks it."""
        return (await self.instruments.holding(symbol)).get(symbol)

    # --- prepare -------------------------------------------------------------------

    async def prepare(self, symbol: str, leverage: float) -> None:
        if await self.get(ACCOUNTS, None, parse_dual_mode):
            raise TradeRefused(
                "gate: the futures account is in hedge (dual) position mode; switch it to "
                "one-way (single) mode before trading"
            )
        if self._leverage_set.get(symbol) == leverage:
            return
        path = LEVERAGE.format(contract=symbol)
        try:
            await self.send("POST", path, parse_leverage, params=leverage_params(leverage))
        except AuthError as e:
            raise TradeRefused(f"gate: {e.reason}") from None
        except VenueError as e:
            if code_of(e) is None or fate_unknown(e, UNSURE_LABELS):
                raise
            why = f"gate: leverage {leverage:g} refused on {symbol}: {e.reason}"
            raise TradeRefused(why) from None
        self._leverage_set[symbol] = leverage

    # --- place ---------------------------------------------------------------------

    async def place(self, intent: OrderIntent) -> OrderOutcome:
        if intent.client_id in self._sent:
            # Gate keeps no id unique: a second order by this id would be a second order.
            try:
                found = await self.lookup(intent)
            except VenueError as e:
                return OrderOutcome(intent.client_id, "unknown", reason=f"lookup failed: {e}")
            if found is not None:
                return found
        try:
            instrument = await self.instrument(intent.symbol)
        except VenueError as e:
            return refused(intent, f"contract list unavailable, not sent: {e.reason}")
        if instrument is None:
            return refused(intent, f"gate lists no USDT perpetual {intent.symbol}")
        body = order_body(intent, instrument)
        if abs(int(body["size"])) < instrument.min_contracts:  # type: ignore[call-overload]
            smallest = float(instrument.min_contracts * instrument.coins)
            why = f"{intent.coins:g} coins is below the smallest order, {smallest:g} coins"
            return refused(intent, why)
        self._sent.add(intent.client_id)
        try:
            row = await self.send("POST", ORDERS, parse_order, body=body, once=True)
        except AuthError as e:
            return refused(intent, e.reason)
        except VenueError as e:
            if fate_unknown(e, UNSURE_LABELS):
                return OrderOutcome(intent.client_id, "unknown", reason=e.reason)
            return refused(intent, e.reason)
        return outcome_of(intent, row, instrument)

    # --- lookup --------------------------------------------------------------------

    async def lookup(self, intent: OrderIntent) -> OrderOutcome | None:
        instrument = await self.instrument(intent.symbol)
        if instrument is None:
            raise VenueError(self.name, ORDERS, f"gate lists no USDT perpetual {intent.symbol}")
        text = text_of(intent.client_id)
        try:
            row = await self.get(f"{ORDERS}/{text}", None, parse_order)
        except VenueError as e:
            if code_of(e) not in NOT_FOUND_LABELS:
                raise
            row = await self._finished_with(intent.symbol, text)
        return None if row is None else outcome_of(intent, row, instrument)

    async def _finished_with(self, symbol: str, text: str) -> OrderRow | None:
        """The newest finished order of `symbol` whose text is `text`: Gate answers a text
        only up to 60 s after its order finished."""
        params = {"contract": symbol, "status": "finished", "limit": str(FINISHED_PAGE)}
        rows = await self.get(ORDERS, params, decode_orders)
        return next((r for r in rows if r.text == text), None)
