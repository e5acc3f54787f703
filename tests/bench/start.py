"""`arb-bot run` as a whole process: time to its first poll, and its memory once settled.

The bot starts as a process (the `arb-bot` script, as a user starts it) against the fake
Bot API and the fake venues, feeds off, its database in a temporary directory. Timed from
just before the process is spawned to:

- the first request the fake venues receive (the first venue poll: the target, < 250 ms);
- the first getUpdates the fake Bot API receives (the bot listening to its users).

Then, once the first scan has landed and the bot has settled, its resident memory
(VmRSS from /proc/<pid>/status; target <= 60 MB). Median of RUNS starts, after one
untimed start that creates the database: the timed ones are restarts, as a deployed bot's
are (creating the schema adds some 50 ms, once).
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import targets
from tests.bot_harness import bot_env
from tests.conftest import clean_environ
from tests.fakes.telegram import FakeTelegram
from tests.fakes.venues import FakeVenues

RUNS = 7
FIRST_POLL_TARGET_MS = 250.0
RSS_TARGET_MB = 60.0
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
SETTLE_S = 1.0  # after the first scan's last reply: let the cycle finish with it


def bot_command() -> list[str]:
    script = Path(sys.executable).with_name("arb-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def first_venue_request(venues: FakeVenues, timeout: float) -> float:
    """The monotonic time of the first request the fake venues received."""
    await asyncio.wait_for(venues.requested.wait(), timeout)
    return venues.requests[0].at


async def quiet_venues(venues: FakeVenues, quiet_s: float, timeout: float) -> None:
    """Wait until the fake venues have had no request for `quiet_s` (the first scan done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() - venues.requests[-1].at < quiet_s:
        if time.monotonic() > deadline:
            raise RuntimeError("the bot never stopped polling the venues")
        await asyncio.sleep(0.05)


async def one_start(tmp: str, with_rss: bool) -> tuple[float, float, float | None]:
    """(ms to the first venue request, ms to the first getUpdates, settled RSS MB or None)."""
    async with FakeVenues() as venues, FakeTelegram() as tg:
        env = clean_environ(
            **bot_env(tg, venues), ARB_DB=str(Path(tmp) / "bench.sqlite3"),
            ARB_SCAN_INTERVAL_S="3600",
        )  # fmt: skip
        quiet = {"stdout": asyncio.subprocess.DEVNULL, "stderr": asyncio.subprocess.DEVNULL}
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *bot_command(), "run", env=env, cwd=tmp, **quiet
        )
        try:
            polled_at = await first_venue_request(venues, START_TIMEOUT_S)
            await tg.wait_for_call("getUpdates", timeout=START_TIMEOUT_S)
            listening_at = time.monotonic()
            rss = None
            if with_rss:
                await quiet_venues(venues, SETTLE_S, START_TIMEOUT_S)
                rss = rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            status = await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        if status != 0:
            raise RuntimeError(f"arb-bot run exited {status}")
    return (polled_at - started) * 1000, (listening_at - started) * 1000, rss


async def measure() -> tuple[list[float], list[float], list[float]]:
    polls, listens, rsses = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        await one_start(tmp, with_rss=False)  # the database, the disk cache, the .pyc files
        for _ in range(RUNS):
            poll_ms, listen_ms, rss = await one_start(tmp, with_rss=True)
            polls.append(poll_ms)
            listens.append(listen_ms)
            assert rss is not None
            rsses.append(rss)
    return polls, listens, rsses


def main() -> bool:
    polls, listens, rsses = asyncio.run(measure())
    poll, rss = statistics.median(polls), statistics.median(rsses)
    print(f"\n`arb-bot run` start, as a process, feeds off (median of {RUNS})")
    for label, values, unit in (
        ("to the first venue poll ", polls, "ms"),
        ("to the first getUpdates ", listens, "ms"),
        ("RSS after the first scan", rsses, "MB"),
    ):
        low, high = min(values), max(values)
        median = statistics.median(values)
        print(f"  {label}  {median:8.1f} {unit}  (min {low:.1f}, max {high:.1f})")
    poll_ok = poll < FIRST_POLL_TARGET_MS
    rss_ok = rss <= RSS_TARGET_MB
    targets.record(
        "arb-bot run: start to first venue poll", f"{poll:.0f} ms",
        f"< {FIRST_POLL_TARGET_MS:g} ms", poll_ok,
    )  # fmt: skip
    targets.record(
        "arb-bot run: RSS, feeds off, settled", f"{rss:.1f} MB", f"<= {RSS_TARGET_MB:g} MB", rss_ok
    )
    return poll_ok and rss_ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
