"""The trader (arb.trading.engine) against scripted venues, a real journal on SQLite and
real order books over a tiny public client: every way a two-legged trade can go, and
the end state is always hedged within tolerance, flat, or unhedged with trading halted
and the note naming what is open."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.accounts.models import Position
from arb.books import OrderBooks
from arb.depth import size_carry
from arb.http import VenueError
from arb.models import (
    Book,
    JournalOrder,
    JournalTrade,
    Level,
    Opportunity,
    OrderIntent,
    OrderOutcome,
    Quote,
)
from arb.trading.engine import (
    Plan,
    PlannedLeg,
    TradeBusy,
    Trader,
    TradeStopped,
    TradingParams,
    moved,
    residual,
)
from arb.trading.orders import TradeRefused
from arb.trading.paper import paper_venues
from storage.db import Database
from storage.journal import Journal
from tests.fakes.scripted_venue import (
    ScriptedVenue,
    fill,
    lost,
    nothing,
    partial,
    reject,
)

LONG, SHORT, SYMBOL, ASSET = "alpha", "beta", "XUSDT", "X"
LOOKUPS = (0.5, 1.0, 2.0)


class PublicClient:
    """A venue's public client as OrderBooks needs it: a fixed book around 100 USD."""

    def __init__(self, name: str, lot: float = 0.001, bid: float = 100.0, depth: int = 20):
        self.name = name
        self.lot = lot
        self.bid = bid
        self.depth = depth

    async def order_book(self, symbol: str) -> Book:
        bids = tuple(Level(self.bid - 0.1 * i, 0.5) for i in range(self.depth))
        asks = tuple(Level(self.bid + 0.1 * (i + 1), 0.5) for i in range(self.depth))
        return Book(self.name, symbol, bids, asks, 0.0, lot=self.lot)


@pytest.fixture
async def db(tmp_path):
    db = await Database.open(str(tmp_path / "arb.sqlite3"))
    yield db
    await db.close()


@pytest.fixture
def journal(db):
    return Journal(db)


class Desk:
    """A trader over two scripted venues, recording its sleeps and every progress."""

    def __init__(self, journal, *, params: TradingParams | None = None, lots=(0.001, 0.001),
                 venues: dict | None = None, positions=None):  # fmt: skip
        self.journal = journal
        self.long = ScriptedVenue(LONG)
        self.short = ScriptedVenue(SHORT)
        self.books = OrderBooks([PublicClient(LONG, lots[0]), PublicClient(SHORT, lots[1])])
        self.params = params or TradingParams(mode="live", lookups_s=LOOKUPS)
        self.slept: list[float] = []
        self.told: list[JournalTrade] = []
        self.trader = Trader(
            self.params,
            venues if venues is not None else {LONG: self.long, SHORT: self.short},
            self.books,
            journal,
            positions=positions,
            sleep=self.sleep,
        )

    async def sleep(self, s: float) -> None:
        self.slept.append(s)

    async def progress(self, trade: JournalTrade) -> None:
        self.told.append(trade)

    async def ready(self) -> Desk:
        await self.trader.recover(self.progress)
        return self

    async def run(self, plan: Plan | None = None) -> JournalTrade:
        return await self.trader.execute(plan or open_plan(), self.progress, chat=(7, 8))


def open_plan(coins: float = 1.0, notional: float | None = None) -> Plan:
    long = PlannedLeg("long", LONG, SYMBOL, "buy", coins, 100.1, 1.0, 0.05, 33.0)
    short = PlannedLeg("short", SHORT, SYMBOL, "sell", coins, 100.0, 1.0, 0.05, 33.0)
    return Plan("open", "live", ASSET, long, short, notional or coins * 100.1)


def steps(trade: JournalTrade) -> list[str]:
    return [o.step for o in trade.orders]


def order(trade: JournalTrade, step: str) -> JournalOrder:
    (found,) = [o for o in trade.orders if o.step == step]
    return found


def assert_hedged(trade: JournalTrade, coins: float) -> None:
    long, short = moved(trade)
    assert trade.state == "hedged", trade.note
    assert long == pytest.approx(coins) and short == pytest.approx(-coins)


def assert_flat(trade: JournalTrade) -> None:
    """An open that left nothing on (a close's flatness is the venues' positions)."""
    assert trade.state == "flat", trade.note
    assert moved(trade) == (pytest.approx(0.0, abs=1e-9), pytest.approx(0.0, abs=1e-9))


