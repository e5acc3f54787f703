"""SQLite storage: migrations, subscriptions, chat moves, alert state, deliveries."""

from __future__ import annotations

import pytest

from arb.alerts import AlertKey, AlertState
from storage.db import MIGRATIONS, Database
from storage.store import Store


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


async def test_state_and_delivery_round_trip(store):
    await store.subscribe(3, "private", None, None, 0.0005, frozenset(), 1)
    key = AlertKey(3, None, "ETH", "hyperliquid", "okx")
    delivery = await store.delivery_started(3, None, 1)
    await store.delivery_sent(delivery, 42, 1, [AlertState(key, True, 0.0007, 0.0007, 1000.0)])
    assert (await store.alert_states())[key].last_sent_spread == 0.0007
    (row,) = await store.deliveries(3)
    assert (row["status"], row["message_id"], row["alerts"]) == ("sent", 42, 1)
    failed = await store.delivery_started(3, None, 2)
    await store.delivery_failed(failed, 3, "Bad Gateway")
    assert (await store.deliveries(3))[1]["status"] == "failed"
