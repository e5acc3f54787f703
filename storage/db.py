"""The SQLite database: one aiosqlite connection, WAL, foreign keys, versioned migrations.

Every write goes through `transaction()`: BEGIN IMMEDIATE ... COMMIT under one
lock, so a write is either whole or absent, and a commit that returned is on
disk (synchronous=FULL) before the bot tells anyone it happened.

`Database.open` raises `StorageError` (the path and a one-line cause) for anything
that keeps the database from being used; `storage_cause` says the same of any
error a later read or write raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import sqlite3
import stat
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from storage.health import StorageHealth

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
    # 4: the alert outbox (queued -> sending -> sent | failed | unknown, with the text and
    # the states to commit), and a key-value table for the storage health probe.
    # Rows a v3 build left "sending" carry no text to resend: they become "unknown".
    """
    CREATE TABLE deliveries_v4 (
        id          INTEGER PRIMARY KEY,
        chat_id     INTEGER NOT NULL,
        thread_id   INTEGER,
        created_at  REAL NOT NULL,
        status      TEXT NOT NULL
                    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
        attempts    INTEGER NOT NULL DEFAULT 0,
        message_id  INTEGER,
        error       TEXT,
        alerts      INTEGER NOT NULL,
        finished_at REAL,
        text        TEXT,
        assets      TEXT,
        states      TEXT
    );
    INSERT INTO deliveries_v4 (id, chat_id, thread_id, created_at, status, attempts,
                               message_id, error, alerts, finished_at)
        SELECT id, chat_id, thread_id, created_at,
               CASE status WHEN 'sending' THEN 'unknown' ELSE status END,
               attempts, message_id, error, alerts, finished_at
        FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v4 RENAME TO deliveries;
    CREATE INDEX deliveries_chat ON deliveries (chat_id, created_at);
    CREATE INDEX deliveries_open ON deliveries (status) WHERE status IN ('queued', 'sending');
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 5: the risk watch's state, one row per condition (arb.risk_alerts.RiskKey), written
    # with the risk alerts it queues in the deliveries outbox
    """
    CREATE TABLE risk_state (
        kind          TEXT NOT NULL,
        scope         TEXT NOT NULL,
        active        INTEGER NOT NULL,
        since         REAL NOT NULL,
        value         REAL,
        last_sent_at  REAL,
        updated_at    REAL NOT NULL,
        PRIMARY KEY (kind, scope)
    ) WITHOUT ROWID;
    """,
    # 6: the trading journal (storage.journal): each trade, and each order written before
    # it is sent and after every answer
    """
    CREATE TABLE trades (
        id            INTEGER PRIMARY KEY,
        kind          TEXT NOT NULL CHECK (kind IN ('open', 'close')),
        mode          TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
        asset         TEXT NOT NULL,
        long_venue    TEXT NOT NULL,
        long_symbol   TEXT NOT NULL,
        short_venue   TEXT NOT NULL,
        short_symbol  TEXT NOT NULL,
        coins         REAL NOT NULL,
        notional_usd  REAL NOT NULL,
        start_net     REAL NOT NULL,
        state         TEXT NOT NULL,
        note          TEXT,
        chat_id       INTEGER,
        message_id    INTEGER,
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL
    );
    CREATE INDEX trades_working ON trades (state) WHERE state = 'working';
    CREATE TABLE orders (
        client_id     TEXT PRIMARY KEY,
        trade_id      INTEGER NOT NULL REFERENCES trades (id),
        seq           INTEGER NOT NULL,
        step          TEXT NOT NULL,
        venue         TEXT NOT NULL,
        symbol        TEXT NOT NULL,
        side          TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        coins         REAL NOT NULL,
        price_cap     REAL NOT NULL,
        reduce_only   INTEGER NOT NULL,
        status        TEXT,
        filled_coins  REAL,
        avg_price     REAL,
        fee_usd       REAL,
        order_id      TEXT,
        reason        TEXT,
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL,
        UNIQUE (trade_id, seq)
    );
    """,
]


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self.health = StorageHealth()

    @classmethod
    async def open(cls, path: str, *, migrate: bool = True) -> Database:
        """Open the database at `path`, creating and migrating it as needed (`migrate`
        False: an older schema is left as it is, as `arb-bot doctor` looks at it).

        Whatever keeps it from being used (a bad path, not a database, damaged, read-only,
        disk full, written by a newer build) raises StorageError, and the connection opened
        on the way is closed first: aiosqlite's worker thread is not a daemon, and one left
        running keeps the process from ever exiting.
        """
        try:
            if path != ":memory:":
                _check_path(path)
            conn = await aiosqlite.connect(path, isolation_level=None)  # we BEGIN ourselves
        except (OSError, sqlite3.Error) as e:
            raise StorageError(path, storage_cause(e, path)) from e
        conn.row_factory = aiosqlite.Row
        db = cls(conn, path)
        try:
            await db._prepare(migrate)
        except BaseException as e:
            with contextlib.suppress(Exception):
                await conn.close()  # stops the worker thread even when the close fails
            if isinstance(e, OSError | sqlite3.Error):
                raise StorageError(path, storage_cause(e, path)) from e
            raise
        _opened.add(db)
        return db

    async def _prepare(self, migrate: bool = True) -> None:
        for pragma in ("PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"):
            await self.conn.execute(pragma)
        # The first read of the file. SQLite checks its header here: garbage fails as "not a
        # database", and so does a file shorter than the page count its header records (a
        # truncated copy: "malformed"), at no cost however big the database.
        found = await self.version()
        if found > len(MIGRATIONS):
            raise StorageError(
                self.path,
                f"written by a newer arb-bot (schema version {found}; this build knows "
                f"{len(MIGRATIONS)}): refusing to open it",
            )
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"):
            await self.conn.execute(pragma)
        if migrate:
            await self.migrate()
        await self._quick_check()
        await self._check_writable()

    async def _quick_check(self) -> None:
        """PRAGMA quick_check of every table but those that grow with time.

        A whole quick_check reads every page: some 70 ms with the file in the page cache,
        0.5 s from disk, for a month of funding history (660,000 rows, 44 MB), and
        ARB_HISTORY_DAYS may keep years. The tables checked hold the chats, subscriptions,
        alert state and deliveries: well under a millisecond.
        """
        async with self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ) as cur:
            tables = [name for (name,) in await cur.fetchall() if name not in GROWING_TABLES]
        for table in tables:
            async with self.conn.execute(f"PRAGMA quick_check('{table}')") as cur:
                found = [line for (line,) in await cur.fetchall()]
            if found != ["ok"]:
                first = found[0].removeprefix("*** in database main ***") if found else "?"
                cause = f"database file is damaged (malformed: {_one_line(first)})"
                raise StorageError(self.path, cause)

    async def _check_writable(self) -> None:
        """A read-only file opens and reads fine, and fails at the first write: make one
        (the schema version, unchanged) and undo it."""
        version = await self.version()
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            await self.conn.execute(f"PRAGMA user_version = {version}")
        finally:
            if self.conn.in_transaction:
                await self.conn.execute("ROLLBACK")

    async def close(self) -> None:
        await self.conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, whole or absent. A failure marks storage failing
        (with its cause); a commit marks it working again."""
        async with self._lock:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                    await self.conn.execute("COMMIT")
                except BaseException:
                    # SQLite has already rolled back after some errors (disk full, I/O):
                    # a second ROLLBACK would fail and hide the error that matters.
                    if self.conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            await self.conn.execute("ROLLBACK")
                    raise
            except STORAGE_ERRORS as e:
                if is_storage_fault(e):
                    self.health.failed(storage_cause(e, self.path))
                raise
            self.health.wrote()

    async def fetchall(self, sql: str, params: tuple = ()) -> list[aiosqlite.Row]:
        try:
            async with self._lock, self.conn.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except STORAGE_ERRORS as e:
            if is_storage_fault(e):
                self.health.failed(storage_cause(e, self.path))
            raise

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


# --- what is wrong with the storage, in one line -------------------------------------------


class StorageError(Exception):
    """The database at `path` cannot be used; `cause` says why, in one line."""

    def __init__(self, path: str, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause


STORAGE_ERRORS = (sqlite3.Error, StorageError)  # what a failing database raises


def is_storage_fault(exc: BaseException) -> bool:
    """A fault of the database itself (file, disk, lock), not of the statement or its data
    (a constraint, a programming error), which says nothing about the storage's health."""
    return not isinstance(
        exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError
    )