# --- both legs -----------------------------------------------------------------------


async def test_both_legs_fill_and_the_journal_holds_every_answer(journal):
    desk = await Desk(journal).ready()
    trade = await desk.run()
    assert_hedged(trade, 1.0)
    assert steps(trade) == ["long", "short"]
    assert all(o.outcome.status == "filled" and o.outcome.fee_usd for o in trade.orders)
    assert trade.note == "long 1 / short 1 X, fees $0.10." and (
        trade.chat_id,
        trade.message_id,
    ) == (7, 8)
    ids = [o.intent.client_id for o in trade.orders]
    assert len(set(ids)) == 2
    assert all(re.fullmatch(r"[a-z0-9]{1,20}", i) for i in ids)
    again = await Journal(journal.db).trade(trade.id)
    assert [o.intent.client_id for o in again.orders] == ids
    assert [i.client_id for i in desk.long.placed() + desk.short.placed()] == ids
    assert not desk.long.placed()[0].reduce_only
    # prepared once per venue and symbol, at the configured leverage
    assert [c.arg for c in desk.long.calls if c.method == "prepare"] == [(SYMBOL, 3.0)]
    assert desk.told[-1].state == "hedged" and desk.slept == []
    # told as it went: both intents before any answer, then the answers, then the end
    assert [o.outcome for o in desk.told[0].orders] == [None, None]
    assert all(t.state == "working" for t in desk.told[:-1]) and len(desk.told) >= 3
    await desk.run()
    assert len([c for c in desk.long.calls if c.method == "prepare"]) == 1


async def test_the_intent_is_journaled_before_the_order_leaves(journal):
    desk = await Desk(journal).ready()
    seen = []

    async def look(intent: OrderIntent) -> None:
        rows = await journal.db.fetchall(
            "SELECT status FROM orders WHERE client_id = ?", (intent.client_id,)
        )
        seen.append([r["status"] for r in rows])

    desk.long.on_place = desk.short.on_place = look
    trade = await desk.run()
    assert seen == [[None], [None]]
    assert all(o.outcome is not None for o in trade.orders)


async def test_a_partial_leg_has_the_other_reduced_to_match(journal):
    desk = await Desk(journal).ready()
    desk.short.script(partial(0.6))
    trade = await desk.run()
    assert_hedged(trade, 0.6)
    repair = order(trade, "repair 1")
    assert repair.intent.venue == LONG and repair.intent.side == "sell"
    assert repair.intent.reduce_only and repair.intent.coins == pytest.approx(0.4)
    # best bid 100 less repair_slippage_bps (50)
    assert repair.intent.price_cap == pytest.approx(100.0 * (1 - 0.005))
    assert len(desk.short.placed()) == 1


async def test_a_repair_trades_whole_lots_and_stops_within_a_lot(journal):
    desk = await Desk(journal, lots=(0.1, 0.01)).ready()
    desk.short.script(partial(0.65))
    trade = await desk.run()
    assert order(trade, "repair 1").intent.coins == pytest.approx(0.3)
    assert steps(trade) == ["long", "short", "repair 1"]
    assert trade.state == "hedged" and residual(trade) == pytest.approx(0.05)


async def test_a_rejected_leg_has_the_other_unwound(journal):
    desk = await Desk(journal).ready()
    desk.short.script(reject("insufficient margin (code 110007)"))
    trade = await desk.run()
    assert_flat(trade)
    assert "insufficient margin (code 110007)" in trade.note
    repair = order(trade, "repair 1")
    assert (repair.intent.venue, repair.intent.side, repair.intent.coins) == (LONG, "sell", 1.0)
    assert repair.intent.reduce_only


async def test_both_rejected_is_flat_with_nothing_repaired(journal):
    desk = await Desk(journal).ready()
    desk.long.script(reject("insufficient margin"))
    desk.short.script(reject("price outside the band"))
    trade = await desk.run()
    assert_flat(trade)
    assert steps(trade) == ["long", "short"]
    assert "insufficient margin" in trade.note and "price outside the band" in trade.note
    assert await journal.halt() is None


# --- orders without an answer ----------------------------------------------------------


async def test_a_timeout_placed_anyway_is_found_and_reconciled(journal):
    desk = await Desk(journal).ready()
    desk.short.script(lost(reached=partial(0.7)))
    trade = await desk.run()
    assert_hedged(trade, 0.7)
    assert order(trade, "short").outcome.status == "partial"
    assert desk.slept == [0.5]
    assert [i.client_id for i in desk.short.looked_up()] == [order(trade, "short").intent.client_id]


