"""The heartbeat `arb-bot run` keeps beside ARB_DB, and `arb-bot health` (the container's
HEALTHCHECK) reading it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import heartbeat
from tests.bot_harness import bot_env, running_bot
from tests.conftest import clean_environ
from tests.fakes.telegram import GET_ME, FakeTelegram
from tests.fakes.venues import FakeVenues
from tests.test_bot_process import start_bot


def arb_bot_health(cwd: Path, **env: str) -> tuple[int, str]:
    script = Path(sys.executable).with_name("arb-bot")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    done = subprocess.run(
        [*cmd, "health"], env=clean_environ(**env), cwd=cwd, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def aged(path: Path, seconds: float) -> float:
    """Make `path`'s last beat `seconds` old; returns now."""
    now = time.time()
    os.utime(path, (now - seconds, now - seconds))
    return now


def test_the_heartbeat_sits_beside_the_database():
    assert heartbeat.heartbeat_path("/data/arb.sqlite3") == Path("/data/arb.sqlite3.heartbeat")
    assert heartbeat.heartbeat_path(":memory:") is None


@pytest.mark.parametrize(
    ("age", "alive", "says"),
    [(0, True, "alive"), (59, True, "alive"), (61, False, "stuck"), (3600, False, "3600 s old")],
)
def test_a_beat_is_alive_until_it_is_stale(tmp_path, age, alive, says):
    path = tmp_path / "arb.sqlite3.heartbeat"
    heartbeat.start(path, pid=42, now=time.time())
    result = heartbeat.check(path, aged(path, age), stale_after_s=60)
    assert result.alive is alive
    assert says in result.text
    if alive:
        assert "pid 42" in result.text


def test_no_beat_is_not_alive_and_says_where_it_looked(tmp_path):
    path = tmp_path / "arb.sqlite3.heartbeat"
    result = heartbeat.check(path, time.time())
    assert not result.alive
    assert str(path) in result.text and "no heartbeat" in result.text
    assert not heartbeat.check(None, time.time()).alive


async def test_beats_touch_the_file_only_while_the_bot_serves(tmp_path):
    path = tmp_path / "arb.sqlite3.heartbeat"
    heartbeat.start(path, pid=1, now=0)
    os.utime(path, (0, 0))
    serving = [False, False, True]
    mtimes: list[float] = []
    asked = asyncio.Event()

    def alive() -> bool:
        mtimes.append(path.stat().st_mtime)
        if len(mtimes) > len(serving):
            asked.set()
            return False
        return serving[len(mtimes) - 1]

    task = asyncio.create_task(heartbeat.beat(path, alive, every_s=0))
    try:
        await asyncio.wait_for(asked.wait(), timeout=5)
    finally:
        task.cancel()
    assert mtimes[:3] == [0, 0, 0]
    assert mtimes[3] > time.time() - 60


async def test_a_beat_that_cannot_be_written_warns_once_and_keeps_going(tmp_path, caplog):
    path = tmp_path / "gone" / "arb.sqlite3.heartbeat"
    beats = 0
    enough = asyncio.Event()

    def alive() -> bool:
        nonlocal beats
        beats += 1
        if beats == 4:
            enough.set()
        return True

    with caplog.at_level(logging.WARNING, logger="bot.heartbeat"):
        task = asyncio.create_task(heartbeat.beat(path, alive, every_s=0))
        try:
            await asyncio.wait_for(enough.wait(), timeout=5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()] == [
        f"cannot write the heartbeat {path}: No such file or directory"
    ]


async def test_the_bot_beats_once_serving_and_not_before_or_after(tmp_path):
    """A beat left by a killed run is gone before Telegram is even asked (it must not
    vouch for a start that hangs); the new one is there once updates flow, gone at stop."""
    db = tmp_path / "arb.sqlite3"
    path = heartbeat.heartbeat_path(str(db))
    assert path is not None
    path.write_text("pid 999999, serving since long ago\n")
    beat_at_get_me: list[bool] = []

    def get_me(_params):
        beat_at_get_me.append(path.exists())
        return dict(GET_ME)

    async with FakeVenues() as venues, FakeTelegram() as tg:
        tg.route("getMe", get_me)
        async with running_bot(venues, tg, ARB_DB=str(db)) as bot:
            assert beat_at_get_me and not any(beat_at_get_me)
            result = heartbeat.check(path, time.time())
            assert result.alive, result.text
            assert f"pid {os.getpid()}" in result.text
            assert await bot.shutdown() == 0
        assert not path.exists()


def test_health_with_no_bot_says_so_with_status_1(tmp_path):
    code, out = arb_bot_health(tmp_path, ARB_DB=str(tmp_path / "arb.sqlite3"))
    assert code == 1
    assert "not serving: no heartbeat at" in out


def test_health_with_bad_settings_is_status_1_not_docker_reserved_2(tmp_path):
    code, out = arb_bot_health(tmp_path, ARB_FEEDS="maybe")
    assert code == 1
    assert "ARB_FEEDS" in out


async def test_health_follows_the_running_bot_and_its_stop(tmp_path):
    """`arb-bot health` as the HEALTHCHECK runs it, beside `arb-bot run` with the default
    relative ARB_DB: 0 while the bot serves, 1 once SIGTERM stopped it."""
    async with FakeVenues() as venues, FakeTelegram() as tg:
        env = clean_environ(**bot_env(tg, venues))
        proc = await start_bot(env, tmp_path)
        try:
            await tg.wait_for_call("setMyCommands", timeout=20)
            tg.user_message("/help")  # its reply comes after the first beat
            await tg.wait_for(lambda m: m.chat_id == 1001, timeout=20)
            code, out = await asyncio.to_thread(arb_bot_health, tmp_path)
            assert code == 0, out
            assert "alive: last heartbeat" in out
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    code, out = await asyncio.to_thread(arb_bot_health, tmp_path)
    assert code == 1, out