# Left out of the start-up quick_check: they grow with time (see Database._quick_check).
GROWING_TABLES = frozenset({"funding_history", "llm_calls"})

NOT_A_DATABASE = "not a SQLite database (damaged or another kind of file)"
_MAGIC = b"SQLite format 3\x00"
_SMALLEST_PAGE = 512  # a database file is empty or at least one page long
# An error made by hand (a fake, a test) has no sqlite_errorcode: SQLite's message tells it.
_CODES_BY_MESSAGE = {
    "file is not a database": sqlite3.SQLITE_NOTADB,
    "database disk image is malformed": sqlite3.SQLITE_CORRUPT,
    "attempt to write a readonly database": sqlite3.SQLITE_READONLY,
    "database or disk is full": sqlite3.SQLITE_FULL,
    "disk I/O error": sqlite3.SQLITE_IOERR,
    "unable to open database file": sqlite3.SQLITE_CANTOPEN,
    "database is locked": sqlite3.SQLITE_BUSY,
    "database table is locked": sqlite3.SQLITE_LOCKED,
    "out of memory": sqlite3.SQLITE_NOMEM,
}
# I/O errors of a write. SQLite says "full" only for ENOSPC: a write past `ulimit -f`
# (EFBIG), or a full disk met while growing the -shm file, is an I/O error.
_WRITE_IOERRS = frozenset({
    sqlite3.SQLITE_IOERR, sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_FSYNC,
    sqlite3.SQLITE_IOERR_DIR_FSYNC, sqlite3.SQLITE_IOERR_TRUNCATE, sqlite3.SQLITE_IOERR_SHMSIZE,
    sqlite3.SQLITE_IOERR_SHMMAP,
})  # fmt: skip