async def test_a_timeout_never_placed_is_none_after_the_last_lookup(journal):
    desk = await Desk(journal).ready()
    desk.short.script(lost(reached=None))
    trade = await desk.run()
    assert_flat(trade)
    assert desk.slept == list(LOOKUPS)  # "not found" is final only after the last one
    assert len(desk.short.looked_up()) == len(LOOKUPS)
    assert order(trade, "short").outcome.status == "none"
    assert order(trade, "repair 1").intent.venue == LONG


async def test_lookups_that_keep_failing_leave_it_unhedged_and_halted(journal):
    desk = await Desk(journal).ready()
    desk.short.script(lost(reached=fill()))
    desk.short.script_lookups(*[VenueError(SHORT, "order", "503")] * len(LOOKUPS))
    trade = await desk.run()
    short_id = order(trade, "short").intent.client_id
    assert trade.state == "unhedged"
    assert short_id in trade.note and SHORT in trade.note
    assert steps(trade) == ["long", "short"]  # nothing repaired on a guess
    halt = await journal.halt()
    assert halt is not None and short_id in halt.reason


@pytest.mark.parametrize("failing", [reject("reduce-only rejected"), nothing()])
async def test_a_repair_failing_every_time_leaves_it_unhedged_and_halted(journal, failing):
    desk = await Desk(journal).ready()
    desk.short.script(reject())
    desk.long.script(fill(), failing, failing, failing)
    trade = await desk.run()
    assert trade.state == "unhedged"
    assert steps(trade) == ["long", "short", "repair 1", "repair 2", "repair 3"]
    assert "long too much" in trade.note and "halted" in trade.note
    assert await journal.halt() is not None
    refused = await desk.trader.recheck(open_plan())
    assert any("halted" in p for p in refused.problems)


async def test_a_repair_without_an_answer_is_never_repeated_blind(journal):
    desk = await Desk(journal).ready()
    desk.short.script(reject())
    desk.long.script(fill(), lost(reached=fill()))
    desk.long.script_lookups(*[VenueError(LONG, "order", "503")] * len(LOOKUPS))
    trade = await desk.run()
    repair_id = order(trade, "repair 1").intent.client_id
    assert steps(trade) == ["long", "short", "repair 1"]
    assert trade.state == "unhedged" and repair_id in trade.note
    assert await journal.halt() is not None


async def test_a_prepare_refused_sends_nothing(journal):
    desk = await Desk(journal).ready()
    desk.short.refuse = TradeRefused("the account is in hedge mode: switch it to one-way")
    trade = await desk.run()
    assert trade.state == "refused" and "hedge mode" in trade.note
    assert desk.long.placed() == [] and desk.short.placed() == []
    assert trade.orders == ()


async def test_a_failing_chat_never_stops_a_trade(journal):
    desk = await Desk(journal).ready()

    async def broken(trade: JournalTrade) -> None:
        raise RuntimeError("telegram is down")

    trade = await desk.trader.execute(open_plan(), broken)
    assert_hedged(trade, 1.0)
    assert (await journal.trade(trade.id)).state == "hedged"


# --- limits and refusals --------------------------------------------------------------


def quote(venue: str) -> Quote:
    return Quote(venue, ASSET, SYMBOL, 0.0001, 8.0, None, 100.0, 1e9, 1e9, 0.0)


def opportunity() -> Opportunity:
    return Opportunity(ASSET, quote(LONG), quote(SHORT), 1e-5, 8e-5, 0.1, 0.001, 10.0, 0.08,
                       24.0 * 30, 0.0)  # fmt: skip


async def sized_plan(desk: Desk, notional: float):
    long_book = await desk.books.get(LONG, SYMBOL)
    short_book = await desk.books.get(SHORT, SYMBOL)
    sized = size_carry(opportunity(), long_book, short_book, notional, 50.0)
    return await desk.trader.plan_open(sized)


async def refused_unsent(desk: Desk, plan: Plan, words: str) -> None:
    plan = await desk.trader.recheck(plan)
    assert not plan.ok and any(words in p for p in plan.problems), plan.problems
    trade = await desk.trader.execute(plan, desk.progress)
    assert trade.state == "refused" and words in trade.note
    assert desk.long.calls == [] and desk.short.calls == []


