"""The SQLite database: one aiosqlite connection, WAL, foreign keys, versioned migrations.

Every write goes through `transaction()`: BEGIN IMMEDIATE ... COMMIT under one
lock, so a write is either whole or absent, and a commit that returned is on
disk (synchronous=FULL) before the bot tells anyone it happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS: list[str] = [
    # 1: chats, subscriptions, alert state, delivery log
    """
    CREATE TABLE chats (
        chat_id      INTEGER PRIMARY KEY,
        type         TEXT NOT NULL DEFAULT 'private',
        title        TEXT,
        active       INTEGER NOT NULL DEFAULT 1,
        migrated_to  INTEGER,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL
    );
    CREATE TABLE subscriptions (
        id                 INTEGER PRIMARY KEY,
        chat_id            INTEGER NOT NULL REFERENCES chats(chat_id) ON UPDATE CASCADE,
        thread_id          INTEGER,
        threshold_8h       REAL NOT NULL CHECK (threshold_8h > 0),
        assets             TEXT NOT NULL DEFAULT '',
        created_by         INTEGER,
        created_at         REAL NOT NULL,
        active             INTEGER NOT NULL DEFAULT 1,
        ended_at           REAL,
        ended_reason       TEXT
    );
    CREATE UNIQUE INDEX subscriptions_one_active
        ON subscriptions (chat_id, IFNULL(thread_id, 0), assets) WHERE active = 1;
    CREATE INDEX subscriptions_active ON subscriptions (active, chat_id);
    CREATE TABLE alert_state (
        chat_id           INTEGER NOT NULL REFERENCES chats(chat_id) ON UPDATE CASCADE,
        thread_id         INTEGER NOT NULL DEFAULT 0,
        asset             TEXT NOT NULL,
        long_venue        TEXT NOT NULL,
        short_venue       TEXT NOT NULL,
        above             INTEGER NOT NULL,
        last_spread       REAL NOT NULL,
        last_sent_spread  REAL,
        last_sent_at      REAL,
        updated_at        REAL NOT NULL,
        PRIMARY KEY (chat_id, thread_id, asset, long_venue, short_venue)
    );
    CREATE TABLE deliveries (
        id          INTEGER PRIMARY KEY,
        chat_id     INTEGER NOT NULL,
        thread_id   INTEGER,
        created_at  REAL NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
        attempts    INTEGER NOT NULL DEFAULT 0,
        message_id  INTEGER,
        error       TEXT,
        alerts      INTEGER NOT NULL,
        finished_at REAL
    );
    CREATE INDEX deliveries_chat ON deliveries (chat_id, created_at);
    """,
    # 2: one row per request to the LLM, for /usage
    """
    CREATE TABLE llm_calls (
        id                 INTEGER PRIMARY KEY,
        at                 REAL NOT NULL,
        chat_id            INTEGER,
        asset              TEXT NOT NULL,
        model              TEXT NOT NULL,
        outcome            TEXT NOT NULL,
        prompt_tokens      INTEGER NOT NULL DEFAULT 0,
        completion_tokens  INTEGER NOT NULL DEFAULT 0,
        cost_usd           REAL NOT NULL DEFAULT 0,
        latency_s          REAL NOT NULL
    );
    CREATE INDEX llm_calls_at ON llm_calls (at);
    """,
    # 3: funding history, one compact row per asset, venue and second
    """
    CREATE TABLE funding_history (
        asset       TEXT NOT NULL,
        venue       TEXT NOT NULL,
        at          INTEGER NOT NULL,
        hourly      REAL NOT NULL,
        interval_h  REAL NOT NULL,
        source      INTEGER NOT NULL,
        PRIMARY KEY (asset, venue, at)
    ) WITHOUT ROWID;
    CREATE INDEX funding_history_at ON funding_history (at);
    """,
]


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> Database:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)  # we BEGIN ourselves
        conn.row_factory = aiosqlite.Row
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=5000",
        ):
            await conn.execute(pragma)
        db = cls(conn, path)
        await db.migrate()
        return db

    async def close(self) -> None:
        await self.conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def fetchall(self, sql: str, params: tuple = ()) -> list[aiosqlite.Row]:
        async with self._lock, self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        """Apply the migrations this database has not seen, each in its own transaction."""
        current = await self.version()
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            async with self.transaction() as conn:
                for statement in _statements(script):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {number}")
            log.info("database %s migrated to version %d", self.path, number)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
