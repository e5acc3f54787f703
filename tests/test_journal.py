"""The trading journal (storage.journal) on a real SQLite file: trades and orders written
before each request and after each answer, client ids, the paper positions, the halt,
and all of it kept across a database closed and reopened."""

from __future__ import annotations

import re

import pytest

from arb.models import OrderOutcome
from storage.db import Database
from storage.journal import NOTE_LIMIT, Journal

LEGS = (("alpha", "XUSDT"), ("beta", "X_USDT"))


@pytest.fixture
async def db(tmp_path):
    db = await Database.open(str(tmp_path / "arb.sqlite3"))
    yield db
    await db.close()


async def begin(journal: Journal, mode="live", asset="X", kind="open"):
    return await journal.begin(kind, mode, asset, *LEGS, 1.0, 100.0, 0.0, 7, 8)


async def test_a_trade_and_its_orders_are_written_before_and_after(db):
    journal = Journal(db, clock=lambda: 1000.0)
    trade = await begin(journal)
    assert (trade.state, trade.orders, trade.chat_id, trade.message_id) == ("working", (), 7, 8)
    long = await journal.intend(trade.id, "long", "alpha", "XUSDT", "buy", 1.0, 100.5)
    short = await journal.intend(trade.id, "short", "beta", "X_USDT", "sell", 1.0, 99.5, True)
    got = await journal.trade(trade.id)
    assert [o.step for o in got.orders] == ["long", "short"]
    assert all(o.outcome is None for o in got.orders)
    assert got.orders[1].intent == short and short.reduce_only

    await journal.answered(OrderOutcome(long.client_id, "filled", 1.0, 100.2, 0.05, "v9"))
    # a later answer without the venue's id keeps the one it gave
    await journal.answered(OrderOutcome(long.client_id, "filled", 1.0, 100.2, 0.05, None))
    await journal.answered(OrderOutcome(short.client_id, "rejected", reason="x" * 900))
    got = await journal.trade(trade.id)
    assert got.orders[0].outcome == OrderOutcome(long.client_id, "filled", 1.0, 100.2, 0.05, "v9")
    assert got.orders[1].outcome.status == "rejected"
    assert len(got.orders[1].outcome.reason) == 500
    assert got.orders[1].filled == 0.0 and got.orders[0].filled == 1.0

    await journal.finish(trade.id, "hedged", "n" * (NOTE_LIMIT + 10))
    done = await journal.trade(trade.id)
    assert done.state == "hedged" and len(done.note) == NOTE_LIMIT
    assert await journal.unfinished() == []


async def test_client_ids_are_unique_short_and_stable(db):
    journal = Journal(db)
    ids = []
    for _ in range(3):
        trade = await begin(journal)
        for step in ("long", "short", "repair 1"):
            i = await journal.intend(trade.id, step, "alpha", "XUSDT", "buy", 1.0, 100.0)
            ids.append(i.client_id)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]{1,20}", i) for i in ids)
    desk = await journal.desk_id()
    assert all(i.startswith("a" + desk) for i in ids)
    again = Journal(db)
    assert await again.desk_id() == desk
    stored = [o.intent.client_id for t in reversed(await again.trades()) for o in t.orders]
    assert stored == ids


async def test_a_new_database_draws_a_new_desk(tmp_path):
    one = await Database.open(str(tmp_path / "one.sqlite3"))
    two = await Database.open(str(tmp_path / "two.sqlite3"))
    try:
        # four characters of 36: two draws match one time in 1.7 million
        assert await Journal(one).desk_id() != await Journal(two).desk_id()
    finally:
        await one.close()
        await two.close()


async def test_trades_newest_first_and_unfinished_oldest_first(db):
    journal = Journal(db)
    a, b, c = [await begin(journal) for _ in range(3)]
    await journal.finish(b.id, "flat", "nothing")
    assert [t.id for t in await journal.trades(2)] == [c.id, b.id]
    assert [t.id for t in await journal.unfinished()] == [a.id, c.id]
    await journal.set_message(a.id, 70, 80)
    assert ((await journal.trade(a.id)).chat_id, (await journal.trade(a.id)).message_id) == (
        70, 80,
    )  # fmt: skip
    assert await journal.trade(999) is None


