"""A database `arb-bot run` cannot use: it exits by itself, at once, with status 3 and one
line `ARB_DB=<path>: <cause>`, and no traceback. Not a database, truncated, read-only file,
read-only folder, a path through a file, a directory, a file size limit, a newer schema.
Opening never leaves aiosqlite's worker thread (not a daemon) running.

As root, file modes do not bind, so the read-only cases run the bot without the two
capabilities that let root ignore them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH). The bot
stays uid 0: the venv's interpreter lives under /root/.pyenv here (/root is 0700), which
uid 65534 could not even execute.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import hashlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import bot.launch
from arb.settings import parse_settings
from storage.db import MIGRATIONS, NOT_A_DATABASE, Database, StorageError, storage_cause
from tests.bot_harness import bot_env
from tests.conftest import clean_environ
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venues import FakeVenues
from tests.test_bot_process import start_bot

EXIT_WITHIN_S = 20


@dataclass
class Exit:
    status: int | None
    output: str  # stdout and stderr
    seconds: float  # from start to exit
    telegram_calls: int


async def run_bot(db: Path, cwd: Path, **popen: Any) -> Exit:
    async with FakeVenues() as venues, FakeTelegram() as tg:
        env = clean_environ(**bot_env(tg, venues), ARB_DB=str(db))
        started = time.monotonic()
        proc = await start_bot(env, cwd, **popen)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), EXIT_WITHIN_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            pytest.fail(f"arb-bot run did not exit by itself within {EXIT_WITHIN_S} s")
        seconds = time.monotonic() - started
        calls = len(tg.calls)
    return Exit(proc.returncode, (out + err).decode(errors="replace"), seconds, calls)


def assert_refused(result: Exit, db: Path, *cause: str) -> str:
    """Status 3, one line naming ARB_DB and the cause, no traceback; the line."""
    text = result.output
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if "ARB_DB" in line]
    assert len(lines) == 1, text
    (line,) = lines
    assert f" ERROR bot.app: ARB_DB={db}: " in line, line
    for words in cause:
        assert words in line, line
    assert result.status == 3, text
    assert result.telegram_calls == 0  # it stopped before asking Telegram anything
    print(f"exited in {result.seconds:.2f} s: {line.split(' ERROR ', 1)[1]}")
    return line


async def make_database(path: Path, history_rows: int = 0) -> None:
    """A migrated database, closed (so checkpointed: no -wal file beside it)."""
    db = await Database.open(str(path))
    try:
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO funding_history (asset, venue, at, hourly, interval_h, source)"
                " VALUES (?, ?, ?, ?, ?, 0)",
                [(f"A{i % 50}", "okx", i, 1e-5, 8.0) for i in range(history_rows)],
            )
    finally:
        await db.close()


# --- as root, run the bot without the capabilities that bypass file modes -----------------

_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before fork: only called after it
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop_mode_overrides() -> None:
    """preexec_fn: out of the bounding set, so the program exec'd never has them."""
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if _LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture(scope="module")
def modes_bind(tmp_path_factory) -> dict[str, Any]:
    """Arguments for start_bot under which a 0444 file or a 0555 folder is read-only."""
    if os.geteuid() != 0:
        return {}
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root: file modes bind root only on Linux, without capabilities")
    probe = tmp_path_factory.mktemp("probe") / "read-only"
    probe.write_text("")
    probe.chmod(0o444)
    code = f"open({str(probe)!r}, 'a')"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], preexec_fn=_drop_mode_overrides,
            capture_output=True, timeout=EXIT_WITHIN_S,
        )  # fmt: skip
    except subprocess.SubprocessError as e:
        pytest.skip(f"running as root, and cannot drop CAP_DAC_OVERRIDE so modes bind: {e}")
    if done.returncode == 0:
        pytest.skip("running as root, and a 0444 file stays writable without CAP_DAC_OVERRIDE")
    return {"preexec_fn": _drop_mode_overrides}


def _file_size_limit(limit: int) -> Callable[[], None]:
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]

    def preexec() -> None:
        # As Python itself does, so a write past the limit fails (EFBIG), not kills.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))

    return preexec


# --- the bot as a process ----------------------------------------------------------------


async def test_garbage_is_not_a_database(tmp_path):
    db = tmp_path / "arb.sqlite3"
    db.write_bytes(b"these are not the bytes of a database\n" * 200)
    assert_refused(await run_bot(db, tmp_path), db, NOT_A_DATABASE)