def storage_cause(exc: BaseException, path: str | None = None) -> str:
    """What is wrong with the database, in one short line a person can act on.

    `exc` is what an operation on it raised: a StorageError, an sqlite3 error (from
    opening it, or from any later read or write: "database or disk is full", "attempt to
    write a readonly database", "disk I/O error", "database disk image is malformed"...)
    or an OSError. With the database's `path`, the file is looked at for a closer cause.
    """
    if isinstance(exc, StorageError):
        return exc.cause
    if isinstance(exc, OSError):
        return _os_cause(exc, path)
    if not isinstance(exc, sqlite3.Error):
        return _one_line(f"{type(exc).__name__}: {exc}")
    if str(exc).startswith("cannot rollback") and isinstance(exc.__context__, sqlite3.Error):
        # A ROLLBACK after an error SQLite had already rolled back (disk full, I/O error)
        # fails too, and hides the error that matters.
        return storage_cause(exc.__context__, path)
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        code = next((c for text, c in _CODES_BY_MESSAGE.items() if text in str(exc)), -1)
    primary = code & 0xFF
    where = path or "the database file"
    if primary == sqlite3.SQLITE_NOTADB:
        return NOT_A_DATABASE
    if primary == sqlite3.SQLITE_CORRUPT:
        return f"database file is damaged ({(path and _truncation(path)) or _one_line(str(exc))})"
    if primary == sqlite3.SQLITE_READONLY:
        if code == sqlite3.SQLITE_READONLY_DIRECTORY and path:
            p = Path(path)
            return (
                f"read-only: cannot create files in its directory {p.parent} "
                f"(SQLite keeps {p.name}-wal and {p.name}-shm beside it)"
            )
        return f"read-only: cannot write {where} or its directory"
    if primary == sqlite3.SQLITE_FULL or (code in _WRITE_IOERRS and _space_limit(path)):
        return _full(path)
    if primary == sqlite3.SQLITE_IOERR:
        name = getattr(exc, "sqlite_errorname", "SQLITE_IOERR")
        return f"disk I/O error ({name}): check the disk and its free space"
    if primary == sqlite3.SQLITE_CANTOPEN:
        return (path and _path_cause(path)) or f"cannot open {where}"
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return "locked by another process (is another arb-bot using it?)"
    if primary == sqlite3.SQLITE_NOMEM:
        return "out of memory"
    return _one_line(f"SQLite error: {exc}")