async def test_held_sums_the_fills_of_one_mode(db):
    journal = Journal(db)
    paper = await begin(journal, mode="paper")
    live = await begin(journal, mode="live")
    for trade, coins in ((paper, 1.5), (live, 9.0)):
        buy = await journal.intend(trade.id, "long", "alpha", "XUSDT", "buy", coins, 100.0)
        sell = await journal.intend(trade.id, "short", "beta", "X_USDT", "sell", coins, 100.0)
        await journal.answered(OrderOutcome(buy.client_id, "filled", coins, 100.0))
        await journal.answered(OrderOutcome(sell.client_id, "partial", coins / 3, 100.0))
    # an intent without an answer moved nothing
    await journal.intend(paper.id, "repair 1", "alpha", "XUSDT", "sell", 1.0, 99.0, True)
    close = await begin(journal, mode="paper", kind="close")
    back = await journal.intend(close.id, "short", "beta", "X_USDT", "buy", 0.5, 101.0, True)
    await journal.answered(OrderOutcome(back.client_id, "filled", 0.5, 100.0))
    assert await journal.held("paper") == {("X", "alpha", "XUSDT"): 1.5}
    assert await journal.held("live") == {
        ("X", "alpha", "XUSDT"): 9.0,
        ("X", "beta", "X_USDT"): -3.0,
    }


async def test_the_halt_survives_a_restart_until_it_is_cleared(tmp_path):
    path = str(tmp_path / "arb.sqlite3")
    db = await Database.open(path)
    journal = Journal(db, clock=lambda: 5.0)
    assert await journal.halt() is None
    await journal.set_halt("unhedged", "the trader")
    await journal.set_halt("checking", "ann")  # the newest reason stands
    await db.close()
    db = await Database.open(path)
    try:
        journal = Journal(db)
        halt = await journal.halt()
        assert (halt.reason, halt.by, halt.at) == ("checking", "ann", 5.0)
        await journal.clear_halt()
        assert await Journal(db).halt() is None
    finally:
        await db.close()


async def test_a_trade_survives_the_database_closed_mid_trade(tmp_path):
    path = str(tmp_path / "arb.sqlite3")
    db = await Database.open(path)
    journal = Journal(db)
    trade = await begin(journal)
    long = await journal.intend(trade.id, "long", "alpha", "XUSDT", "buy", 1.0, 100.5)
    await journal.answered(OrderOutcome(long.client_id, "filled", 1.0, 100.1, 0.05, "v1"))
    short = await journal.intend(trade.id, "short", "beta", "X_USDT", "sell", 1.0, 99.5)
    desk = await journal.desk_id()
    await db.close()  # killed: the short leg's answer never written
    db = await Database.open(path)
    try:
        journal = Journal(db)
        (left,) = await journal.unfinished()
        assert left.id == trade.id and left.state == "working"
        assert [o.intent for o in left.orders] == [long, short]
        assert left.orders[0].outcome.order_id == "v1" and left.orders[1].outcome is None
        # the next order of the same trade gets the next number, not one already used
        nxt = await journal.intend(trade.id, "repair 1", "alpha", "XUSDT", "sell", 1.0, 99.0)
        assert nxt.client_id.startswith(f"a{desk}") and nxt.client_id.endswith(f"{trade.id}n3")
    finally:
        await db.close()


async def test_a_database_restored_from_a_copy_never_reuses_a_client_id(tmp_path):
    """A backup restored after trades were sent starts its trade numbers again from the
    copy: the second in the id keeps the venues from seeing an id twice."""
    path, copy = tmp_path / "arb.sqlite3", tmp_path / "copy.sqlite3"
    db = await Database.open(str(path))
    journal = Journal(db, clock=lambda: 1_800_000_000.0)
    await journal.desk_id()
    await db.close()
    copy.write_bytes(path.read_bytes())  # the backup, before any trade
    sent = []
    for file, now in ((path, 1_800_000_000.0), (copy, 1_800_000_001.0)):
        db = await Database.open(str(file))
        journal = Journal(db, clock=lambda now=now: now)
        trade = await begin(journal)
        sent.append(await journal.intend(trade.id, "long", "alpha", "XUSDT", "buy", 1.0, 1.0))
        await db.close()
    first, again = sent
    assert first.client_id != again.client_id
    assert first.client_id.endswith("1n1") and again.client_id.endswith("1n1")
