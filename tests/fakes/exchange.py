"""The matching engine behind every fake venue's order endpoints, in coins and USD per coin.

A venue's fake (`tests/venues/<name>/fake_orders.py`) reads its own wire format, checks
its own signature, converts its units to coins, and asks this engine; it writes the
answer back in its own format. The engine fills IOC limit orders on the fake perp's
book (`FakePerp.levels`, the same book the public endpoints serve), keeps each order by
client id for lookups, keeps the account's positions (one-way: one signed size per
symbol), and plays the failures a test asks for:

- `reject_next(code, message)`: the next order is refused with the venue's code;
- `lose_answer_next()`: the next order is placed and filled, and its answer never
  comes (the request hangs until the test ends: the client's timeout fires);
- `drop_next()`: the next order never reaches the book, and no answer comes either;
- `liquidity[symbol] = coins`: at most that many coins fill per order (a thin book);
- `hang_all()`: every order from now on hangs before it is placed (a process killed
  while waiting on it).

Hanging requests wait on `released`, which the owner sets when it stops, so a server
never outlives its test.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Literal

from tests.fakes.venues import FakePerp, FakeVenues

Side = Literal["buy", "sell"]


class OrderRefused(Exception):
    """The venue refuses the order: `code` is the venue's own (the fake writes it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class FakeOrder:
    client_id: str
    order_id: str
    symbol: str
    side: Side
    coins: float  # asked
    cap: float  # USD per coin
    reduce_only: bool
    filled: float = 0.0  # coins
    avg_price: float | None = None  # USD per coin
    fee_usd: float = 0.0
    time_ms: int = 0

    @property
    def status(self) -> str:
        """filled, partial (the rest cancelled) or none (IOC, nothing filled)."""
        if self.filled >= self.coins - 1e-12:
            return "filled"
        return "partial" if self.filled > 0 else "none"


@dataclass
class Fault:
    kind: Literal["reject", "lose_answer", "drop"]
    code: str = ""
    message: str = ""


@dataclass
class FakeExchange:
    """One venue account's orders and positions, matched on `fake`'s books."""

    venue: str
    fake: FakeVenues
    taker_fee: float = 0.0005
    orders: dict[str, FakeOrder] = field(default_factory=dict)  # by client id
    positions: dict[str, float] = field(default_factory=dict)  # symbol -> signed coins
    entries: dict[str, float] = field(default_factory=dict)  # symbol -> entry USD per coin
    leverage: dict[str, float] = field(default_factory=dict)  # symbol -> as set
    liquidity: dict[str, float] = field(default_factory=dict)  # symbol -> coins per order
    hedge_mode: bool = False  # the account holds long and short slots per symbol
    released: asyncio.Event = field(default_factory=asyncio.Event)
    placed: int = 0  # orders that reached the book
    received: int = 0  # order requests that reached the engine
    _faults: list[Fault] = field(default_factory=list)
    _hang: bool = False
    _ids: itertools.count = field(default_factory=lambda: itertools.count(8_000_001))

    # --- what tests ask for ------------------------------------------------------

    def reject_next(self, code: str, message: str) -> None:
        self._faults.append(Fault("reject", code, message))

    def lose_answer_next(self) -> None:
        self._faults.append(Fault("lose_answer"))

    def drop_next(self) -> None:
        self._faults.append(Fault("drop"))

    def hang_all(self) -> None:
        self._hang = True

    def release(self) -> None:
        """Let every hanging request go (the owner's teardown)."""
        self.released.set()

    def position(self, symbol: str) -> float:
        return self.positions.get(symbol, 0.0)

    # --- what a venue's fake asks ------------------------------------------------

    def perp(self, symbol: str) -> FakePerp:
        perp = self.fake.perp(self.venue, symbol)
        if perp is None:
            raise OrderRefused("symbol", f"unknown symbol {symbol}")
        return perp

    async def submit(
        self,
        client_id: str,
        symbol: str,
        side: Side,
        coins: float,
        cap: float,
        reduce_only: bool = False,
    ) -> FakeOrder:
        """Match one IOC limit order. Raises OrderRefused (a duplicate client id is
        refused with code "duplicate", a reduce-only order that would grow or open a
        position with "reduce_only"); hangs, per the faults asked, until `released`."""
        self.received += 1
        if self._hang:
            await self.released.wait()
            raise asyncio.CancelledError
        fault = self._faults.pop(0) if self._faults else None
        if fault is not None and fault.kind == "reject":
            raise OrderRefused(fault.code, fault.message)
        if fault is not None and fault.kind == "drop":
            await self.released.wait()
            raise asyncio.CancelledError
        if client_id in self.orders:
            raise OrderRefused("duplicate", f"duplicate client order id {client_id}")
        order = self._match(client_id, symbol, side, coins, cap, reduce_only)
        if fault is not None and fault.kind == "lose_answer":
            await self.released.wait()
            raise asyncio.CancelledError
        return order

    def find(self, client_id: str) -> FakeOrder | None:
        return self.orders.get(client_id)

    # --- matching ----------------------------------------------------------------

    def _match(
        self, client_id: str, symbol: str, side: Side, coins: float, cap: float, reduce_only: bool
    ) -> FakeOrder:
        perp = self.perp(symbol)
        held = self.position(symbol)
        if reduce_only:
            closing = -held if side == "buy" else held  # coins this side may take off
            if closing <= 0:
                raise OrderRefused("reduce_only", "reduce-only order would open a position")
            coins = min(coins, closing)
        bids, asks = perp.levels(self.venue)
        levels = asks if side == "buy" else bids
        room = min(coins, self.liquidity.get(symbol, coins))
        filled = cost = 0.0
        for price, size in levels:
            if (side == "buy" and price > cap) or (side == "sell" and price < cap):
                break
            take = min(size, room - filled)
            if take <= 0:
                break
            filled += take
            cost += take * price
        filled = round(filled, 12)
        order = FakeOrder(
            client_id=client_id,
            order_id=str(next(self._ids)),
            symbol=symbol,
            side=side,
            coins=coins,
            cap=cap,
            reduce_only=reduce_only,
            filled=filled,
            avg_price=cost / filled if filled else None,
            fee_usd=cost * self.taker_fee,
            time_ms=self.fake.market.now(),
        )
        self.orders[client_id] = order
        self.placed += 1
        if filled:
            self._book_fill(symbol, filled if side == "buy" else -filled, cost / filled)
        return order

    def _book_fill(self, symbol: str, signed: float, price: float) -> None:
        held = self.position(symbol)
        new = round(held + signed, 12)
        if held == 0 or (held > 0) == (signed > 0):
            total = abs(held) + abs(signed)
            self.entries[symbol] = (
                self.entries.get(symbol, price) * abs(held) + price * abs(signed)
            ) / total
        elif new != 0 and (new > 0) != (held > 0):
            self.entries[symbol] = price  # flipped through zero
        if new == 0:
            self.positions.pop(symbol, None)
            self.entries.pop(symbol, None)
        else:
            self.positions[symbol] = new