async def test_a_plan_from_the_sizing_goes_when_nothing_stands_in_its_way(journal):
    desk = await Desk(journal).ready()
    plan = await sized_plan(desk, 500.0)
    assert plan.ok, plan.problems
    assert plan.long.coins == plan.short.coins > 0
    trade = await desk.trader.execute(plan, desk.progress)
    assert_hedged(trade, plan.long.coins)


async def test_over_the_notional_limit_is_refused(journal):
    params = TradingParams(mode="live", max_notional_usd=300.0, lookups_s=LOOKUPS)
    desk = await Desk(journal, params=params).ready()
    await refused_unsent(desk, await sized_plan(desk, 500.0), "ARB_MAX_NOTIONAL_USD")


async def test_over_the_asset_limit_with_paper_holdings_is_refused(journal):
    params = TradingParams(mode="paper", max_asset_usd=600.0, lookups_s=LOOKUPS)
    desk = await Desk(journal, params=params).ready()
    t = await journal.begin("open", "paper", ASSET, (LONG, SYMBOL), (SHORT, SYMBOL), 2.0, 200.0)
    for venue, side in ((LONG, "buy"), (SHORT, "sell")):
        i = await journal.intend(t.id, venue, venue, SYMBOL, side, 2.0, 100.0)
        await journal.answered(OrderOutcome(i.client_id, "filled", 2.0, 100.0, 0.1))
    await journal.finish(t.id, "hedged", "")
    await refused_unsent(desk, await sized_plan(desk, 500.0), "ARB_MAX_ASSET_USD")

    # a live desk's holdings are the venues', not the paper journal's
    async def none_held() -> list[Position]:
        return []

    live_params = TradingParams(mode="live", max_asset_usd=600.0)
    live = await Desk(journal, params=live_params, positions=none_held).ready()
    assert (await sized_plan(live, 500.0)).ok


async def test_a_halted_desk_refuses(journal):
    desk = await Desk(journal).ready()
    await desk.trader.halt("checking the books", "ann")
    await refused_unsent(desk, open_plan(), "trading is halted (checking the books, by ann)")
    assert (await desk.trader.resume()).by == "ann"
    assert (await desk.trader.recheck(open_plan())).ok
    assert await desk.trader.resume() is None


async def test_not_ready_before_recovery_refuses(journal):
    desk = Desk(journal)
    await refused_unsent(desk, open_plan(), "unfinished trades are being reconciled first")


async def test_mode_off_refuses(journal):
    desk = Desk(journal, params=TradingParams(mode="off"))
    assert desk.trader.ready and not desk.trader.enabled
    await refused_unsent(desk, open_plan(), "trading is off")


async def test_a_venue_without_an_order_path_is_a_problem(journal):
    desk = await Desk(journal, venues={LONG: ScriptedVenue(LONG)}).ready()
    desk.trader.unavailable[SHORT] = "no keys set"
    plan = await sized_plan(desk, 500.0)
    assert any(f"{SHORT} takes no orders here: no keys set" in p for p in plan.problems)


async def test_a_second_trade_while_one_runs_is_busy(journal):
    desk = await Desk(journal).ready()
    desk.long.gate = asyncio.Event()
    first = asyncio.create_task(desk.run())
    async with asyncio.timeout(5):
        await desk.long.placing.wait()
    with pytest.raises(TradeBusy):
        await desk.run()
    desk.long.gate.set()
    async with asyncio.timeout(5):
        assert (await first).state == "hedged"
    assert len(await journal.trades()) == 1


# --- closing ---------------------------------------------------------------------------


async def paper_book(journal: Journal, long: float, short: float) -> None:
    """A paper trade that left `long` coins long and `short` short."""
    t = await journal.begin("open", "paper", ASSET, (LONG, SYMBOL), (SHORT, SYMBOL), long, 100.0)
    for venue, side, coins in ((LONG, "buy", long), (SHORT, "sell", short)):
        if coins:
            i = await journal.intend(t.id, venue, venue, SYMBOL, side, coins, 100.0)
            await journal.answered(OrderOutcome(i.client_id, "filled", coins, 100.0, 0.0))
    await journal.finish(t.id, "hedged", "")


