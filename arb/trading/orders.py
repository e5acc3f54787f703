"""What one order is, what came of it, and what a venue that takes orders must do.

Every order the desk sends is an IOC limit order: it fills at once, at the price cap or
better, as far as the book allows, and whatever is left is cancelled by the venue. Sizes
and prices here are the desk's units, coins and USD per coin (as `arb.models.Book`); a
venue's `OrderVenue` converts them to its own (contracts, lots of 1000 coins, ticks).

An order's client id comes from the journal (`storage.journal`) before the order is
sent, so a retry, a lookup after a timeout and a restart all name the same order: no
order is ever sent twice under two ids.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from arb.accounts.base import AuthError, code_of
from arb.http import (
    VenueAPIError,
    VenueBadResponse,
    VenueError,
    VenueHTTPError,
    VenueReplyTooLarge,
    VenueTimeout,
    VenueUnreachable,
)
from arb.models import FINAL, OrderIntent, OrderOutcome, Side, Status

__all__ = [
    "FINAL", "OrderIntent", "OrderOutcome", "OrderVenue", "Side", "Status", "TradeRefused",
    "decimal_text", "fate_unknown", "fills_when_final", "price_cap", "refused_outcome",
    "to_lots", "to_tick",
]  # fmt: skip

BPS = 10_000.0
# Reads of a taken order's fills (by client id) before its answer is left "unknown", and
# the pause between them: an IOC order is final within milliseconds of being taken.
SETTLE_TRIES = 3
SETTLE_PAUSE_S = 0.2


class TradeRefused(Exception):
    """A venue cannot take the desk's orders as they would be sent (hedge position mode,
    leverage refused, key without trade permission...). `str()` is one line for a desk."""


class OrderVenue(ABC):
    """One venue's order path. Implementations never raise a venue's refusal or a lost
    answer out of `place`: they come back as an outcome (`rejected`, `unknown`)."""

    name: str

    @abstractmethod
    async def prepare(self, symbol: str, leverage: float) -> None:
        """Make `symbol` ready for the desk's orders before the first one: one-way position
        mode (a hedge-mode account is refused, never switched behind the desk's back while
        it holds positions) and `leverage` set. Raises TradeRefused with the reason; a
        VenueError when the venue could not be asked."""

    @abstractmethod
    async def place(self, intent: OrderIntent) -> OrderOutcome:
        """Send `intent` as an IOC limit order with its client id and wait for its fills.
        A refusal is `rejected` with the venue's words; no answer (timeout, dropped
        connection, 5xx) is `unknown`, to be looked up."""

    @abstractmethod
    async def lookup(self, intent: OrderIntent) -> OrderOutcome | None:
        """The order sent for `intent`, found by its client id: its fills so far (status
        `unknown` while the venue has not finished it), or None when the venue has no
        order by that id (it never arrived). Raises VenueError when the venue cannot be
        asked."""

    async def close(self) -> None:  # noqa: B027 - most venues hold nothing to close
        """Release the connection."""


# --- pure helpers the venues share -------------------------------------------------


def price_cap(best: float, side: Side, max_slippage_bps: float) -> float:
    """The worst price an order may fill at: `max_slippage_bps` past the best price on the
    side it takes (above the best ask for a buy, below the best bid for a sell)."""
    if not best > 0 or not math.isfinite(best):
        raise ValueError(f"a best price is a positive number, not {best!r}")
    step = max_slippage_bps / BPS
    return best * (1 + step) if side == "buy" else best * (1 - step)


def to_tick(price: float, tick: float, side: Side) -> float:
    """`price` on the venue's tick grid, never past the cap it came from: down for a buy,
    up for a sell. Exact in decimal, so 0.1 + 0.2 style drift never leaves the grid."""
    if tick <= 0:
        return price
    steps = Decimal(repr(price)) / Decimal(repr(tick))
    whole = steps.to_integral_value(ROUND_FLOOR if side == "buy" else ROUND_CEILING)
    return float(whole * Decimal(repr(tick)))


def to_lots(coins: float, lot: float) -> float:
    """`coins` down to a whole number of `lot`s, exact in decimal."""
    if lot <= 0:
        return coins
    whole = (Decimal(repr(coins)) / Decimal(repr(lot))).to_integral_value(ROUND_FLOOR)
    return float(whole * Decimal(repr(lot)))


def decimal_text(x: float) -> str:
    """`x` as a plain decimal string for a venue's order field: no exponent, no trailing
    zeros ("0.0001", "77559.5", "12")."""
    d = Decimal(repr(x)).normalize()
    text = format(d, "f")
    return text if "." not in text else text.rstrip("0").rstrip(".") or "0"


def fate_unknown(e: VenueError, codes: Collection[str] = ()) -> bool:
    """Whether an order request's error leaves the order's fate open, to be looked up by
    its client id: no answer (timeout, connection lost), an answer cut short or that
    cannot be read, the venue's server error (5xx), or one of the venue's own `codes`
    for "status unknown". Any other error is a refusal that placed nothing: a refused
    key, a rate limit or ban (the gateway turned the request away), an error code."""
    if isinstance(e, AuthError):
        return False
    if isinstance(e, VenueHTTPError):
        return e.status >= 500 or e.code in codes
    if isinstance(e, VenueAPIError):
        return e.code in codes
    return isinstance(e, VenueTimeout | VenueUnreachable | VenueBadResponse | VenueReplyTooLarge)


async def fills_when_final(
    read: Callable[[], Awaitable[OrderOutcome | None]],
    intent: OrderIntent,
    order_id: str | None,
    sleep: Callable[[float], Awaitable[object]],
) -> OrderOutcome:
    """The fills of an order the venue took, for a venue whose acknowledgement carries
    none: `read` (a lookup by client id) until the order is final, SETTLE_TRIES times
    SETTLE_PAUSE_S apart; else the last thing read, as `unknown` (the trader looks it up
    again on its own schedule)."""
    last = OrderOutcome(intent.client_id, "unknown", order_id=order_id, reason="not read")
    for attempt in range(SETTLE_TRIES):
        if attempt:
            await sleep(SETTLE_PAUSE_S)
        try:
            found = await read()
        except VenueError as e:
            last = OrderOutcome(intent.client_id, "unknown", order_id=order_id, reason=e.reason)
            continue
        if found is not None:
            last = found
            if found.final:
                return found
    return last


async def refused_outcome(
    intent: OrderIntent,
    e: VenueError,
    lookup: Callable[[], Awaitable[OrderOutcome | None]],
    duplicate_codes: Collection[str],
    unknown_codes: Collection[str] = (),
) -> OrderOutcome:
    """What an order whose request failed came to: `unknown` when its fate is open
    (`fate_unknown`); the order itself, looked up, when the venue refused its client id
    as already used (it was sent before: a retry never makes a second one); else
    `rejected` in the venue's words (never a secret: the signed client scrubs them)."""
    if fate_unknown(e, unknown_codes):
        return OrderOutcome(intent.client_id, "unknown", reason=str(e))
    if code_of(e) in duplicate_codes:
        try:
            found = await lookup()
        except VenueError as again:
            return OrderOutcome(intent.client_id, "unknown", reason=str(again))
        if found is not None:
            return found
    return OrderOutcome(intent.client_id, "rejected", reason=e.reason)
