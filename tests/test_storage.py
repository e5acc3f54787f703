"""SQLite storage: migrations, subscriptions, chat moves, alert state, deliveries."""

from __future__ import annotations

import pytest

from arb.alerts import AlertKey, AlertState
from storage.db import MIGRATIONS, Database
from storage.store import QueuedAlert, Store


@pytest.fixture
async def store(tmp_path):
    db = await Database.open(str(tmp_path / "arb.sqlite3"))
    yield Store(db, clock=lambda: 1000.0)
    await db.close()


async def test_schema_is_versioned_wal_and_enforces_foreign_keys(tmp_path):
    path = str(tmp_path / "x.sqlite3")
    db = await Database.open(path)
    assert await db.version() == len(MIGRATIONS)
    assert (await db.fetchall("PRAGMA journal_mode"))[0][0] == "wal"
    assert (await db.fetchall("PRAGMA foreign_keys"))[0][0] == 1
    with pytest.raises(Exception, match="FOREIGN KEY"):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO subscriptions (chat_id, threshold_8h, created_at) VALUES (9, 1, 0)"
            )
    await db.close()
    again = await Database.open(path)  # reopening applies nothing twice
    assert await again.version() == len(MIGRATIONS)
    await again.close()


async def test_a_failed_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        async with store.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chats (chat_id, created_at, updated_at) VALUES (5, 0, 0)"
            )
            raise RuntimeError("boom")
    assert await store.db.fetchall("SELECT * FROM chats") == []


async def test_subscribe_replaces_the_same_topic_and_assets(store):
    first, replaced = await store.subscribe(-100, "supergroup", "Desk", 7, 0.0005, frozenset(), 1)
    assert replaced is None
    second, replaced = await store.subscribe(-100, "supergroup", "Desk", 7, 0.001, frozenset(), 2)
    assert replaced == first
    btc, _ = await store.subscribe(-100, "supergroup", "Desk", 7, 0.002, frozenset({"BTC"}), 2)
    other_topic, _ = await store.subscribe(-100, "supergroup", "Desk", None, 0.0005, frozenset(), 2)
    subs = await store.subscriptions(-100)
    assert [s.id for s in subs] == [second.id, btc.id, other_topic.id]
    assert subs[1].assets == {"BTC"} and subs[1].threshold_8h == 0.002


async def test_unsubscribe_assets_or_all(store):
    await store.subscribe(1, "private", None, None, 0.0005, frozenset({"BTC", "ETH"}), 1)
    await store.subscribe(1, "private", None, None, 0.0005, frozenset(), 1)
    assert await store.unsubscribe(1, None, frozenset({"BTC"})) == 1
    subs = await store.subscriptions(1)
    assert sorted(s.assets for s in subs) == [frozenset(), frozenset({"ETH"})]
    assert await store.unsubscribe(1, None, frozenset({"DOGE"})) == 0
    assert await store.unsubscribe(1, None, None) == 2
    assert await store.subscriptions(1) == []


async def test_deactivated_chats_drop_out_of_the_alert_set(store):
    await store.subscribe(1, "private", None, None, 0.0005, frozenset(), 1)
    await store.subscribe(2, "private", None, None, 0.0005, frozenset(), 2)
    assert await store.deactivate_chat(1, "Forbidden: bot was blocked by the user") == 1
    assert [s.chat_id for s in await store.subscriptions()] == [2]
    # Subscribing again later reactivates the chat.
    await store.subscribe(1, "private", None, None, 0.001, frozenset(), 1)
    assert sorted(s.chat_id for s in await store.subscriptions()) == [1, 2]


async def test_migration_moves_subscriptions_and_state(store):
    await store.subscribe(-5, "group", "Desk", None, 0.0005, frozenset(), 1)
    key = AlertKey(-5, None, "BTC", "okx", "bybit")
    await store.save_states([AlertState(key, True, 0.001, 0.001, 900.0)])
    await store.migrate_chat(-5, -1005)
    assert [s.chat_id for s in await store.subscriptions()] == [-1005]
    (state,) = (await store.alert_states()).values()
    assert state.key.chat_id == -1005 and state.above and state.last_sent_at == 900.0


