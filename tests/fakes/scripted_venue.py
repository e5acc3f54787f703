"""An order venue whose every outcome a test scripts, for the trader's tests.

`ScriptedVenue` is an `OrderVenue` that fills nothing by itself: each `place` takes the
next `Answer` from its script (fill fully or partly at a price, reject with words, fill
nothing, answer `unknown` while the order did or did not reach the book), and keeps what
the venue would hold by client id (`held`), which `lookup` answers from unless the test
scripts the lookups too (find, miss, raise VenueError). `prepare` raises what the test
sets. Every call is recorded in `calls`, and `on_place` runs inside `place` before the
answer, so a test can look at the journal at the instant the order leaves.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from arb.http import VenueError
from arb.models import OrderIntent, OrderOutcome
from arb.trading.orders import OrderVenue, TradeRefused

# What the venue answers `place` and what it then holds for the client id (None: the
# order never reached it).
Answer = Callable[[OrderIntent], tuple[OrderOutcome, OrderOutcome | None]]


def fill(price: float = 100.0, fee_rate: float = 0.0005) -> Answer:
    """All of it at `price`."""

    def answer(i: OrderIntent) -> tuple[OrderOutcome, OrderOutcome | None]:
        done = OrderOutcome(i.client_id, "filled", i.coins, price, i.coins * price * fee_rate,
                            f"v-{i.client_id}")  # fmt: skip
        return done, done

    return answer


def partial(coins: float, price: float = 100.0, fee_rate: float = 0.0005) -> Answer:
    """`coins` of it at `price`, the rest cancelled."""

    def answer(i: OrderIntent) -> tuple[OrderOutcome, OrderOutcome | None]:
        got = min(coins, i.coins)
        status = "partial" if got else "none"
        done = OrderOutcome(i.client_id, status, got, price if got else None,
                            got * price * fee_rate, f"v-{i.client_id}")  # fmt: skip
        return done, done

    return answer


def nothing() -> Answer:
    """The IOC expired unfilled."""
    return partial(0.0)


def reject(reason: str = "insufficient margin") -> Answer:
    def answer(i: OrderIntent) -> tuple[OrderOutcome, OrderOutcome | None]:
        return OrderOutcome(i.client_id, "rejected", reason=reason), None

    return answer


def lost(reached: Answer | None = None) -> Answer:
    """No answer (a timeout): the order reached the book as `reached` says, or never
    arrived (None)."""

    def answer(i: OrderIntent) -> tuple[OrderOutcome, OrderOutcome | None]:
        held = reached(i)[1] if reached is not None else None
        return OrderOutcome(i.client_id, "unknown", reason="timeout"), held

    return answer


# A scripted lookup: FOUND answers from `held`, MISS says "no such order", a VenueError
# is raised, an OrderOutcome is returned as it is.
FOUND = "found"
MISS = "miss"
Lookup = str | VenueError | OrderOutcome


@dataclass(frozen=True, slots=True)
class Call:
    method: str  # prepare, place, lookup
    arg: object  # the symbol (prepare) or the intent


class ScriptedVenue(OrderVenue):
    def __init__(self, name: str, answers: Iterable[Answer] = (), default: Answer | None = None):
        self.name = name
        self.answers: deque[Answer] = deque(answers)
        self.default = default or fill()
        self.lookups: deque[Lookup] = deque()  # empty: answer from `held`
        self.held: dict[str, OrderOutcome] = {}  # client id -> the order as the venue has it
        self.calls: list[Call] = []
        self.refuse: Exception | None = None  # raised by prepare
        self.on_place: Callable[[OrderIntent], Awaitable[None]] | None = None
        self.gate: asyncio.Event | None = None  # place waits for it when set
        self.placing = asyncio.Event()  # set when a place has begun

    def script(self, *answers: Answer) -> ScriptedVenue:
        self.answers.extend(answers)
        return self

    def script_lookups(self, *lookups: Lookup) -> ScriptedVenue:
        self.lookups.extend(lookups)
        return self

    def placed(self) -> list[OrderIntent]:
        return [c.arg for c in self.calls if c.method == "place"]  # type: ignore[misc]

    def looked_up(self) -> list[OrderIntent]:
        return [c.arg for c in self.calls if c.method == "lookup"]  # type: ignore[misc]

    async def prepare(self, symbol: str, leverage: float) -> None:
        self.calls.append(Call("prepare", (symbol, leverage)))
        if self.refuse is not None:
            raise self.refuse

    async def place(self, intent: OrderIntent) -> OrderOutcome:
        self.calls.append(Call("place", intent))
        self.placing.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.on_place is not None:
            await self.on_place(intent)
        if intent.client_id in self.held:  # a venue refuses a client id it has seen
            return self.held[intent.client_id]
        answer = self.answers.popleft() if self.answers else self.default
        said, held = answer(intent)
        if held is not None:
            self.held[intent.client_id] = held
        return said

    async def lookup(self, intent: OrderIntent) -> OrderOutcome | None:
        self.calls.append(Call("lookup", intent))
        scripted = self.lookups.popleft() if self.lookups else FOUND
        if isinstance(scripted, VenueError):
            raise scripted
        if isinstance(scripted, OrderOutcome):
            return scripted
        if scripted == MISS:
            return None
        return self.held.get(intent.client_id)


__all__ = [
    "FOUND", "MISS", "Answer", "Call", "ScriptedVenue", "TradeRefused", "fill", "lost",
    "nothing", "partial", "reject",
]  # fmt: skip