async def paper_desk(journal: Journal) -> Desk:
    params = TradingParams(mode="paper", lookups_s=(0.0,))
    held = {(v, s): c for (_, v, s), c in (await journal.held("paper")).items()}
    books = OrderBooks([PublicClient(LONG), PublicClient(SHORT)])
    venues = paper_venues({LONG: 0.0005, SHORT: 0.0005}, books, held)
    desk = Desk(journal, params=params, venues=venues)
    desk.books = desk.trader.books = books
    return await desk.ready()


async def test_a_paper_open_then_close_ends_flat(journal):
    desk = await paper_desk(journal)
    opened = await desk.run()
    assert_hedged(opened, 1.0)
    plan = await desk.trader.plan_close(ASSET)
    assert plan is not None and plan.ok, plan and plan.problems
    assert (plan.long.side, plan.short.side) == ("sell", "buy")
    closed = await desk.trader.execute(plan, desk.progress)
    assert closed.state == "flat", closed.note
    assert moved(closed) == (-1.0, 1.0)
    assert all(o.intent.reduce_only for o in closed.orders)
    assert await journal.held("paper") == {}
    assert await desk.trader.plan_close(ASSET) is None


async def test_a_close_with_drift_closes_both_and_the_drift(journal):
    await paper_book(journal, 1.0, 0.8)
    desk = await paper_desk(journal)
    plan = await desk.trader.plan_close(ASSET)
    assert (plan.long.coins, plan.short.coins) == (1.0, 0.8)
    assert any("differ by +0.2" in n for n in plan.notes)
    trade = await desk.trader.execute(plan, desk.progress)
    assert trade.state == "flat", trade.note
    assert steps(trade) == ["long", "short"]
    assert await journal.held("paper") == {}


async def test_a_one_leg_close(journal):
    await paper_book(journal, 0.0, 0.5)
    desk = await paper_desk(journal)
    plan = await desk.trader.plan_close(ASSET)
    assert plan.long.coins == 0 and plan.short.coins == 0.5
    assert any("one leg only" in n for n in plan.notes)
    trade = await desk.trader.execute(plan, desk.progress)
    assert trade.state == "flat", trade.note
    assert steps(trade) == ["short"]
    assert await journal.held("paper") == {}


async def test_a_partial_close_closes_the_lagging_leg_further(journal):
    positions = [
        Position(LONG, ASSET, SYMBOL, "long", 1.0, 100.0, 100.0, 0.0, 3.0, None),
        Position(SHORT, ASSET, SYMBOL, "short", 1.0, 100.0, 100.0, 0.0, 3.0, None),
    ]

    async def held() -> list[Position]:
        return positions

    desk = await Desk(journal, positions=held).ready()
    desk.long.script(partial(0.4))
    plan = await desk.trader.plan_close(ASSET)
    trade = await desk.trader.execute(plan, desk.progress)
    repair = order(trade, "repair 1")
    assert (repair.intent.venue, repair.intent.side, repair.intent.reduce_only) == (
        LONG, "sell", True,
    )  # fmt: skip
    assert repair.intent.coins == pytest.approx(0.6)
    assert repair.intent.price_cap == pytest.approx(100.0 * (1 - 0.005))
    assert trade.state == "flat", trade.note
    assert [c.method for c in desk.long.calls] == ["place", "place"]  # a close prepares nothing


# --- recovery after a crash -------------------------------------------------------------


async def crashed(
    journal: Journal, answers: dict[str, OrderOutcome | None], steps_=("long", "short")
):
    """A trade as a killed process leaves it: intents for `steps_`, answers as given."""
    t = await journal.begin("open", "live", ASSET, (LONG, SYMBOL), (SHORT, SYMBOL), 1.0, 100.0,
                            chat_id=7, message_id=8)  # fmt: skip
    intents = {}
    for step in steps_:
        venue, side = (LONG, "buy") if step == "long" else (SHORT, "sell")
        intents[step] = await journal.intend(t.id, step, venue, SYMBOL, side, 1.0, 100.5)
        if answers.get(step) is not None:
            await journal.answered(_as(answers[step], intents[step]))
    return t, intents


def _as(outcome: OrderOutcome, intent: OrderIntent) -> OrderOutcome:
    return OrderOutcome(intent.client_id, outcome.status, outcome.filled_coins,
                        outcome.avg_price, outcome.fee_usd, outcome.order_id)  # fmt: skip


FILLED = OrderOutcome("", "filled", 1.0, 100.0, 0.05, "v1")


