"""Paper trading: orders filled against the live books, recorded, and never sent.

A `PaperVenue` takes an IOC limit order as the venue would: it walks the current book
(`arb.books.OrderBooks`, the same books /size prices) from the best level to the price
cap, fills what the levels hold in whole lots, pays the venue's taker fee, and keeps the
order by client id for lookups. A reduce-only order closes at most what the paper
account holds. The paper account's positions start as the journal left them.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from arb.books import BookError, OrderBooks
from arb.models import OrderIntent, OrderOutcome
from arb.trading.orders import OrderVenue, to_lots


class PaperVenue(OrderVenue):
    def __init__(
        self,
        name: str,
        books: OrderBooks,
        taker_fee: float,
        held: MutableMapping[tuple[str, str], float],
    ) -> None:
        """`held`: signed coins per (venue, symbol), shared by every paper venue."""
        self.name = name
        self.books = books
        self.taker_fee = taker_fee
        self.held = held
        self._orders: dict[str, OrderOutcome] = {}

    async def prepare(self, symbol: str, leverage: float) -> None:
        """Nothing to prepare: paper has no position mode and no leverage to set."""

    async def place(self, intent: OrderIntent) -> OrderOutcome:
        if (done := self._orders.get(intent.client_id)) is not None:
            return done  # the same client id never fills twice
        try:
            book = await self.books.get(self.name, intent.symbol)
        except BookError as e:
            return self._keep(OrderOutcome(intent.client_id, "rejected", reason=str(e)))
        key = (self.name, intent.symbol)
        want = intent.coins
        if intent.reduce_only:
            closable = -self.held.get(key, 0.0) * intent.signed
            if closable <= 0:
                reason = "reduce-only order would open a position"
                return self._keep(OrderOutcome(intent.client_id, "rejected", reason=reason))
            want = min(want, closable)
        levels = book.asks if intent.side == "buy" else book.bids
        filled, cost = walk(levels, want, intent.price_cap, intent.side, book.lot)
        if not filled:
            return self._keep(OrderOutcome(intent.client_id, "none", order_id=intent.client_id))
        self.held[key] = self.held.get(key, 0.0) + intent.signed * filled
        status = "filled" if filled >= intent.coins - 1e-12 else "partial"
        return self._keep(
            OrderOutcome(
                intent.client_id,
                status,
                filled,
                cost / filled,
                cost * self.taker_fee,
                order_id=intent.client_id,
            )
        )

    async def lookup(self, intent: OrderIntent) -> OrderOutcome | None:
        return self._orders.get(intent.client_id)

    def _keep(self, outcome: OrderOutcome) -> OrderOutcome:
        self._orders[outcome.client_id] = outcome
        return outcome


def walk(levels, coins: float, cap: float, side: str, lot: float) -> tuple[float, float]:
    """Coins an IOC order of `coins` capped at `cap` fills on `levels` (best first), in
    whole `lot`s, and what they cost in USD."""
    filled = 0.0
    taken: list[tuple[float, float]] = []  # (price, coins) per level, best first
    for level in levels:
        if (side == "buy" and level.price > cap) or (side == "sell" and level.price < cap):
            break
        take = min(level.size, coins - filled)
        if take <= 0:
            break
        filled += take
        taken.append((level.price, take))
    # Rounded first: float sums of level sizes (0.1 + 0.2) must not lose a whole lot.
    kept = to_lots(round(filled, 12), lot)
    # The whole lots are priced from the best level on: the odd part past them stays on
    # the book, and it may span more than the worst level taken.
    cost, left = 0.0, kept
    for price, take in taken:
        part = min(take, left)
        cost += part * price
        left -= part
    return kept, cost if kept else 0.0


def paper_venues(
    names: Mapping[str, float], books: OrderBooks, held: MutableMapping[tuple[str, str], float]
) -> dict[str, OrderVenue]:
    """A paper venue per name, with its taker fee (`names`: venue -> fee)."""
    return {name: PaperVenue(name, books, fee, held) for name, fee in names.items()}