async def test_the_outbox_queues_marks_sending_and_commits_state_when_sent(store):
    await store.subscribe(3, "private", None, None, 0.0005, frozenset(), 1)
    key = AlertKey(3, None, "ETH", "hyperliquid", "okx")
    state = AlertState(key, True, 0.0007, 0.0007, 1000.0)
    sent_id, refused_id, open_id, left_id = await store.queue_alerts(
        [QueuedAlert(3, None, f"<b>alert {i}</b>", ("ETH",), (state,), 1000.0) for i in range(4)]
    )
    assert await store.alert_states() == {}  # nothing committed before it is sent
    await store.delivery_sending(sent_id, 3)
    await store.delivery_sent(sent_id, 42, [state])
    assert (await store.alert_states())[key] == state
    await store.delivery_failed(refused_id, "Bad Request: chat not found")
    await store.delivery_sending(left_id, 3)
    rows = {r["id"]: r for r in await store.deliveries(3)}
    assert (rows[sent_id]["status"], rows[sent_id]["message_id"]) == ("sent", 42)
    assert rows[sent_id]["text"] is None and rows[sent_id]["states"] is None  # not kept
    assert rows[refused_id]["status"] == "failed" and "chat not found" in rows[refused_id]["error"]
    reopened = await store.open_deliveries()
    assert [(d.id, d.status) for d in reopened] == [(open_id, "queued"), (left_id, "sending")]
    assert reopened[0].text == "<b>alert 2</b>" and reopened[0].assets == ("ETH",)
    assert reopened[0].states == (state,)


async def test_prune_drops_old_records_but_never_open_deliveries(tmp_path):
    now = [1000.0]
    db = await Database.open(str(tmp_path / "p.sqlite3"))
    store = Store(db, clock=lambda: now[0])
    try:
        await store.subscribe(1, "private", None, None, 0.0005, frozenset(), 1)
        await store.subscribe(2, "private", None, None, 0.0005, frozenset(), 1)
        await store.unsubscribe(2, None, None)  # ended at t=1000
        live, idle, gone = (
            AlertKey(c, None, a, "x", "y") for c, a in ((1, "A"), (1, "B"), (2, "C"))
        )
        await store.save_states([
            AlertState(live, True, 0.001, 0.001, 900.0),
            AlertState(idle, False, 0.0001, 0.001, 900.0),
            AlertState(gone, True, 0.001, 0.001, 900.0),
        ])  # fmt: skip
        old_sent, old_open = await store.queue_alerts(
            [QueuedAlert(1, None, "x", (), (), 1000.0) for _ in range(2)]
        )
        await store.delivery_sent(old_sent, 7, [])
        now[0] = 1000.0 + 40 * 86_400
        (new_sent,) = await store.queue_alerts([QueuedAlert(1, None, "y", (), (), now[0])])
        counts = await store.prune(before=now[0] - 30 * 86_400)
        assert counts["deliveries"] == 1 and counts["subscriptions"] == 1
        assert counts["alert_state"] == 2  # idle and below; and the unsubscribed chat's
        assert set(await store.alert_states()) == {live}  # above: still holds its crossing
        assert [d["id"] for d in await store.deliveries()] == [old_open, new_sent]
        assert [s.chat_id for s in await store.subscriptions()] == [1]
    finally:
        await db.close()


async def test_a_v3_database_upgrades_and_its_sending_rows_become_unknown(tmp_path):
    import aiosqlite

    path = str(tmp_path / "v3.sqlite3")
    async with aiosqlite.connect(path) as conn:
        for script in MIGRATIONS[:3]:
            await conn.executescript(script)
        await conn.execute(
            "INSERT INTO deliveries (chat_id, created_at, status, alerts)"
            " VALUES (1, 0, 'sending', 2)"
        )
        await conn.execute("PRAGMA user_version = 3")
        await conn.commit()
    db = await Database.open(path)
    try:
        (row,) = await Store(db).deliveries()
        assert row["status"] == "unknown" and row["alerts"] == 2
        assert await Store(db).open_deliveries() == []
    finally:
        await db.close()