async def recovered(desk: Desk) -> JournalTrade:
    seen_ready = []

    async def progress(trade: JournalTrade) -> None:
        seen_ready.append(desk.trader.ready)
        desk.told.append(trade)

    assert not desk.trader.ready
    (trade,) = await desk.trader.recover(progress)
    assert desk.trader.ready and seen_ready and not any(seen_ready)
    assert trade.note.startswith("after a restart")
    assert desk.told[-1].state == trade.state
    assert await journal_unfinished(desk) == []
    return trade


async def journal_unfinished(desk: Desk):
    return await desk.journal.unfinished()


async def test_recovery_of_only_the_first_intent_that_reached_the_venue(journal):
    _t, intents = await crashed(journal, {}, steps_=("long",))
    desk = Desk(journal)
    desk.long.held[intents["long"].client_id] = _as(FILLED, intents["long"])
    trade = await recovered(desk)
    assert_flat(trade)  # the long that did fill is unwound
    assert order(trade, "repair 1").intent.reduce_only


async def test_recovery_of_only_the_first_intent_that_never_arrived(journal):
    await crashed(journal, {}, steps_=("long",))
    desk = Desk(journal)
    trade = await recovered(desk)
    assert_flat(trade)
    assert desk.slept == list(LOOKUPS) and desk.long.placed() == []


async def test_recovery_of_two_intents_without_answers(journal):
    _t, intents = await crashed(journal, {})
    desk = Desk(journal)
    for venue, step in ((desk.long, "long"), (desk.short, "short")):
        venue.held[intents[step].client_id] = _as(FILLED, intents[step])
    trade = await recovered(desk)
    assert_hedged(trade, 1.0)
    assert desk.long.placed() == [] and desk.short.placed() == []  # nothing sent again


async def test_recovery_of_one_answered_and_one_lost(journal):
    _t, intents = await crashed(journal, {"long": FILLED})
    desk = Desk(journal)
    trade = await recovered(desk)
    assert_flat(trade)
    assert [i.client_id for i in desk.short.looked_up()] == [intents["short"].client_id] * 3
    assert desk.long.looked_up() == []  # a final answer is not asked again


@pytest.mark.parametrize("arrived", [True, False])
async def test_recovery_of_an_unanswered_repair(journal, arrived):
    t, intents = await crashed(journal, {"long": FILLED, "short": FILLED})
    await journal.answered(OrderOutcome(intents["short"].client_id, "partial", 0.5, 100.0))
    repair = await journal.intend(t.id, "repair 1", LONG, SYMBOL, "sell", 0.5, 99.5, True)
    desk = Desk(journal)
    if arrived:
        desk.long.held[repair.client_id] = OrderOutcome(repair.client_id, "filled", 0.5, 99.9)
    trade = await recovered(desk)
    assert_hedged(trade, 0.5)
    assert len(desk.long.placed()) == (0 if arrived else 1)


async def test_recovery_that_cannot_find_an_order_halts(journal):
    _t, intents = await crashed(journal, {"long": FILLED})
    desk = Desk(journal)
    desk.short.script_lookups(*[VenueError(SHORT, "order", "timeout")] * len(LOOKUPS))
    trade = await recovered(desk)
    assert trade.state == "unhedged" and intents["short"].client_id in trade.note
    assert await journal.halt() is not None


async def test_a_trade_killed_mid_flight_survives_the_database_reopened(tmp_path):
    path = str(tmp_path / "arb.sqlite3")
    db = await Database.open(path)
    desk = await Desk(Journal(db)).ready()
    desk.short.gate = asyncio.Event()
    running = asyncio.create_task(desk.run())
    async with asyncio.timeout(5):
        await desk.short.placing.wait()
    running.cancel()  # the process is killed with both orders out
    with pytest.raises(asyncio.CancelledError):
        await running
    await db.close()

    db = await Database.open(path)
    try:
        journal = Journal(db)
        (left,) = await journal.unfinished()
        assert steps(left) == ["long", "short"] and left.state == "working"
        assert order(left, "short").outcome is None
        again = Desk(journal)
        again.long.held.update(desk.long.held)
        short_id = order(left, "short").intent.client_id
        again.short.held[short_id] = OrderOutcome(short_id, "filled", 1.0, 100.0)
        trade = await recovered(again)
        assert_hedged(trade, 1.0)
    finally:
        await db.close()


# --- pure -------------------------------------------------------------------------------


