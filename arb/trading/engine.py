"""Putting a carry on and taking it off: both legs or neither.

A trade runs in the same steps whether it opens or closes a carry, on paper or live:

1. **Plan** (`plan_open`, `plan_close`): the legs, each sized in coins on a whole number
   of its venue's lots and priced on its book (the sizing /size shows), the fees, the
   margin, and every reason it may not go (mode, halt, limits, keys, thin books).
2. **Journal first**: the trade, then each order with its client id, is written before
   the order leaves (`storage.journal`); every answer is written when it comes.
3. **Both legs at once**, IOC limit orders capped `max_slippage_bps` past the best price.
4. **Account for every order**: one without an answer is looked up by its client id,
   again and again on a schedule that outlasts the venues' signing windows, before
   anything else happens. An order still unknown after that halts trading.
5. **Match the legs**: when one leg filled more than the other, the difference is taken
   off again reduce-only (an open) or the lagging leg is closed further (a close), each
   repair a new journaled order, until the legs agree within a lot or the tolerance.
   A leg that filled nothing leaves the other one unwound.
6. **Say where it ended**: hedged (both legs hold the same coins), flat (nothing left
   on), or unhedged (repairs failed: trading halts, and the chat is told what is open).

`recover` runs step 4 to 6 on every trade a crash left `working`, before trading opens.
Every step is told to `Progress`, the journal's trade as it now stands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, Protocol

from arb.accounts.models import Position
from arb.books import BookError, OrderBooks
from arb.http import VenueError
from arb.models import (
    Book,
    Halt,
    JournalOrder,
    JournalTrade,
    OrderIntent,
    OrderOutcome,
    Side,
    TradeKind,
    TradeMode,
    TradeState,
)
from arb.trading.orders import OrderVenue, TradeRefused, price_cap, to_lots

if TYPE_CHECKING:
    from arb.depth import SizedCarry

log = logging.getLogger(__name__)

Mode = Literal["off", "paper", "live"]
Progress = Callable[[JournalTrade], Awaitable[None]]
DUST = 1e-9  # coins: below any venue's lot


class Journal(Protocol):
    """What the trader needs of `storage.journal.Journal`."""

    async def begin(
        self, kind: TradeKind, mode: TradeMode, asset: str, long_leg: tuple[str, str],
        short_leg: tuple[str, str], coins: float, notional_usd: float,
        start_net: float = 0.0, chat_id: int | None = None, message_id: int | None = None,
    ) -> JournalTrade: ...  # fmt: skip
    async def finish(self, trade_id: int, state: TradeState, note: str) -> None: ...
    async def set_message(self, trade_id: int, chat_id: int, message_id: int) -> None: ...
    async def trade(self, trade_id: int) -> JournalTrade | None: ...
    async def trades(self, limit: int = 10) -> list[JournalTrade]: ...
    async def unfinished(self) -> list[JournalTrade]: ...
    async def intend(
        self, trade_id: int, step: str, venue: str, symbol: str, side: Side, coins: float,
        price_cap: float, reduce_only: bool = False,
    ) -> OrderIntent: ...  # fmt: skip
    async def answered(self, outcome: OrderOutcome) -> None: ...
    async def held(self, mode: TradeMode) -> dict[tuple[str, str, str], float]: ...
    async def halt(self) -> Halt | None: ...
    async def set_halt(self, reason: str, by: str) -> Halt: ...
    async def clear_halt(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TradingParams:
    mode: Mode = "off"
    fees: Mapping[str, float] = field(default_factory=dict)  # taker fee per venue, decimal
    max_notional_usd: float | None = None  # per trade, per leg (ARB_MAX_NOTIONAL_USD)
    max_asset_usd: float | None = None  # held per asset, per leg (ARB_MAX_ASSET_USD)
    leverage: float = 3.0  # set on each venue before its first order (ARB_LEVERAGE)
    max_slippage_bps: float = 10.0  # the entry's price cap past the best price
    repair_slippage_bps: float = 50.0  # a repair's cap: it must fill (ARB_REPAIR_SLIPPAGE_BPS)
    # Hedged when the legs differ by at most this share of the coins (or less than a lot).
    tolerance: float = 0.001
    repairs: int = 3  # repair orders per trade before it is left unhedged
    confirm_s: float = 30.0  # how long a preview's Confirm stays valid
    # Waits (s) before each lookup of an order without an answer. Their sum (63.5 s)
    # outlasts every venue's signing window (5 to 60 s), after which an order that has
    # not arrived can no longer be accepted: only then is "not found" final.
    lookups_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def lookup_schedule(window_s: float, first_s: float = 0.5) -> tuple[float, ...]:
    """Waits doubling from `first_s` until they add up to at least `window_s`, the last
    one cut to land on it: (0.5, 1, 2, 4, 8, 16, 32) for 63.5 s."""
    waits: list[float] = []
    wait = min(first_s, window_s)
    while sum(waits) < window_s - 1e-9:
        waits.append(min(wait, window_s - sum(waits)))
        wait *= 2
    return tuple(waits) or (0.0,)


@dataclass(frozen=True, slots=True)
class PlannedLeg:
    role: Literal["long", "short"]
    venue: str
    symbol: str
    side: Side  # buy the long / sell the short to open; the other way to close
    coins: float
    price: float | None  # expected fill (VWAP on the book), USD per coin
    slippage_bps: float | None
    fee_usd: float | None  # taker fee on the expected fill
    margin_usd: float  # the notional over the leverage (0 for a close)


@dataclass(frozen=True, slots=True)
class Plan:
    """A trade as previewed: what Confirm would send, and what stands in its way."""

    kind: TradeKind
    mode: Mode
    asset: str
    long: PlannedLeg
    short: PlannedLeg
    notional_usd: float  # per leg, at the expected long price
    apr_net: float | None = None  # an open: net APR at this size (the /size figure)
    breakeven_h: float | None = None
    problems: tuple[str, ...] = ()  # why Confirm is refused now: empty when it can go
    # The problems of the plan itself (books, lots, venues), kept when it is rechecked.
    fixed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the desk should know (drift closed, keys unread...)
    made_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def legs(self) -> tuple[PlannedLeg, PlannedLeg]:
        return (self.long, self.short)

    @property
    def start_net(self) -> float:
        """A close's drift (coins long minus coins short) as it found the book."""
        return self.long.coins - self.short.coins if self.kind == "close" else 0.0


