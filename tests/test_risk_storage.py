"""The risk watch's storage: its state table, queued messages written with the state in one
transaction, and the daily prune of idle state."""

from __future__ import annotations

import sqlite3

import pytest

from arb import risk_alerts
from arb.models import RiskKey, RiskState
from storage.db import MIGRATIONS, Database
from storage.store import QueuedAlert, Store

NOW = 1000.0
WARN = RiskKey("liq_warn", "APE bybit APEUSDT short")
LEG = RiskKey("leg", "APE bybit APEUSDT short")
DOWN = RiskKey("unreadable", "okx")


@pytest.fixture
async def store(tmp_path):
    db = await Database.open(str(tmp_path / "arb.sqlite3"))
    yield Store(db, clock=lambda: NOW)
    await db.close()


def message(chat_id: int, text: str = "🔴 <b>Risk · critical</b>") -> QueuedAlert:
    return QueuedAlert(chat_id, None, text, (), (), NOW)


def test_the_watch_and_storage_share_one_key_type():
    # storage reads and writes only arb.models; arb.risk_alerts plans with the same types
    assert risk_alerts.RiskKey is RiskKey and risk_alerts.RiskState is RiskState


async def test_a_version_4_database_gains_the_risk_table_and_keeps_its_outbox(tmp_path):
    path = str(tmp_path / "v4.sqlite3")
    with sqlite3.connect(path) as conn:
        for script in MIGRATIONS[:4]:
            conn.executescript(script)
        conn.execute(
            "INSERT INTO deliveries (chat_id, created_at, status, alerts, text, states)"
            " VALUES (5, 1.0, 'queued', 1, 'hi', '[]')"
        )
        conn.execute("PRAGMA user_version = 4")
    conn.close()
    db = await Database.open(path)
    try:
        assert await db.version() == len(MIGRATIONS) >= 5
        s = Store(db)
        assert await s.risk_states() == {}
        assert [(d.chat_id, d.text) for d in await s.open_deliveries()] == [(5, "hi")]
    finally:
        await db.close()


async def test_queue_risk_writes_the_messages_and_the_states_together(store):
    states = [
        RiskState(WARN, True, 900.0, 12.5, NOW),
        RiskState(LEG, True, 800.0, 10_000.0, None),
        RiskState(DOWN, False, 950.0, None, None),
    ]
    ids = await store.queue_risk([message(5), message(-100777)], states)
    assert len(ids) == 2 and ids == sorted(ids)
    assert await store.risk_states() == {s.key: s for s in states}
    rows = await store.open_deliveries()
    assert [(r.id, r.chat_id, r.status, r.states, r.assets) for r in rows] == [
        (ids[0], 5, "queued", (), ()),
        (ids[1], -100777, "queued", (), ()),
    ]
    (count,) = await store.db.fetchall("SELECT alerts FROM deliveries WHERE id = ?", (ids[0],))
    assert count[0] == 1  # a risk message is one alert

    later = RiskState(WARN, False, 990.0, 20.0, NOW)  # re-armed: upserted, not added
    assert await store.queue_risk([], [later]) == []
    assert (await store.risk_states())[WARN] == later
    assert len(await store.risk_states()) == 3


async def test_a_failure_inside_the_transaction_leaves_neither_messages_nor_states(store):
    await store.queue_risk([], [RiskState(WARN, False, 100.0, 30.0, None)])
    before = await store.risk_states()
    broken = RiskState(DOWN, True, None, None, None)  # type: ignore[arg-type]  # since NOT NULL
    good = RiskState(WARN, True, 900.0, 12.5, NOW)
    with pytest.raises(sqlite3.IntegrityError):
        await store.queue_risk([message(5), message(6)], [good, broken])
    assert await store.open_deliveries() == []
    assert await store.db.fetchall("SELECT * FROM deliveries") == []
    assert await store.risk_states() == before


async def test_storage_refusing_writes_queues_nothing(store):
    await store.db.conn.execute("PRAGMA query_only = ON")
    with pytest.raises(sqlite3.OperationalError):
        await store.queue_risk([message(5)], [RiskState(WARN, True, 900.0, 12.5, NOW)])
    assert store.db.health.failing
    await store.db.conn.execute("PRAGMA query_only = OFF")
    assert await store.open_deliveries() == [] and await store.risk_states() == {}


async def test_prune_drops_idle_risk_state_and_keeps_what_still_holds(tmp_path):
    db = await Database.open(str(tmp_path / "p.sqlite3"))
    clock = [NOW]
    s = Store(db, clock=lambda: clock[0])
    try:
        old_idle = RiskState(WARN, False, 10.0, 30.0, 5.0)  # re-armed long ago
        old_open = RiskState(LEG, True, 10.0, 10_000.0, None)  # an open leg, unchanged
        await s.queue_risk([], [old_idle, old_open])
        clock[0] = NOW + 10 * 86_400
        recent_idle = RiskState(DOWN, False, clock[0], None, None)
        await s.queue_risk([], [recent_idle])
        counts = await s.prune(before=clock[0] - 86_400)
        assert counts["risk_state"] == 1
        assert set(await s.risk_states()) == {LEG, DOWN}
    finally:
        await db.close()
