"""`arb-bot run` starts light and polls first: what it imports, and what its first venue
poll waits for (the start-up order is in bot.launch)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.bot_harness import bot_env
from tests.conftest import clean_environ
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venues import FakeVenues
from tests.test_bot_process import start_bot

# Loaded only when a setting or a command asks: ARB_METRICS_PORT, ARB_FEEDS, /chart and
# /history, `arb-bot doctor`.
NEVER_AT_START = (
    "matplotlib",
    "prometheus_client",
    "websockets",
    "bot.metrics",
    "arb.feeds.manager",
    "arb.chart",
    "bot.render_history",
    "bot.doctor",
)
TELEGRAM = ("telegram", "bot.app")


def imported_by(module: str) -> set[str]:
    """The modules a fresh interpreter holds after `import module`."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("module", ["bot.launch", "bot.app"])
def test_the_bot_starts_without_what_only_a_setting_or_a_command_needs(module):
    loaded = imported_by(module)
    assert not loaded & set(NEVER_AT_START)


def test_the_first_poll_is_sent_before_telegram_is_imported():
    loaded = imported_by("bot.launch")
    assert not loaded & set(TELEGRAM)
    assert "arb.market" in loaded


async def test_the_first_venue_poll_does_not_wait_for_telegram(tmp_path):
    """getMe answered only after 30 s: the venues are polled meanwhile."""
    async with FakeVenues() as venues, FakeTelegram() as tg:
        tg.delay("getMe", 30)
        env = clean_environ(**bot_env(tg, venues), ARB_DB=str(tmp_path / "first.sqlite3"))
        quiet = {"stdout": asyncio.subprocess.DEVNULL, "stderr": asyncio.subprocess.DEVNULL}
        proc = await start_bot(env, tmp_path, **quiet)
        try:
            await tg.wait_for_call("getMe", timeout=20)

            await asyncio.wait_for(venues.requested.wait(), timeout=20)
            assert not [c for c in tg.calls if c.method != "getMe"]  # still waiting on getMe
        finally:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10)


def test_the_start_up_heap_leaves_the_collector_once_updates_flow():
    """`arb-bot run` freezes what start-up loaded (bot/launch.py), so a full collection no
    longer walks it in the middle of a burst of replies."""
    import gc

    from bot.launch import freeze_start_up

    gc.unfreeze()
    try:
        freeze_start_up(None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