def _trade(kind, fills: list[tuple[str, str, float]], start_net: float = 0.0) -> JournalTrade:
    orders = []
    for n, (venue, side, coins) in enumerate(fills):
        intent = OrderIntent(f"c{n}", venue, SYMBOL, side, coins, 100.0)
        outcome = OrderOutcome(f"c{n}", "filled" if coins else "none", coins, 100.0)
        orders.append(JournalOrder(1, "long" if venue == LONG else "short", intent, outcome, 0, 0))
    return JournalTrade(1, kind, "live", ASSET, LONG, SYMBOL, SHORT, SYMBOL, 1.0, 100.0,
                        start_net, "working", None, None, None, 0, 0, tuple(orders))  # fmt: skip


coins_st = st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 3))


@given(coins_st)
def test_an_open_filling_equal_coins_has_no_residual(c):
    trade = _trade("open", [(LONG, "buy", c), (SHORT, "sell", c)])
    assert residual(trade) == 0
    assert moved(trade) == (c, -c)


@given(coins_st, coins_st)
def test_the_residual_sign_names_the_venue_the_repair_trades_on(long, short):
    trade = _trade("open", [(LONG, "buy", long), (SHORT, "sell", short)])
    trader = Trader(TradingParams(mode="live"), {}, OrderBooks([]), None)  # type: ignore[arg-type]
    repair = trader._repair(trade)
    if abs(long - short) <= trader._tolerance(trade):
        assert repair is None
    else:
        venue, _, side, coins = repair
        assert (venue, side) == ((LONG, "sell") if residual(trade) > 0 else (SHORT, "buy"))
        assert coins == pytest.approx(abs(long - short))


@given(coins_st, coins_st)
def test_a_close_that_closes_both_found_legs_has_no_residual(long, short):
    trade = _trade("close", [(LONG, "sell", long), (SHORT, "buy", short)], long - short)
    assert residual(trade) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(("left_by", "now"), [("live", "paper"), ("paper", "live")])
async def test_recovery_leaves_a_trade_of_the_other_mode_to_its_own_venues(journal, left_by, now):
    t = await journal.begin("open", left_by, ASSET, (LONG, SYMBOL), (SHORT, SYMBOL), 1.0, 100.0)
    long = await journal.intend(t.id, "long", LONG, SYMBOL, "buy", 1.0, 100.5)
    await journal.answered(OrderOutcome(long.client_id, "filled", 1.0, 100.0))
    await journal.intend(t.id, "short", SHORT, SYMBOL, "sell", 1.0, 99.5)
    desk = Desk(journal, params=TradingParams(mode=now, lookups_s=LOOKUPS))
    # paper venues cannot know a live order (and live ones a paper order): asking them
    # would record a live order as never sent, and unwind on the wrong account
    assert await desk.trader.recover(desk.progress) == []
    assert desk.trader.ready
    assert desk.long.calls == [] and desk.short.calls == []
    assert [u.id for u in await journal.unfinished()] == [t.id]


async def test_an_answer_under_the_venues_form_of_the_client_id_is_still_journaled(journal):
    desk = await Desk(journal).ready()

    def prefixed(i: OrderIntent):  # as a venue that adds "t-" to the id might echo it
        done = OrderOutcome("t-" + i.client_id, "filled", i.coins, 100.0, 0.05, "v1")
        return done, done

    desk.short.script(prefixed)
    trade = await desk.run()
    assert order(trade, "short").outcome is not None
    assert_hedged(trade, 1.0)


async def test_a_lookup_under_the_venues_form_of_the_client_id_is_still_journaled(journal):
    desk = await Desk(journal).ready()
    desk.short.script(lost(reached=None))
    desk.short.script_lookups(OrderOutcome("t-echo", "filled", 1.0, 100.0, 0.05, "v1"))
    trade = await desk.run()
    assert order(trade, "short").outcome.status == "filled"
    assert_hedged(trade, 1.0)


async def test_a_close_that_fails_says_what_is_left_on_and_why(journal):
    positions = [
        Position(LONG, ASSET, SYMBOL, "long", 1.0, 100.0, 100.0, 0.0, 3.0, None),
        Position(SHORT, ASSET, SYMBOL, "short", 0.8, 100.0, 100.0, 0.0, 3.0, None),
    ]

    async def held() -> list[Position]:
        return positions

    desk = await Desk(journal, positions=held).ready()
    desk.long.script(reject("price outside the band"))
    desk.short.script(reject("price outside the band"))
    trade = await desk.trader.execute(await desk.trader.plan_close(ASSET), desk.progress)
    # the drift the close found is still taken off: what is left is hedged
    assert trade.state == "hedged"
    assert "not closed" in trade.note and "price outside the band" in trade.note
    assert "0.8 long / 0.8 short" in trade.note


