"""`arb-bot run` as a process: token handling, secrets in logs, SIGTERM, webhook mode."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.bot_harness import bot_env, running_bot
from tests.conftest import clean_environ
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venues import FakeVenues


async def start_bot(env: dict[str, str], cwd: Path, **popen: Any) -> asyncio.subprocess.Process:
    """`arb-bot run`; `popen` adds subprocess arguments (preexec_fn, user...)."""
    script = Path(sys.executable).with_name("arb-bot")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    pipes = {"stdout": asyncio.subprocess.PIPE, "stderr": asyncio.subprocess.PIPE}
    return await asyncio.create_subprocess_exec(*cmd, "run", env=env, cwd=cwd, **{**pipes, **popen})


async def test_without_a_token_it_says_what_to_set(tmp_path):
    proc = await start_bot(clean_environ(), tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in err.decode()


async def test_a_rejected_token_is_never_printed(tmp_path):
    async with FakeVenues() as venues, FakeTelegram() as tg:
        wrong = "999999:WRONG-secret-token-value"
        env = clean_environ(
            **{**bot_env(tg, venues), "TELEGRAM_BOT_TOKEN": wrong}, ARB_LOG_LEVEL="DEBUG"
        )
        proc = await start_bot(env, tmp_path)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    text = (out + err).decode()
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in text
    assert "WRONG-secret" not in text


async def test_sigterm_stops_cleanly_and_logs_carry_no_secret(tmp_path):
    async with FakeVenues() as venues, FakeTelegram() as tg:
        env = clean_environ(
            **bot_env(tg, venues),
            ARB_LOG_LEVEL="DEBUG",
            OKX_API_KEY="okx-key-1",
            OKX_API_SECRET="okx-hush-1",
            OKX_API_PASSPHRASE="okx-phrase-1",
        )
        proc = await start_bot(env, tmp_path)
        try:
            await tg.wait_for_call("setMyCommands", timeout=20)
            tg.user_message("/status")
            reply = await tg.wait_for(lambda m: m.chat_id == 1001, timeout=20)
            assert reply.text.startswith("<b>Status</b>")
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    logs = (out + err).decode()
    assert "long polling" in logs  # DEBUG logging was on, so httpx saw the token in URLs
    assert tg.token not in logs and tg.token.split(":")[1] not in logs
    assert "okx-hush-1" not in logs and "okx-phrase-1" not in logs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_receives_updates_with_the_secret():
    port = free_port()
    async with (
        FakeVenues() as venues,
        running_bot(
            venues,
            TELEGRAM_WEBHOOK_URL="https://desk.example/tg-hook",
            TELEGRAM_WEBHOOK_LISTEN="127.0.0.1",
            TELEGRAM_WEBHOOK_PORT=str(port),
            TELEGRAM_WEBHOOK_SECRET="hook-secret-123",
        ) as bot,
    ):
        assert bot.tg.webhook["url"] == "https://desk.example/tg-hook"
        assert bot.tg.webhook["secret_token"] == "hook-secret-123"
        assert not [m for m, _ in bot.tg.calls if m == "getUpdates"]
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1, "date": 0, "text": "/help",
                "chat": {"id": 1001, "type": "private", "first_name": "A"},
                "from": {"id": 1001, "is_bot": False, "first_name": "A"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }  # fmt: skip
        url = f"http://127.0.0.1:{port}/tg-hook"
        async with aiohttp.ClientSession() as http:
            bad = {"X-Telegram-Bot-Api-Secret-Token": "nope"}
            async with http.post(url, data=json.dumps(update), headers=bad) as resp:
                assert resp.status == 403
            good = {"X-Telegram-Bot-Api-Secret-Token": "hook-secret-123",
                    "Content-Type": "application/json"}  # fmt: skip
            async with http.post(url, data=json.dumps(update), headers=good) as resp:
                assert resp.status == 200
        reply = await bot.tg.wait_for(lambda m: m.chat_id == 1001)
        assert reply.text.startswith("<b>Funding carry desk</b>")
        assert len([m for m in bot.tg.sent if m.chat_id == 1001]) == 1


async def test_sigkill_during_a_burst_of_subscribes_loses_nothing_confirmed(tmp_path):
    from storage.db import Database
    from storage.store import Store

    db_path = tmp_path / "kill.sqlite3"
    async with FakeVenues() as venues, FakeTelegram() as tg:
        env = clean_environ(**bot_env(tg, venues), ARB_DB=str(db_path))
        proc = await start_bot(env, tmp_path)
        try:
            await tg.wait_for_call("setMyCommands", timeout=20)
            chats = range(5001, 5081)
            for chat in chats:
                tg.user_message(f"/subscribe {chat % 7 + 1}bps", chat_id=chat)
            await tg.wait_for(
                lambda m: m.text.startswith("Subscribed") and m.chat_id == 5020, timeout=20
            )
        finally:
            proc.kill()  # SIGKILL: no shutdown code runs
            await asyncio.wait_for(proc.wait(), 10)
        confirmed = {m.chat_id for m in tg.sent if m.text and m.text.startswith("Subscribed")}
    db = await Database.open(str(db_path))
    try:
        stored = {s.chat_id: s for s in await Store(db).subscriptions()}
    finally:
        await db.close()
    assert len(confirmed) >= 20
    assert confirmed <= set(stored)
    assert all(stored[c].threshold_8h == pytest.approx((c % 7 + 1) / 10_000) for c in confirmed)


async def test_sigkill_during_an_alert_fan_out_then_restart_repeats_nothing_unmarked(tmp_path):
    """Killed twice at random points of a 60-chat fan-out (paced at Telegram's 30 a second,
    which the fake enforces), then left to finish: every chat has its alert, at most one
    unmarked copy of it, and any other copy carries the "may repeat" mark."""
    from storage.db import Database
    from storage.store import Store
    from tests.conftest import desk_market

    db_path = tmp_path / "fanout.sqlite3"
    chats = range(7001, 7061)
    db = await Database.open(str(db_path))
    store = Store(db)
    for chat in chats:
        await store.subscribe(chat, "private", None, None, 0.001, frozenset(), chat)
    await db.close()

    async with FakeVenues(desk_market()) as venues, FakeTelegram() as tg:
        tg.flood_control = True
        env = clean_environ(**bot_env(tg, venues), ARB_DB=str(db_path),
                            ARB_SCAN_INTERVAL_S="3600")  # fmt: skip
        quiet = {"stdout": asyncio.subprocess.DEVNULL, "stderr": asyncio.subprocess.DEVNULL}

        def alerts() -> list:
            return [m for m in tg.sent if m.text and "Funding carry alert" in m.text]

        rng = random.Random(14)
        for kill_at in (rng.randint(5, 25), rng.randint(30, 50)):
            proc = await start_bot(env, tmp_path, **quiet)
            try:
                await tg.wait_for(lambda m, n=kill_at: len(alerts()) >= n, timeout=30)
            finally:
                proc.kill()  # SIGKILL: no shutdown code runs
                await asyncio.wait_for(proc.wait(), 10)
        proc = await start_bot(env, tmp_path, **quiet)
        try:
            for chat in chats:
                await tg.wait_for(lambda m, c=chat: m.chat_id == c, timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)  # a clean stop lets the messages on their way land
            assert await asyncio.wait_for(proc.wait(), 20) == 0
        sent = alerts()
    db = await Database.open(str(db_path))
    try:
        rows = await Store(db).deliveries()
    finally:
        await db.close()
    assert {r["status"] for r in rows} == {"sent"}
    by_chat: dict[int, list[str]] = {chat: [] for chat in chats}
    for m in sent:
        by_chat[m.chat_id].append(m.text)
    assert all(by_chat.values()), [c for c, texts in by_chat.items() if not texts]  # no miss
    for chat, texts in by_chat.items():
        plain = [t for t in texts if not t.startswith("↻")]
        assert len(plain) <= 1, (chat, texts)  # never an unmarked repeat
    marked = [t for texts in by_chat.values() for t in texts if t.startswith("↻")]
    # Only what was on its way at a kill: at most one second of sends (30) per kill.
    assert len(marked) <= 2 * 30