def _os_cause(exc: OSError, path: str | None) -> str:
    found = path and _path_cause(path)
    if found:
        return found
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return _full(path)
    if exc.errno == errno.EROFS:
        return f"read-only: {exc.filename or path} is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission: cannot create or open {exc.filename or path}"
    return _one_line(f"{exc.strerror or exc} ({exc.filename or path})")


def _path_cause(path: str) -> str | None:
    """A path SQLite cannot use for what it is, not for what is in the file."""
    try:
        return _path_problem(Path(path))
    except OSError:  # a folder on the way that cannot even be looked into
        return None


def _path_problem(p: Path) -> str | None:
    if p.is_dir():
        return "is a directory"
    folder = next((f for f in p.parents if f.exists()), None)  # the nearest that exists
    if folder is not None and not folder.is_dir():
        return f"its folder {folder} is a file"
    if not p.exists():
        if folder is not None and not os.access(folder, os.W_OK | os.X_OK):
            made = p.name if folder == p.parent else f"its directory {p.parent}"
            return f"read-only: cannot create {made} in {folder}"
        return None
    if not os.access(p, os.R_OK | os.W_OK):
        return f"no permission to read and write it (mode {stat.filemode(p.stat().st_mode)})"
    return None


def _full(path: str | None) -> str:
    limit = _space_limit(path)
    return "disk full or file size limit reached" + (f" ({limit})" if limit else "")


def _space_limit(path: str | None) -> str | None:
    """The limit a write may have hit: `ulimit -f`, or a (nearly) full disk."""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        return f"ulimit -f allows {soft:,} bytes a file"
    if path and path != ":memory:":
        with contextlib.suppress(OSError):
            fs = os.statvfs(Path(path).parent)
            free = fs.f_bavail * fs.f_frsize
            if free < 4 << 20:
                return f"{free // 1024:,} KB free"
    return None


def _truncation(path: str) -> str | None:
    """'truncated ...' if the file is shorter than its header says, or than any database."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return None
    if not head or not _MAGIC.startswith(head[:16]):
        return None  # not the start of a database: nothing says how long it should be
    if size < 100:
        return f"truncated to {size} bytes"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # The page count is valid only if the change counter matches "version-valid-for".
    expected = pages * page_size if head[24:28] == head[92:96] else 0
    if size < expected:
        return f"truncated: {size:,} of {expected:,} bytes"
    if size < max(page_size, _SMALLEST_PAGE):
        return f"truncated to {size:,} bytes"
    return None


def _check_path(path: str) -> None:
    """What SQLite would not say clearly: a folder that cannot be made, and a file too
    short to be a database (SQLite takes one of a few bytes for a new, empty database).
    Then a file SQLite cannot open at all fails here, in this thread: when aiosqlite's
    connect fails, its worker thread stops without being waited for, and may then call
    into an event loop already closed (a traceback on stderr as the process exits)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode) and 0 < st.st_size < _SMALLEST_PAGE:
            found = _truncation(path)
            cause = f"database file is damaged ({found})" if found else NOT_A_DATABASE
            raise StorageError(path, cause)
    sqlite3.connect(path).close()  # opens the file, reads nothing


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_opened: weakref.WeakSet[Database] = weakref.WeakSet()


async def close_all() -> None:
    """Close every Database opened and still open (closing twice is harmless).

    For the end of a process: a failure that skipped a close() leaves aiosqlite's worker
    thread running, and that thread is no daemon: the interpreter would wait for it forever.
    """
    for db in list(_opened):
        with contextlib.suppress(Exception):
            await db.conn.close()
