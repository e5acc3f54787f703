"""`arb-bot run` as a process: token handling, secrets in logs, SIGTERM, webhook mode."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.bot_harness import bot_env, running_bot
from tests.conftest import clean_environ
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venues import FakeVenues


async def start_bot(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    script = Path(sys.executable).with_name("arb-bot")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    return await asyncio.create_subprocess_exec(
        *cmd, "run", env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


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
