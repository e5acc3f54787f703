"""Reply latency of /funding and /scan from the shared snapshot, end to end.

A user message goes into the fake Bot API, the real bot long-polls it through
PTB, answers from the snapshot and the reply is timed when the fake accepts
the sendMessage. 500 perpetuals on each venue; 200 messages per command, one
at a time, 20 a second, each from its own chat: back to back, or from one chat,
they would measure the rate limiter (Telegram's 30 messages/s overall, about one
a second per chat) and the spam throttle, not the bot. Target: p99 under 50 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from tests.bot_harness import running_bot
from tests.fakes.venues import FakeVenues, synthetic_market

MESSAGES = 200
WARMUP = 10
PACE_S = 0.05  # 20 messages a second, under Telegram's 30/s
TARGET_P99_MS = 50.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed_replies(bot, text: str, count: int, first_chat: int) -> list[float]:
    latencies = []
    next_at = time.monotonic()
    for chat in range(first_chat, first_chat + count):
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += PACE_S
        mark = len(bot.tg.sent)
        started = time.monotonic()
        bot.tg.user_message(text, chat_id=chat)
        reply = await bot.tg.wait_for(lambda m, c=chat: m.chat_id == c, after=mark, timeout=10)
        if "Sorry" in (reply.text or ""):
            raise RuntimeError(f"{text} failed: {reply.text}")
        latencies.append((reply.at - started) * 1000)
    return latencies


async def measure() -> dict[str, list[float]]:
    # ARB_SCAN_INTERVAL_S is long so that no background refresh lands inside the timings.
    async with (
        FakeVenues(synthetic_market(500)) as venues,
        running_bot(venues, ARB_SCAN_INTERVAL_S="3600", ARB_MIN_TURNOVER_USD="0") as bot,
    ):
        assert len(bot.desk.service.snapshot.quotes) >= 4 * 500
        results = {}
        chat = 100_000
        for text in ("/funding C0042", "/scan"):
            await timed_replies(bot, text, WARMUP, chat)
            results[text] = await timed_replies(bot, text, MESSAGES, chat + WARMUP)
            chat += WARMUP + MESSAGES
        return results


def main() -> bool:
    results = asyncio.run(measure())
    print(f"\nBot reply latency, end to end through the fake Bot API ({MESSAGES} messages each)")
    print(f"{'command':<16}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  target p99 < {TARGET_P99_MS:g}")
    ok = True
    for text, values in results.items():
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        passed = p99 < TARGET_P99_MS
        ok &= passed
        print(
            f"{text:<16}{p50:>9.2f}{p99:>9.2f}{max(values):>9.2f}  {'PASS' if passed else 'FAIL'}"
        )
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