class TradeBusy(Exception):
    """Another trade is running: one at a time."""


class TradeStopped(Exception):
    """A trade broke off half-way (its journal could not be written, or a fault nobody
    foresaw): trading stops until a restart reconciles it. `str()` says so for a desk."""


class Trader:
    def __init__(
        self,
        params: TradingParams,
        venues: Mapping[str, OrderVenue],
        books: OrderBooks,
        journal: Journal,
        positions: Callable[[], Awaitable[list[Position]]] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`venues`: the order path of each venue the desk may trade on (paper venues in
        paper mode); `positions`: a live account's open positions (None on paper, whose
        positions are the journal's)."""
        self.params = params
        self.venues = dict(venues)
        self.books = books
        self.journal = journal
        self.positions = positions
        self.sleep = sleep
        self.clock = clock
        self.ready = params.mode == "off"  # set once `recover` has run
        self.stopped: str | None = None  # why trading stopped until a restart
        # Why a venue the desk knows takes no orders (no keys, a read-only key...).
        self.unavailable: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._prepared: set[tuple[str, str]] = set()

    @property
    def mode(self) -> Mode:
        return self.params.mode

    @property
    def enabled(self) -> bool:
        return self.params.mode != "off"

    # --- plans -----------------------------------------------------------------------

    async def plan_open(self, sized: SizedCarry) -> Plan:
        """Open the carry `sized` describes (the /size sizing of the desk's choice)."""
        o = sized.opportunity
        lev = self.params.leverage
        # Each leg's taker fee; a venue without one is charged its share of the round trip
        # the scan costs (four fills: in and out, both legs).
        fees = {
            v: self.params.fees.get(v, o.fees_round_trip / 4) for v in (o.long_venue, o.short_venue)
        }
        legs = []
        for role, fill, quote in (
            ("long", sized.long_entry, o.long),
            ("short", sized.short_entry, o.short),
        ):
            usd = fill.filled_usd
            legs.append(
                PlannedLeg(
                    role,  # type: ignore[arg-type]
                    quote.venue,
                    quote.symbol,
                    "buy" if role == "long" else "sell",
                    sized.coins,
                    fill.vwap,
                    fill.slippage_bps,
                    usd * fees[quote.venue] if usd else None,
                    usd / lev if usd else 0.0,
                )
            )
        long, short = legs
        notional = (long.price or 0.0) * sized.coins
        problems = []
        if not sized.complete:
            problems.append(
                f"the books can fill only ${sized.fillable_usd:,.0f} per leg of the "
                f"${sized.notional_usd:,.0f} asked"
            )
        if sized.coins <= 0:
            problems.append("too small for the venues' lots")
        problems += self._venue_problems((long.venue, short.venue))
        notes = []
        if sized.apr_net is not None and sized.apr_net <= 0:
            notes.append("this carry loses money at this size after fees and slippage")
        plan = Plan("open", self.mode, o.asset, long, short, notional, sized.apr_net,
                    sized.breakeven_h, fixed=tuple(problems), notes=tuple(notes),
                    made_at=self.clock())  # fmt: skip
        return await self.recheck(plan)

    async def plan_close(self, asset: str) -> Plan | None:
        """Close the asset's book: sell the largest long, buy back the largest short,
        each in full (a drift between them is closed with them). None when nothing of
        `asset` is held on the venues the desk trades."""
        held = await self._held(asset)
        longs = sorted((h for h in held if h[2] > DUST), key=lambda h: -h[2])
        shorts = sorted((h for h in held if h[2] < -DUST), key=lambda h: h[2])
        if not longs and not shorts:
            return None
        problems = []
        notes = []
        long = longs[0] if longs else None
        short = shorts[0] if shorts else None
        if long is None or short is None:
            notes.append("one leg only: this closes what is held on one side")
        extra = [h for h in longs[1:] + shorts[1:]]
        if extra:
            notes.append(
                "also held, left open: " + ", ".join(f"{v} {s} {c:+g}" for v, s, c in extra)
            )
        legs = []
        for role, h in (("long", long), ("short", short)):
            if h is None:
                legs.append(PlannedLeg(role, "", "", "sell" if role == "long" else "buy",  # type: ignore[arg-type]
                                       0.0, None, None, None, 0.0))  # fmt: skip
                continue
            venue, symbol, coins = h
            side: Side = "sell" if coins > 0 else "buy"
            price, slip = await self._expected(venue, symbol, side, abs(coins))
            legs.append(
                PlannedLeg(role, venue, symbol, side, abs(coins), price, slip, None, 0.0)  # type: ignore[arg-type]
            )
        lo, sh = legs
        if lo.coins and sh.coins and abs(lo.coins - sh.coins) > DUST:
            notes.append(f"the legs differ by {lo.coins - sh.coins:+g} {asset}: closed too")
        problems += self._venue_problems(tuple(leg.venue for leg in legs if leg.coins))
        notional = max((leg.price or 0.0) * leg.coins for leg in legs)
        plan = Plan("close", self.mode, asset, lo, sh, notional, fixed=tuple(problems),
                    notes=tuple(notes), made_at=self.clock())  # fmt: skip
        return await self.recheck(plan)

    async def recheck(self, plan: Plan) -> Plan:
        """`plan`'s problems as they stand now (a halt or a limit since the preview)."""
        problems = list(self._mode_problems())
        halt = await self.journal.halt()
        if halt is not None:
            problems.append(halted_text(halt))
        if plan.kind == "open":
            held = await self._held(plan.asset)
            problems += await self._limit_problems(plan.asset, plan.notional_usd, held)
            problems += crossing_problems(plan, held)
        return replace(plan, problems=tuple(problems) + plan.fixed)

    # --- running a trade -------------------------------------------------------------

    async def execute(
        self,
        plan: Plan,
        progress: Progress,
        chat: tuple[int, int] | None = None,
    ) -> JournalTrade:
        """Run `plan` to its end state; `chat` (chat id, message id) is kept with the
        trade so a restart can tell the same message how it ended. Raises TradeBusy when
        another trade runs; a plan with problems is refused (state `refused`) unsent."""
        if self._lock.locked():
            raise TradeBusy("another trade is running: try again when it has finished")
        async with self._lock:
            plan = await self.recheck(plan)
            chat_id, message_id = chat if chat is not None else (None, None)
            trade = await self.journal.begin(
                plan.kind, "paper" if self.mode == "paper" else "live", plan.asset,
                (plan.long.venue, plan.long.symbol), (plan.short.venue, plan.short.symbol),
                max(plan.long.coins, plan.short.coins), plan.notional_usd, plan.start_net,
                chat_id, message_id,
            )  # fmt: skip
            try:
                return await self._run(trade.id, plan, progress)
            except Exception as e:
                # Orders may be out and the journal may not say so: nothing more is sent
                # until a restart reconciles this trade against the venues.
                log.exception("trade %d broke off", trade.id)
                self.ready = False
                self.stopped = (
                    f"trade {trade.id} broke off ({type(e).__name__}: {e}); trading is "
                    "stopped until a restart reconciles it against the venues"
                )
                raise TradeStopped(self.stopped) from None

    async def _run(self, trade_id: int, plan: Plan, progress: Progress) -> JournalTrade:
        if not plan.ok:
            return await self._end(trade_id, "refused", "; ".join(plan.problems), progress)
        try:
            await self._prepare(plan)
        except (TradeRefused, VenueError) as e:
            return await self._end(trade_id, "refused", f"not sent: {e}", progress)
        try:
            caps = await self._caps(plan.legs, self.params.max_slippage_bps)
        except BookError as e:
            return await self._end(trade_id, "refused", f"not sent: {e}", progress)
        await self._send_legs(trade_id, plan.legs, caps, progress)
        return await self._settle(trade_id, progress)

    async def recover(self, progress: Progress) -> list[JournalTrade]:
        """Reconcile every trade a crash left working, oldest first, against the venues:
        then trading opens (`ready`)."""
        ended: list[JournalTrade] = []
        async with self._lock:
            try:
                await self._recover(progress, ended)
            except Exception as e:
                # What cannot be reconciled must not be traded over: closed until a restart.
                self.stopped = (
                    f"reconciling unfinished trades failed ({type(e).__name__}: {e}); "
                    "trading stays closed until a restart reconciles them"
                )
                raise
            self.ready = True
        return ended

    async def _recover(self, progress: Progress, ended: list[JournalTrade]) -> None:
        mine = "paper" if self.mode == "paper" else "live"
        for trade in await self.journal.unfinished():
            if trade.mode != mine:
                # Only its own venues know its orders: paper venues would find a live
                # order "never sent", live ones would unwind a paper leg for real.
                log.warning(
                    "trade %d was left working in %s mode: reconciled when the desk "
                    "trades %s again", trade.id, trade.mode, trade.mode,
                )  # fmt: skip
                continue
            log.warning("trade %d was left working: reconciling it", trade.id)
            ended.append(await self._settle(trade.id, progress, recovering=True))

    # --- halt ------------------------------------------------------------------------

    async def halt(self, reason: str, by: str) -> Halt:
        return await self.journal.set_halt(reason, by)

    async def resume(self) -> Halt | None:
        """Lift the halt; the one lifted, None if trading was not halted."""
        halt = await self.journal.halt()
        if halt is not None:
            await self.journal.clear_halt()
        return halt

    # --- steps -----------------------------------------------------------------------

    async def _prepare(self, plan: Plan) -> None:
        if plan.kind != "open":
            return
        todo = [(leg.venue, leg.symbol) for leg in plan.legs if leg.coins]
        todo = [key for key in todo if key not in self._prepared]
        await asyncio.gather(*(self.venues[v].prepare(s, self.params.leverage) for v, s in todo))
        self._prepared.update(todo)

    async def _caps(self, legs: Sequence[PlannedLeg], slippage_bps: float) -> list[float]:
        """Each leg's price cap from its book now."""
        caps = []
        for leg in legs:
            if not leg.coins:
                caps.append(0.0)
                continue
            book = await self.books.get(leg.venue, leg.symbol)
            caps.append(price_cap(best(book, leg.side), leg.side, slippage_bps))
        return caps

    async def _send_legs(
        self, trade_id: int, legs: Sequence[PlannedLeg], caps: Sequence[float], progress: Progress
    ) -> None:
        """Journal both orders, then send both at once."""
        intents = []
        for leg, cap in zip(legs, caps, strict=True):
            if leg.coins:
                intents.append(
                    await self.journal.intend(
                        trade_id, leg.role, leg.venue, leg.symbol, leg.side, leg.coins, cap,
                        reduce_only=not opening(leg),
                    )
                )  # fmt: skip
        await self._tell(trade_id, progress)
        await asyncio.gather(*(self._place(i) for i in intents))
        await self._tell(trade_id, progress)

    async def _place(self, intent: OrderIntent) -> OrderOutcome:
        try:
            outcome = await self.venues[intent.venue].place(intent)
        except Exception as e:  # a client bug must not leave the journal without an answer
            log.exception("%s: order %s failed in the client", intent.venue, intent.client_id)
            outcome = OrderOutcome(intent.client_id, "unknown", reason=f"internal error: {e}")
        # Journaled under the desk's id whatever form the venue echoed ("t-..."): an answer
        # filed under another id is lost, and the fill it carries repaired away.
        outcome = replace(outcome, client_id=intent.client_id)
        await self.journal.answered(outcome)
        return outcome

    async def _settle(self, trade_id: int, progress: Progress, recovering: bool = False):
        """Steps 4 to 6 for one trade, from what the journal holds."""
        trade = await self._trade(trade_id)
        unknown = await self._account_for(trade, progress)
        for attempt in range(1, self.params.repairs + 1):
            if unknown:
                break
            trade = await self._trade(trade_id)
            repair = self._repair(trade)
            if repair is None:
                break
            venue, symbol, side, excess = repair
            try:
                book = await self.books.get(venue, symbol)
                # The excess is a float difference of fills (0.12 - 0.05 = 0.0699...):
                # rounded below any lot first, or flooring to lots drops a whole lot.
                coins = to_lots(round(excess, 12), book.lot)
                cap = price_cap(best(book, side), side, self.params.repair_slippage_bps)
            except BookError as e:
                log.warning("trade %d: repair %d has no book: %s", trade_id, attempt, e)
                continue
            if coins <= DUST:
                break
            intent = await self.journal.intend(
                trade_id, f"repair {attempt}", venue, symbol, side, coins, cap, reduce_only=True
            )
            await self._tell(trade_id, progress)
            outcome = await self._place(intent)
            if outcome.status == "unknown":
                unknown = await self._account_for(await self._trade(trade_id), progress)
            await self._tell(trade_id, progress)
        if unknown:
            names = ", ".join(f"{o.intent.venue} {o.intent.client_id}" for o in unknown)
            note = (
                f"no answer for {names} after every lookup: what they filled is not known. "
                "Trading is halted; check the venues."
            )
            await self.journal.set_halt(f"trade {trade_id}: {note}", "the trader")
            if recovering:
                note = "after a restart: " + note
            return await self._end(trade_id, "unhedged", note, progress)
        trade = await self._trade(trade_id)
        state, note = self._verdict(trade)
        if state == "unhedged":
            await self.journal.set_halt(f"trade {trade_id}: {note}", "the trader")
            note += " Trading is halted until /resume."
        if recovering:
            note = "after a restart: " + note
        return await self._end(trade_id, state, note, progress)

    async def _account_for(self, trade: JournalTrade, progress: Progress) -> list[JournalOrder]:
        """Look up every order of `trade` without a final answer, on the lookup schedule;
        the ones still unknown after it."""
        open_ = [o for o in trade.orders if o.outcome is None or not o.outcome.final]
        schedule = self.params.lookups_s
        for n, wait in enumerate(schedule, start=1):
            last = n == len(schedule)
            if not open_:
                return []
            await self.sleep(wait)
            still = []
            for order in open_:
                venue = self.venues.get(order.intent.venue)
                if venue is None:
                    still.append(order)
                    continue
                try:
                    found = await venue.lookup(order.intent)
                except VenueError as e:
                    log.warning("lookup of %s failed: %s", order.intent.client_id, e)
                    still.append(order)
                    continue
                if found is None:
                    if last:
                        # Not at the venue after its signing window: it never arrived.
                        found = OrderOutcome(
                            order.intent.client_id, "none",
                            reason="never reached the venue (looked up by its client id)",
                        )  # fmt: skip
                    else:
                        still.append(order)
                        continue
                found = replace(found, client_id=order.intent.client_id)
                await self.journal.answered(found)
                if not found.final:
                    still.append(order)
            open_ = still
            await self._tell(trade.id, progress)
        return open_

    def _repair(self, trade: JournalTrade) -> tuple[str, str, Side, float] | None:
        """Where and how much a reduce-only order must trade to bring the legs together
        (venue, symbol, side, coins before lot rounding), or None when they agree within
        tolerance (or less than a lot apart)."""
        excess = residual(trade)
        if abs(excess) <= self._tolerance(trade):
            return None
        if excess > 0:  # more long than short: sell on the long venue
            venue, symbol, side = trade.long_venue, trade.long_symbol, "sell"
        else:
            venue, symbol, side = trade.short_venue, trade.short_symbol, "buy"
        if abs(excess) < self._lot(venue, symbol) - DUST:
            return None  # less than one lot: no order can take it off
        return venue, symbol, side, abs(excess)  # type: ignore[return-value]

    def _tolerance(self, trade: JournalTrade) -> float:
        return max(self.params.tolerance * trade.coins, DUST)

    def _lot(self, venue: str, symbol: str) -> float:
        """The venue's order step for `symbol`, from its last book (0: none seen yet)."""
        book = self.books.peek(venue, symbol)
        return book.lot if book is not None else 0.0

    def _verdict(self, trade: JournalTrade) -> tuple[TradeState, str]:
        moved_long, moved_short = moved(trade)
        excess = residual(trade)
        if abs(excess) > self._tolerance(trade):
            # What a repair could still take off: a lot of the venue it would trade on.
            if excess > 0:
                lot = self._lot(trade.long_venue, trade.long_symbol)
            else:
                lot = self._lot(trade.short_venue, trade.short_symbol)
            if abs(excess) >= lot - DUST:
                side = "long" if excess > 0 else "short"
                return "unhedged", (
                    f"the legs differ by {abs(excess):g} {trade.asset} ({side} too much) "
                    "after every repair."
                )
        fees = sum(o.outcome.fee_usd or 0.0 for o in trade.orders if o.outcome is not None)
        if trade.kind == "open":
            if abs(moved_long) <= DUST and abs(moved_short) <= DUST:
                return "flat", "nothing is left on: " + _why_nothing(trade)
            return "hedged", (
                f"long {moved_long:g} / short {-moved_short:g} {trade.asset}, fees ${fees:,.2f}."
            )
        done = f"sold {-moved_long:g} / bought {moved_short:g} {trade.asset}, fees ${fees:,.2f}."
        if self._closed(trade):
            return "flat", "closed: " + done
        planned = {o.step: o.intent.coins for o in trade.orders if o.step in ("long", "short")}
        left_long = planned.get("long", 0.0) + moved_long
        left_short = planned.get("short", 0.0) - moved_short
        return "hedged", (
            f"not closed: {left_long:g} long / {left_short:g} short {trade.asset} left on "
            f"({_why_nothing(trade)}); {done}"
        )

    def _closed(self, trade: JournalTrade) -> bool:
        planned = {o.step: o.intent.coins for o in trade.orders if o.step in ("long", "short")}
        moved_long, moved_short = moved(trade)
        return abs(planned.get("long", 0.0) + moved_long) <= self._tolerance(trade) and abs(
            planned.get("short", 0.0) - moved_short
        ) <= self._tolerance(trade)

    async def _end(
        self, trade_id: int, state: TradeState, note: str, progress: Progress
    ) -> JournalTrade:
        await self.journal.finish(trade_id, state, note)
        await self._tell(trade_id, progress)
        return await self._trade(trade_id)

    async def _tell(self, trade_id: int, progress: Progress) -> None:
        try:
            await progress(await self._trade(trade_id))
        except Exception:  # the chat failing never stops a trade half-way
            log.exception("trade %d: progress report failed", trade_id)

    async def _trade(self, trade_id: int) -> JournalTrade:
        trade = await self.journal.trade(trade_id)
        assert trade is not None, f"trade {trade_id} is not in the journal"
        return trade

    # --- checks ----------------------------------------------------------------------

    def _mode_problems(self) -> Iterable[str]:
        if self.mode == "off":
            yield "trading is off (ARB_TRADING=off)"
        elif self.stopped is not None:
            yield self.stopped
        elif not self.ready:
            yield "unfinished trades are being reconciled first"

    def _venue_problems(self, venues: Iterable[str]) -> list[str]:
        return [
            f"{v} takes no orders here: {self.unavailable.get(v, 'no order path')}"
            for v in dict.fromkeys(venues)
            if v not in self.venues
        ]

    async def _limit_problems(
        self, asset: str, notional_usd: float, held: Sequence[tuple[str, str, float]]
    ) -> list[str]:
        out = []
        p = self.params
        if p.max_notional_usd is not None and notional_usd > p.max_notional_usd * (1 + 1e-9):
            out.append(
                f"${notional_usd:,.0f} per leg is over ARB_MAX_NOTIONAL_USD "
                f"(${p.max_notional_usd:,.0f})"
            )
        if p.max_asset_usd is not None:
            held_coins = max(
                sum(c for _, _, c in held if c > 0), -sum(c for _, _, c in held if c < 0), 0.0
            )
            mark = await self._mark(held)
            held_usd = held_coins * mark if mark else 0.0
            if held_usd + notional_usd > p.max_asset_usd * (1 + 1e-9):
                out.append(
                    f"{asset} would hold ${held_usd + notional_usd:,.0f} per leg, over "
                    f"ARB_MAX_ASSET_USD (${p.max_asset_usd:,.0f}); ${held_usd:,.0f} now"
                )
        return out

    async def _held(self, asset: str) -> list[tuple[str, str, float]]:
        """(venue, symbol, signed coins) of `asset` held on the venues the desk trades."""
        if self.positions is None:
            held = await self.journal.held("paper")
            return [(v, s, c) for (a, v, s), c in held.items() if a == asset]
        return [
            (p.venue, p.symbol, p.signed_size)
            for p in await self.positions()
            if p.asset == asset and p.venue in self.venues
        ]

    async def _mark(self, held: Sequence[tuple[str, str, float]]) -> float | None:
        for venue, symbol, _ in held:
            try:
                mid = (await self.books.get(venue, symbol)).mid
            except BookError:
                continue
            if mid:
                return mid
        return None

    async def _expected(
        self, venue: str, symbol: str, side: Side, coins: float
    ) -> tuple[float | None, float | None]:
        """The VWAP of `coins` on the book now, and its slippage from the mid."""
        from arb.depth import fill, slippage_bps

        try:
            book = await self.books.get(venue, symbol)
        except BookError:
            return None, None
        if not book.mid:
            return None, None
        f = fill(book, side, coins * book.mid)
        return f.vwap, slippage_bps(side, f.vwap, book.mid)


# --- pure ---------------------------------------------------------------------------


def best(book: Book, side: Side) -> float:
    """The best price an order of `side` takes: the lowest ask for a buy."""
    levels = book.asks if side == "buy" else book.bids
    if not levels:
        raise BookError(f"{book.venue} {book.symbol}: no {'asks' if side == 'buy' else 'bids'}")
    return levels[0].price


def moved(trade: JournalTrade) -> tuple[float, float]:
    """Signed coins the trade's orders moved on its long venue and on its short venue."""
    long = sum(o.filled for o in trade.orders if (o.intent.venue, o.intent.symbol)
               == (trade.long_venue, trade.long_symbol))  # fmt: skip
    short = sum(o.filled for o in trade.orders if (o.intent.venue, o.intent.symbol)
                == (trade.short_venue, trade.short_symbol))  # fmt: skip
    return long, short


def residual(trade: JournalTrade) -> float:
    """Coins long minus coins short the trade leaves beyond what it should: an open must
    move both legs alike (net 0), a close must also close the drift it found."""
    moved_long, moved_short = moved(trade)
    return moved_long + moved_short + trade.start_net


def crossing_problems(plan: Plan, held: Sequence[tuple[str, str, float]]) -> list[str]:
    """An open whose leg would trade against a position already held the other way on
    that venue (a short where it buys the long): the order would close that position
    instead of opening the leg, and a reduce-only repair would act on it. Refused."""
    out = []
    for leg in plan.legs:
        against = [
            c for v, s, c in held if (v, s) == (leg.venue, leg.symbol) and c * leg_sign(leg) < 0
        ]
        if against:
            other = "short" if leg.role == "long" else "long"
            out.append(
                f"{leg.venue} holds a {other} of {abs(sum(against)):g} {plan.asset}: "
                f"the {leg.role} leg would close it instead (close it first)"
            )
    return out


def leg_sign(leg: PlannedLeg) -> float:
    return 1.0 if leg.side == "buy" else -1.0


def halted_text(halt: Halt) -> str:
    return f"trading is halted ({halt.reason}, by {halt.by}): /resume lifts it"


def opening(leg: PlannedLeg) -> bool:
    """An open buys the long and sells the short; the same sides reversed close."""
    return (leg.role == "long") == (leg.side == "buy")


def _why_nothing(trade: JournalTrade) -> str:
    """Each entry order's fate: what stopped it, or that what it filled was unwound."""
    reasons = []
    for o in trade.orders:
        if o.outcome is None or o.step not in ("long", "short"):
            continue
        if o.outcome.filled_coins > DUST:
            reasons.append(
                f"the {o.intent.venue} {o.step} leg filled {o.outcome.filled_coins:g} "
                f"{trade.asset} and was unwound"
            )
        else:
            why = f" ({o.outcome.reason})" if o.outcome.reason else ""
            reasons.append(f"{o.intent.venue} {o.outcome.status}{why}")
    return "; ".join(reasons) or "no order filled"