class FailingJournal(Journal):
    """A journal whose disk fills once the first answer comes back."""

    fail = False

    async def answered(self, outcome: OrderOutcome) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        await super().answered(outcome)


async def test_a_journal_that_fails_mid_trade_stops_trading_until_a_restart_reconciles(db):
    journal = FailingJournal(db)
    desk = await Desk(journal).ready()
    journal.fail = True
    with pytest.raises(TradeStopped, match=r"broke off.*No space left.*restart"):
        await desk.run()
    # Both orders went out; the journal holds their intents, not their answers.
    assert len(desk.long.placed()) == len(desk.short.placed()) == 1
    (left,) = await journal.unfinished()
    assert [o.outcome for o in left.orders] == [None, None]
    # Nothing more is planned or sent in this process.
    assert not desk.trader.ready
    plan = await desk.trader.recheck(open_plan())
    assert not plan.ok and any("broke off" in p for p in plan.problems)
    ended = await desk.run(plan)
    assert ended.state == "refused" and len(desk.long.placed()) == 1
    # The restart: a new trader on the same database finds both fills and keeps the hedge.
    journal.fail = False
    restarted = Desk(Journal(db))
    restarted.long, restarted.short = desk.long, desk.short
    restarted.trader.venues = {LONG: desk.long, SHORT: desk.short}
    (recovered,) = await restarted.trader.recover(restarted.progress)
    assert recovered.id == left.id
    assert_hedged(recovered, 1.0)
    assert recovered.note.startswith("after a restart")
    assert restarted.trader.ready


async def test_a_halt_while_a_trade_sends_lets_it_finish_its_repairs_and_stops_the_next(journal):
    desk = await Desk(journal).ready()
    desk.short.script(partial(0.4, 100.0))
    desk.long.gate = asyncio.Event()
    running = asyncio.create_task(desk.run())
    await desk.long.placing.wait()
    await desk.trader.halt("venue maintenance", "@alice")
    desk.long.gate.set()
    trade = await running
    # The short filled 0.4 of 1: the long is reduced to match although trading halted.
    assert_hedged(trade, 0.4)
    assert steps(trade) == ["long", "short", "repair 1"]
    after = await desk.trader.recheck(open_plan())
    assert any("halted (venue maintenance, by @alice)" in p for p in after.problems)
    refused = await desk.run(after)
    assert refused.state == "refused" and refused.orders == ()


async def test_an_open_against_a_position_held_the_other_way_on_a_leg_is_refused(journal):
    held = [Position(LONG, ASSET, SYMBOL, "short", 0.5, 100.0, 100.0, 0.0, 3.0, None)]

    async def positions():
        return held

    desk = await Desk(journal, positions=positions).ready()
    plan = await desk.trader.recheck(open_plan())
    assert "alpha holds a short of 0.5 X: the long leg would close it instead" in " ".join(
        plan.problems
    )
    assert (await desk.run(plan)).state == "refused" and desk.long.placed() == []
    # The same side already held is only more of the carry: it may go.
    held[:] = [
        Position(LONG, ASSET, SYMBOL, "long", 0.5, 100.0, 100.0, 0.0, 3.0, None),
        Position(SHORT, ASSET, SYMBOL, "short", 0.5, 100.0, 100.0, 0.0, 3.0, None),
    ]
    assert (await desk.trader.recheck(open_plan())).ok


async def test_a_reconciliation_that_fails_keeps_trading_closed_and_says_why(journal):
    desk = Desk(journal)
    await journal.begin("open", "live", ASSET, (LONG, SYMBOL), (SHORT, SYMBOL), 1.0, 100.0)

    async def unreadable():
        raise OSError(5, "Input/output error")

    journal.unfinished = unreadable  # the journal cannot be read at start
    with pytest.raises(OSError):
        await desk.trader.recover(desk.progress)
    assert not desk.trader.ready
    plan = await desk.trader.recheck(open_plan())
    assert not plan.ok
    assert any("reconciling unfinished trades failed" in p for p in plan.problems)
    assert desk.long.placed() == []