async def test_a_truncated_database_is_damaged(tmp_path):
    db = tmp_path / "arb.sqlite3"
    await make_database(db, history_rows=5000)
    size = db.stat().st_size
    assert size > 40 * 4096 and not Path(f"{db}-wal").exists()
    os.truncate(db, size // 2)
    line = assert_refused(await run_bot(db, tmp_path), db, "database file is damaged")
    assert f"truncated: {size // 2:,} of {size:,} bytes" in line


async def test_a_read_only_file(tmp_path, modes_bind):
    db = tmp_path / "arb.sqlite3"
    await make_database(db)
    before = db.read_bytes()
    db.chmod(0o444)
    result = await run_bot(db, tmp_path, **modes_bind)
    assert_refused(result, db, f"read-only: cannot write {db} or its directory")
    assert db.read_bytes() == before


async def test_a_read_only_folder(tmp_path, modes_bind):
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "arb.sqlite3"
    await make_database(db)  # WAL: SQLite needs arb.sqlite3-wal and -shm beside it
    folder.chmod(0o555)
    try:
        result = await run_bot(db, tmp_path, **modes_bind)
    finally:
        folder.chmod(0o755)
    assert_refused(result, db, f"read-only: cannot create files in its directory {folder} ")


async def test_a_path_through_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    db = tmp_path / "notes.txt" / "arb.sqlite3"
    assert_refused(await run_bot(db, tmp_path), db, f"its folder {tmp_path}/notes.txt is a file")


async def test_a_directory(tmp_path):
    db = tmp_path / "arb.sqlite3"
    db.mkdir()
    assert_refused(await run_bot(db, tmp_path), db, "is a directory")


async def test_a_file_size_limit_as_a_full_disk(tmp_path):
    """`ulimit -f`: a write past it fails with EFBIG, which SQLite reports as an I/O error
    (a full disk's ENOSPC is "database or disk is full"): the migrations cannot be written."""
    db = tmp_path / "arb.sqlite3"
    result = await run_bot(db, tmp_path, preexec_fn=_file_size_limit(40_000))
    assert_refused(
        result, db, "disk full or file size limit reached (ulimit -f allows 40,000 bytes a file)"
    )


async def test_a_newer_schema_is_refused_and_left_alone(tmp_path):
    db = tmp_path / "arb.sqlite3"
    await make_database(db)
    newer = len(MIGRATIONS) + 4
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {newer}")
    conn.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    result = await run_bot(db, tmp_path)
    assert_refused(
        result, db,
        f"written by a newer arb-bot (schema version {newer}; this build knows "
        f"{len(MIGRATIONS)}): refusing to open it",
    )  # fmt: skip
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


# --- in the process ----------------------------------------------------------------------


def _worker_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()}


def assert_no_thread_left(before: set[threading.Thread]) -> None:
    for thread in _worker_threads() - before:
        thread.join(timeout=5)
        assert not thread.is_alive(), f"{thread.name} still running"


async def test_a_failed_open_closes_its_connection(tmp_path):
    before = _worker_threads()
    garbage = tmp_path / "x.sqlite3"
    garbage.write_bytes(b"\x00garbage" * 1000)
    newer = tmp_path / "newer.sqlite3"
    await make_database(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    for path, cause in (
        (garbage, NOT_A_DATABASE),
        (newer, f"schema version 99; this build knows {len(MIGRATIONS)}"),
        (tmp_path, "is a directory"),
    ):
        with pytest.raises(StorageError) as raised:
            await Database.open(str(path))
        assert raised.value.path == str(path) and cause in raised.value.cause
        assert str(raised.value) == f"{path}: {raised.value.cause}"
    assert_no_thread_left(before)


async def test_quick_check_finds_a_damaged_chats_table_at_open(tmp_path):
    path = tmp_path / "arb.sqlite3"
    db = await Database.open(str(path))
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO chats (chat_id, created_at, updated_at) VALUES (?, 0, 0)",
            [(i,) for i in range(1, 11)],
        )
    await db.close()
    with sqlite3.connect(path) as conn:
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'chats'").fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(path, "r+b") as f:  # the first cell's rowid, 1, becomes 100: out of order
        f.seek((root - 1) * page_size)
        page = bytearray(f.read(page_size))
        assert page[0] == 13  # a table leaf: 8-byte header, then the cell pointers
        first = int.from_bytes(page[8:10], "big")  # payload size, rowid (one byte each)
        assert page[first + 1] == 1
        page[first + 1] = 100
        f.seek((root - 1) * page_size)
        f.write(page)
    with pytest.raises(StorageError) as raised:
        await Database.open(str(path))
    assert raised.value.cause == (
        f"database file is damaged (malformed: On tree page {root} cell 0: Rowid 100 out of order)"
    )


def test_run_closes_the_database_whatever_failed_after_it_opened(tmp_path, monkeypatch):
    """Not a storage failure: it propagates, but the process can still exit."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(bot.launch, "Market", broken)
    settings = parse_settings(
        {"TELEGRAM_BOT_TOKEN": "1:token", "ARB_DB": str(tmp_path / "a.sqlite3")}
    )
    before = _worker_threads()
    with pytest.raises(RuntimeError, match="boom"):
        bot.launch.run(settings)
    assert_no_thread_left(before)


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (sqlite3.OperationalError("database or disk is full"), "disk full or file size limit"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "read-only: "),
        (sqlite3.OperationalError("disk I/O error"), "disk I/O error"),
        (sqlite3.DatabaseError("database disk image is malformed"), "database file is damaged"),
        (sqlite3.DatabaseError("file is not a database"), NOT_A_DATABASE),
        (sqlite3.OperationalError("database is locked"), "locked by another process"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk full or file size limit"),
        (StorageError("x.db", "its folder x is a file"), "its folder x is a file"),
    ],
)
def test_storage_cause_names_what_a_write_met(error, cause):
    said = storage_cause(error)
    assert cause in said and "\n" not in said


def test_storage_cause_sees_through_a_failed_rollback():
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.Error:
            raise sqlite3.OperationalError(
                "cannot rollback - no transaction is active"
            ) from None  # __context__ is kept
    except sqlite3.Error as e:
        assert storage_cause(e).startswith("disk full or file size limit reached")
