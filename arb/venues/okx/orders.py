"""OKX v5 order path for linear USDT swaps: IOC limit orders, their fills, leverage and the
position mode check.

An order is `POST /api/v5/trade/order` (docs-v5 "Place order") with `tdMode` cross,
`ordType` ioc, `px` in USD per coin and `sz` in contracts: coins / (`ctVal` x `ctMult`),
a whole number of `lotSz`, from the public instrument list (`tickSz` is the price grid).
The body is signed like a GET with the exact JSON text appended to the prehash. OKX
answers a refused order with HTTP 200, top-level `code` "1" and the reason per order in
`data[0].sCode` / `sMsg` ("Error code" page: 51008 "Order failed. Insufficient {ccy}
balance in account", 51006 "Order price is not within the price limit", 51016
"Duplicated clOrdId"). The reply holds no fills: they come from `GET
/api/v5/trade/order?instId=&clOrdId=` ("Get order details": `accFillSz` in contracts,
`avgPx`, `fee` negative when charged, in `feeCcy`; `state` live, partially_filled,
filled, canceled or mmp_canceled; an IOC's unfilled rest ends `canceled`), and 51603
"Order does not exist" means it never arrived.

`prepare` reads `posMode` from `/api/v5/account/config` (net_mode is one-way,
long_short_mode is hedge) and sets the leverage with `POST /api/v5/account/set-leverage`
(`mgnMode` cross), once per symbol. Demo trading ("Demo trading services") is the same
host with the header `x-simulated-trading: 1` and demo keys: `demo=True`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from arb.accounts.base import Credentials, Params
from arb.http import (
    ReplyError,
    ReplyShapeError,
    VenueAPIError,
    VenueError,
    VenueHttp,
    VenueHTTPError,
)
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
from arb.venues.base import USD_SETTLES
from arb.venues.cache import STALE_S, TtlCache
from arb.venues.numbers import RawNum, to_decimal, to_number, to_positive
from arb.venues.okx.account import CONFIG, OkxPrivate, iso_timestamp, prehash, request_path, sign
from arb.venues.okx.common import INSTRUMENTS, INSTRUMENTS_TTL_S, SWAPS, Envelope, unwrapper

log = logging.getLogger(__name__)

ORDER = "/api/v5/trade/order"
SET_LEVERAGE = "/api/v5/account/set-leverage"
DEMO_HEADER = {"x-simulated-trading": "1"}
DUPLICATE = "51016"  # Duplicated clOrdId
NOT_FOUND = "51603"  # Order does not exist
ONE_WAY = "net_mode"
HEDGE = "long_short_mode"
FINAL_STATES = frozenset({"filled", "canceled", "mmp_canceled"})
# An IOC is final at once on OKX's book; its state may lag the reply by a moment.


# --- the replies ---------------------------------------------------------------


class InstrumentRow(msgspec.Struct, gc=False):
    instId: str = ""
    ctType: str = ""
    settleCcy: str = ""
    ctVal: RawNum = None
    ctMult: RawNum = None
    lotSz: RawNum = None  # contracts
    minSz: RawNum = None  # contracts
    tickSz: RawNum = None  # USD per coin


class Ack(msgspec.Struct, gc=False):
    ordId: str = ""
    clOrdId: str = ""
    sCode: str = ""
    sMsg: str = ""


class OrderRow(msgspec.Struct, gc=False):
    instId: str = ""
    ordId: str = ""
    clOrdId: str = ""
    state: str = ""
    accFillSz: RawNum = None  # contracts
    avgPx: RawNum = None
    fee: RawNum = None  # negative: charged
    feeCcy: str = ""


class ConfigRow(msgspec.Struct, gc=False):
    posMode: str = ""


@dataclass(frozen=True, slots=True)
class Instrument:
    """What an order on one swap needs: coins per contract, the size step and the tick."""

    coins: Decimal  # per contract
    lot: Decimal  # contracts
    tick: float  # USD per coin


_instruments = unwrapper(InstrumentRow)
_orders = unwrapper(OrderRow)
_config = unwrapper(ConfigRow)
_leverage = unwrapper(msgspec.Raw)
_acks = msgspec.json.Decoder(Envelope[Ack], strict=False).decode


def parse_instruments(body: bytes) -> dict[str, Instrument]:
    """Linear USDT/USDC swaps with a positive contract size, lot and tick."""
    out: dict[str, Instrument] = {}
    for r in _instruments(body):
        ct_val, ct_mult = to_decimal(r.ctVal), to_decimal(r.ctMult) or Decimal(1)
        lot, tick = to_decimal(r.lotSz), to_positive(r.tickSz)
        if r.ctType != "linear" or r.settleCcy not in USD_SETTLES:
            continue
        if ct_val is None or ct_val <= 0 or ct_mult <= 0 or lot is None or lot <= 0 or not tick:
            continue
        out[r.instId] = Instrument(ct_val * ct_mult, lot, tick)
    return out


def parse_ack(body: bytes) -> Ack:
    """A place-order reply: its one order's ack, or the order's own refusal (`sCode`),
    which OKX puts under a top-level code "1"."""
    env = _acks(body)
    ack = env.data[0] if env.data else None
    if ack is not None and ack.sCode not in ("", "0"):
        raise ReplyError(ack.sCode, ack.sMsg or env.msg or "no message")
    if env.code != "0":
        raise ReplyError(env.code, env.msg or "no message")
    if ack is None:
        raise ReplyShapeError("no order in the place-order reply")
    return ack


def parse_pos_mode(body: bytes) -> str:
    rows = _config(body)
    if not rows or not rows[0].posMode:
        raise ReplyShapeError("no posMode in the account config")
    return rows[0].posMode


def outcome(client_id: str, row: OrderRow, contract: Decimal) -> OrderOutcome:
    """An order's row in the desk's units: contracts to coins, the fee charged to USD."""
    filled = (to_decimal(row.accFillSz) or Decimal(0)) * contract
    if row.state == "filled":
        status = "filled"
    elif row.state in FINAL_STATES:
        status = "partial" if filled > 0 else "none"
    else:
        status = "unknown"  # live or partially_filled: not done yet
    fee = to_number(row.fee)
    return OrderOutcome(
        client_id=client_id,
        status=status,
        filled_coins=float(filled),
        avg_price=to_positive(row.avgPx) if filled > 0 else None,
        fee_usd=-fee if fee is not None and row.feeCcy in USD_SETTLES else None,
        order_id=row.ordId or None,
        reason=None if status != "unknown" else f"order still {row.state or 'unreported'}",
    )


# --- the client ----------------------------------------------------------------


class OkxOrders(OkxPrivate, OrderVenue):
    """OKX's signed client, taking orders too."""

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
        self.instruments = TtlCache(self._load_instruments, INSTRUMENTS_TTL_S, STALE_S)

    # signing

    def headers(self, timestamp_ms: int, method: str, path: str, params: Params) -> dict[str, str]:
        return {**super().headers(timestamp_ms, method, path, params), **self._demo()}

    def sign_body(
        self, timestamp_ms: int, method: str, path: str, params: Params, body: str
    ) -> tuple[Params, dict[str, str]]:
        timestamp = iso_timestamp(timestamp_ms)
        message = prehash(timestamp, method, request_path(path, params), body)
        return params, {
            "OK-ACCESS-KEY": self.credentials.key,
            "OK-ACCESS-SIGN": sign(self.credentials.secret, message),
            "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-PASSPHRASE": self.credentials.passphrase or "",
            **self._demo(),
        }

    def _demo(self) -> dict[str, str]:
        return DEMO_HEADER if self.demo else {}

    # instruments

    async def _load_instruments(self) -> Mapping[str, Instrument]:
        return await self.http.get(INSTRUMENTS, SWAPS, decode=parse_instruments)

    async def instrument(self, symbol: str) -> Instrument:
        """`symbol`'s sizes, reloaded once when it is missing (listed since)."""
        found = (await self.instruments.holding(symbol)).get(symbol)
        if found is None:
            raise TradeRefused(f"OKX lists no linear USD swap {symbol}")
        return found

    # the order path

    async def prepare(self, symbol: str, leverage: float) -> None:
        mode = await self.get(CONFIG, None, parse_pos_mode)
        if mode != ONE_WAY:
            raise TradeRefused(
                f"the OKX account is in {'hedge (long/short)' if mode == HEDGE else mode} "
                "position mode: switch it to one-way (net) mode"
            )
        if self.leverage_set.get(symbol) == leverage:
            return
        body = {"instId": symbol, "lever": decimal_text(leverage), "mgnMode": "cross"}
        try:
            await self.send("POST", SET_LEVERAGE, _leverage, body=body)
        except VenueError as e:
            if fate_unknown(e):
                raise
            raise TradeRefused(
                f"OKX refused leverage {leverage:g} on {symbol}: {e.reason}"
            ) from None
        self.leverage_set[symbol] = leverage

    def order_body(self, intent: OrderIntent, inst: Instrument) -> dict[str, Any] | None:
        """The wire order for `intent`, None when it is less than one lot."""
        contracts = Decimal(repr(intent.coins)) / inst.coins
        sz = Decimal(repr(to_lots(float(contracts), float(inst.lot))))
        if sz <= 0:
            return None
        return {
            "instId": intent.symbol,
            "tdMode": "cross",
            "side": intent.side,
            "ordType": "ioc",
            "px": decimal_text(to_tick(intent.price_cap, inst.tick, intent.side)),
            "sz": decimal_text(float(sz)),
            "clOrdId": intent.client_id,
            "reduceOnly": intent.reduce_only,
        }

    async def place(self, intent: OrderIntent) -> OrderOutcome:
        try:
            inst = await self.instrument(intent.symbol)
        except (TradeRefused, VenueError) as e:  # nothing was sent
            return OrderOutcome(intent.client_id, "rejected", reason=str(e))
        body = self.order_body(intent, inst)
        if body is None:
            why = f"{intent.coins:g} coins is less than one lot of {intent.symbol}"
            return OrderOutcome(intent.client_id, "rejected", reason=why)
        try:
            ack = await self.send("POST", ORDER, parse_ack, body=body, once=True)
        except VenueError as e:
            lookup = lambda: self._lookup(intent, inst)  # noqa: E731
            return await refused_outcome(intent, e, lookup, {DUPLICATE})
        return await fills_when_final(
            lambda: self._lookup(intent, inst), intent, ack.ordId or None, self._sleep
        )

    async def lookup(self, intent: OrderIntent) -> OrderOutcome | None:
        return await self._lookup(intent, await self.instrument(intent.symbol))

    async def _lookup(self, intent: OrderIntent, inst: Instrument) -> OrderOutcome | None:
        params = {"instId": intent.symbol, "clOrdId": intent.client_id}
        try:
            rows = await self.get(ORDER, params, _orders)
        except (VenueAPIError, VenueHTTPError) as e:
            if e.code == NOT_FOUND:
                return None
            raise
        row = next((r for r in rows if r.clOrdId == intent.client_id), None)
        return None if row is None else outcome(intent.client_id, row, inst.coins)
